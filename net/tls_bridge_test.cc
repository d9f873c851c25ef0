#include "net/tls_bridge.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "net/tls_context.h"
#include "testing/test_certs.h"

namespace chat {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using ::testing::HasSubstr;

// Reads from a blocking descriptor until `n` bytes or EOF.
std::string ReadFd(int fd, size_t n) {
  std::string got;
  char buffer[65536];
  while (got.size() < n) {
    const ssize_t r =
        read(fd, buffer, std::min(sizeof(buffer), n - got.size()));
    if (r <= 0) break;
    got.append(buffer, static_cast<size_t>(r));
  }
  return got;
}

bool WriteFd(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = write(fd, bytes.data() + done, bytes.size() - done);
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

// A listener on 127.0.0.1:0 whose accepted connections go through a bridge;
// inner() is the transport's end of the last one (blocking).
class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestCerts>> certs = TestCerts::Make();
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *std::move(certs);
    absl::StatusOr<std::shared_ptr<TlsContext>> tls =
        TlsContext::Load(certs_->cert(), certs_->key());
    ASSERT_TRUE(tls.ok()) << tls.status();
    tls_ = *tls;
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
  }

  void TearDown() override {
    if (inner_ >= 0) close(inner_);
  }

  // Accepts one connection and bridges it.
  void AcceptAndBridge(TlsBridgeOptions options = {}) {
    pool_ = std::make_unique<TlsBridgePool>("test-tls", 1, options);
    const int fd =
        accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(fd, 0);
    int pair[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    inner_ = pair[0];
    pool_->Bridge(
        fd, pair[1], tls_->Current(), [this] { ready_.Notify(); },
        [this](int tcp_fd) {
          const std::string line = "!! TLS only\r\n";
          (void)!write(tcp_fd, line.data(), line.size());
          close(tcp_fd);
          plaintext_.Notify();
        });
  }

  // A TLS client that trusts the test CA and checks for "localhost".
  std::unique_ptr<ssl::stream<tcp::socket>> Client(
      int max_version = 0, absl::Status* handshake = nullptr) {
    client_context_.load_verify_file(certs_->ca());
    client_context_.set_verify_mode(ssl::verify_peer);
    if (max_version != 0) {
      SSL_CTX_set_min_proto_version(client_context_.native_handle(), 0);
      SSL_CTX_set_max_proto_version(client_context_.native_handle(),
                                    max_version);
      SSL_CTX_set_security_level(client_context_.native_handle(), 0);
    }
    auto stream =
        std::make_unique<ssl::stream<tcp::socket>>(io_, client_context_);
    stream->set_verify_callback(ssl::host_name_verification("localhost"));
    stream->lowest_layer().connect(acceptor_.local_endpoint());
    std::thread accepting([&] { AcceptAndBridge(); });
    boost::system::error_code error;
    stream->handshake(ssl::stream_base::client, error);
    accepting.join();
    if (handshake != nullptr) {
      *handshake =
          error ? absl::UnavailableError(error.message()) : absl::OkStatus();
    } else {
      EXPECT_FALSE(error) << error.message();
    }
    return stream;
  }

  std::unique_ptr<TestCerts> certs_;
  std::shared_ptr<TlsContext> tls_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  ssl::context client_context_{ssl::context::tls_client};
  std::unique_ptr<TlsBridgePool> pool_;
  int inner_ = -1;
  absl::Notification ready_;
  absl::Notification plaintext_;
};

TEST_F(BridgeTest, HandshakeThenBytesBothWays) {
  auto client = Client();
  ASSERT_TRUE(ready_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  asio::write(*client, asio::buffer(std::string("hello\n")));
  EXPECT_EQ(ReadFd(inner_, 6), "hello\n");
  ASSERT_TRUE(WriteFd(inner_, "welcome\n"));
  std::string got(8, '\0');
  asio::read(*client, asio::buffer(got));
  EXPECT_EQ(got, "welcome\n");
}

TEST_F(BridgeTest, LargeTransfersBothWaysArriveWhole) {
  auto client = Client();
  // 4 MiB each way at once: both directions block and resume many times
  // through 16 KiB buffers.
  std::string up(4 << 20, '\0'), down(4 << 20, '\0');
  for (size_t i = 0; i < up.size(); ++i) {
    up[i] = static_cast<char>(i * 7 + i / 4096);
    down[i] = static_cast<char>(i * 13 + i / 1000);
  }
  std::string got_up;
  std::thread transport([&] {
    std::thread writer([&] { EXPECT_TRUE(WriteFd(inner_, down)); });
    got_up = ReadFd(inner_, up.size());
    writer.join();
  });
  // The client writes and reads at once on one thread: an SSL object
  // takes no concurrent calls, so not a reader and a writer thread.
  std::string got_down(down.size(), '\0');
  boost::system::error_code write_error, read_error;
  asio::async_write(
      *client, asio::buffer(up),
      [&](const boost::system::error_code& e, size_t) { write_error = e; });
  asio::async_read(
      *client, asio::buffer(got_down),
      [&](const boost::system::error_code& e, size_t) { read_error = e; });
  io_.run();
  transport.join();
  EXPECT_FALSE(write_error) << write_error.message();
  EXPECT_FALSE(read_error) << read_error.message();
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
}

TEST_F(BridgeTest, TransportClosingEndsTheClientsConnection) {
  auto client = Client();
  ASSERT_TRUE(WriteFd(inner_, "bye\n"));
  close(inner_);
  inner_ = -1;
  std::string got(4, '\0');
  asio::read(*client, asio::buffer(got));
  EXPECT_EQ(got, "bye\n");
  char more;
  boost::system::error_code error;
  client->read_some(asio::buffer(&more, 1), error);
  EXPECT_EQ(error, asio::error::eof) << error.message();  // close_notify.
  EXPECT_TRUE(pool_->WaitForBridgeCount(0, absl::Seconds(10)));
}

TEST_F(BridgeTest, ClientClosingEndsTheTransportsSide) {
  auto client = Client();
  asio::write(*client, asio::buffer(std::string("last\n")));
  client->lowest_layer().close();
  EXPECT_EQ(ReadFd(inner_, 100), "last\n");  // Then EOF.
  close(inner_);
  inner_ = -1;
  EXPECT_TRUE(pool_->WaitForBridgeCount(0, absl::Seconds(10)));
}

TEST_F(BridgeTest, PlaintextClientIsHandedBack) {
  tcp::socket plain(io_);
  plain.connect(acceptor_.local_endpoint());
  asio::write(plain, asio::buffer(std::string("NICK bob\r\n")));
  AcceptAndBridge();
  ASSERT_TRUE(plaintext_.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(ready_.HasBeenNotified());
  std::string got;
  boost::system::error_code error;
  asio::read(plain, asio::dynamic_buffer(got), error);
  EXPECT_EQ(got, "!! TLS only\r\n");
  EXPECT_EQ(ReadFd(inner_, 1), "");  // The bridge closed its end.
}

TEST_F(BridgeTest, Tls11IsRefused) {
  absl::Status handshake;
  auto client = Client(TLS1_1_VERSION, &handshake);
  EXPECT_FALSE(handshake.ok());
  EXPECT_FALSE(ready_.HasBeenNotified());
  EXPECT_TRUE(pool_->WaitForBridgeCount(0, absl::Seconds(10)));
}

TEST_F(BridgeTest, SilentClientIsClosedAfterTheHandshakeTimeout) {
  tcp::socket silent(io_);
  silent.connect(acceptor_.local_endpoint());
  AcceptAndBridge({.handshake_timeout = absl::Milliseconds(200)});
  char byte;
  boost::system::error_code error;
  silent.read_some(asio::buffer(&byte, 1), error);  // Blocks until closed.
  EXPECT_EQ(error, asio::error::eof);
  EXPECT_TRUE(pool_->WaitForBridgeCount(0, absl::Seconds(10)));
  EXPECT_FALSE(ready_.HasBeenNotified());
}

TEST_F(BridgeTest, StopClosesOpenBridges) {
  auto client = Client();
  pool_->Stop(absl::Milliseconds(100));
  EXPECT_EQ(pool_->bridge_count(), 0u);
  EXPECT_EQ(ReadFd(inner_, 1), "");
}

TEST(TlsContextTest, BadFilesAreRefusedWithTheirName) {
  absl::StatusOr<std::unique_ptr<TestCerts>> certs = TestCerts::Make();
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<std::shared_ptr<TlsContext>> missing =
      TlsContext::Load("/nonexistent/cert.pem", (*certs)->key());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("cannot use the TLS certificate /nonexistent"));
  // The CA's certificate with the server's key: they do not match.
  absl::StatusOr<std::shared_ptr<TlsContext>> mismatch =
      TlsContext::Load((*certs)->ca(), (*certs)->key());
  EXPECT_THAT(mismatch.status().message(), HasSubstr("does not match"));
}

TEST(TlsContextTest, ReloadSwapsOnlyOnSuccess) {
  absl::StatusOr<std::unique_ptr<TestCerts>> certs = TestCerts::Make();
  ASSERT_TRUE(certs.ok()) << certs.status();
  const std::string cert = (*certs)->dir() + "/live.pem";
  ASSERT_TRUE(CopyFile((*certs)->cert(), cert));
  absl::StatusOr<std::shared_ptr<TlsContext>> tls =
      TlsContext::Load(cert, (*certs)->key());
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_THAT((*tls)->Describe(), HasSubstr("CN=localhost expires "));
  auto before = (*tls)->Current();
  ASSERT_TRUE(CopyFile((*certs)->ca(), cert));  // Not for this key.
  EXPECT_FALSE((*tls)->Reload().ok());
  EXPECT_EQ((*tls)->Current(), before);
  ASSERT_TRUE(CopyFile((*certs)->reloaded_cert(), cert));
  absl::StatusOr<std::string> reloaded = (*tls)->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_THAT(*reloaded, HasSubstr("CN=localhost-reloaded"));
  EXPECT_NE((*tls)->Current(), before);
}

}  // namespace
}  // namespace chat

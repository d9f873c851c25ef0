// TcpProxy against a line echo server (in this file) and the gRPC service:
// bytes round-trip, cuts end connections, silenced connections forward
// nothing yet stay open, SetBackend moves new connections, buffering is
// bounded.
#include "testing/tcp_proxy.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/grpc_test_client.h"
#include "testing/in_process_server.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using ::testing::ElementsAre;

// EchoServer: a line echo server on 127.0.0.1:0, on its own thread. Each
// line ("...\n") comes back as `tag` + the line; a FIN is answered with a
// FIN once what came before it is echoed. It records the lines it got.
class EchoServer {
 public:
  explicit EchoServer(std::string tag = "") : tag_(std::move(tag)) {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "echo-server");
      io_.run();
    });
  }
  // Stops the thread; destroying io_ then destroys the pending handlers,
  // and with them the sessions and their sockets.
  ~EchoServer() {
    io_.stop();
    thread_.join();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // The lines received so far, without their line ends, in order of arrival.
  std::vector<std::string> lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(EchoServer* server, tcp::socket socket)
        : server_(server), socket_(std::move(socket)) {}

    void Read() {
      asio::async_read_until(
          socket_, asio::dynamic_buffer(in_, 1 << 20), '\n',
          [self = shared_from_this()](const ErrorCode& error, size_t n) {
            self->OnLine(error, n);
          });
    }

   private:
    void OnLine(const ErrorCode& error, size_t n) {
      if (error) {
        ErrorCode ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
        return;  // The last handler: the session and its socket go.
      }
      std::string line = in_.substr(0, n);
      in_.erase(0, n);
      server_->Record(line);
      out_ = server_->tag_ + line;
      asio::async_write(
          socket_, asio::buffer(out_),
          [self = shared_from_this()](const ErrorCode& error, size_t) {
            if (!error) self->Read();
          });
    }

    EchoServer* const server_;
    tcp::socket socket_;
    std::string in_;
    std::string out_;
  };

  void Accept() {
    acceptor_.async_accept([this](const ErrorCode& error, tcp::socket socket) {
      if (error) return;
      std::make_shared<Session>(this, std::move(socket))->Read();
      Accept();
    });
  }

  void Record(std::string line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
      line.pop_back();
    }
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
  }

  const std::string tag_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  int port_ = 0;
  std::thread thread_;
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

// A port nothing listens on (bound, then closed; nothing else here binds
// it meanwhile).
int RefusingPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io,
                         tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return acceptor.local_endpoint().port();
}

TEST(TcpProxyTest, BytesRoundTrip) {
  EchoServer echo;
  TcpProxy proxy(echo.address());
  ASSERT_NE(proxy.port(), 0);
  EXPECT_EQ(proxy.address(), absl::StrCat("127.0.0.1:", proxy.port()));
  EXPECT_EQ(proxy.backend(), echo.address());

  TcpTestClient client(proxy.port());
  client.Send("hello\r\n");
  EXPECT_EQ(client.ReadLine(), "hello");
  client.Send("two\r\nlines\r\n");
  EXPECT_EQ(client.ReadLine(), "two");
  EXPECT_EQ(client.ReadLine(), "lines");
  EXPECT_EQ(proxy.accepted(), 1);
  EXPECT_EQ(proxy.connections(), 1);
  EXPECT_THAT(echo.lines(), ElementsAre("hello", "two", "lines"));

  // A FIN goes through as a FIN: the echo server answers what came before
  // it, then closes; the proxy passes that on and closes too.
  client.Send("last\r\n");
  client.ShutdownWrite();
  EXPECT_EQ(client.ReadToEof(), "last\r\n");
  EXPECT_TRUE(proxy.WaitForConnections(0, absl::Seconds(5)));
  EXPECT_EQ(proxy.cuts(), 0);
}

TEST(TcpProxyTest, ManyMegabytesBothWaysAtOnce) {
  EchoServer echo;
  TcpProxy proxy(echo.address());
  // 8 MiB of numbered lines, written while the echo is read: far more than
  // the socket buffers and the proxy's, so both directions must flow.
  std::string out;
  for (int i = 0; out.size() < (8u << 20); ++i) {
    absl::StrAppend(&out, "line ", i, " ", std::string(1000, 'x'), "\r\n");
  }
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(),
                               static_cast<uint16_t>(proxy.port())));
  std::string in;
  ErrorCode write_error, read_error;
  asio::async_write(
      socket, asio::buffer(out),
      [&](const ErrorCode& error, size_t) { write_error = error; });
  asio::async_read(socket, asio::dynamic_buffer(in),
                   asio::transfer_exactly(out.size()),
                   [&](const ErrorCode& error, size_t) { read_error = error; });
  io.run_for(std::chrono::seconds(60));
  EXPECT_FALSE(write_error) << write_error.message();
  EXPECT_FALSE(read_error) << read_error.message();
  EXPECT_EQ(in.size(), out.size());
  EXPECT_TRUE(in == out);
}

TEST(TcpProxyTest, CutAllEndsEveryConnectionAndNewOnesWork) {
  EchoServer echo;
  TcpProxy proxy(echo.address());
  TcpTestClient a(proxy.port());
  TcpTestClient b(proxy.port());
  a.Send("a\r\n");
  b.Send("b\r\n");
  EXPECT_EQ(a.ReadLine(), "a");
  EXPECT_EQ(b.ReadLine(), "b");

  EXPECT_EQ(proxy.CutAll(), 2);
  EXPECT_EQ(proxy.cuts(), 2);
  EXPECT_EQ(proxy.connections(), 0);
  EXPECT_TRUE(a.ReadsEof());
  EXPECT_TRUE(b.ReadsEof());

  TcpTestClient c(proxy.port());
  c.Send("c\r\n");
  EXPECT_EQ(c.ReadLine(), "c");
  EXPECT_EQ(proxy.accepted(), 3);
  EXPECT_EQ(proxy.connections(), 1);
  EXPECT_EQ(proxy.CutAll(), 1);
  EXPECT_EQ(proxy.cuts(), 3);
  EXPECT_TRUE(c.ReadsEof());
  EXPECT_EQ(proxy.CutAll(), 0);
}

TEST(TcpProxyTest, CutEveryCutsRepeatedlyUntilStopped) {
  EchoServer echo;
  TcpProxy proxy(echo.address());
  proxy.CutEvery(absl::Milliseconds(20));
  // Each connection is cut by a later tick of the timer.
  for (int i = 0; i < 3; ++i) {
    TcpTestClient client(proxy.port());
    EXPECT_TRUE(client.ReadsEof(absl::Seconds(10))) << "connection " << i;
  }
  EXPECT_GE(proxy.cuts(), 3);

  proxy.CutEvery(absl::ZeroDuration());
  const int64_t cuts = proxy.cuts();
  TcpTestClient client(proxy.port());
  for (int i = 0; i < 5; ++i) {
    const std::string line = absl::StrCat("still here ", i);
    client.Send(line + "\r\n");
    EXPECT_EQ(client.ReadLine(), line);
  }
  EXPECT_EQ(proxy.cuts(), cuts);
  EXPECT_EQ(proxy.CutAll(), 1);
}

TEST(TcpProxyTest, SilenceForwardsNothingButKeepsTheConnectionOpen) {
  EchoServer echo;
  TcpProxy proxy(echo.address());
  TcpTestClient silenced(proxy.port());
  silenced.Send("1\r\n");
  EXPECT_EQ(silenced.ReadLine(), "1");

  EXPECT_EQ(proxy.Silence(), 1);
  silenced.Send("a\r\n");
  // A connection made later forwards; by the time its round trip is done,
  // the proxy has had every chance to forward the "a".
  TcpTestClient later(proxy.port());
  later.Send("b\r\n");
  EXPECT_EQ(later.ReadLine(), "b");
  EXPECT_EQ(proxy.connections(), 2);

  // The proxy kept the silenced connection open (it is among those cut),
  // and nothing came back on it before the cut.
  EXPECT_EQ(proxy.CutAll(), 2);
  EXPECT_EQ(silenced.ReadToEof(), "");
  EXPECT_TRUE(later.ReadsEof());
  // The echo server never got the "a".
  EXPECT_THAT(echo.lines(), ElementsAre("1", "b"));
}

TEST(TcpProxyTest, SilencedConnectionsStayOpenAcrossLaterTraffic) {
  EchoServer echo;
  TcpProxy proxy(echo.address());
  TcpTestClient first(proxy.port());
  first.Send("x\r\n");
  EXPECT_EQ(first.ReadLine(), "x");
  EXPECT_EQ(proxy.Silence(), 1);
  // Silence again, with a newer connection: both are silent now.
  TcpTestClient second(proxy.port());
  second.Send("y\r\n");
  EXPECT_EQ(second.ReadLine(), "y");
  EXPECT_EQ(proxy.Silence(), 2);
  second.Send("z\r\n");
  first.ShutdownWrite();  // A FIN is not passed on either.
  TcpTestClient third(proxy.port());
  third.Send("w\r\n");
  EXPECT_EQ(third.ReadLine(), "w");
  EXPECT_EQ(proxy.connections(), 3);
  EXPECT_THAT(echo.lines(), ElementsAre("x", "y", "w"));
}

TEST(TcpProxyTest, SetBackendMovesNewConnectionsOnly) {
  EchoServer first;
  EchoServer second("B:");
  TcpProxy proxy(first.address());
  TcpTestClient old_client(proxy.port());
  old_client.Send("one\r\n");
  EXPECT_EQ(old_client.ReadLine(), "one");

  proxy.SetBackend(second.address());
  EXPECT_EQ(proxy.backend(), second.address());
  TcpTestClient new_client(proxy.port());
  new_client.Send("two\r\n");
  EXPECT_EQ(new_client.ReadLine(), "B:two");
  old_client.Send("three\r\n");
  EXPECT_EQ(old_client.ReadLine(), "three");
  EXPECT_THAT(first.lines(), ElementsAre("one", "three"));
  EXPECT_THAT(second.lines(), ElementsAre("two"));
}

TEST(TcpProxyTest, ARefusingBackendClosesTheClientUntilTheServerIsBack) {
  TcpProxy proxy(absl::StrCat("127.0.0.1:", RefusingPort()));
  TcpTestClient refused(proxy.port());
  EXPECT_TRUE(refused.ReadsEof());
  EXPECT_TRUE(proxy.WaitForConnections(0, absl::Seconds(5)));

  // The server "restarts" on another port behind the same proxy address.
  EchoServer echo;
  proxy.SetBackend(echo.address());
  TcpTestClient client(proxy.port());
  client.Send("back\r\n");
  EXPECT_EQ(client.ReadLine(), "back");
  EXPECT_EQ(proxy.accepted(), 2);
  EXPECT_EQ(proxy.cuts(), 0);
}

TEST(TcpProxyTest, BuffersAreBounded) {
  // A backend that never reads: it listens, and never even accepts.
  asio::io_context io;
  tcp::acceptor sink(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  TcpProxy proxy(absl::StrCat("127.0.0.1:", sink.local_endpoint().port()));
  TcpTestClient client(proxy.port());
  // What the client can send is what the kernel buffers on the way hold
  // (some MiB on loopback) plus the proxy's 64 KiB, not all of it.
  const std::string bytes(256u << 20, 'x');
  const size_t sent = client.SendUntilRefused(bytes, absl::Milliseconds(300));
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, 64u << 20);
  EXPECT_EQ(proxy.CutAll(), 1);
  EXPECT_TRUE(client.ReadsEof());
}

TEST(TcpProxyTest, DestructorResetsEveryConnection) {
  EchoServer echo;
  auto proxy = std::make_unique<TcpProxy>(echo.address());
  TcpTestClient silenced(proxy->port());
  silenced.Send("s\r\n");
  EXPECT_EQ(silenced.ReadLine(), "s");
  EXPECT_EQ(proxy->Silence(), 1);
  TcpTestClient live(proxy->port());
  live.Send("l\r\n");
  EXPECT_EQ(live.ReadLine(), "l");
  TcpTestClient pending(proxy->port());  // Perhaps not accepted yet.
  proxy->CutEvery(absl::Seconds(100));
  proxy.reset();
  EXPECT_TRUE(silenced.ReadsEof());
  EXPECT_TRUE(live.ReadsEof());
  EXPECT_TRUE(pending.ReadsEof());
}

// gRPC (HTTP/2) through the proxy: a stream works, a cut ends it
// (UNAVAILABLE), and the channel reconnects through the proxy.
TEST(TcpProxyTest, GrpcStreamsGoThroughAndEndWhenCut) {
  InProcessServer server;
  ASSERT_NE(server.port(), 0);
  TcpProxy proxy(server.address());
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(proxy.address(), grpc::InsecureChannelCredentials());
  GrpcTestClient alice = GrpcTestClient::Join(channel, "alice");
  alice.Say("through the proxy");
  alice.ReadUntil("<alice> through the proxy");
  EXPECT_EQ(proxy.connections(), 1);

  EXPECT_EQ(proxy.CutAll(), 1);
  std::optional<std::string> line;
  while ((line = alice.NextLine())) {
  }
  EXPECT_EQ(alice.Finish().error_code(), grpc::StatusCode::UNAVAILABLE);

  GrpcTestClient bob = GrpcTestClient::Join(channel, "bob");
  bob.Say("again");
  bob.ReadUntil("<bob> again");
  EXPECT_EQ(proxy.accepted(), 2);
  EXPECT_TRUE(bob.Finish().ok());
}

}  // namespace
}  // namespace chat

#include "net/tcp_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using tcp = asio::ip::tcp;

constexpr absl::Duration kTimeout = absl::Seconds(5);

// A connection that reads and drops what it gets until EOF, then closes.
class TestConnection final : public Connection {
 public:
  TestConnection(TcpServer* server, TcpServer::Socket socket,
                 const tcp::endpoint& peer, std::function<void()> on_read)
      : Connection(server, socket.get_executor(), peer),
        socket_(std::move(socket)),
        on_read_(std::move(on_read)) {}
  ~TestConnection() override { CloseSocket(); }

  void Start() { Read(); }
  void Stop() override { CloseSocket(); }
  void CloseSocket() override {
    ErrorCode ignored;
    socket_.close(ignored);
  }

 private:
  void Read() {
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = SharedAs<TestConnection>()](const ErrorCode& error, size_t) {
          if (error) return self->CloseSocket();
          if (self->on_read_) self->on_read_();
          self->Read();
        });
  }

  TcpServer::Socket socket_;
  const std::function<void()> on_read_;
  char buffer_[256];
};

// A TcpServer of TestConnections on 127.0.0.1:0. A refused socket is told
// "full\n" or "per-ip\n".
class TestServer {
 public:
  // Called on the acceptor's thread with each accepted socket, before its
  // connection is made.
  using InspectFn = std::function<void(TcpServer::Socket&)>;

  explicit TestServer(TcpServerOptions options, InspectFn inspect = nullptr,
                      std::function<void()> on_read = nullptr)
      : inspect_(std::move(inspect)), on_read_(std::move(on_read)) {
    options.address = "127.0.0.1:0";
    server_ = std::make_unique<TcpServer>(
        options,
        [this](TcpServer::Socket socket, const tcp::endpoint& peer) {
          if (inspect_) inspect_(socket);
          auto c = Connection::Make<TestConnection>(
              server_.get(), std::move(socket), peer, on_read_);
          {
            absl::MutexLock lock(&mu_);
            accepted_.push_back(c);
          }
          asio::post(c->executor(), [c] { c->Start(); });
        },
        [](TcpServer::Socket& socket, TcpServer::Refusal why) {
          const std::string answer =
              why == TcpServer::Refusal::kServerFull ? "full\n" : "per-ip\n";
          ErrorCode ignored;
          socket.write_some(asio::buffer(answer), ignored);
        });
    EXPECT_TRUE(server_->Start().ok());
  }
  ~TestServer() { server_->Shutdown(absl::Seconds(1)); }

  TcpServer& server() { return *server_; }
  int port() const { return server_->port(); }

  // The i-th connection accepted, once it is (within kTimeout), while it
  // is open.
  std::shared_ptr<TestConnection> accepted(size_t i) {
    absl::MutexLock lock(&mu_);
    auto made = [this, i]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return accepted_.size() > i;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&made), kTimeout)) return nullptr;
    return accepted_[i].lock();
  }

 private:
  const InspectFn inspect_;
  const std::function<void()> on_read_;
  absl::Mutex mu_;
  std::vector<std::weak_ptr<TestConnection>> accepted_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<TcpServer> server_;
};

TEST(TcpServerTest, ConnectionsKnowTheirPeer) {
  TestServer test(TcpServerOptions{});
  TcpTestClient client(test.port());
  std::shared_ptr<TestConnection> c = test.accepted(0);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->peer_ip(), "127.0.0.1");
  EXPECT_EQ(c->peer_address(), absl::StrCat("127.0.0.1:", client.local_port()));
}

TEST(TcpServerTest, OverTheCapPerAddressIsRefusedAndOtherAddressesAreNot) {
  TcpServerOptions options;
  options.max_connections_per_ip = 2;
  TestServer test(options);
  TcpServer& server = test.server();
  auto a = std::make_unique<TcpTestClient>(test.port());
  TcpTestClient b(test.port());
  ASSERT_TRUE(server.WaitForConnectionCount(2, kTimeout));
  TcpTestClient over(test.port());
  EXPECT_EQ(over.ReadToEof(), "per-ip\n");
  EXPECT_EQ(server.connection_count("127.0.0.1"), 2u);

  // Another address (all of 127/8 is this host's) has a cap of its own.
  TcpTestClient other("127.0.0.2", test.port());
  ASSERT_TRUE(server.WaitForConnectionCount(3, kTimeout));
  EXPECT_EQ(server.connection_count("127.0.0.2"), 1u);

  // A closed connection frees its address's slot.
  a.reset();
  ASSERT_TRUE(server.WaitForConnectionCount(2, kTimeout));
  TcpTestClient again(test.port());
  EXPECT_TRUE(server.WaitForConnectionCount(3, kTimeout));
  EXPECT_EQ(server.connection_count("127.0.0.1"), 2u);
}

TEST(TcpServerTest, OverTheCapInAllIsRefused) {
  TcpServerOptions options;
  options.max_connections = 1;
  TestServer test(options);
  TcpTestClient a(test.port());
  ASSERT_TRUE(test.server().WaitForConnectionCount(1, kTimeout));
  TcpTestClient over("127.0.0.2", test.port());
  EXPECT_EQ(over.ReadToEof(), "full\n");
}

struct Keepalive {
  int on = -1, idle = -1, interval = -1, count = -1;
};

Keepalive ReadKeepalive(TcpServer::Socket& socket) {
  Keepalive k;
  const int fd = socket.native_handle();
  socklen_t len = sizeof(int);
  getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &k.on, &len);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &k.idle, &len);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &k.interval, &len);
  getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &k.count, &len);
  return k;
}

// The keepalive settings of the first socket accepted with `options`.
Keepalive AcceptedKeepalive(TcpServerOptions options) {
  Keepalive k;
  absl::Notification inspected;
  TestServer test(options, [&](TcpServer::Socket& socket) {
    if (inspected.HasBeenNotified()) return;
    k = ReadKeepalive(socket);
    inspected.Notify();
  });
  TcpTestClient client(test.port());
  EXPECT_TRUE(inspected.WaitForNotificationWithTimeout(kTimeout));
  return k;
}

TEST(TcpServerTest, AcceptedSocketsHaveTcpKeepalive) {
  Keepalive k = AcceptedKeepalive(TcpServerOptions{});
  EXPECT_EQ(k.on, 1);
  EXPECT_EQ(k.idle, 60);
  EXPECT_EQ(k.interval, 10);
  EXPECT_EQ(k.count, 6);

  TcpServerOptions options;
  options.keepalive_idle = absl::Seconds(7);
  options.keepalive_interval = absl::Seconds(3);
  options.keepalive_count = 4;
  k = AcceptedKeepalive(options);
  EXPECT_EQ(k.on, 1);
  EXPECT_EQ(k.idle, 7);
  EXPECT_EQ(k.interval, 3);
  EXPECT_EQ(k.count, 4);

  options.keepalive_idle = absl::ZeroDuration();
  EXPECT_EQ(AcceptedKeepalive(options).on, 0);
}

// A flood of connects waiting in the backlog does not hold up a connection
// already being served on the acceptor's thread: its input is handled after
// a few accepts, not after all of them.
TEST(TcpServerTest, AcceptsTakeTurnsWithTheAcceptorThreadsConnections) {
  constexpr int kFlood = 200;
  absl::Mutex mu;
  std::vector<char> order;  // 'a' an accept, 'r' the probe's read.
  absl::Notification probe_read;
  // Hold the thread while the connects and then the probe's byte arrive, so
  // that all of them are ready at once when it goes on.
  absl::Notification blocked, release;
  TcpServerOptions options;
  options.threads = 1;  // Every connection on the acceptor's thread.
  TestServer test(
      options,
      [&](TcpServer::Socket&) {
        absl::MutexLock lock(&mu);
        order.push_back('a');
      },
      [&] {
        absl::MutexLock lock(&mu);
        order.push_back('r');
        probe_read.Notify();
      });
  absl::Cleanup unblock = [&] {
    if (!release.HasBeenNotified()) release.Notify();
  };
  TcpTestClient probe(test.port());
  std::shared_ptr<TestConnection> probe_connection = test.accepted(0);
  ASSERT_NE(probe_connection, nullptr);

  asio::post(probe_connection->executor(), [&] {
    blocked.Notify();
    release.WaitForNotification();
  });
  blocked.WaitForNotification();
  std::vector<std::unique_ptr<TcpTestClient>> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(std::make_unique<TcpTestClient>(test.port()));
  }
  // After the connects: the listening socket is ready first.
  probe.Send("x");
  release.Notify();
  ASSERT_TRUE(probe_read.WaitForNotificationWithTimeout(kTimeout));
  ASSERT_TRUE(test.server().WaitForConnectionCount(1 + kFlood, kTimeout));
  absl::MutexLock lock(&mu);
  const auto read = std::find(order.begin(), order.end(), 'r');
  ASSERT_NE(read, order.end());
  // Accepts before the read, the probe's own first.
  EXPECT_LT(std::count(order.begin(), read, 'a'), 1 + 10)
      << "the probe's read waited for most of " << kFlood << " accepts";
}

}  // namespace
}  // namespace chat

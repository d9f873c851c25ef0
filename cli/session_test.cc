// ChatSession against an in-process ChatRoomService, reached through a TCP
// proxy that the test can cut, to check that a dropped connection is
// resumed without losing or repeating events.
#include "cli/session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/grpc_service.h"

namespace chat {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(15);

// Forwards TCP connections from a local port to `backend_port`. Cut()
// breaks every connection open so far and refuses new ones until Resume().
class Proxy {
 public:
  explicit Proxy(int backend_port) : backend_port_(backend_port) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listener_, 16);
    socklen_t len = sizeof(addr);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~Proxy() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    acceptor_.join();
    Cut();
    for (std::thread& t : pumps_) t.join();
    absl::MutexLock lock(&mu_);
    for (int fd : fds_) close(fd);
  }

  int port() const { return port_; }

  void Cut() {
    absl::MutexLock lock(&mu_);
    refusing_ = true;
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
  }

  void Resume() {
    absl::MutexLock lock(&mu_);
    refusing_ = false;
  }

 private:
  void Accept() {
    for (;;) {
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      {
        absl::MutexLock lock(&mu_);
        if (refusing_) {
          close(client);
          continue;
        }
      }
      const int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(backend_port_));
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0) {
        close(client);
        close(server);
        continue;
      }
      absl::MutexLock lock(&mu_);
      fds_.push_back(client);
      fds_.push_back(server);
      pumps_.emplace_back([client, server] { Pump(client, server); });
      pumps_.emplace_back([client, server] { Pump(server, client); });
    }
  }

  static void Pump(int from, int to) {
    char buf[16384];
    for (;;) {
      const ssize_t n = read(from, buf, sizeof(buf));
      if (n <= 0) break;
      // MSG_NOSIGNAL: the other side may have been cut; that is EPIPE here,
      // not a SIGPIPE that kills the test.
      if (send(to, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  }

  const int backend_port_;
  int listener_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
  bool refusing_ ABSL_GUARDED_BY(mu_) = false;
};

// Records what a session reports.
class Recorder final : public SessionListener {
 public:
  void OnSessionEvent(SessionEvent e) override {
    absl::MutexLock lock(&mu_);
    std::string line;
    switch (e.kind) {
      case SessionEvent::Kind::kEvent:
        if (e.event.has_message()) {
          line = absl::StrCat("msg ", e.event.message().text());
        } else if (e.event.has_welcome()) {
          line = "welcome";
        } else if (e.event.has_notice()) {
          line = absl::StrCat("notice ", e.event.notice().text());
        } else {
          return;  // Joins and leaves: not what this test is about.
        }
        break;
      case SessionEvent::Kind::kDisconnected:
        line = "disconnected";
        break;
      case SessionEvent::Kind::kReconnected:
        line = "reconnected";
        break;
      case SessionEvent::Kind::kEnded:
        line = absl::StrCat("ended ", e.status.ToString());
        break;
    }
    lines_.push_back(line);
  }

  bool WaitFor(const std::string& line) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return std::find(lines_.begin(), lines_.end(), line) != lines_.end();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kTimeout);
  }

  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_ = std::make_unique<Hub>(HubOptions());
    service_ = std::make_unique<ChatRoomService>(hub_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    hub_->Shutdown("test over");
    server_->Shutdown(std::chrono::system_clock::now());
  }

  SessionOptions Options(const std::string& name, int port) {
    SessionOptions o;
    o.server = absl::StrCat("127.0.0.1:", port);
    o.name = name;
    return o;
  }

  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ChatRoomService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(SessionTest, ResumesAfterADroppedConnectionWithoutLossOrRepeats) {
  Proxy proxy(port_);
  Recorder alice_saw;
  SessionOptions options = Options("alice", proxy.port());
  ChatSession alice(Dial(options.server), options, &alice_saw);
  ASSERT_TRUE(alice.Start().ok());

  Recorder bob_saw;
  SessionOptions bob_options = Options("bob", port_);
  ChatSession bob(Dial(bob_options.server), bob_options, &bob_saw);
  ASSERT_TRUE(bob.Start().ok());
  ASSERT_TRUE(bob.Say("one", false).ok());
  ASSERT_TRUE(alice_saw.WaitFor("msg one"));

  proxy.Cut();
  ASSERT_TRUE(alice_saw.WaitFor("disconnected"));
  // Posted while alice is away.
  ASSERT_TRUE(bob.Say("two", false).ok());
  ASSERT_TRUE(bob.Say("three", false).ok());
  ASSERT_TRUE(bob_saw.WaitFor("msg three"));
  EXPECT_FALSE(alice.connected());
  proxy.Resume();

  ASSERT_TRUE(alice_saw.WaitFor("msg three"))
      << ::testing::PrintToString(alice_saw.lines());
  ASSERT_TRUE(alice.connected());
  ASSERT_TRUE(alice.Say("back", false).ok());
  ASSERT_TRUE(bob_saw.WaitFor("msg back"));
  ASSERT_TRUE(alice_saw.WaitFor("msg back"));
  alice.Leave("");
  ASSERT_TRUE(alice_saw.WaitFor("ended OK"));
  EXPECT_THAT(alice_saw.lines(),
              ::testing::ElementsAre("welcome", "msg one", "disconnected",
                                     "reconnected", "welcome", "msg two",
                                     "msg three", "msg back", "ended OK"));
}

TEST_F(SessionTest, StartFailsWithTheServersReason) {
  Recorder saw;
  SessionOptions options = Options("bob", port_);
  ChatSession bob(Dial(options.server), options, &saw);
  ASSERT_TRUE(bob.Start().ok());
  options.name = "BOB";
  ChatSession again(Dial(options.server), options, &saw);
  absl::Status s = again.Start();
  EXPECT_TRUE(absl::IsAlreadyExists(s)) << s;
  EXPECT_EQ(s.message(), "name \"BOB\" is taken in room lobby");
}

TEST_F(SessionTest, LeaveWhileReconnectingEndsOk) {
  Recorder saw;
  SessionOptions options = Options("gone", port_);
  ChatSession s(Dial(options.server), options, &saw);
  ASSERT_TRUE(s.Start().ok());
  server_->Shutdown(std::chrono::system_clock::now());
  hub_->Shutdown("down");
  ASSERT_TRUE(saw.WaitFor("disconnected"));
  s.Leave("");
  EXPECT_TRUE(saw.WaitFor("ended OK"));
}

}  // namespace
}  // namespace chat

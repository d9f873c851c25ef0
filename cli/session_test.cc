// ChatSession against an in-process ChatRoomService (testing/
// in_process_server.h; a second one, with its own Hub, stands for a server
// that restarted without its history), reached through a TCP proxy that the
// test can cut (and point at another server), to check that a dropped
// connection is resumed without losing or repeating events, and that each
// rejoin names the last seq seen and the epoch it belongs to.
#include "cli/session.h"

#include <grpcpp/support/client_interceptor.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/in_process_server.h"
#include "testing/tcp_proxy.h"

namespace chat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr absl::Duration kTimeout = absl::Seconds(15);

// A TcpProxy (testing/tcp_proxy.h) to the server on `backend_port`. Cut()
// breaks every connection open so far and refuses new ones (they go to a
// port where nothing listens) until Resume(). SetBackend() sends the
// connections after the next Resume() elsewhere.
class Proxy {
 public:
  explicit Proxy(int backend_port)
      : backend_(Address(backend_port)), proxy_(backend_) {}

  int port() const { return proxy_.port(); }

  void Cut() {
    proxy_.SetBackend(Address(1));
    proxy_.CutAll();
  }

  void Resume() { proxy_.SetBackend(backend_); }

  void SetBackend(int port) { backend_ = Address(port); }

 private:
  static std::string Address(int port) {
    return absl::StrCat("127.0.0.1:", port);
  }

  std::string backend_;
  TcpProxy proxy_;
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
          welcomes_.push_back(e.event.welcome());
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
      case SessionEvent::Kind::kNotSent:
        line = absl::StrCat("not-sent ", e.text);
        break;
      case SessionEvent::Kind::kPosted:
        if (e.tag == 0) return;  // Says without a tag: not followed.
        line = absl::StrCat("posted ", e.tag);
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

  // Waits until `line` was seen `n` times.
  bool WaitForCount(const std::string& line, size_t n) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<size_t>(
                 std::count(lines_.begin(), lines_.end(), line)) >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&seen), kTimeout);
  }

  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

  std::vector<v1::Welcome> welcomes() {
    absl::MutexLock lock(&mu_);
    return welcomes_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Welcome> welcomes_ ABSL_GUARDED_BY(mu_);
};

// Records every Join a client sends on its Chat streams, as it leaves the
// client: what chatctl asks a server to resume from. Dial() gives a channel
// like chat::Dial's, with the spy on it.
class JoinSpy {
 public:
  std::shared_ptr<grpc::Channel> Dial(const std::string& server) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    std::vector<
        std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        factories;
    factories.push_back(std::make_unique<Factory>(this));
    return grpc::experimental::CreateCustomChannelWithInterceptors(
        server, grpc::InsecureChannelCredentials(), args, std::move(factories));
  }

  // The joins sent, each once: a rejoin refused while the server has not
  // yet noticed the old connection is gone is sent again, the same.
  std::vector<v1::Join> joins() {
    absl::MutexLock lock(&mu_);
    std::vector<v1::Join> distinct;
    for (const v1::Join& j : joins_) {
      if (distinct.empty() ||
          distinct.back().SerializeAsString() != j.SerializeAsString()) {
        distinct.push_back(j);
      }
    }
    return distinct;
  }

 private:
  class Interceptor final : public grpc::experimental::Interceptor {
   public:
    explicit Interceptor(JoinSpy* spy) : spy_(spy) {}
    void Intercept(
        grpc::experimental::InterceptorBatchMethods* methods) override {
      if (methods->QueryInterceptionHookPoint(
              grpc::experimental::InterceptionHookPoints::PRE_SEND_MESSAGE)) {
        v1::ChatRequest request;
        if (const void* m = methods->GetSendMessage(); m != nullptr) {
          request = *static_cast<const v1::ChatRequest*>(m);
        } else if (grpc::ByteBuffer* b = methods->GetSerializedSendMessage();
                   b != nullptr) {
          std::vector<grpc::Slice> slices;
          (void)b->Dump(&slices);
          std::string bytes;
          for (const grpc::Slice& slice : slices) {
            bytes.append(reinterpret_cast<const char*>(slice.begin()),
                         slice.size());
          }
          (void)request.ParseFromString(bytes);
        }
        if (request.has_join()) {
          absl::MutexLock lock(&spy_->mu_);
          spy_->joins_.push_back(request.join());
        }
      }
      methods->Proceed();
    }

   private:
    JoinSpy* const spy_;
  };

  class Factory final
      : public grpc::experimental::ClientInterceptorFactoryInterface {
   public:
    explicit Factory(JoinSpy* spy) : spy_(spy) {}
    grpc::experimental::Interceptor* CreateClientInterceptor(
        grpc::experimental::ClientRpcInfo* info) override {
      if (std::string(info->method()) != "/chat.v1.ChatRoom/Chat") {
        return nullptr;
      }
      return new Interceptor(spy_);
    }

   private:
    JoinSpy* const spy_;
  };

  absl::Mutex mu_;
  std::vector<v1::Join> joins_ ABSL_GUARDED_BY(mu_);
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<InProcessServer>();
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  void TearDown() override { server_->Shutdown("test over"); }

  SessionOptions Options(const std::string& name, int port) {
    SessionOptions o;
    o.server = absl::StrCat("127.0.0.1:", port);
    o.name = name;
    return o;
  }

  std::unique_ptr<InProcessServer> server_;
  int port_ = 0;
};

TEST_F(SessionTest, ResumesAfterADroppedConnectionWithoutLossOrRepeats) {
  Proxy proxy(port_);
  Recorder alice_saw;
  JoinSpy alice_sent;
  SessionOptions options = Options("alice", proxy.port());
  ChatSession alice(alice_sent.Dial(options.server), options, &alice_saw);
  ASSERT_TRUE(alice.Start().ok());

  Recorder bob_saw;
  SessionOptions bob_options = Options("bob", port_);
  ChatSession bob(Dial(bob_options.server), bob_options, &bob_saw);
  ASSERT_TRUE(bob.Start().ok());
  ASSERT_TRUE(bob.Say("one", false).ok());
  ASSERT_TRUE(alice_saw.WaitFor("msg one"));

  proxy.Cut();
  ASSERT_TRUE(alice_saw.WaitFor("disconnected"));
  // Nothing reaches alice until the proxy resumes.
  const uint64_t seen = alice.last_seq();
  // Posted while alice is away.
  ASSERT_TRUE(bob.Say("two", false).ok());
  ASSERT_TRUE(bob.Say("three", false).ok());
  ASSERT_TRUE(bob_saw.WaitFor("msg three"));
  EXPECT_FALSE(alice.connected());
  proxy.Resume();

  ASSERT_TRUE(alice_saw.WaitFor("msg three"))
      << ::testing::PrintToString(alice_saw.lines()) << "\nsent "
      << ::testing::PrintToString(alice_sent.joins()) << "\nwelcomed "
      << ::testing::PrintToString(alice_saw.welcomes());
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

  // The rejoin named the last seq alice saw and the history it belongs to.
  const std::vector<v1::Welcome> welcomes = alice_saw.welcomes();
  ASSERT_THAT(welcomes, SizeIs(2));
  EXPECT_NE(welcomes[0].epoch(), "") << "the server names no epoch";
  EXPECT_EQ(welcomes[1].epoch(), welcomes[0].epoch());
  EXPECT_EQ(alice.epoch(), welcomes[0].epoch());
  const std::vector<v1::Join> joins = alice_sent.joins();
  ASSERT_THAT(joins, SizeIs(2));
  EXPECT_EQ(joins[0].resume_after_seq(), 0u);
  EXPECT_EQ(joins[0].resume_epoch(), "");
  EXPECT_EQ(joins[1].name(), "alice");
  EXPECT_EQ(joins[1].room(), "lobby");
  EXPECT_GT(seen, 0u);
  EXPECT_EQ(joins[1].resume_after_seq(), seen);
  EXPECT_EQ(joins[1].resume_epoch(), welcomes[0].epoch());
}

TEST_F(SessionTest, AfterAMoveResumesInTheNewRoomsSeqsAndEpoch) {
  Proxy proxy(port_);
  Recorder alice_saw;
  JoinSpy alice_sent;
  SessionOptions options = Options("alice", proxy.port());
  ChatSession alice(alice_sent.Dial(options.server), options, &alice_saw);
  ASSERT_TRUE(alice.Start().ok());
  // The lobby gets ahead of dev in seqs.
  Recorder bob_saw;
  SessionOptions bob_options = Options("bob", port_);
  ChatSession bob(Dial(bob_options.server), bob_options, &bob_saw);
  ASSERT_TRUE(bob.Start().ok());
  for (const char* text : {"l1", "l2", "l3", "l4"}) {
    ASSERT_TRUE(bob.Say(text, false).ok());
  }
  ASSERT_TRUE(alice_saw.WaitFor("msg l4"));
  const uint64_t lobby_seq = alice.last_seq();

  ASSERT_TRUE(alice.Move("dev").ok());
  ASSERT_TRUE(alice_saw.WaitForCount("welcome", 2));
  ASSERT_TRUE(alice.Say("in dev", false).ok());
  ASSERT_TRUE(alice_saw.WaitFor("msg in dev"));
  EXPECT_EQ(alice.room(), "dev");

  proxy.Cut();
  ASSERT_TRUE(alice_saw.WaitFor("disconnected"));
  const uint64_t seen = alice.last_seq();
  ASSERT_TRUE(bob.Move("dev").ok());
  ASSERT_TRUE(bob.Say("while away", false).ok());
  ASSERT_TRUE(bob_saw.WaitFor("msg while away"));
  proxy.Resume();
  ASSERT_TRUE(alice_saw.WaitFor("msg while away"))
      << ::testing::PrintToString(alice_saw.lines());
  alice.Leave("");
  ASSERT_TRUE(alice_saw.WaitFor("ended OK"));
  EXPECT_THAT(
      alice_saw.lines(),
      ElementsAre("welcome", "msg l1", "msg l2", "msg l3", "msg l4", "welcome",
                  "msg in dev", "disconnected", "reconnected", "welcome",
                  "msg while away", "ended OK"));

  const std::vector<v1::Welcome> welcomes = alice_saw.welcomes();
  ASSERT_THAT(welcomes, SizeIs(3));
  EXPECT_EQ(welcomes[1].room(), "dev");
  const std::vector<v1::Join> joins = alice_sent.joins();
  ASSERT_THAT(joins, SizeIs(3));  // lobby, the move, the rejoin.
  EXPECT_EQ(joins[2].room(), "dev");
  EXPECT_EQ(joins[2].resume_after_seq(), seen);
  EXPECT_EQ(joins[2].resume_epoch(), welcomes[1].epoch());
  // dev's seqs, not the lobby's.
  EXPECT_LT(seen, lobby_seq);
}

TEST_F(SessionTest, AfterTheHistoryWasResetResumesInTheNewEpoch) {
  Proxy proxy(port_);
  Recorder alice_saw;
  JoinSpy alice_sent;
  SessionOptions options = Options("alice", proxy.port());
  ChatSession alice(alice_sent.Dial(options.server), options, &alice_saw);
  ASSERT_TRUE(alice.Start().ok());
  Recorder bob_saw;
  SessionOptions bob_options = Options("bob", port_);
  ChatSession bob(Dial(bob_options.server), bob_options, &bob_saw);
  ASSERT_TRUE(bob.Start().ok());
  ASSERT_TRUE(bob.Say("old", false).ok());
  ASSERT_TRUE(alice_saw.WaitFor("msg old"));

  // The server restarts without its history: a fresh one, whose seqs run
  // past alice's before she is back.
  proxy.Cut();
  ASSERT_TRUE(alice_saw.WaitFor("disconnected"));
  const uint64_t seen = alice.last_seq();
  InProcessServer restarted;
  Recorder carol_saw;
  SessionOptions carol_options = Options("carol", restarted.port());
  ChatSession carol(Dial(carol_options.server), carol_options, &carol_saw);
  ASSERT_TRUE(carol.Start().ok());
  for (const char* text : {"new1", "new2", "new3", "new4", "new5"}) {
    ASSERT_TRUE(carol.Say(text, false).ok());
  }
  ASSERT_TRUE(carol_saw.WaitFor("msg new5"));
  proxy.SetBackend(restarted.port());
  proxy.Resume();
  ASSERT_TRUE(alice_saw.WaitForCount("welcome", 2))
      << ::testing::PrintToString(alice_saw.lines());

  // Alice is in the new history: a second drop resumes there, exactly.
  ASSERT_TRUE(carol.Say("before the drop", false).ok());
  ASSERT_TRUE(alice_saw.WaitFor("msg before the drop"));
  proxy.Cut();
  ASSERT_TRUE(alice_saw.WaitForCount("disconnected", 2));
  const uint64_t seen_again = alice.last_seq();
  ASSERT_TRUE(carol.Say("while away", false).ok());
  ASSERT_TRUE(carol_saw.WaitFor("msg while away"));
  proxy.Resume();
  ASSERT_TRUE(alice_saw.WaitFor("msg while away"))
      << ::testing::PrintToString(alice_saw.lines());
  alice.Leave("");
  ASSERT_TRUE(alice_saw.WaitFor("ended OK"));
  EXPECT_THAT(alice_saw.lines(),
              ElementsAre("welcome", "msg old", "disconnected", "reconnected",
                          "welcome", HasSubstr("history was reset"),
                          "msg before the drop", "disconnected", "reconnected",
                          "welcome", "msg while away", "ended OK"));

  const std::vector<v1::Welcome> welcomes = alice_saw.welcomes();
  ASSERT_THAT(welcomes, SizeIs(3));
  EXPECT_NE(welcomes[1].epoch(), welcomes[0].epoch());
  EXPECT_EQ(welcomes[2].epoch(), welcomes[1].epoch());
  const std::vector<v1::Join> joins = alice_sent.joins();
  ASSERT_THAT(joins, SizeIs(3));
  EXPECT_EQ(joins[1].resume_after_seq(), seen);
  EXPECT_EQ(joins[1].resume_epoch(), welcomes[0].epoch());
  EXPECT_EQ(joins[2].resume_after_seq(), seen_again);
  EXPECT_EQ(joins[2].resume_epoch(), welcomes[1].epoch());
  EXPECT_GT(seen_again, welcomes[1].last_seq());
}

// A Say written into a connection that is already cut never reached the
// server: after the rejoin it is sent again (ResendNext) and posted, once.
TEST_F(SessionTest, ASayLostInTheDropIsSentAgainAndPostedOnce) {
  Proxy proxy(port_);
  Recorder alice_saw;
  SessionOptions options = Options("alice", proxy.port());
  ChatSession alice(Dial(options.server), options, &alice_saw);
  ASSERT_TRUE(alice.Start().ok());
  ASSERT_TRUE(alice.Say("made it", false, 1).ok());
  ASSERT_TRUE(alice_saw.WaitFor("msg made it"));

  proxy.Cut();
  // Written into a connection that is already cut: either the session
  // noticed the drop (an error: not sent), or the write was taken and never
  // reached the server.
  const absl::Status lost = alice.Say("lost", true, 2);
  ASSERT_TRUE(alice_saw.WaitFor("disconnected"));
  proxy.Resume();
  ASSERT_TRUE(alice_saw.WaitFor("reconnected"));
  if (lost.ok()) {
    EXPECT_EQ(alice.unconfirmed(), 1u);
    EXPECT_TRUE(alice.ResendNext());
    EXPECT_FALSE(alice.ResendNext());  // Only the one.
    ASSERT_TRUE(alice_saw.WaitFor("msg lost"));
  }
  Recorder bob_saw;
  SessionOptions bob_options = Options("bob", port_);
  ChatSession bob(Dial(bob_options.server), bob_options, &bob_saw);
  ASSERT_TRUE(bob.Start().ok());
  ASSERT_TRUE(bob.Say("after", false).ok());
  ASSERT_TRUE(alice_saw.WaitFor("msg after"))
      << ::testing::PrintToString(alice_saw.lines());
  if (lost.ok()) {
    EXPECT_THAT(alice_saw.lines(),
                ElementsAre("welcome", "posted 1", "msg made it",
                            "disconnected", "reconnected", "welcome",
                            "posted 2", "msg lost", "msg after"));
  } else {
    EXPECT_THAT(
        alice_saw.lines(),
        ElementsAre("welcome", "posted 1", "msg made it", "disconnected",
                    "reconnected", "welcome", "msg after"));
  }
  EXPECT_EQ(alice.unconfirmed(), 0u);
}

// At most a quarter of the server's outbox (Welcome.limits) of Says are
// unconfirmed at a time, so that a sender's own echoes can never get it
// dropped as too slow.
TEST_F(SessionTest, WindowIsAQuarterOfTheServersOutbox) {
  Recorder saw;
  SessionOptions options = Options("w", port_);
  ChatSession w(Dial(options.server), options, &saw);
  ASSERT_TRUE(w.Start().ok());
  // InProcessServer's hub: the default outbox of 1024 events.
  EXPECT_EQ(w.limits().max_outbox_events(), 1024u);
  EXPECT_EQ(w.window(), 256u);
  EXPECT_TRUE(w.confirms_each_say());
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
  server_->Shutdown("down");
  ASSERT_TRUE(saw.WaitFor("disconnected"));
  s.Leave("");
  EXPECT_TRUE(saw.WaitFor("ended OK"));
}

}  // namespace
}  // namespace chat

// The shared room log against a real redis-server: several hubs in this
// process play the nodes, each with its own RedisLogBackend (its own node
// id, connections and Redis thread), as separate chat-service processes
// would.
#include "redis/redis_log.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/format.h"
#include "service/room.h"
#include "testing/redis_server.h"

namespace chat::redis {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);

// What the core wakes: counts wakes. Apart from Reader, which holds the
// member, so that the member (which holds its sink) and the reader do not
// hold each other.
class Waker : public MemberSink {
 public:
  void Wake() override {
    absl::MutexLock lock(&mu_);
    ++wakes_;
    cv_.SignalAll();
  }
  int wakes() {
    absl::MutexLock lock(&mu_);
    return wakes_;
  }
  // Until a wake after `seen` (the member's outbox got something after it
  // was drained empty), or the deadline.
  void WaitForWake(int seen, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    while (wakes_ == seen) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) return;
    }
  }

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  int wakes_ ABSL_GUARDED_BY(mu_) = 0;
};

// A member whose outbox the test reads: every event as the line port would
// show it, with its seq.
class Reader {
 public:
  struct Line {
    uint64_t seq;
    std::string text;
  };

  std::shared_ptr<Waker> waker() const { return waker_; }

  void Attach(std::shared_ptr<Member> m) { member_ = std::move(m); }
  Member& member() { return *member_; }

  // Drains what is there; returns false once the outbox is closed.
  void Poll() {
    if (member_ == nullptr || closed_) return;
    std::vector<EventPtr> events;
    absl::Status status;
    for (;;) {
      events.clear();
      Outbox::DrainResult r = member_->outbox().Drain(&events, &status);
      for (const EventPtr& e : events) {
        lines_.push_back({e->seq(), FormatEventLine(e->response())});
        if (e->response().has_welcome()) {
          epoch_ = e->response().welcome().epoch();
          secret_ = e->response().welcome().resume_secret();
          last_seq_ = e->response().welcome().last_seq();
        }
      }
      if (r == Outbox::DrainResult::kClosed) {
        closed_ = true;
        status_ = status;
        return;
      }
      if (r == Outbox::DrainResult::kEmpty) return;
    }
  }

  // Waits until a line containing `text` came (after those already
  // matched), then moves past it.
  bool Expect(const std::string& text, absl::Duration timeout = kWait) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      const int seen = wakes();
      Poll();
      for (; cursor_ < lines_.size(); ++cursor_) {
        if (absl::StrContains(lines_[cursor_].text, text)) {
          last_ = lines_[cursor_++];
          return true;
        }
      }
      if (closed_ || absl::Now() > deadline) return false;
      WaitForWake(seen, deadline);
    }
  }

  // Waits until `n` messages came.
  bool ExpectMessages(size_t n, absl::Duration timeout = kWait) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      const int seen = wakes();
      Poll();
      if (Messages().size() >= n) return true;
      if (closed_ || absl::Now() > deadline) return false;
      WaitForWake(seen, deadline);
    }
  }

  // Waits for the outbox to close; its status.
  absl::Status End(absl::Duration timeout = kWait) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      const int seen = wakes();
      Poll();
      if (closed_) return status_;
      if (absl::Now() > deadline) return absl::DeadlineExceededError("open");
      WaitForWake(seen, deadline);
    }
  }

  // The messages received, as "seq text".
  std::vector<std::string> Messages() const {
    std::vector<std::string> out;
    for (const Line& l : lines_) {
      if (l.text.rfind("<", 0) == 0)
        out.push_back(absl::StrCat(l.seq, " ", l.text));
    }
    return out;
  }

  const Line& last() const { return last_; }
  const std::string& epoch() const { return epoch_; }
  const std::string& secret() const { return secret_; }
  uint64_t last_seq() const { return last_seq_; }

 private:
  int wakes() { return waker_->wakes(); }
  void WaitForWake(int seen, absl::Time deadline) {
    waker_->WaitForWake(seen, deadline);
  }

  const std::shared_ptr<Waker> waker_ = std::make_shared<Waker>();
  std::shared_ptr<Member> member_;
  std::vector<Line> lines_;
  size_t cursor_ = 0;
  Line last_{0, ""};
  bool closed_ = false;
  absl::Status status_;
  std::string epoch_, secret_;
  uint64_t last_seq_ = 0;
};

// Counts a node's shard going up and down (LogOptions::on_shard_state), and
// waits for a count.
class ShardWatch {
 public:
  // Hooks into `o`.
  void Watch(LogOptions* o) {
    o->on_shard_state = [this](size_t, bool up) {
      absl::MutexLock lock(&mu_);
      ++(up ? ups_ : downs_);
    };
  }
  bool AwaitDowns(int n) { return Await(&downs_, n); }
  bool AwaitUps(int n) { return Await(&ups_, n); }

 private:
  bool Await(int* count, int n) {
    absl::MutexLock lock(&mu_);
    std::pair<int*, int> want(count, n);
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::pair<int*, int>* w) { return *w->first >= w->second; },
            &want),
        kWait);
  }

  absl::Mutex mu_;
  int ups_ ABSL_GUARDED_BY(mu_) = 0;
  int downs_ ABSL_GUARDED_BY(mu_) = 0;
};

class RedisLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> r = RedisServer::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = *std::move(r);
  }

  LogOptions Options() {
    LogOptions o;
    o.shards = {Address{"127.0.0.1", redis_->port()}};
    // Short leases, so that a lost node is seen in about a second.
    o.lease = absl::Milliseconds(1000);
    o.lease_renewal = absl::Milliseconds(200);
    return o;
  }

  // A node: a hub over its own backend.
  std::unique_ptr<Hub> Node(LogOptions o) {
    absl::StatusOr<std::unique_ptr<RedisLogBackend>> logs =
        RedisLogBackend::Start(std::move(o));
    EXPECT_TRUE(logs.ok()) << logs.status();
    if (!logs.ok()) return nullptr;
    return std::make_unique<Hub>(HubOptions(), *std::move(logs));
  }
  std::unique_ptr<Hub> Node() { return Node(Options()); }

  // Joins `name` on `hub`; the reader has its welcome once this returns.
  std::shared_ptr<Reader> Join(Hub* hub, const std::string& name,
                               const std::string& room = "lobby",
                               const std::string& secret = "",
                               uint64_t resume_after = 0,
                               const std::string& epoch = "") {
    auto reader = std::make_shared<Reader>();
    JoinRequest join;
    join.name = name;
    join.room = room;
    join.resume_secret = secret;
    join.resume_after_seq = resume_after;
    join.resume_epoch = epoch;
    absl::StatusOr<std::shared_ptr<Member>> m =
        hub->Join(join, reader->waker());
    EXPECT_TRUE(m.ok()) << m.status();
    if (m.ok()) reader->Attach(*m);
    return reader;
  }

  // Two nodes, alice joined on the first and bob on the second, each
  // welcomed.
  struct Pair {
    std::unique_ptr<Hub> a, b;
    std::shared_ptr<Reader> alice, bob;
  };
  void AliceAndBob(LogOptions o) {
    pair_.a = Node(o);
    pair_.b = Node(o);
    ASSERT_TRUE(pair_.a && pair_.b);
    pair_.alice = Join(pair_.a.get(), "alice");
    ASSERT_TRUE(pair_.alice->Expect("-- you are alice"));
    pair_.bob = Join(pair_.b.get(), "bob");
    ASSERT_TRUE(pair_.bob->Expect("-- you are bob"));
  }

  std::unique_ptr<RedisServer> redis_;
  Pair pair_;
};

TEST(ShardOfTest, StableAndSpread) {
  EXPECT_EQ(ShardOf("lobby", 1), 0u);
  EXPECT_EQ(ShardOf("lobby", 4), ShardOf("lobby", 4));
  std::vector<int> count(4);
  for (int i = 0; i < 400; ++i) ++count[ShardOf(absl::StrCat("room", i), 4)];
  for (int c : count) EXPECT_GT(c, 50);
}

TEST_F(RedisLogTest, MembersOnTwoNodesSeeOneOrder) {
  auto a = Node();
  auto b = Node();
  ASSERT_TRUE(a && b);
  auto alice = Join(a.get(), "alice");
  ASSERT_TRUE(alice->Expect("-- you are alice in room lobby"));
  auto bob = Join(b.get(), "bob");
  ASSERT_TRUE(bob->Expect("-- you are bob in room lobby with 1 other: alice"));
  ASSERT_TRUE(alice->Expect("-- bob joined"));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(alice->member().Say(absl::StrCat("a", i), false).ok());
    ASSERT_TRUE(bob->member().Say(absl::StrCat("b", i), false).ok());
  }
  ASSERT_TRUE(alice->ExpectMessages(100));
  ASSERT_TRUE(bob->ExpectMessages(100));
  ASSERT_EQ(alice->Messages().size(), 100u);
  EXPECT_EQ(alice->Messages(), bob->Messages());
  std::vector<std::string> m = alice->Messages();
  for (size_t i = 1; i < m.size(); ++i) {
    EXPECT_EQ(std::stoull(m[i]), std::stoull(m[i - 1]) + 1) << m[i];
  }
  // Everyone is listed on either node.
  std::string room;
  absl::StatusOr<std::vector<v1::Member>> listed =
      b->ListMembers("lobby", &room);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].name(), "alice");
  EXPECT_EQ((*listed)[1].name(), "bob");
}

TEST_F(RedisLogTest, NameTakenOnAnotherNodeIsRefused) {
  auto a = Node();
  auto b = Node();
  ASSERT_TRUE(a && b);
  auto alice = Join(a.get(), "alice");
  ASSERT_TRUE(alice->Expect("-- you are alice"));
  auto twin = Join(b.get(), "ALICE");
  absl::Status end = twin->End();
  EXPECT_TRUE(absl::IsAlreadyExists(end)) << end;
  EXPECT_THAT(end.message(), HasSubstr("is taken in room lobby"));
  // The refused join left no trace: alice alone is listed, and a later
  // join of another name works.
  auto carol = Join(b.get(), "carol");
  ASSERT_TRUE(
      carol->Expect("-- you are carol in room lobby with 1 other: alice"));
  // A rename onto a name held on the other node is refused too.
  ASSERT_TRUE(carol->member().Rename("Alice").code() == absl::StatusCode::kOk);
  EXPECT_TRUE(carol->Expect("!! name \"Alice\" is taken in room lobby"));
}

TEST_F(RedisLogTest, WhatFollowsARenameAtOnceGoesByTheNewName) {
  ASSERT_NO_FATAL_FAILURE(AliceAndBob(Options()));
  auto& [a, b, alice, bob] = pair_;
  // Sent before the rename comes back from Redis.
  ASSERT_TRUE(alice->member().Rename("alicia").ok());
  ASSERT_TRUE(alice->member().Say("hello", false).ok());
  alice->member().Leave("");
  EXPECT_TRUE(bob->Expect("-- alice is now known as alicia"));
  EXPECT_TRUE(bob->Expect("<alicia> hello"));
  EXPECT_TRUE(bob->Expect("-- alicia left"));
  EXPECT_EQ(bob->last().text, "-- alicia left");
  EXPECT_TRUE(alice->End().ok());
  // A move right after a rename moves the new name ("/nick x", "/join y").
  auto carol = Join(a.get(), "carol");
  ASSERT_TRUE(carol->Expect("-- you are carol"));
  ASSERT_TRUE(carol->member().Rename("caroline").ok());
  ASSERT_TRUE(carol->member().Move("blue", 0).ok());
  ASSERT_TRUE(carol->Expect("-- you are caroline in room blue"));
  ASSERT_TRUE(carol->member().Say("hi", false).ok());
  EXPECT_TRUE(carol->Expect("<caroline> hi"));
}

TEST_F(RedisLogTest, MovesIntoRoomsThisNodeHasNotOpenedAreWelcomed) {
  auto a = Node();
  auto b = Node();
  ASSERT_TRUE(a && b);
  auto alice = Join(a.get(), "alice");
  ASSERT_TRUE(alice->Expect("-- you are alice"));
  // Each move opens a room on node a while its read of the others waits.
  for (int i = 0; i < 20; ++i) {
    const std::string room = absl::StrCat("blue", i);
    ASSERT_TRUE(alice->member().Move(room, 0).ok());
    ASSERT_TRUE(alice->Expect("-- you are alice in room " + room))
        << "move " << i;
    ASSERT_TRUE(alice->Expect("-- alice joined"));
  }
  // And node b sees her in the last one.
  std::string room;
  auto listed = b->ListMembers("blue19", &room);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name(), "alice");
}

TEST_F(RedisLogTest, ALostNodesMembersLeaveAndResumeElsewhere) {
  ASSERT_NO_FATAL_FAILURE(AliceAndBob(Options()));
  auto& [a, b, alice, bob] = pair_;
  ASSERT_TRUE(alice->member().Say("before", false, "id-1").ok());
  ASSERT_TRUE(alice->Expect("<alice> before"));
  const uint64_t seen = alice->last().seq;
  const std::string secret = alice->secret();
  const std::string epoch = alice->epoch();
  // Node a dies: no leave is sent, its lease runs out.
  a.reset();
  ASSERT_TRUE(bob->Expect("-- alice left (node lost)", absl::Seconds(5)));
  ASSERT_TRUE(bob->member().Say("while away", false).ok());
  ASSERT_TRUE(bob->Expect("<bob> while away"));
  // alice comes back on b and resumes: she gets what she missed, once.
  auto again = Join(b.get(), "alice", "lobby", secret, seen, epoch);
  ASSERT_TRUE(again->Expect("-- alice left (node lost)"));
  ASSERT_TRUE(again->Expect("<bob> while away"));
  ASSERT_TRUE(again->Expect("-- alice joined"));
  // The same client id again is not posted twice, even from another node.
  ASSERT_TRUE(again->member().Say("before", false, "id-1").ok());
  ASSERT_TRUE(again->member().Say("marker", false).ok());
  ASSERT_TRUE(again->Expect("<alice> marker"));
  EXPECT_EQ(again->Messages().size(), 2u);  // "while away", "marker"
}

TEST_F(RedisLogTest, ResumeSecretTakesThePlaceAcrossNodes) {
  ASSERT_NO_FATAL_FAILURE(AliceAndBob(Options()));
  auto& [a, b, alice, bob] = pair_;
  // Her connection to a is thought dead; she comes back on b with her
  // secret before anyone noticed: she takes her own place.
  auto again = Join(b.get(), "alice", "lobby", alice->secret());
  ASSERT_TRUE(
      again->Expect("-- you are alice in room lobby with 1 other: bob"));
  EXPECT_TRUE(bob->Expect("-- alice reconnected"));
  absl::Status old = alice->End();
  EXPECT_TRUE(absl::IsAborted(old)) << old;
  std::string room;
  auto listed = b->ListMembers("lobby", &room);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
}

TEST_F(RedisLogTest, CleanStopAnnouncesLeavesAtOnce) {
  ASSERT_NO_FATAL_FAILURE(AliceAndBob(Options()));
  auto& [a, b, alice, bob] = pair_;
  a->Shutdown("chat-service is shutting down");
  // Well within the lease: the leave is sent, not timed out.
  EXPECT_TRUE(bob->Expect("-- alice left (server shutting down)",
                          absl::Milliseconds(900)));
  // alice hears it from her own node, as without Redis.
  EXPECT_TRUE(alice->Expect("!! chat-service is shutting down"));
  absl::Status end = alice->End();
  EXPECT_TRUE(absl::IsUnavailable(end)) << end;
  EXPECT_EQ(end.message(), "chat-service is shutting down");
}

TEST_F(RedisLogTest, PausedWhileRedisIsDownThenGoesOnWithNothingLost) {
  redis_.reset();
  RedisServer::Options persist;
  persist.persist = true;
  absl::StatusOr<std::unique_ptr<RedisServer>> r = RedisServer::Start(persist);
  ASSERT_TRUE(r.ok()) << r.status();
  redis_ = *std::move(r);
  LogOptions o = Options();
  o.lease = absl::Seconds(30);  // The outage is not a node loss.
  // Node a's view of its shard.
  ShardWatch watch;
  watch.Watch(&o);
  auto a = Node(o);
  o.on_shard_state = nullptr;
  auto b = Node(o);
  ASSERT_TRUE(a && b);
  auto alice = Join(a.get(), "alice");
  ASSERT_TRUE(alice->Expect("-- you are alice"));
  auto bob = Join(b.get(), "bob");
  ASSERT_TRUE(bob->Expect("-- you are bob"));
  ASSERT_TRUE(alice->member().Say("one", false).ok());
  ASSERT_TRUE(bob->Expect("<alice> one"));
  const std::string epoch = bob->epoch();
  ASSERT_TRUE(redis_->Stop().ok());
  ASSERT_TRUE(watch.AwaitDowns(1));
  // Refused while it is down, with the notice; nobody is disconnected.
  absl::Status refused = alice->member().Say("during", false);
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_TRUE(
      alice->Expect("!! chat is paused: storage unreachable, retrying"));
  ASSERT_TRUE(redis_->Restart().ok());
  ASSERT_TRUE(watch.AwaitUps(2));
  // Back: posts go through again, in the same history.
  ASSERT_TRUE(alice->member().Say("two", false).ok());
  ASSERT_TRUE(bob->Expect("<alice> two"));
  EXPECT_EQ(bob->last().seq, 4u);  // joined, joined, one, two
  auto carol = Join(b.get(), "carol", "lobby", "", 0, "");
  ASSERT_TRUE(carol->Expect("-- you are carol"));
  EXPECT_EQ(carol->epoch(), epoch);
}

TEST_F(RedisLogTest, RedisThatStopsAnsweringPausesChatUntilItAnswers) {
  LogOptions o = Options();
  o.lease = absl::Seconds(30);  // The pause is not a node loss.
  o.lease_renewal = absl::Milliseconds(200);
  ShardWatch watch;
  watch.Watch(&o);
  auto a = Node(o);
  ASSERT_TRUE(a);
  auto alice = Join(a.get(), "alice");
  ASSERT_TRUE(alice->Expect("-- you are alice"));
  // The connection stays open, and nothing answers on it.
  redis_->Pause();
  ASSERT_TRUE(watch.AwaitDowns(1));
  EXPECT_TRUE(absl::IsUnavailable(alice->member().Say("paused", false)));
  EXPECT_TRUE(
      alice->Expect("!! chat is paused: storage unreachable, retrying"));
  redis_->Resume();
  ASSERT_TRUE(watch.AwaitUps(2));
  ASSERT_TRUE(alice->member().Say("answered", false).ok());
  ASSERT_TRUE(alice->Expect("<alice> answered"));
  EXPECT_EQ(alice->Messages().size(), 1u);
}

TEST_F(RedisLogTest, RedisThatLostTheRoomGivesANewEpoch) {
  auto a = Node();
  ASSERT_TRUE(a);
  auto alice = Join(a.get(), "alice");
  ASSERT_TRUE(alice->Expect("-- you are alice"));
  const std::string epoch = alice->epoch();
  ASSERT_TRUE(redis_->Cli({"FLUSHALL"}).ok());
  ASSERT_TRUE(alice->member().Say("after the flush", false).ok());
  absl::Status end = alice->End();
  EXPECT_TRUE(absl::IsUnavailable(end)) << end;
  EXPECT_THAT(end.message(), HasSubstr("history was lost"));
  auto again = Join(a.get(), "alice", "lobby", "", 2, epoch);
  ASSERT_TRUE(again->Expect("history was reset"));
  EXPECT_NE(again->epoch(), epoch);
}

TEST_F(RedisLogTest, RedisRestartedWithoutPersistenceGivesANewEpoch) {
  LogOptions o = Options();
  o.lease = absl::Seconds(30);
  ASSERT_NO_FATAL_FAILURE(AliceAndBob(o));
  auto& [a, b, alice, bob] = pair_;
  ASSERT_TRUE(alice->member().Say("before", false).ok());
  ASSERT_TRUE(bob->Expect("<alice> before"));
  const std::string epoch = bob->epoch();
  const uint64_t seen = bob->last().seq;
  ASSERT_TRUE(redis_->Restart().ok());  // Everything in it is gone.
  // Both nodes find the room lost when they reconnect: everyone is told.
  absl::Status end = bob->End();
  EXPECT_TRUE(absl::IsUnavailable(end)) << end;
  EXPECT_THAT(end.message(), HasSubstr("history was lost"));
  EXPECT_TRUE(absl::IsUnavailable(alice->End()));
  // Coming back, resuming: the history was reset, and chat goes on.
  auto again = Join(b.get(), "bob", "lobby", "", seen, epoch);
  ASSERT_TRUE(again->Expect("-- you are bob"));
  ASSERT_TRUE(again->Expect("history was reset"));
  EXPECT_NE(again->epoch(), epoch);
  auto alice2 = Join(a.get(), "alice");
  ASSERT_TRUE(
      alice2->Expect("-- you are alice in room lobby with 1 other: bob"));
  ASSERT_TRUE(alice2->member().Say("after", false).ok());
  ASSERT_TRUE(again->Expect("<alice> after"));
  EXPECT_EQ(again->last().seq, 3u);
}

TEST_F(RedisLogTest, TwoShardsHoldDifferentRooms) {
  absl::StatusOr<std::unique_ptr<RedisServer>> r2 = RedisServer::Start();
  ASSERT_TRUE(r2.ok()) << r2.status();
  LogOptions o = Options();
  o.shards.push_back(Address{"127.0.0.1", (*r2)->port()});
  auto a = Node(o);
  auto b = Node(o);
  ASSERT_TRUE(a && b);
  std::vector<std::string> rooms;
  for (int i = 0; rooms.size() < 4; ++i) {
    const std::string room = absl::StrCat("room", i);
    // Two rooms on each shard.
    size_t on = 0;
    for (const auto& r : rooms) on += ShardOf(r, 2) == ShardOf(room, 2);
    if (on < 2) rooms.push_back(room);
  }
  for (const std::string& room : rooms) {
    auto x = Join(a.get(), "x", room);
    ASSERT_TRUE(x->Expect("-- you are x in room " + room));
    auto y = Join(b.get(), "y", room);
    ASSERT_TRUE(y->Expect("-- you are y in room " + room + " with 1 other: x"));
    ASSERT_TRUE(x->member().Say("hi " + room, false).ok());
    ASSERT_TRUE(y->Expect("<x> hi " + room));
    const std::string key = "chat:{" + room + "}:log";
    RedisServer* holder = ShardOf(room, 2) == 0 ? redis_.get() : r2->get();
    RedisServer* other = ShardOf(room, 2) == 0 ? r2->get() : redis_.get();
    EXPECT_EQ(holder->Cli({"XLEN", key}).value_or("?"), "3");
    EXPECT_EQ(other->Cli({"XLEN", key}).value_or("?"), "0");
  }
}

}  // namespace
}  // namespace chat::redis

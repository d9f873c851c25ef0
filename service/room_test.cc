#include "service/room.h"

#include <atomic>
#include <map>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/text.h"

namespace chat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class CountingSink : public MemberSink {
 public:
  void Wake() override { ++wakes; }
  std::atomic<int> wakes{0};
};

// A member as a test drives it: joins, then drains its outbox on demand.
struct Client {
  std::shared_ptr<CountingSink> sink = std::make_shared<CountingSink>();
  std::shared_ptr<Member> member;
  std::vector<EventPtr> received;
  absl::Status closed;
  bool ended = false;

  // Moves everything queued into `received`; returns how many arrived.
  size_t Drain() {
    size_t before = received.size();
    while (!ended) {
      Outbox::DrainResult r = member->outbox().Drain(&received, &closed);
      if (r == Outbox::DrainResult::kClosed) ended = true;
      if (r != Outbox::DrainResult::kEvents) break;
    }
    return received.size() - before;
  }

  std::vector<std::string> Texts() const {
    std::vector<std::string> out;
    for (const auto& e : received) {
      if (e->response().has_message())
        out.push_back(e->response().message().text());
    }
    return out;
  }

  std::vector<uint64_t> Seqs() const {
    std::vector<uint64_t> out;
    for (const auto& e : received) {
      if (e->seq() != 0) out.push_back(e->seq());
    }
    return out;
  }

  std::vector<std::string> Notices() const {
    std::vector<std::string> out;
    for (const auto& e : received) {
      if (e->response().has_notice())
        out.push_back(e->response().notice().text());
    }
    return out;
  }
};

class RoomTest : public ::testing::Test {
 protected:
  absl::StatusOr<Client> Join(const std::string& name,
                              const std::string& room = "",
                              uint32_t history = 0, uint64_t resume = 0) {
    Client c;
    JoinRequest req;
    req.name = name;
    req.room = room;
    req.history = history;
    req.resume_after_seq = resume;
    absl::StatusOr<std::shared_ptr<Member>> m = hub_->Join(req, c.sink);
    if (!m.ok()) return m.status();
    c.member = *m;
    return c;
  }

  Client MustJoin(const std::string& name, const std::string& room = "") {
    absl::StatusOr<Client> c = Join(name, room);
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }

  HubOptions options_;
  std::unique_ptr<Hub> hub_ = std::make_unique<Hub>(options_);
};

TEST_F(RoomTest, WelcomeComesFirstThenOwnJoin) {
  Client alice = MustJoin("alice");
  alice.Drain();
  ASSERT_EQ(alice.received.size(), 2u);
  const v1::Welcome& w = alice.received[0]->response().welcome();
  EXPECT_EQ(alice.received[0]->seq(), 0u);
  EXPECT_EQ(w.room(), "lobby");
  EXPECT_EQ(w.name(), "alice");
  EXPECT_EQ(w.last_seq(), 0u);
  ASSERT_EQ(w.members_size(), 1);
  EXPECT_EQ(w.members(0).name(), "alice");
  EXPECT_EQ(alice.received[1]->response().member_joined().member().name(),
            "alice");
  EXPECT_EQ(alice.received[1]->seq(), 1u);
}

TEST_F(RoomTest, EveryoneSeesTheSameEventsInSeqOrder) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  ASSERT_TRUE(alice.member->Say("hi bob", false).ok());
  ASSERT_TRUE(bob.member->Say("waves", true).ok());
  ASSERT_TRUE(alice.member->Rename("alicia").ok());
  bob.member->Leave("bye\x1b[2J" + std::string(500, 'x'));
  alice.Drain();
  bob.Drain();
  EXPECT_THAT(alice.Seqs(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(bob.Seqs(), ElementsAre(2, 3, 4, 5));
  const auto& left = alice.received.back()->response().member_left();
  EXPECT_EQ(left.member().name(), "bob");
  // The reason is cleaned and capped like any text shown to others.
  EXPECT_EQ(left.reason(), "bye" + std::string(kMaxLeaveReasonBytes - 3, 'x'));
  EXPECT_TRUE(alice.received[4]->response().message().action());
  EXPECT_EQ(alice.received[5]->response().member_renamed().new_name(),
            "alicia");
  // Bob's stream ends with OK after his queued events.
  EXPECT_TRUE(bob.ended);
  EXPECT_TRUE(bob.closed.ok());
  // A message records who sent it, so a transport can skip its own.
  EXPECT_EQ(alice.received[3]->origin(), alice.member->id());
}

TEST_F(RoomTest, TakenNameIgnoringCaseIsRefusedWithoutAPhantomJoin) {
  Client alice = MustJoin("alice");
  alice.Drain();
  absl::StatusOr<Client> again = Join("ALICE");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(again.status().message()),
              HasSubstr("\"ALICE\" is taken in room lobby"));
  EXPECT_EQ(alice.Drain(), 0u);
  // The same name in another room is fine.
  EXPECT_TRUE(Join("alice", "dev").ok());
}

TEST_F(RoomTest, BadNamesAndRoomsAreInvalidArguments) {
  EXPECT_EQ(Join("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Join("a b").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Join(std::string(33, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Join("ok", "no spaces").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RoomTest, EmptyAndLongMessagesGetANoticeAndTakeNoSeq) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  alice.Drain();
  bob.Drain();
  EXPECT_EQ(alice.member->Say("  ", false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(alice.member->Say(std::string(4097, 'x'), false).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(alice.member->Say(std::string(4096, 'x'), false).ok());
  alice.Drain();
  bob.Drain();
  EXPECT_THAT(alice.Notices(),
              ElementsAre("empty message not sent",
                          HasSubstr("4097 bytes long; the limit is 4096")));
  EXPECT_TRUE(bob.Notices().empty());
  EXPECT_THAT(bob.Seqs(), ElementsAre(2, 3));
}

TEST_F(RoomTest, TextIsSanitizedForEveryone) {
  Client alice = MustJoin("alice");
  ASSERT_TRUE(alice.member->Say("\x1b[2Jhi\x07 \xff", false).ok());
  alice.Drain();
  EXPECT_THAT(alice.Texts(), ElementsAre("hi \xEF\xBF\xBD"));
}

TEST_F(RoomTest, RenameToTakenNameGetsANotice) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  EXPECT_EQ(bob.member->Rename("Alice").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bob.member->Rename("b c").code(),
            absl::StatusCode::kInvalidArgument);
  bob.Drain();
  EXPECT_EQ(bob.Notices().size(), 2u);
  EXPECT_EQ(bob.member->name(), "bob");
  // Changing only the case of one's own name is allowed.
  EXPECT_TRUE(bob.member->Rename("Bob").ok());
}

TEST_F(RoomTest, HistoryReplaysTheLastMessages) {
  Client alice = MustJoin("alice");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(alice.member->Say("m" + std::to_string(i), false).ok());
  }
  absl::StatusOr<Client> bob = Join("bob", "", 2);
  ASSERT_TRUE(bob.ok());
  bob->Drain();
  EXPECT_TRUE(bob->received[0]->response().has_welcome());
  EXPECT_EQ(bob->received[0]->response().welcome().last_seq(), 6u);
  EXPECT_THAT(bob->Texts(), ElementsAre("m3", "m4"));
  EXPECT_THAT(bob->Seqs(), ElementsAre(5, 6, 7));
}

TEST_F(RoomTest, ResumeReplaysEverythingAfterASeq) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  bob.Drain();
  const uint64_t last_seen = bob.Seqs().back();  // 2
  bob.member->Disconnect("disconnected");
  ASSERT_TRUE(alice.member->Say("while you were away", false).ok());
  absl::StatusOr<Client> back = Join("bob", "", 0, last_seen);
  ASSERT_TRUE(back.ok());
  back->Drain();
  // Bob's own leave (3), the message (4), then his new join (5).
  EXPECT_THAT(back->Seqs(), ElementsAre(3, 4, 5));
  EXPECT_THAT(back->Texts(), ElementsAre("while you were away"));
  EXPECT_TRUE(back->Notices().empty());
}

TEST_F(RoomTest, ResumeSaysHowManyEventsWereLost) {
  options_.history_events = 3;
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice");  // seq 1
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(alice.member->Say("x", false).ok());
  // Held: 4, 5, 6. Resuming after 1 loses 2 and 3.
  absl::StatusOr<Client> bob = Join("bob", "", 0, 1);
  ASSERT_TRUE(bob.ok());
  bob->Drain();
  EXPECT_THAT(bob->Notices(), ElementsAre(HasSubstr("2 events after seq 1")));
  EXPECT_THAT(bob->Seqs(), ElementsAre(4, 5, 6, 7));
  // Resuming ahead of the room says so.
  absl::StatusOr<Client> carol = Join("carol", "", 0, 100);
  ASSERT_TRUE(carol.ok());
  carol->Drain();
  EXPECT_THAT(carol->Notices(), ElementsAre(HasSubstr("cannot resume")));
}

TEST_F(RoomTest, SlowMemberIsRemovedAndOthersSeeItLeave) {
  options_.outbox_events = 8;
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice");
  Client slow = MustJoin("slow");
  alice.Drain();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(alice.member->Say("m" + std::to_string(i), false).ok());
    alice.Drain();  // Alice keeps up.
  }
  slow.Drain();
  EXPECT_TRUE(slow.ended);
  EXPECT_EQ(slow.closed.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(slow.closed.message()), HasSubstr("too slow"));
  // Alice got all 20 messages and the slow member's leave, in seq order.
  EXPECT_EQ(alice.Texts().size(), 20u);
  bool saw_left = false;
  for (const auto& e : alice.received) {
    if (e->response().has_member_left()) {
      saw_left = true;
      EXPECT_EQ(e->response().member_left().member().name(), "slow");
      EXPECT_EQ(e->response().member_left().reason(), "too slow");
    }
  }
  EXPECT_TRUE(saw_left);
  std::vector<uint64_t> seqs = alice.Seqs();
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
  std::string room;
  EXPECT_EQ(hub_->ListMembers("", &room)->size(), 1u);
  EXPECT_GE(slow.sink->wakes.load(), 1);
}

TEST_F(RoomTest, RoomsAreSeparateAndMoveChangesRoom) {
  Client alice = MustJoin("alice", "one");
  Client bob = MustJoin("bob", "two");
  alice.Drain();
  bob.Drain();
  ASSERT_TRUE(alice.member->Say("in one", false).ok());
  bob.Drain();
  EXPECT_TRUE(bob.Texts().empty());

  alice.Drain();
  const int wakes = alice.sink->wakes;
  ASSERT_TRUE(alice.member->Move("#Two", 1).ok());
  // Alice had drained everything: her new welcome must wake her transport.
  EXPECT_GT(alice.sink->wakes, wakes);
  EXPECT_EQ(alice.member->room_name(), "two");
  ASSERT_TRUE(alice.member->Say("in two", false).ok());
  bob.Drain();
  alice.Drain();
  EXPECT_THAT(bob.Texts(), ElementsAre("in two"));
  // Moving where the name is taken keeps the member where it was.
  Client other = MustJoin("alice", "three");
  EXPECT_EQ(alice.member->Move("three", 0).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(alice.member->room_name(), "two");
}

TEST_F(RoomTest, ListMembersAndHistory) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  ASSERT_TRUE(alice.member->Say("one", false).ok());
  ASSERT_TRUE(alice.member->Say("two", false).ok());
  std::string room;
  absl::StatusOr<std::vector<v1::Member>> members =
      hub_->ListMembers("", &room);
  ASSERT_TRUE(members.ok());
  EXPECT_EQ(room, "lobby");
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[1].name(), "bob");
  std::vector<EventPtr> events;
  uint64_t last_seq;
  ASSERT_TRUE(hub_->History("lobby", 1, &events, &last_seq, &room).ok());
  EXPECT_EQ(last_seq, 4u);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]->response().message().text(), "two");
  EXPECT_TRUE(hub_->ListMembers("nowhere", &room)->empty());
}

TEST_F(RoomTest, ShutdownNoticesEveryoneAndEndsUnavailable) {
  Client alice = MustJoin("alice");
  alice.Drain();
  hub_->Shutdown("chat-service is shutting down");
  alice.Drain();
  EXPECT_THAT(alice.Notices(), ElementsAre("chat-service is shutting down"));
  EXPECT_TRUE(alice.ended);
  EXPECT_EQ(alice.closed.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Join("late").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RoomTest, FullRoomTableForgetsEmptyRooms) {
  options_.max_rooms = 2;
  hub_ = std::make_unique<Hub>(options_);
  Client a = MustJoin("a", "one");
  Client b = MustJoin("b", "two");
  EXPECT_EQ(Join("c", "three").status().code(),
            absl::StatusCode::kResourceExhausted);
  b.member->Leave("");
  EXPECT_TRUE(Join("c", "three").ok());
  EXPECT_EQ(hub_->room_count(), 2u);
}

// Many threads post while members come and go: the members present
// throughout see exactly the same gap-free sequence.
TEST_F(RoomTest, ConcurrentPostersAndChurnAgreeOnOneOrder) {
  options_.outbox_events = 1 << 20;
  options_.outbox_bytes = 1 << 30;
  options_.history_events = 10;
  hub_ = std::make_unique<Hub>(options_);
  Client watcher1 = MustJoin("watcher1");
  Client watcher2 = MustJoin("watcher2");
  constexpr int kThreads = 6, kMessages = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      Client me = MustJoin("poster" + std::to_string(t));
      for (int i = 0; i < kMessages; ++i) {
        ASSERT_TRUE(me.member->Say(std::to_string(i), false).ok());
        if (i % 50 == 0) {
          Client visitor = MustJoin("visitor" + std::to_string(t));
          visitor.member->Leave("");
        }
        me.Drain();
      }
      me.member->Leave("");
    });
  }
  // A third watcher drains while the posts happen.
  Client watcher3 = MustJoin("watcher3");
  std::atomic<bool> done{false};
  std::thread drainer([&] {
    while (!done) watcher3.Drain();
  });
  for (auto& t : threads) t.join();
  done = true;
  drainer.join();
  watcher1.Drain();
  watcher2.Drain();
  watcher3.Drain();
  // Each watcher, from its own join on, sees the same gap-free sequence.
  std::vector<uint64_t> s1 = watcher1.Seqs();
  for (size_t i = 1; i < s1.size(); ++i) ASSERT_EQ(s1[i], s1[i - 1] + 1);
  EXPECT_EQ(watcher1.Texts().size(), size_t{kThreads * kMessages});
  for (const Client* w : {&watcher2, &watcher3}) {
    std::vector<uint64_t> s = w->Seqs();
    ASSERT_FALSE(s.empty());
    ASSERT_LE(s.size(), s1.size());
    EXPECT_EQ(s, std::vector<uint64_t>(s1.end() - s.size(), s1.end()));
  }
  // Per sender, messages arrive in the order sent.
  std::map<std::string, int> next;
  for (const auto& e : watcher1.received) {
    if (!e->response().has_message()) continue;
    const auto& m = e->response().message();
    EXPECT_EQ(std::stoi(m.text()), next[m.sender()]++);
  }
}

}  // namespace
}  // namespace chat

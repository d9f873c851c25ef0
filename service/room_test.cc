#include "service/room.h"

#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth.h"
#include "service/auth_token.h"
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

  // The epoch of the last welcome.
  std::string Epoch() const {
    std::string epoch;
    for (const auto& e : received) {
      if (e->response().has_welcome()) epoch = e->response().welcome().epoch();
    }
    return epoch;
  }

  std::vector<std::string> Notices() const {
    std::vector<std::string> out;
    for (const auto& e : received) {
      if (e->response().has_notice())
        out.push_back(e->response().notice().text());
    }
    return out;
  }

  // The events of one kind received, in order.
  std::vector<v1::ChatResponse> Of(v1::ChatResponse::EventCase kind) const {
    std::vector<v1::ChatResponse> out;
    for (const auto& e : received) {
      if (e->response().event_case() == kind) out.push_back(e->response());
    }
    return out;
  }

  // The resume secret of the last welcome.
  std::string Secret() const {
    std::string secret;
    for (const auto& e : received) {
      if (e->response().has_welcome()) {
        secret = e->response().welcome().resume_secret();
      }
    }
    return secret;
  }
};

class RoomTest : public ::testing::Test {
 protected:
  absl::StatusOr<Client> Join(const std::string& name,
                              const std::string& room = "",
                              uint32_t history = 0, uint64_t resume = 0,
                              const std::string& epoch = "") {
    JoinRequest req;
    req.name = name;
    req.room = room;
    req.history = history;
    req.resume_after_seq = resume;
    req.resume_epoch = epoch;
    return JoinWith(req);
  }

  absl::StatusOr<Client> JoinWith(const JoinRequest& req) {
    Client c;
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

  // Joins from the client address `ip`.
  absl::StatusOr<Client> JoinFrom(const std::string& ip,
                                  const std::string& name,
                                  const std::string& room) {
    JoinRequest req;
    req.name = name;
    req.room = room;
    req.peer_ip = ip;
    return JoinWith(req);
  }

  // Replaces the hub with one with these options.
  void Reopen(const HubOptions& options) {
    options_ = options;
    hub_ = std::make_unique<Hub>(options_);
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
  absl::StatusOr<Client> back = Join("bob", "", 0, last_seen, bob.Epoch());
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
  alice.Drain();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(alice.member->Say("x", false).ok());
  // Held: 4, 5, 6. Resuming after 1 loses 2 and 3.
  absl::StatusOr<Client> bob = Join("bob", "", 0, 1, alice.Epoch());
  ASSERT_TRUE(bob.ok());
  bob->Drain();
  EXPECT_THAT(bob->Notices(), ElementsAre(HasSubstr("2 events after seq 1")));
  EXPECT_THAT(bob->Seqs(), ElementsAre(4, 5, 6, 7));
  // Resuming ahead of the room says so.
  absl::StatusOr<Client> carol = Join("carol", "", 0, 100, alice.Epoch());
  ASSERT_TRUE(carol.ok());
  carol->Drain();
  EXPECT_THAT(carol->Notices(), ElementsAre(HasSubstr("cannot resume")));
}

TEST_F(RoomTest, ResumeWithAnotherEpochSaysTheHistoryWasReset) {
  Client alice = MustJoin("alice");
  alice.Drain();
  const std::string old_epoch = alice.Epoch();
  ASSERT_FALSE(old_epoch.empty());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(alice.member->Say("old", false).ok());
  // An in-memory server restarting: a new hub, a new room, a new epoch; the
  // room passes seq 4 again with other events.
  hub_ = std::make_unique<Hub>(options_);
  Client carol = MustJoin("carol");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(carol.member->Say("new", false).ok());
  carol.Drain();
  EXPECT_NE(carol.Epoch(), old_epoch);
  absl::StatusOr<Client> back = Join("alice", "", 2, 4, old_epoch);
  ASSERT_TRUE(back.ok());
  back->Drain();
  EXPECT_THAT(back->Notices(), ElementsAre(HasSubstr("history was reset")));
  // Not the new room's events as if they followed seq 4: the join's own
  // history=2 instead, then its member_joined.
  EXPECT_THAT(back->Texts(), ElementsAre("new", "new"));
  EXPECT_THAT(back->Seqs(), ElementsAre(5, 6, 7));
  // Without an epoch the server cannot tell either: the same notice.
  absl::StatusOr<Client> blind = Join("blind", "", 0, 2);
  ASSERT_TRUE(blind.ok());
  blind->Drain();
  EXPECT_THAT(blind->Notices(), ElementsAre(HasSubstr("history was reset")));
  EXPECT_THAT(blind->Seqs(), ElementsAre(8));
}

TEST_F(RoomTest, ABigReplayNeverDropsTheJoiner) {
  // 1000 messages of 4 KiB: 4 MB of replay against a 1 MiB outbox.
  options_.max_message_bytes = 4096;
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice");
  const std::string text(4000, 'x');
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(alice.member->Say(text, false).ok());
    alice.Drain();
  }
  absl::StatusOr<Client> late = Join("late", "", 1000);
  ASSERT_TRUE(late.ok());
  // Live events arrive while the replay is still being read.
  ASSERT_TRUE(alice.member->Say("live", false).ok());
  std::vector<EventPtr> batch;
  absl::Status closed;
  ASSERT_EQ(late->member->outbox().Drain(&batch, &closed),
            Outbox::DrainResult::kEvents);
  // The first drain is only the welcome: the replay is read in batches.
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_TRUE(batch[0]->response().has_welcome());
  late->received = batch;
  size_t most = 0;
  while (!late->ended) {
    std::vector<EventPtr> next;
    const Outbox::DrainResult r = late->member->outbox().Drain(&next, &closed);
    if (r != Outbox::DrainResult::kEvents) break;
    most = std::max(most, next.size());
    late->received.insert(late->received.end(), next.begin(), next.end());
  }
  EXPECT_FALSE(late->ended);
  EXPECT_LE(most, 64u);
  std::vector<std::string> texts = late->Texts();
  ASSERT_EQ(texts.size(), 1001u);
  EXPECT_EQ(texts.back(), "live");
  // Replay 2..1001, the own join 1002, then the live message 1003.
  std::vector<uint64_t> seqs = late->Seqs();
  ASSERT_EQ(seqs.size(), 1002u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 2);
}

TEST_F(RoomTest, HistoryMemoryEvictsTheLeastRecentlyActiveRoom) {
  options_.history_memory = 64 * 1024;
  hub_ = std::make_unique<Hub>(options_);
  Client a = MustJoin("a", "old");
  Client b = MustJoin("b", "new");
  const std::string text(1000, 'x');
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(a.member->Say(text, false).ok());
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(b.member->Say(text, false).ok());
  HistoryQuery query;
  query.room = "old";
  absl::StatusOr<HistoryPage> old_page = hub_->History(query);
  query.room = "new";
  absl::StatusOr<HistoryPage> new_page = hub_->History(query);
  ASSERT_TRUE(old_page.ok() && new_page.ok());
  // The quiet room lost its history first; the busy one kept its recent one.
  EXPECT_LT(old_page->messages.size(), 30u);
  EXPECT_GT(old_page->first_seq, 1u);
  EXPECT_GE(new_page->messages.size(), 40u);
  EXPECT_EQ(new_page->messages.back()->seq(), new_page->last_seq);
}

TEST_F(RoomTest, HistoryPagesBeforeAndAfterASeq) {
  Client alice = MustJoin("alice");  // seq 1
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(alice.member->Say("m" + std::to_string(i), false).ok());
  }  // m1..m20 are seqs 2..21.
  auto texts = [](const HistoryPage& p) {
    std::vector<std::string> out;
    for (const auto& e : p.messages)
      out.push_back(e->response().message().text());
    return out;
  };
  HistoryQuery q;
  q.limit = 3;
  EXPECT_THAT(texts(*hub_->History(q)), ElementsAre("m18", "m19", "m20"));
  q.before_seq = 19;  // m18's seq.
  EXPECT_THAT(texts(*hub_->History(q)), ElementsAre("m15", "m16", "m17"));
  q.before_seq = 0;
  q.after_seq = 3;  // m2's seq.
  EXPECT_THAT(texts(*hub_->History(q)), ElementsAre("m3", "m4", "m5"));
  q.after_seq = 20;
  EXPECT_THAT(texts(*hub_->History(q)), ElementsAre("m20"));
  q.after_seq = 5;
  q.before_seq = 8;
  q.limit = 0;
  EXPECT_THAT(texts(*hub_->History(q)), ElementsAre("m5", "m6"));
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
  HistoryQuery query;
  query.room = "Lobby";
  query.limit = 1;
  absl::StatusOr<HistoryPage> page = hub_->History(query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->room, "lobby");
  EXPECT_EQ(page->last_seq, 4u);
  EXPECT_EQ(page->first_seq, 1u);
  EXPECT_FALSE(page->epoch.empty());
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_EQ(page->messages[0]->response().message().text(), "two");
  EXPECT_TRUE(hub_->ListMembers("nowhere", &room)->empty());
}

TEST_F(RoomTest, ShutdownNoticesEveryoneAndEndsUnavailable) {
  Client alice = MustJoin("alice");
  alice.Drain();  // Drained empty: its transport waits for a wake.
  const int wakes = alice.sink->wakes;
  hub_->Shutdown("chat-service is shutting down");
  EXPECT_GT(alice.sink->wakes, wakes);
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

TEST_F(RoomTest, FloodControlRefusesOverTheBurstAndSaysWhenToRetry) {
  HubOptions o;
  o.flood_rate = 1;
  o.flood_burst = 3;
  Reopen(o);
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(alice.member->Say(absl::StrCat("m", i), false).ok()) << i;
  }
  absl::Status refused = alice.member->Say("m3", false);
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  // Renames and room moves draw on the same bucket.
  EXPECT_TRUE(absl::IsResourceExhausted(alice.member->Rename("alicia")));
  EXPECT_TRUE(absl::IsResourceExhausted(alice.member->Move("dev", 0)));
  alice.Drain();
  bob.Drain();
  EXPECT_THAT(bob.Texts(), ElementsAre("m0", "m1", "m2"));
  ASSERT_EQ(alice.Notices().size(), 3u);
  EXPECT_THAT(alice.Notices()[0],
              ::testing::MatchesRegex(
                  "message not sent: you are sending too fast \\(at most 1 a "
                  "second after a burst of 3\\); try again in [0-9.]+m?s"));
  EXPECT_THAT(alice.Notices()[1], HasSubstr("rename not sent"));
  EXPECT_THAT(alice.Notices()[2], HasSubstr("room move not sent"));
  EXPECT_EQ(alice.member->name(), "alice");
  EXPECT_EQ(alice.member->room_name(), "lobby");
}

TEST_F(RoomTest, AFlooderIsDisconnectedAndTheRoomSeesWhy) {
  HubOptions o;
  o.flood_rate = 5;
  o.flood_burst = 10;
  Reopen(o);
  Client flooder = MustJoin("flooder");
  Client bob = MustJoin("bob");
  // One paste of a few hundred lines: 10 pass, then refusals until the
  // strikes run out (30 s of the rate: 150).
  int sent = 0;
  absl::Status last;
  while (sent < 1000 && !absl::StrContains(last.message(), "disconnected")) {
    last = flooder.member->Say("spam", false);
    ++sent;
  }
  EXPECT_LT(sent, 200);
  EXPECT_TRUE(absl::IsResourceExhausted(last)) << last;
  EXPECT_THAT(std::string(last.message()), HasSubstr("flooding"));
  flooder.Drain();
  bob.Drain();
  ASSERT_TRUE(flooder.ended);
  EXPECT_TRUE(absl::IsResourceExhausted(flooder.closed)) << flooder.closed;
  EXPECT_EQ(bob.Texts().size(), 10u);
  ASSERT_TRUE(bob.received.back()->response().has_member_left());
  EXPECT_EQ(bob.received.back()->response().member_left().reason(), "flooding");
  // Bob was never at risk: he got 10 messages and one leave.
  EXPECT_TRUE(bob.member->Say("still here", false).ok());
}

TEST_F(RoomTest, NoticesCountAgainstTheOutbox) {
  HubOptions o;
  o.outbox_events = 50;
  Reopen(o);
  Client quiet = MustJoin("quiet");
  Client bob = MustJoin("bob");
  // Empty says, never read: each gets a notice, which used to be queued
  // whatever the outbox held (3.4 GB from 90 MB of requests).
  for (int i = 0; i < 1000 && !quiet.member->room_name().empty(); ++i) {
    quiet.member->Say("", false).IgnoreError();
  }
  EXPECT_EQ(quiet.member->room_name(), "");
  quiet.Drain();
  EXPECT_TRUE(quiet.ended);
  EXPECT_LE(quiet.received.size(), 50u + 3u);  // + welcome, joins.
  bob.Drain();
  EXPECT_EQ(bob.received.back()->response().member_left().reason(), "too slow");
}

TEST_F(RoomTest, WelcomeListsTheFirstHundredAndCountsEveryone) {
  std::vector<Client> members;
  for (int i = 0; i < 150; ++i) {
    members.push_back(MustJoin(absl::StrCat("m", i)));
  }
  Client last = MustJoin("last");
  last.Drain();
  const v1::Welcome& w = last.received[0]->response().welcome();
  EXPECT_EQ(w.member_count(), 151u);
  ASSERT_EQ(w.members_size(), static_cast<int>(kWelcomeMembers));
  EXPECT_EQ(w.members(0).name(), "m0");
  EXPECT_EQ(w.members(99).name(), "m99");
  // ListMembers still lists everyone.
  std::string room;
  absl::StatusOr<std::vector<v1::Member>> all = hub_->ListMembers("", &room);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 151u);
}

TEST_F(RoomTest, WelcomeTellsTheMemberItsLimits) {
  HubOptions o;
  o.flood_rate = 2.5;
  o.flood_burst = 7;
  o.max_message_bytes = 300;
  Reopen(o);
  Client alice = MustJoin("alice");
  alice.Drain();
  const v1::Limits& l = alice.received[0]->response().welcome().limits();
  EXPECT_EQ(l.flood_rate(), 2.5);
  EXPECT_EQ(l.flood_burst(), 7u);
  EXPECT_EQ(l.max_message_bytes(), 300u);
  EXPECT_EQ(l.max_outbox_events(), 1024u);
}

TEST_F(RoomTest, AFullRoomRefusesJoinsAndMoves) {
  HubOptions o;
  o.max_members_per_room = 2;
  Reopen(o);
  Client a = MustJoin("a");
  Client b = MustJoin("b");
  absl::StatusOr<Client> c = Join("c");
  ASSERT_TRUE(absl::IsResourceExhausted(c.status())) << c.status();
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("room lobby is full"));
  Client d = MustJoin("d", "dev");
  EXPECT_TRUE(absl::IsResourceExhausted(d.member->Move("lobby", 0)));
  EXPECT_EQ(d.member->room_name(), "dev");
  // A place frees up.
  b.member->Leave("");
  EXPECT_TRUE(d.member->Move("lobby", 0).ok());
}

TEST_F(RoomTest, RoomsOpenedPerAddressAreCapped) {
  HubOptions o;
  o.max_rooms_per_ip = 2;
  Reopen(o);
  absl::StatusOr<Client> r1 = JoinFrom("10.0.0.1", "a", "r1");
  absl::StatusOr<Client> r2 = JoinFrom("10.0.0.1", "b", "r2");
  ASSERT_TRUE(r1.ok() && r2.ok());
  absl::StatusOr<Client> r3 = JoinFrom("10.0.0.1", "c", "r3");
  ASSERT_TRUE(absl::IsResourceExhausted(r3.status())) << r3.status();
  EXPECT_THAT(std::string(r3.status().message()),
              HasSubstr("too many rooms opened from your address"));
  // Joining a room someone has open is fine; so is another address.
  absl::StatusOr<Client> c = JoinFrom("10.0.0.1", "c", "r1");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(JoinFrom("10.0.0.2", "d", "r3").ok());
  // Moving into an empty room opens it too.
  EXPECT_TRUE(absl::IsResourceExhausted(c->member->Move("r4", 0)));
  EXPECT_EQ(c->member->room_name(), "r1");
  // A room it opened that empties no longer counts.
  r2->member->Leave("");
  EXPECT_TRUE(c->member->Move("r4", 0).ok());
  // Joins without an address are not counted.
  EXPECT_TRUE(Join("f", "r6").ok());
  EXPECT_TRUE(Join("g", "r7").ok());
  EXPECT_TRUE(Join("h", "r8").ok());
}

// ---------------------------------------------------------------- Client ids

using Kind = v1::ChatResponse::EventCase;

TEST_F(RoomTest, TheSameSayTwiceIsPostedOnceAndTheRepeatGetsItsSeq) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  alice.Drain();
  bob.Drain();
  ASSERT_TRUE(alice.member->Say("hi", false, "c1").ok());
  ASSERT_TRUE(alice.member->Say("hi", false, "c1").ok());
  alice.Drain();
  bob.Drain();
  const std::vector<v1::ChatResponse> posted = bob.Of(Kind::kMessage);
  ASSERT_EQ(posted.size(), 1u);
  EXPECT_EQ(posted[0].message().client_id(), "c1");
  EXPECT_TRUE(bob.Of(Kind::kDuplicate).empty());
  // The sender: its message (with its id, to match its echo), then the
  // repeat's answer with the same seq, for it alone.
  ASSERT_EQ(alice.received.size(), 5u);  // welcome, 2 joins, message, dup.
  EXPECT_EQ(alice.received[3]->response().message().client_id(), "c1");
  const v1::ChatResponse& dup = alice.received[4]->response();
  ASSERT_TRUE(dup.has_duplicate());
  EXPECT_EQ(dup.seq(), 0u);
  EXPECT_GT(dup.time().seconds(), 0);
  EXPECT_EQ(dup.duplicate().client_id(), "c1");
  EXPECT_EQ(dup.duplicate().seq(), posted[0].seq());
  // Without an id, the same text is posted every time.
  ASSERT_TRUE(alice.member->Say("hi", false).ok());
  ASSERT_TRUE(alice.member->Say("hi", false).ok());
  bob.Drain();
  EXPECT_EQ(bob.Of(Kind::kMessage).size(), 3u);
}

TEST_F(RoomTest, ARepeatFromANewConnectionOfTheSameNameIsADuplicate) {
  Client bob = MustJoin("bob");
  uint64_t seq;
  {
    Client alice = MustJoin("alice");
    ASSERT_TRUE(alice.member->Say("are you there?", false, "c1").ok());
    alice.Drain();
    seq = alice.Of(Kind::kMessage).at(0).seq();
    alice.member->Disconnect("disconnected");
  }
  // Back under the same name (another case, the same key) on a new
  // connection, after the first one left: the id outlived it.
  Client again = MustJoin("Alice");
  ASSERT_TRUE(again.member->Say("are you there?", false, "c1").ok());
  again.Drain();
  bob.Drain();
  ASSERT_EQ(again.Of(Kind::kDuplicate).size(), 1u);
  EXPECT_EQ(again.Of(Kind::kDuplicate)[0].duplicate().seq(), seq);
  EXPECT_TRUE(again.Of(Kind::kMessage).empty());
  EXPECT_EQ(bob.Of(Kind::kMessage).size(), 1u);
}

TEST_F(RoomTest, DifferentNamesAndRoomsMayUseTheSameId) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  Client carol = MustJoin("carol", "dev");
  ASSERT_TRUE(alice.member->Say("one", false, "same").ok());
  ASSERT_TRUE(bob.member->Say("two", false, "same").ok());
  ASSERT_TRUE(carol.member->Say("three", false, "same").ok());
  bob.Drain();
  carol.Drain();
  EXPECT_THAT(bob.Texts(), ElementsAre("one", "two"));
  EXPECT_THAT(carol.Texts(), ElementsAre("three"));
  EXPECT_TRUE(bob.Of(Kind::kDuplicate).empty());
}

TEST_F(RoomTest, ConcurrentRepeatsArePostedOnce) {
  options_.outbox_events = 1 << 16;
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  constexpr int kThreads = 8, kIds = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&alice] {
      for (int i = 0; i < kIds; ++i) {
        EXPECT_TRUE(alice.member->Say("m", false, absl::StrCat("id", i)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  alice.Drain();
  bob.Drain();
  // Each id once, whichever thread won; every other say was told its seq.
  std::map<std::string, uint64_t> posted;
  for (const v1::ChatResponse& r : bob.Of(Kind::kMessage)) {
    EXPECT_TRUE(posted.emplace(r.message().client_id(), r.seq()).second)
        << r.message().client_id() << " posted twice";
  }
  EXPECT_EQ(posted.size(), size_t{kIds});
  const std::vector<v1::ChatResponse> dups = alice.Of(Kind::kDuplicate);
  EXPECT_EQ(dups.size(), size_t{(kThreads - 1) * kIds});
  for (const v1::ChatResponse& d : dups) {
    EXPECT_EQ(d.duplicate().seq(), posted[d.duplicate().client_id()]);
  }
}

TEST_F(RoomTest, AnIdOver64BytesIsRefusedWithANoticeThatCarriesIt) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  alice.Drain();
  bob.Drain();
  const std::string too_long(kMaxClientIdBytes + 1, 'x');
  absl::Status s = alice.member->Say("hi", false, too_long);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  // 64 bytes are fine.
  const std::string longest(kMaxClientIdBytes, 'y');
  EXPECT_TRUE(alice.member->Say("hi", false, longest).ok());
  // Not UTF-8: refused too, and the notice carries it repaired (a chat.v1
  // string must be UTF-8).
  EXPECT_TRUE(absl::IsInvalidArgument(alice.member->Say("hi", false, "a\xff")));
  alice.Drain();
  bob.Drain();
  const std::vector<v1::ChatResponse> notices = alice.Of(Kind::kNotice);
  ASSERT_EQ(notices.size(), 2u);
  EXPECT_EQ(notices[0].notice().text(),
            "message not sent: its client_id is 65 bytes long; the limit is "
            "64");
  EXPECT_EQ(notices[0].notice().client_id(), too_long);
  EXPECT_THAT(notices[1].notice().text(), HasSubstr("not valid UTF-8"));
  EXPECT_EQ(notices[1].notice().client_id(), "a\xEF\xBF\xBD");
  ASSERT_EQ(bob.Of(Kind::kMessage).size(), 1u);
  EXPECT_EQ(bob.Of(Kind::kMessage)[0].message().client_id(), longest);
}

TEST_F(RoomTest, EveryNoticeRefusingASayCarriesItsClientId) {
  HubOptions o;
  o.flood_rate = 1;
  o.flood_burst = 2;
  o.max_message_bytes = 10;
  Reopen(o);
  Client alice = MustJoin("alice");
  alice.Drain();
  EXPECT_TRUE(absl::IsInvalidArgument(alice.member->Say(" ", false, "empty")));
  EXPECT_TRUE(absl::IsInvalidArgument(
      alice.member->Say("far too long", false, "long")));
  // Over the flood limit (the burst of 2 is spent).
  EXPECT_TRUE(
      absl::IsResourceExhausted(alice.member->Say("hi", false, "flood")));
  // A notice that refuses a Say without an id has none.
  EXPECT_TRUE(absl::IsResourceExhausted(alice.member->Say("hi", false)));
  alice.Drain();
  const std::vector<v1::ChatResponse> notices = alice.Of(Kind::kNotice);
  ASSERT_EQ(notices.size(), 4u);
  EXPECT_EQ(notices[0].notice().client_id(), "empty");
  EXPECT_EQ(notices[1].notice().client_id(), "long");
  EXPECT_EQ(notices[2].notice().client_id(), "flood");
  EXPECT_THAT(notices[2].notice().text(), HasSubstr("sending too fast"));
  EXPECT_EQ(notices[3].notice().client_id(), "");
  EXPECT_TRUE(alice.Of(Kind::kMessage).empty());
}

TEST_F(RoomTest, ARoomRemembersItsNewestIdsUpToItsLimit) {
  options_.client_ids_per_room = 2;
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice");
  for (const char* id : {"c1", "c2", "c3"}) {
    ASSERT_TRUE(alice.member->Say(id, false, id).ok());
  }
  // c1 was forgotten: posted again. c3 is remembered.
  ASSERT_TRUE(alice.member->Say("c1", false, "c1").ok());
  ASSERT_TRUE(alice.member->Say("c3", false, "c3").ok());
  alice.Drain();
  EXPECT_THAT(alice.Texts(), ElementsAre("c1", "c2", "c3", "c1"));
  ASSERT_EQ(alice.Of(Kind::kDuplicate).size(), 1u);
  EXPECT_EQ(alice.Of(Kind::kDuplicate)[0].duplicate().client_id(), "c3");
}

TEST_F(RoomTest, TheHubTotalOfIdsIsShared) {
  options_.client_ids_total = 2;
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice", "one");
  Client bob = MustJoin("bob", "two");
  ASSERT_TRUE(alice.member->Say("a", false, "a1").ok());
  ASSERT_TRUE(alice.member->Say("a", false, "a2").ok());
  // The hub holds 2: room two, which holds none, cannot remember b1.
  ASSERT_TRUE(bob.member->Say("b", false, "b1").ok());
  ASSERT_TRUE(bob.member->Say("b", false, "b1").ok());
  bob.Drain();
  EXPECT_THAT(bob.Texts(), ElementsAre("b", "b"));
  // Room one makes way with its own oldest.
  ASSERT_TRUE(alice.member->Say("a", false, "a3").ok());
  ASSERT_TRUE(alice.member->Say("a", false, "a3").ok());
  ASSERT_TRUE(alice.member->Say("a", false, "a1").ok());
  alice.Drain();
  EXPECT_EQ(alice.Texts().size(), 4u);
  EXPECT_EQ(alice.Of(Kind::kDuplicate).size(), 1u);
}

TEST_F(RoomTest, AZeroWindowRemembersNoIds) {
  options_.client_id_window = absl::ZeroDuration();
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice");
  ASSERT_TRUE(alice.member->Say("hi", false, "c1").ok());
  ASSERT_TRUE(alice.member->Say("hi", false, "c1").ok());
  alice.Drain();
  EXPECT_EQ(alice.Texts().size(), 2u);
  EXPECT_TRUE(alice.Of(Kind::kDuplicate).empty());
}

TEST_F(RoomTest, ARepeatThatOverflowsTheOutboxRemovesTheMemberAsTooSlow) {
  options_.outbox_events = 8;
  hub_ = std::make_unique<Hub>(options_);
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  alice.Drain();
  bob.Drain();
  ASSERT_TRUE(alice.member->Say("hi", false, "c1").ok());
  bob.Drain();
  // Never read: the answers fill alice's outbox like notices.
  for (int i = 0; i < 20 && !alice.member->room_name().empty(); ++i) {
    alice.member->Say("hi", false, "c1").IgnoreError();
  }
  EXPECT_EQ(alice.member->room_name(), "");
  alice.Drain();
  EXPECT_TRUE(alice.ended);
  EXPECT_TRUE(absl::IsResourceExhausted(alice.closed)) << alice.closed;
  bob.Drain();
  EXPECT_EQ(bob.Of(Kind::kMessage).size(), 1u);
  EXPECT_EQ(bob.received.back()->response().member_left().reason(), "too slow");
}

// ---------------------------------------------------------------- Taking a
// name back

TEST_F(RoomTest, EveryMemberHasItsOwnSecretKeptAcrossMoves) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  alice.Drain();
  bob.Drain();
  const std::string secret = alice.Secret();
  EXPECT_THAT(secret, ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(secret, bob.Secret());
  ASSERT_TRUE(alice.member->Move("dev", 0).ok());
  alice.Drain();
  EXPECT_EQ(alice.Of(Kind::kWelcome).size(), 2u);
  EXPECT_EQ(alice.Secret(), secret);
}

TEST_F(RoomTest, AJoinWithTheSecretTakesTheNameBack) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  Client carol = MustJoin("carol");
  alice.Drain();
  bob.Drain();
  carol.Drain();
  const std::string secret = alice.Secret();
  const uint64_t seen = alice.Seqs().back();  // carol's join
  ASSERT_TRUE(bob.member->Say("while alice was away", false).ok());
  bob.Drain();
  carol.Drain();
  const size_t bob_had = bob.received.size();

  JoinRequest req;
  req.name = "alice";
  req.resume_secret = secret;
  req.resume_after_seq = seen;
  req.resume_epoch = alice.Epoch();
  req.transport = v1::TRANSPORT_WEB;
  absl::StatusOr<Client> again = JoinWith(req);
  ASSERT_TRUE(again.ok()) << again.status();
  again->Drain();
  EXPECT_EQ(bob.Drain(), 1u);

  // The room sees one event: alice left with rejoined, as her new
  // connection. No member_joined.
  ASSERT_EQ(bob.received.size(), bob_had + 1);
  const uint64_t last = bob.Seqs().back();
  EXPECT_EQ(last, 5u);
  ASSERT_TRUE(bob.received.back()->response().has_member_left());
  const v1::MemberLeft& left = bob.received.back()->response().member_left();
  EXPECT_EQ(left.member().name(), "alice");
  EXPECT_EQ(left.member().transport(), v1::TRANSPORT_WEB);
  EXPECT_EQ(left.reason(), "reconnected elsewhere");
  EXPECT_TRUE(left.rejoined());

  // The new connection: a welcome with the same secret and alice in her
  // place, the replay after what she saw, then the same event.
  ASSERT_TRUE(again->received[0]->response().has_welcome());
  const v1::Welcome& w = again->received[0]->response().welcome();
  EXPECT_EQ(w.resume_secret(), secret);
  EXPECT_EQ(w.member_count(), 3u);
  ASSERT_EQ(w.members_size(), 3);
  EXPECT_EQ(w.members(0).name(), "alice");
  EXPECT_EQ(w.members(0).transport(), v1::TRANSPORT_WEB);
  EXPECT_THAT(again->Texts(), ElementsAre("while alice was away"));
  EXPECT_EQ(again->Seqs(), (std::vector<uint64_t>{4, last}));
  EXPECT_TRUE(again->received.back()->response().member_left().rejoined());

  // The old connection: a notice, and its end with ABORTED; not the event.
  alice.Drain();
  EXPECT_TRUE(alice.ended);
  EXPECT_TRUE(absl::IsAborted(alice.closed)) << alice.closed;
  EXPECT_THAT(alice.Notices(),
              ElementsAre("you connected again from elsewhere; this "
                          "connection is closed"));
  EXPECT_EQ(alice.Seqs().back(), 4u);

  // The list has the name once, in its place, with the new transport.
  std::string room;
  absl::StatusOr<std::vector<v1::Member>> members =
      hub_->ListMembers("", &room);
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 3u);
  EXPECT_EQ((*members)[0].name(), "alice");
  EXPECT_EQ((*members)[0].transport(), v1::TRANSPORT_WEB);
  EXPECT_EQ((*members)[1].name(), "bob");

  // The old connection going away later says nothing to anyone, and posts
  // nothing.
  EXPECT_FALSE(alice.member->Say("ghost", false).ok());
  alice.member->Leave("bye");
  alice.member->Disconnect("disconnected");
  EXPECT_EQ(bob.Drain(), 0u);
  EXPECT_EQ(again->Drain(), 0u);
  // The new one is alice in full.
  ASSERT_TRUE(again->member->Say("back", false).ok());
  bob.Drain();
  EXPECT_EQ(bob.Texts().back(), "back");
  EXPECT_EQ(bob.received.back()->origin(), again->member->id());
  // It can be taken back in turn, with the same secret.
  req.resume_after_seq = 0;
  absl::StatusOr<Client> third = JoinWith(req);
  ASSERT_TRUE(third.ok()) << third.status();
  again->Drain();
  EXPECT_TRUE(absl::IsAborted(again->closed)) << again->closed;
}

TEST_F(RoomTest, AWrongOrMissingSecretLeavesTheNameTaken) {
  Client alice = MustJoin("alice");
  Client bob = MustJoin("bob");
  alice.Drain();
  bob.Drain();
  JoinRequest req;
  req.name = "alice";
  for (const std::string& secret :
       {std::string(), bob.Secret(), alice.Secret().substr(1),
        std::string(32, '0')}) {
    req.resume_secret = secret;
    absl::StatusOr<Client> c = JoinWith(req);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kAlreadyExists) << secret;
  }
  // The secret is for its own name only.
  req.name = "carol";
  req.resume_secret = alice.Secret();
  EXPECT_TRUE(JoinWith(req).ok());
  EXPECT_EQ(alice.Drain(), 1u);  // carol joined
  EXPECT_FALSE(alice.ended);
}

TEST_F(RoomTest, TakingANameBackIsNotRefusedByAFullRoom) {
  HubOptions o;
  o.max_members_per_room = 2;
  o.max_rooms_per_ip = 1;
  Reopen(o);
  absl::StatusOr<Client> alice = JoinFrom("10.0.0.1", "alice", "lobby");
  ASSERT_TRUE(alice.ok());
  Client bob = MustJoin("bob");
  alice->Drain();
  JoinRequest req;
  req.name = "alice";
  req.peer_ip = "10.0.0.1";
  req.resume_secret = alice->Secret();
  absl::StatusOr<Client> again = JoinWith(req);
  ASSERT_TRUE(again.ok()) << again.status();
  std::string room;
  EXPECT_EQ(hub_->ListMembers("", &room)->size(), 2u);
  // And the room still counts once against its opener's address.
  EXPECT_TRUE(
      absl::IsResourceExhausted(JoinFrom("10.0.0.1", "x", "other").status()));
}

// ---------------------------------------------------------------- Owned names

const char kAuthSecret[] = "a secret of at least thirty-two bytes";

class OwnedNamesTest : public RoomTest {
 protected:
  void SetUp() override { UseTokens(/*guests=*/true); }

  void UseTokens(bool guests) {
    HubOptions o;
    o.auth = std::make_shared<Authenticator>(kAuthSecret, guests);
    Reopen(o);
  }

  static std::string Token(const std::string& name,
                           std::optional<std::vector<std::string>> rooms = {},
                           absl::Duration ttl = absl::Hours(1)) {
    TokenClaims c;
    c.name = name;
    c.expires = absl::Now() + ttl;
    c.rooms = std::move(rooms);
    return SignToken(c, kAuthSecret);
  }

  absl::StatusOr<Client> JoinToken(const std::string& name,
                                   const std::string& token,
                                   const std::string& room = "") {
    JoinRequest req;
    req.name = name;
    req.room = room;
    req.token = token;
    return JoinWith(req);
  }

  std::vector<std::string> Names(const std::string& room = "") {
    std::string normalized;
    std::vector<std::string> out;
    absl::StatusOr<std::vector<v1::Member>> members =
        hub_->ListMembers(room, &normalized);
    EXPECT_TRUE(members.ok()) << members.status();
    if (members.ok()) {
      for (const v1::Member& m : *members) out.push_back(m.name());
    }
    return out;
  }
};

TEST_F(OwnedNamesTest, AGuestsNameCarriesTheMarkEverywhere) {
  Client bob = MustJoin("bob");
  bob.Drain();
  ASSERT_TRUE(bob.received[0]->response().has_welcome());
  EXPECT_EQ(bob.received[0]->response().welcome().name(), "~bob");
  EXPECT_EQ(bob.received[1]->response().member_joined().member().name(),
            "~bob");
  ASSERT_TRUE(bob.member->Say("hi", false).ok());
  ASSERT_TRUE(bob.member->Rename("robert").ok());
  bob.Drain();
  EXPECT_EQ(bob.Of(v1::ChatResponse::kMessage)[0].message().sender(), "~bob");
  const v1::MemberRenamed renamed =
      bob.Of(v1::ChatResponse::kMemberRenamed)[0].member_renamed();
  EXPECT_EQ(renamed.old_name(), "~bob");
  EXPECT_EQ(renamed.new_name(), "~robert");
  EXPECT_THAT(Names(), ElementsAre("~robert"));
  // A name that comes marked (a client rejoining under its welcome's name)
  // is marked once; the mark is no character of a name.
  absl::StatusOr<Client> marked = Join("~alice");
  ASSERT_TRUE(marked.ok()) << marked.status();
  EXPECT_EQ(marked->member->name(), "~alice");
  absl::StatusOr<Client> twice = Join("~~carol");
  EXPECT_TRUE(absl::IsInvalidArgument(twice.status())) << twice.status();
  EXPECT_TRUE(absl::IsInvalidArgument(bob.member->Rename("~x")));
}

TEST_F(OwnedNamesTest, ATokenEntersAsItsOwner) {
  absl::StatusOr<Client> alice = JoinToken("alice", Token("Alice"));
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_TRUE(alice->member->owner());
  EXPECT_EQ(alice->member->name(), "Alice");  // The token's spelling.
  absl::StatusOr<Client> nameless = JoinToken("", Token("carol"));
  ASSERT_TRUE(nameless.ok()) << nameless.status();
  EXPECT_THAT(Names(), ElementsAre("Alice", "carol"));

  absl::StatusOr<Client> other = JoinToken("bob", Token("alice"));
  EXPECT_TRUE(absl::IsPermissionDenied(other.status())) << other.status();
  EXPECT_EQ(other.status().message(), "the token is for alice, not bob");
  absl::StatusOr<Client> expired =
      JoinToken("dave", Token("dave", {}, -absl::Minutes(1)));
  EXPECT_TRUE(absl::IsUnauthenticated(expired.status())) << expired.status();
  EXPECT_THAT(std::string(expired.status().message()),
              HasSubstr("the token expired at "));
  absl::StatusOr<Client> forged = JoinToken("dave", Token("dave") + "x");
  EXPECT_TRUE(absl::IsUnauthenticated(forged.status())) << forged.status();

  // An owned name cannot be changed.
  absl::Status renamed = alice->member->Rename("alicia");
  EXPECT_TRUE(absl::IsPermissionDenied(renamed)) << renamed;
  alice->Drain();
  EXPECT_THAT(alice->Notices(),
              ElementsAre("you are signed in as Alice: a name you own cannot "
                          "be changed"));
}

TEST_F(OwnedNamesTest, AGuestCannotTakeANameItsOwnerHolds) {
  Client guest_bob = MustJoin("bob");  // ~bob, before the owner came.
  absl::StatusOr<Client> bob = JoinToken("bob", Token("bob"));
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_THAT(Names(), ElementsAre("~bob", "bob"));  // Both: two names.

  absl::StatusOr<Client> another = Join("BOB");
  EXPECT_TRUE(absl::IsAlreadyExists(another.status())) << another.status();
  EXPECT_EQ(another.status().message(),
            "BOB is taken by its owner: sign in with a token, or pick another "
            "name");
  Client carol = MustJoin("carol");
  EXPECT_TRUE(absl::IsAlreadyExists(carol.member->Rename("bob")));
  // In another room, the guest name is free.
  Client elsewhere = MustJoin("bob", "dev");
  EXPECT_EQ(elsewhere.member->name(), "~bob");
  // ...until it moves where the owner is.
  EXPECT_TRUE(absl::IsAlreadyExists(elsewhere.member->Move("lobby", 0)));
  absl::Status taken = carol.member->Rename("Bob");
  EXPECT_EQ(taken.message(),
            "Bob is taken by its owner: sign in with a token, or pick another "
            "name");
  // Once the owner is gone (and the other ~bob), a guest may use the name.
  bob->member->Leave("");
  guest_bob.member->Leave("");
  EXPECT_TRUE(carol.member->Rename("bob").ok());
  EXPECT_THAT(Names(), ElementsAre("~bob"));
}

TEST_F(OwnedNamesTest, AnOwnerTakesOverItsOlderSession) {
  absl::StatusOr<Client> phone = JoinToken("alice", Token("alice"));
  ASSERT_TRUE(phone.ok()) << phone.status();
  Client bob = MustJoin("bob");
  phone->Drain();
  bob.Drain();
  const size_t bob_had = bob.received.size();

  absl::StatusOr<Client> laptop = JoinToken("alice", Token("alice"));
  ASSERT_TRUE(laptop.ok()) << laptop.status();
  EXPECT_TRUE(laptop->member->owner());
  EXPECT_THAT(Names(), ElementsAre("alice", "~bob"));
  // The room sees one member_left, `rejoined`.
  EXPECT_EQ(bob.Drain(), 1u);
  ASSERT_EQ(bob.received.size(), bob_had + 1);
  const v1::MemberLeft& left = bob.received.back()->response().member_left();
  EXPECT_EQ(left.member().name(), "alice");
  EXPECT_EQ(left.reason(), "signed in elsewhere");
  EXPECT_TRUE(left.rejoined());
  // The older session: a notice, then closed with ABORTED.
  phone->Drain();
  EXPECT_TRUE(phone->ended);
  EXPECT_TRUE(absl::IsAborted(phone->closed)) << phone->closed;
  EXPECT_THAT(phone->Notices(),
              ElementsAre("signed in elsewhere: this session is closed"));
  EXPECT_FALSE(phone->member->Say("ghost", false).ok());
  // Guests get no such thing.
  EXPECT_TRUE(absl::IsAlreadyExists(Join("bob").status()));
}

TEST_F(OwnedNamesTest, TheRoomsClaimLimitsJoinsAndMoves) {
  absl::StatusOr<Client> lobby =
      JoinToken("alice", Token("alice", std::vector<std::string>{"#Dev"}));
  EXPECT_TRUE(absl::IsPermissionDenied(lobby.status())) << lobby.status();
  EXPECT_EQ(lobby.status().message(), "the token does not allow room lobby");
  absl::StatusOr<Client> dev = JoinToken(
      "alice", Token("alice", std::vector<std::string>{"#Dev"}), "dev");
  ASSERT_TRUE(dev.ok()) << dev.status();
  absl::Status moved = dev->member->Move("ops", 0);
  EXPECT_TRUE(absl::IsPermissionDenied(moved)) << moved;
  dev->Drain();
  EXPECT_THAT(dev->Notices(), ElementsAre("the token does not allow room ops"));
  EXPECT_EQ(dev->member->room_name(), "dev");
  // Its members and history, too.
  std::string room;
  EXPECT_TRUE(absl::IsPermissionDenied(
      hub_->ListMembers("ops", &room,
                        Token("alice", std::vector<std::string>{"dev"}))
          .status()));
  HistoryQuery q;
  q.room = "ops";
  q.token = Token("alice", std::vector<std::string>{"dev"});
  EXPECT_TRUE(absl::IsPermissionDenied(hub_->History(q).status()));
  q.room = "dev";
  EXPECT_TRUE(hub_->History(q).ok());
}

TEST_F(OwnedNamesTest, WithoutGuestsNoTokenMeansNoEntry) {
  UseTokens(/*guests=*/false);
  absl::StatusOr<Client> bob = Join("bob");
  EXPECT_TRUE(absl::IsUnauthenticated(bob.status())) << bob.status();
  EXPECT_THAT(std::string(bob.status().message()),
              HasSubstr("this server needs a token"));
  std::string room;
  EXPECT_TRUE(absl::IsUnauthenticated(hub_->ListMembers("", &room).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(hub_->History(HistoryQuery{}).status()));
  absl::StatusOr<Client> alice = JoinToken("alice", Token("alice"));
  ASSERT_TRUE(alice.ok()) << alice.status();
  EXPECT_EQ(alice->member->name(), "alice");
  EXPECT_TRUE(hub_->ListMembers("", &room, Token("alice")).ok());
}

TEST_F(OwnedNamesTest, AGuestSignsInWithAToken) {
  Client guest = MustJoin("guest-1");
  Client bob = MustJoin("bob");
  absl::StatusOr<Client> phone = JoinToken("alice", Token("alice"));
  ASSERT_TRUE(phone.ok());
  guest.Drain();
  bob.Drain();
  phone->Drain();

  absl::Status refused = guest.member->Authenticate("not-a-token");
  EXPECT_TRUE(absl::IsUnauthenticated(refused)) << refused;
  refused = guest.member->Authenticate(
      Token("alice", std::vector<std::string>{"dev"}));
  EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  ASSERT_TRUE(guest.member->Authenticate(Token("alice")).ok());
  EXPECT_TRUE(guest.member->owner());
  guest.Drain();
  EXPECT_THAT(guest.Notices(),
              ElementsAre(HasSubstr("token refused: the token is not a JWT"),
                          "token refused: the token does not allow room lobby",
                          "signed in as alice"));
  EXPECT_THAT(Names(), ElementsAre("alice", "~bob"));
  // The room: the older session left, the guest is now alice.
  bob.Drain();
  const v1::ChatResponse& left =
      bob.received[bob.received.size() - 2]->response();
  EXPECT_EQ(left.member_left().member().name(), "alice");
  EXPECT_EQ(left.member_left().reason(), "signed in elsewhere");
  const v1::MemberRenamed& renamed =
      bob.received.back()->response().member_renamed();
  EXPECT_EQ(renamed.old_name(), "~guest-1");
  EXPECT_EQ(renamed.new_name(), "alice");
  phone->Drain();
  EXPECT_TRUE(absl::IsAborted(phone->closed)) << phone->closed;
  EXPECT_THAT(phone->Notices(),
              ElementsAre("signed in elsewhere: this session is closed"));
  // Once is enough.
  EXPECT_TRUE(
      absl::IsFailedPrecondition(guest.member->Authenticate(Token("alice"))));
}

TEST_F(RoomTest, WithTokensOffThereIsNothingToSignInTo) {
  Client bob = MustJoin("bob");
  EXPECT_EQ(bob.member->name(), "bob");
  EXPECT_TRUE(absl::IsFailedPrecondition(bob.member->Authenticate("x.y.z")));
}

}  // namespace
}  // namespace chat

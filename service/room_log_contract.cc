#include "service/room_log_contract.h"

#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace chat {

v1::ChatResponse Message(const std::string& text) {
  v1::ChatResponse r;
  r.mutable_message()->set_sender("alice");
  r.mutable_message()->set_text(text);
  return r;
}

std::unique_ptr<RoomLog> OpenLog(LogBackend* backend, const std::string& room,
                                 std::shared_ptr<CommitListener> listener) {
  auto log = backend->Open(room, listener);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? std::move(*log) : nullptr;
}

namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

v1::ChatResponse Joined(const std::string& name) {
  v1::ChatResponse r;
  r.mutable_member_joined()->mutable_member()->set_name(name);
  return r;
}

// Records Committed calls.
class RecordingListener : public CommitListener {
 public:
  void Committed(uint64_t through_seq) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(through_seq);
  }
  std::vector<uint64_t> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> calls_ ABSL_GUARDED_BY(mu_);
};

EventPtr MustAppend(RoomLog* log, v1::ChatResponse r, uint64_t origin = 0) {
  auto event = log->Append(std::move(r), origin, false);
  EXPECT_TRUE(event.ok()) << event.status();
  return event.ok() ? *event : nullptr;
}

// Appends `n` messages "m1".."mn" (numbered from `first`).
void AppendMessages(RoomLog* log, int n, int first = 1) {
  for (int i = first; i < first + n; ++i) {
    MustAppend(log, Message("m" + std::to_string(i)));
  }
}

std::vector<uint64_t> Seqs(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> seqs;
  for (const EventPtr& e : events) seqs.push_back(e->seq());
  return seqs;
}

// Reads everything in (after, until] in batches of `read`'s limits.
std::vector<EventPtr> ReadAll(RoomLog* log, LogRead read) {
  std::vector<EventPtr> out;
  for (int guard = 0; guard < 100000; ++guard) {
    auto through = log->Read(read, &out);
    EXPECT_TRUE(through.ok()) << through.status();
    if (!through.ok() || *through == read.after) break;
    read.after = *through;
  }
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t s = first; s <= last; ++s) seqs.push_back(s);
  return seqs;
}

}  // namespace

std::string RoomLogFactoryName(
    const ::testing::TestParamInfo<RoomLogFactory>& info) {
  return info.param.name;
}

void RoomLogContract::SetUp() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") +
                        "/room_log_test.XXXXXX";
  ASSERT_NE(mkdtemp(pattern.data()), nullptr) << "mkdtemp " << pattern;
  config_.dir = pattern;
}

void RoomLogContract::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(config_.dir, ec);
}

std::unique_ptr<LogBackend> RoomLogContract::Make(size_t history_events) {
  config_.history_events = history_events;
  MakeResult backend = GetParam().make(config_);
  EXPECT_TRUE(backend.ok()) << backend.status();
  return backend.ok() ? std::move(*backend) : nullptr;
}

TEST_P(RoomLogContract, SeqsStartAtOneWithoutGapsInAppendOrder) {
  auto backend = Make();
  ASSERT_NE(backend, nullptr);
  auto log = OpenLog(backend.get(), "lobby");
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->last_seq(), 0u);
  EXPECT_EQ(log->committed_seq(), 0u);
  EXPECT_EQ(log->first_seq(), 1u);
  for (uint64_t i = 1; i <= 3; ++i) {
    EventPtr e = MustAppend(log.get(), Message("hi"));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->seq(), i);
    EXPECT_EQ(log->last_seq(), i);
  }
  backend->Flush();
  EXPECT_EQ(log->committed_seq(), 3u);
  EXPECT_EQ(log->first_seq(), 1u);
  // Rooms number their events independently.
  auto other = OpenLog(backend.get(), "other");
  ASSERT_NE(other, nullptr);
  EventPtr e = MustAppend(other.get(), Message("x"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq(), 1u);
}

TEST_P(RoomLogContract, EventCarriesSeqTimeOriginAndContent) {
  auto backend = Make();
  auto log = OpenLog(backend.get(), "lobby");
  const int64_t before = absl::ToUnixSeconds(absl::Now());
  EventPtr e = MustAppend(log.get(), Message("hello"), /*origin=*/42);
  const int64_t after = absl::ToUnixSeconds(absl::Now());
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq(), 1u);
  EXPECT_EQ(e->response().seq(), 1u);
  EXPECT_EQ(e->origin(), 42u);
  EXPECT_GE(e->response().time().seconds(), before);
  EXPECT_LE(e->response().time().seconds(), after);
  EXPECT_EQ(e->response().message().text(), "hello");
  backend->Flush();
  std::vector<EventPtr> out;
  ASSERT_TRUE(log->Read(LogRead{}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->wire(), e->wire());
}

TEST_P(RoomLogContract, EpochIsConstantNonEmptyAndNewForAFreshBackend) {
  auto backend = Make();
  auto log = OpenLog(backend.get(), "lobby");
  const std::string epoch = log->epoch();
  EXPECT_FALSE(epoch.empty());
  AppendMessages(log.get(), 5);
  backend->Flush();
  EXPECT_EQ(log->epoch(), epoch);

  // Another fresh backend (its own directory) names another history.
  RoomLogConfig fresh = config_;
  fresh.dir += "-fresh";
  ASSERT_TRUE(std::filesystem::create_directory(fresh.dir));
  {
    MakeResult other = GetParam().make(fresh);
    ASSERT_TRUE(other.ok()) << other.status();
    auto other_log = OpenLog(other->get(), "lobby");
    EXPECT_FALSE(other_log->epoch().empty());
    EXPECT_NE(other_log->epoch(), epoch);
  }
  std::error_code ec;
  std::filesystem::remove_all(fresh.dir, ec);
}

TEST_P(RoomLogContract, ReadsTheRangeAfterUntil) {
  auto backend = Make();
  auto log = OpenLog(backend.get(), "lobby");
  AppendMessages(log.get(), 10);
  backend->Flush();

  std::vector<EventPtr> out;
  LogRead read;
  read.after = 3;
  read.until = 7;
  auto through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 7u);
  EXPECT_EQ(Seqs(out), Range(4, 7));
  EXPECT_EQ(out[0]->response().message().text(), "m4");

  // Everything; and nothing past the end.
  EXPECT_EQ(Seqs(ReadAll(log.get(), LogRead{})), Range(1, 10));
  out.clear();
  read = LogRead{};
  read.after = 10;
  through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 10u);
  EXPECT_TRUE(out.empty());
  // An empty range.
  read.after = 5;
  read.until = 5;
  through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 5u);
  EXPECT_TRUE(out.empty());
}

TEST_P(RoomLogContract, ReadStopsAtBatchLimitsButReadsAtLeastOne) {
  auto backend = Make();
  auto log = OpenLog(backend.get(), "lobby");
  AppendMessages(log.get(), 10);
  backend->Flush();

  std::vector<EventPtr> out;
  LogRead read;
  read.max_events = 3;
  auto through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(Seqs(out), Range(1, 3));
  EXPECT_EQ(*through, 3u);

  out.clear();
  read = LogRead{};
  read.after = 2;
  read.max_bytes = 1;  // Less than any event: still one.
  through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(Seqs(out), std::vector<uint64_t>{3});
  EXPECT_EQ(*through, 3u);

  // Bytes: two events' worth.
  out.clear();
  read = LogRead{};
  auto first = log->Read(LogRead{}, &out);
  ASSERT_TRUE(first.ok());
  const size_t cost = out[0]->cost();
  out.clear();
  read.max_bytes = 2 * cost;
  through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(*through, out.back()->seq());

  // Batches of one cover everything, in order.
  read = LogRead{};
  read.max_events = 1;
  EXPECT_EQ(Seqs(ReadAll(log.get(), read)), Range(1, 10));
}

TEST_P(RoomLogContract, MessagesOnlySkipsOtherEvents) {
  auto backend = Make();
  auto log = OpenLog(backend.get(), "lobby");
  // 1 joined, 2 m, 3 joined, 4 joined, 5 m, 6 m, 7 joined
  MustAppend(log.get(), Joined("a"));
  MustAppend(log.get(), Message("m2"));
  MustAppend(log.get(), Joined("b"));
  MustAppend(log.get(), Joined("c"));
  MustAppend(log.get(), Message("m5"));
  MustAppend(log.get(), Message("m6"));
  MustAppend(log.get(), Joined("d"));
  backend->Flush();

  LogRead read;
  read.messages_only = true;
  EXPECT_EQ(Seqs(ReadAll(log.get(), read)), (std::vector<uint64_t>{2, 5, 6}));

  // The skipped events count towards `through`, not towards the limits.
  std::vector<EventPtr> out;
  read.max_events = 1;
  read.after = 2;
  auto through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(Seqs(out), std::vector<uint64_t>{5});
  EXPECT_EQ(*through, 5u);
  out.clear();
  read.after = 6;
  through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(*through, 7u);
  // Without messages_only every event is read.
  EXPECT_EQ(Seqs(ReadAll(log.get(), LogRead{})), Range(1, 7));
}

TEST_P(RoomLogContract, ThroughNeverPassesUntilOrTheCommittedSeq) {
  auto backend = Make();
  auto log = OpenLog(backend.get(), "lobby");
  std::vector<EventPtr> out;
  auto through = log->Read(LogRead{}, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 0u);
  EXPECT_TRUE(out.empty());

  AppendMessages(log.get(), 4);
  backend->Flush();
  LogRead read;
  read.until = 2;
  through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 2u);
  out.clear();
  read.until = kMax;
  through = log->Read(read, &out);
  ASSERT_TRUE(through.ok());
  EXPECT_EQ(*through, 4u);
  EXPECT_LE(*through, log->committed_seq());
}

TEST_P(RoomLogContract, ReadNeverReturnsAnUncommittedEvent) {
  auto backend = Make(/*history_events=*/10000);  // Retention drops none.
  auto log = OpenLog(backend.get(), "lobby");
  constexpr int kEvents = 2000;
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::thread reader([&] {
    uint64_t after = 0;
    while (!done.load() || after < kEvents) {
      std::vector<EventPtr> out;
      LogRead read;
      read.after = after;
      auto through = log->Read(read, &out);
      if (!through.ok()) {
        ++violations;
        break;
      }
      const uint64_t committed = log->committed_seq();
      if (*through > committed) ++violations;
      uint64_t expect = after + 1;
      for (const EventPtr& e : out) {
        if (e->seq() != expect++ || e->seq() > *through) ++violations;
      }
      after = *through;
      if (done.load() && after >= kEvents) break;
    }
  });
  for (int i = 1; i <= kEvents; ++i) {
    MustAppend(log.get(), Message("m" + std::to_string(i)));
    // Read committed_seq after last_seq: the appended one may be ahead.
    const uint64_t last = log->last_seq();
    EXPECT_LE(log->committed_seq(), last);
  }
  backend->Flush();
  done = true;
  reader.join();
  EXPECT_EQ(violations.load(), 0);
  EXPECT_EQ(log->committed_seq(), static_cast<uint64_t>(kEvents));
}

TEST_P(RoomLogContract, MessagesStartCountsBackFromBefore) {
  auto backend = Make();
  auto log = OpenLog(backend.get(), "lobby");
  // Empty: nothing held.
  auto start = log->MessagesStart(5, kMax);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(*start, 0u);

  // 1 joined, 2 m, 3 m, 4 joined, 5 m, 6 joined
  MustAppend(log.get(), Joined("a"));
  MustAppend(log.get(), Message("m2"));
  MustAppend(log.get(), Message("m3"));
  MustAppend(log.get(), Joined("b"));
  MustAppend(log.get(), Message("m5"));
  MustAppend(log.get(), Joined("c"));
  backend->Flush();

  auto expect_start = [&](uint32_t count, uint64_t before, uint64_t want) {
    auto s = log->MessagesStart(count, before);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(*s, want) << "count " << count << " before " << before;
  };
  expect_start(0, kMax, 0);  // Every message held.
  expect_start(1, kMax, 4);  // m5: read (4, ...] messages only.
  expect_start(2, kMax, 2);  // m3, m5
  expect_start(3, kMax, 1);  // m2, m3, m5
  expect_start(9, kMax, 0);  // fewer than asked: all of them
  expect_start(1, 5, 2);     // before m5: m3
  expect_start(2, 5, 1);     // m2, m3
  expect_start(1, 3, 1);     // before m3: m2
  expect_start(1, 7, 4);     // `before` past the end

  // Reading messages_only from the start through before-1 gives them.
  LogRead read;
  read.after = 2;
  read.until = 4;
  read.messages_only = true;
  EXPECT_EQ(Seqs(ReadAll(log.get(), read)), std::vector<uint64_t>{3});
}

TEST_P(RoomLogContract, RetentionKeepsTheLastHistoryEvents) {
  auto backend = Make(/*history_events=*/5);
  auto log = OpenLog(backend.get(), "lobby");
  AppendMessages(log.get(), 12);
  backend->Flush();
  EXPECT_EQ(log->first_seq(), 8u);
  EXPECT_EQ(log->last_seq(), 12u);
  EXPECT_EQ(Seqs(ReadAll(log.get(), LogRead{})), Range(8, 12));
  auto start = log->MessagesStart(0, kMax);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(*start, 7u);
  start = log->MessagesStart(100, kMax);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(*start, 7u);
}

TEST_P(RoomLogContract, AsynchronousLogCommitsInOrderAndFlushWaits) {
  auto backend = Make();
  auto listener = std::make_shared<RecordingListener>();
  auto log = OpenLog(backend.get(), "lobby", listener);
  constexpr int kEvents = 500;
  AppendMessages(log.get(), kEvents);
  backend->Flush();
  EXPECT_EQ(log->committed_seq(), static_cast<uint64_t>(kEvents));
  const std::vector<uint64_t> calls = listener->calls();
  if (log->synchronous()) {
    // A synchronous log commits in Append and need not call the listener.
    SUCCEED();
    return;
  }
  ASSERT_FALSE(calls.empty());
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_LT(calls[i - 1], calls[i]) << "call " << i;
  }
  // Flush returned only after the last commit was told.
  EXPECT_EQ(calls.back(), static_cast<uint64_t>(kEvents));
}

TEST_P(RoomLogContract, AsynchronousLogSkipsAnExpiredListener) {
  auto backend = Make();
  auto listener = std::make_shared<RecordingListener>();
  auto log = OpenLog(backend.get(), "lobby", listener);
  AppendMessages(log.get(), 3);
  listener.reset();  // The room went away before the commit.
  backend->Flush();
  EXPECT_EQ(log->committed_seq(), 3u);
}

TEST_P(RoomLogContract, ReopenedRoomContinuesOrStartsANewEpoch) {
  auto backend = Make();
  std::string epoch;
  {
    auto log = OpenLog(backend.get(), "lobby");
    epoch = log->epoch();
    AppendMessages(log.get(), 3);
    backend->Flush();
  }
  auto log = OpenLog(backend.get(), "lobby");
  if (log->epoch() == epoch) {
    // Same history: it continues.
    EXPECT_EQ(log->last_seq(), 3u);
    EXPECT_EQ(Seqs(ReadAll(log.get(), LogRead{})), Range(1, 3));
    EventPtr e = MustAppend(log.get(), Message("again"));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->seq(), 4u);
  } else {
    EXPECT_FALSE(GetParam().persistent) << "a persistent log kept its epoch";
    EventPtr e = MustAppend(log.get(), Message("again"));
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->seq(), 1u);
  }
  backend->Flush();
}

TEST_P(RoomLogContract, ReopenedBackendKeepsSeqsEpochAndHistory) {
  if (!GetParam().persistent) GTEST_SKIP() << "the backend keeps nothing";
  std::string epoch;
  {
    auto backend = Make();
    auto log = OpenLog(backend.get(), "lobby");
    epoch = log->epoch();
    AppendMessages(log.get(), 7);
    backend->Flush();
  }
  auto backend = Make();
  EXPECT_TRUE(backend->Holds("lobby"));
  EXPECT_FALSE(backend->Holds("never"));
  auto log = OpenLog(backend.get(), "lobby");
  EXPECT_EQ(log->epoch(), epoch);
  EXPECT_EQ(log->last_seq(), 7u);
  EXPECT_EQ(log->committed_seq(), 7u);
  EXPECT_EQ(log->first_seq(), 1u);
  const std::vector<EventPtr> events = ReadAll(log.get(), LogRead{});
  ASSERT_EQ(Seqs(events), Range(1, 7));
  EXPECT_EQ(events[6]->response().message().text(), "m7");
  auto start = log->MessagesStart(2, kMax);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(*start, 5u);
  EventPtr e = MustAppend(log.get(), Message("m8"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq(), 8u);
  backend->Flush();
}

}  // namespace chat

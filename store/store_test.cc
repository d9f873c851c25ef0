#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/room.h"
#include "service/room_log_contract.h"
#include "store/sqlite_log.h"

namespace chat {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// ---------------------------------------------------------------- Contract

RoomLogFactory StoreFactory() {
  RoomLogFactory f;
  f.name = "Store";
  f.make = [](const RoomLogConfig& c) -> MakeResult {
    StoreOptions options;
    options.dir = c.dir;
    options.history_events = c.history_events;
    auto store = StoreBackend::Open(options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<LogBackend>(std::move(*store));
  };
  f.persistent = true;
  return f;
}

INSTANTIATE_TEST_SUITE_P(Store, RoomLogContract,
                         ::testing::Values(StoreFactory()), RoomLogFactoryName);

// ---------------------------------------------------------------- Helpers

std::string MakeTempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/store_test.XXXXXX";
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = MakeTempDir(); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  StoreOptions Options() const {
    StoreOptions options;
    options.dir = dir_;
    return options;
  }

  std::unique_ptr<StoreBackend> OpenStore(StoreOptions options) {
    auto store = StoreBackend::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::unique_ptr<StoreBackend> OpenStore() { return OpenStore(Options()); }

  std::string dir_;
};

std::vector<EventPtr> ReadAll(RoomLog* log, bool messages_only = false) {
  std::vector<EventPtr> out;
  LogRead read;
  read.messages_only = messages_only;
  for (;;) {
    auto through = log->Read(read, &out);
    EXPECT_TRUE(through.ok()) << through.status();
    if (!through.ok() || *through == read.after) break;
    read.after = *through;
  }
  return out;
}

std::vector<uint64_t> Seqs(const std::vector<EventPtr>& events) {
  std::vector<uint64_t> seqs;
  for (const EventPtr& e : events) seqs.push_back(e->seq());
  return seqs;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t s = first; s <= last; ++s) seqs.push_back(s);
  return seqs;
}

// Rows in chat.db's events table (the store must be closed or flushed).
int64_t CountRows(const std::string& dir, const std::string& where = "") {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2((dir + "/chat.db").c_str(), &db,
                            SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = "SELECT COUNT(*) FROM events " + where;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
  int64_t n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return n;
}

// Waits up to `timeout` for `done`.
template <typename F>
bool WaitFor(F done, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// ---------------------------------------------------------------- Restart

TEST_F(StoreTest, ReopenKeepsSeqEpochAndHistoryOfEveryRoom) {
  std::string epoch_a, epoch_b;
  {
    auto store = OpenStore();
    auto a = OpenLog(store.get(), "a");
    auto b = OpenLog(store.get(), "b");
    epoch_a = a->epoch();
    epoch_b = b->epoch();
    EXPECT_NE(epoch_a, epoch_b);
    for (int i = 1; i <= 30; ++i) {
      ASSERT_TRUE(a->Append(Message(absl::StrCat("a", i)), 7, false).ok());
      if (i % 3 == 0) {
        ASSERT_TRUE(b->Append(Message(absl::StrCat("b", i)), 7, false).ok());
      }
    }
    // An opened room that never had an event leaves nothing behind.
    OpenLog(store.get(), "empty");
  }
  auto store = OpenStore();
  EXPECT_TRUE(store->Holds("a"));
  EXPECT_TRUE(store->Holds("b"));
  EXPECT_FALSE(store->Holds("empty"));
  EXPECT_EQ(store->stats().rooms, 2u);
  auto a = OpenLog(store.get(), "a");
  auto b = OpenLog(store.get(), "b");
  EXPECT_EQ(a->epoch(), epoch_a);
  EXPECT_EQ(b->epoch(), epoch_b);
  EXPECT_EQ(a->last_seq(), 30u);
  EXPECT_EQ(b->last_seq(), 10u);
  const auto events = ReadAll(a.get());
  ASSERT_EQ(Seqs(events), Range(1, 30));
  EXPECT_EQ(events[29]->response().message().text(), "a30");
  // Read back from the store: the origin is not kept.
  EXPECT_EQ(events[0]->origin(), 0u);
  auto next = a->Append(Message("a31"), 0, false);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)->seq(), 31u);
}

TEST_F(StoreTest, WipedStoreGivesANewEpoch) {
  std::string epoch;
  {
    auto store = OpenStore();
    auto log = OpenLog(store.get(), "lobby");
    epoch = log->epoch();
    ASSERT_TRUE(log->Append(Message("hi"), 0, false).ok());
  }
  std::filesystem::remove_all(dir_);
  auto store = OpenStore();  // Creates the directory again.
  EXPECT_FALSE(store->Holds("lobby"));
  auto log = OpenLog(store.get(), "lobby");
  EXPECT_NE(log->epoch(), epoch);
  auto e = log->Append(Message("hi"), 0, false);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->seq(), 1u);
}

// Tells a pipe each committed seq, from the killed child.
class PipeListener : public CommitListener {
 public:
  explicit PipeListener(int fd) : fd_(fd) {}
  void Committed(uint64_t through) override {
    if (write(fd_, &through, sizeof(through)) != sizeof(through)) _exit(3);
  }

 private:
  const int fd_;
};

// Runs a store in a child process that appends up to `limit` messages to
// "lobby" as fast as it can, and kills it with SIGKILL once `kill_at` are
// committed. Returns the highest committed seq the child reported.
uint64_t RunAndKill(const StoreOptions& options, uint64_t kill_at,
                    uint64_t limit) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  EXPECT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    auto store = StoreBackend::Open(options);
    if (!store.ok()) _exit(2);
    auto listener = std::make_shared<PipeListener>(fds[1]);
    auto log = (*store)->Open("lobby", listener);
    if (!log.ok()) _exit(2);
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    uint64_t appended = 0;
    while (absl::Now() < deadline) {
      if (appended == limit ||
          !(*log)
               ->Append(Message(absl::StrCat("m", appended + 1)), 0, false)
               .ok()) {
        absl::SleepFor(absl::Milliseconds(1));
      } else {
        ++appended;
      }
    }
    _exit(4);  // Not killed in time.
  }
  close(fds[1]);
  uint64_t committed = 0;
  uint64_t through;
  while (committed < kill_at &&
         read(fds[0], &through, sizeof(through)) == sizeof(through)) {
    EXPECT_GT(through, committed);
    committed = through;
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
  return committed;
}

TEST_F(StoreTest, KilledProcessLosesNothingCommittedAndNeverReusesASeq) {
  for (SyncMode mode : {SyncMode::kBatch, SyncMode::kNone, SyncMode::kEvery}) {
    SCOPED_TRACE(SyncModeName(mode));
    std::filesystem::remove_all(dir_);
    StoreOptions options = Options();
    options.sync = mode;
    options.history_events = 100000;
    const uint64_t committed = RunAndKill(options, 3000, 1000000);
    ASSERT_GE(committed, 3000u);

    auto store = OpenStore(options);
    auto log = OpenLog(store.get(), "lobby");
    const auto events = ReadAll(log.get());
    ASSERT_FALSE(events.empty());
    const uint64_t stored = events.back()->seq();
    EXPECT_GE(stored, committed) << "a committed event was lost";
    EXPECT_EQ(Seqs(events), Range(1, stored));
    // Continues after the reservation: past everything that was shown.
    auto next = log->Append(Message("after"), 0, false);
    ASSERT_TRUE(next.ok());
    EXPECT_GT((*next)->seq(), stored + 1) << "no gap after an unclean stop";
    EXPECT_LE((*next)->seq(), stored + StoreBackend::kReserveBlock + 1);
    store->Flush();
    EXPECT_EQ(log->first_seq(), 1u);
    // The gap is known as skipped, not lost: exactly the seqs in between.
    const std::vector<SeqRange> skipped = log->Skipped();
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].first, stored + 1);
    EXPECT_EQ(skipped[0].last, (*next)->seq() - 1);
  }
}

TEST_F(StoreTest, GapAfterAnUncleanStopDoesNotCountAgainstRetention) {
  StoreOptions options = Options();
  options.history_events = 100;
  ASSERT_EQ(RunAndKill(options, 50, 50), 50u);
  auto store = OpenStore(options);
  auto log = OpenLog(store.get(), "lobby");
  EXPECT_EQ(log->first_seq(), 1u);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(log->Append(Message("new"), 0, false).ok());
  }
  store->Flush();
  // 60 events, fewer than 100: all kept, across the gap.
  const auto events = ReadAll(log.get());
  ASSERT_EQ(events.size(), 60u);
  EXPECT_EQ(events[49]->seq(), 50u);
  EXPECT_GT(events[50]->seq(), 51u);
  EXPECT_EQ(log->first_seq(), 1u);
  // Past 100 + the deletion step, the oldest go.
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(log->Append(Message("more"), 0, false).ok());
  }
  store->Flush();
  const auto later = ReadAll(log.get());
  EXPECT_GE(later.size(), 100u);
  EXPECT_LE(later.size(), 100u + 64u);
  EXPECT_EQ(later.back()->seq(), log->last_seq());
}

TEST_F(StoreTest, CleanShutdownContinuesWithoutAGap) {
  {
    auto store = OpenStore();
    auto log = OpenLog(store.get(), "lobby");
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(log->Append(Message("x"), 0, false).ok());
  }
  auto store = OpenStore();
  auto log = OpenLog(store.get(), "lobby");
  auto e = log->Append(Message("y"), 0, false);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->seq(), 6u);
  EXPECT_TRUE(log->Skipped().empty());
}

// ---------------------------------------------------------------- Retention

TEST_F(StoreTest, RetentionByCountDeletesFromTheStoreInBatches) {
  StoreOptions options = Options();
  options.history_events = 100;
  {
    auto store = OpenStore(options);
    auto log = OpenLog(store.get(), "lobby");
    for (int i = 1; i <= 1000; ++i) {
      ASSERT_TRUE(log->Append(Message(absl::StrCat("m", i)), 0, false).ok());
    }
    store->Flush();
    EXPECT_EQ(log->first_seq(), 901u);
    EXPECT_EQ(Seqs(ReadAll(log.get())), Range(901, 1000));
  }
  const int64_t rows = CountRows(dir_);
  EXPECT_GE(rows, 100);
  EXPECT_LE(rows, 100 + 64);  // Deleted in steps of max(64, 100 / 8).
  auto store = OpenStore(options);
  auto log = OpenLog(store.get(), "lobby");
  EXPECT_EQ(log->first_seq(), 901u);
  EXPECT_EQ(Seqs(ReadAll(log.get())), Range(901, 1000));
  auto start = log->MessagesStart(0, kMax);
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(*start, 900u);
}

TEST_F(StoreTest, CleanStopAfterRetentionDroppedEveryEventNeverReusesASeq) {
  StoreOptions options = Options();
  options.history_age = absl::Seconds(1);
  {
    auto store = OpenStore(options);
    auto log = OpenLog(store.get(), "lobby");
    // A commit each: only the first crosses a reservation and so writes the
    // room's row; the others are found from the events, or at the stop.
    for (int i = 1; i <= 5; ++i) {
      ASSERT_TRUE(log->Append(Message("old"), 0, false).ok());
      store->Flush();
    }
    // Retention by age drops every one of them (time passing is the point:
    // whole seconds, swept about once a second, so up to ~3 s; 10x that).
    ASSERT_TRUE(
        WaitFor([&] { return log->first_seq() == 6; }, absl::Seconds(30)))
        << "first_seq " << log->first_seq();
  }
  EXPECT_EQ(CountRows(dir_), 0);
  auto store = OpenStore(options);
  auto log = OpenLog(store.get(), "lobby");
  auto e = log->Append(Message("new"), 0, false);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->seq(), 6u) << "a clean stop continues exactly after seq 5";
  EXPECT_TRUE(log->Skipped().empty());
}

TEST_F(StoreTest, RetentionByAge) {
  StoreOptions options = Options();
  options.history_age = absl::Seconds(1);
  auto store = OpenStore(options);
  auto log = OpenLog(store.get(), "lobby");
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(log->Append(Message(absl::StrCat("old", i)), 0, false).ok());
  }
  store->Flush();
  absl::SleepFor(absl::Milliseconds(2200));
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(log->Append(Message(absl::StrCat("new", i)), 0, false).ok());
  }
  store->Flush();
  ASSERT_TRUE(WaitFor([&] { return log->first_seq() == 6; }))
      << "first_seq " << log->first_seq();
  EXPECT_EQ(Seqs(ReadAll(log.get())), Range(6, 8));
  log.reset();  // Logs go before their backend.
  store.reset();
  EXPECT_EQ(CountRows(dir_), 3);
}

// ---------------------------------------------------------------- Memory

TEST_F(StoreTest, EvictedHistoryIsReadBackFromTheStore) {
  StoreOptions options = Options();
  options.history_memory = 16 * 1024;
  auto store = OpenStore(options);
  std::vector<std::unique_ptr<RoomLog>> logs;
  for (const char* room : {"a", "b", "c"}) {
    logs.push_back(OpenLog(store.get(), room));
    for (int i = 1; i <= 500; ++i) {
      ASSERT_TRUE(
          logs.back()->Append(Message(absl::StrCat(room, i)), 0, false).ok());
    }
  }
  store->Flush();
  EXPECT_LE(store->budget().used(), options.history_memory);
  for (size_t r = 0; r < logs.size(); ++r) {
    const auto events = ReadAll(logs[r].get());
    ASSERT_EQ(Seqs(events), Range(1, 500));
    EXPECT_EQ(events[0]->response().message().text(),
              absl::StrCat(std::string(1, static_cast<char>('a' + r)), 1));
    auto start = logs[r]->MessagesStart(450, kMax);
    ASSERT_TRUE(start.ok());
    EXPECT_EQ(*start, 50u);
  }
}

// ---------------------------------------------------------------- Client ids

class QuietSink : public MemberSink {
 public:
  void Wake() override {}
};

// Everything queued in `member`'s outbox now.
std::vector<EventPtr> DrainNow(Member& member) {
  std::vector<EventPtr> out;
  absl::Status closed;
  while (member.outbox().Drain(&out, &closed) == Outbox::DrainResult::kEvents) {
  }
  return out;
}

// Joins `name` to the lobby of `hub`.
std::shared_ptr<Member> MustJoin(Hub& hub, const std::string& name) {
  JoinRequest req;
  req.name = name;
  absl::StatusOr<std::shared_ptr<Member>> m =
      hub.Join(req, std::make_shared<QuietSink>());
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

// The messages `events` hold, as "client_id=text".
std::vector<std::string> MessagesOf(const std::vector<EventPtr>& events) {
  std::vector<std::string> out;
  for (const EventPtr& e : events) {
    if (!e->response().has_message()) continue;
    const v1::Message& m = e->response().message();
    out.push_back(absl::StrCat(m.client_id(), "=", m.text()));
  }
  return out;
}

TEST_F(StoreTest, AClientIdPostedBeforeARestartIsADuplicateAfterIt) {
  uint64_t seq = 0;
  {
    Hub hub(HubOptions(), OpenStore());
    std::shared_ptr<Member> alice = MustJoin(hub, "alice");
    ASSERT_NE(alice, nullptr);
    ASSERT_TRUE(alice->Say("hello", false, "X").ok());
    // Flushes the store and delivers what it committed.
    hub.Shutdown("restarting");
    for (const EventPtr& e : DrainNow(*alice)) {
      if (e->response().has_message()) seq = e->seq();
    }
    ASSERT_GT(seq, 0u);
  }  // The backend closes here: a restart.
  {
    Hub hub(HubOptions(), OpenStore());
    // The same name on a new connection sends X again.
    std::shared_ptr<Member> alice = MustJoin(hub, "alice");
    ASSERT_NE(alice, nullptr);
    ASSERT_TRUE(alice->Say("hello", false, "X").ok());
    ASSERT_TRUE(alice->Say("next", false, "Y").ok());
    hub.Shutdown("stopping");
    const std::vector<EventPtr> got = DrainNow(*alice);
    std::vector<const v1::Duplicate*> dups;
    for (const EventPtr& e : got) {
      if (e->response().has_duplicate()) {
        dups.push_back(&e->response().duplicate());
      }
    }
    ASSERT_EQ(dups.size(), 1u);
    EXPECT_EQ(dups[0]->client_id(), "X");
    EXPECT_EQ(dups[0]->seq(), seq);
    EXPECT_THAT(MessagesOf(got), ::testing::ElementsAre("Y=next"));
  }
  // No new event for X: the store holds each message once, with its id.
  EXPECT_EQ(CountRows(dir_, "WHERE is_message = 1"), 2);
  auto store = OpenStore();
  auto log = OpenLog(store.get(), "lobby");
  EXPECT_THAT(MessagesOf(ReadAll(log.get(), /*messages_only=*/true)),
              ::testing::ElementsAre("X=hello", "Y=next"));
}

TEST_F(StoreTest, ARestartRemembersOnlyTheLastIdsPerRoom) {
  HubOptions options;
  options.client_ids_per_room = 2;
  {
    Hub hub(options, OpenStore());
    std::shared_ptr<Member> alice = MustJoin(hub, "alice");
    ASSERT_NE(alice, nullptr);
    for (const char* id : {"a", "b", "c"}) {
      ASSERT_TRUE(alice->Say(id, false, id).ok());
    }
    hub.Shutdown("restarting");
  }
  Hub hub(options, OpenStore());
  std::shared_ptr<Member> alice = MustJoin(hub, "alice");
  ASSERT_NE(alice, nullptr);
  for (const char* id : {"b", "c", "a"}) {
    ASSERT_TRUE(alice->Say(id, false, id).ok());
  }
  hub.Shutdown("stopping");
  const std::vector<EventPtr> got = DrainNow(*alice);
  // b and c were among the last 2 messages; a was not, and is posted again.
  EXPECT_THAT(MessagesOf(got), ::testing::ElementsAre("a=a"));
  int dups = 0;
  for (const EventPtr& e : got) dups += e->response().has_duplicate();
  EXPECT_EQ(dups, 2);
}

// ---------------------------------------------------------------- Faults

TEST_F(StoreTest, FailedWritesRefuseAppendsAndRecoverWithNothingLost) {
  auto fault = std::make_shared<std::atomic<int>>(SQLITE_OK);
  StoreOptions options = Options();
  options.fault_for_test = [fault] { return fault->load(); };
  auto store = OpenStore(options);
  auto log = OpenLog(store.get(), "lobby");
  std::vector<std::string> accepted;
  auto append = [&](const std::string& text, bool must) {
    auto e = log->Append(Message(text), 0, must);
    if (e.ok()) accepted.push_back(text);
    return e.status();
  };
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(append(absl::StrCat("ok", i), false).ok());
  store->Flush();

  fault->store(SQLITE_FULL);
  ASSERT_TRUE(append("queued-before-failure", false).ok());
  absl::Status refused;
  ASSERT_TRUE(WaitFor([&] {
    refused = append("probe", false);
    return !refused.ok();
  }));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(refused.message().find(dir_), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("No space left on device"),
            std::string::npos)
      << refused;
  EXPECT_NE(refused.message().find("free space and it will resume"),
            std::string::npos)
      << refused;
  EXPECT_TRUE(store->stats().failing);
  // A `must` event is still taken.
  ASSERT_TRUE(append("must", true).ok());
  const uint64_t committed = log->committed_seq();

  fault->store(SQLITE_OK);
  ASSERT_TRUE(WaitFor([&] { return append("after", false).ok(); }));
  store->Flush();
  EXPECT_FALSE(store->stats().failing);
  EXPECT_GT(log->committed_seq(), committed);
  const auto events = ReadAll(log.get());
  ASSERT_EQ(Seqs(events), Range(1, accepted.size()));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]->response().message().text(), accepted[i]);
  }
}

TEST_F(StoreTest, TooManyPendingEventsAreRefused) {
  auto gate = std::make_shared<std::atomic<bool>>(true);
  StoreOptions options = Options();
  options.max_pending = 10;
  options.fault_for_test = [gate] {
    while (gate->load()) absl::SleepFor(absl::Milliseconds(1));
    return SQLITE_OK;
  };
  auto store = OpenStore(options);
  auto log = OpenLog(store.get(), "lobby");
  int ok = 0;
  absl::Status status;
  for (int i = 0; i < 20; ++i) {
    status = log->Append(Message("x"), 0, false).status();
    if (!status.ok()) break;
    ++ok;
  }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_TRUE(log->Append(Message("must"), 0, true).ok());
  gate->store(false);
  store->Flush();
  EXPECT_EQ(log->committed_seq(), 11u);
}

// A tmpfs of `bytes` at a fresh directory, or a reason it cannot be had.
class Tmpfs {
 public:
  explicit Tmpfs(size_t bytes) : dir_(MakeTempDir()) {
    const std::string opts = absl::StrCat("size=", bytes);
    if (mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      error_ = absl::StrCat("cannot mount a tmpfs (", strerror(errno),
                            "): needs CAP_SYS_ADMIN");
      return;
    }
    mounted_ = true;
  }
  ~Tmpfs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  std::string error_;
  bool mounted_ = false;
};

TEST_F(StoreTest, FullDiskRefusesAppendsAndRecoversWhenSpaceIsFreed) {
  Tmpfs fs(4 << 20);
  if (!fs.error().empty()) GTEST_SKIP() << fs.error();
  StoreOptions options;
  options.dir = fs.dir() + "/store";
  auto store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  auto log = OpenLog(store.get(), "lobby");
  std::vector<std::string> accepted;
  auto append = [&](const std::string& text) {
    auto e = log->Append(Message(text), 0, false);
    if (e.ok()) accepted.push_back(text);
    return e.status();
  };
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(append(absl::StrCat("ok", i)).ok());
  store->Flush();

  // Fill the disk, then write until the store refuses.
  const std::string filler = fs.dir() + "/filler";
  {
    std::ofstream out(filler, std::ios::binary);
    const std::string block(64 * 1024, 'f');
    while (out.write(block.data(), block.size())) {
    }
  }
  absl::Status refused;
  const std::string big(2000, 'x');
  ASSERT_TRUE(WaitFor(
      [&] {
        refused = append(absl::StrCat(accepted.size(), big));
        return !refused.ok();
      },
      absl::Seconds(30)));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(refused.message().find("No space left on device"),
            std::string::npos)
      << refused;

  std::filesystem::remove(filler);
  ASSERT_TRUE(WaitFor([&] { return append("after").ok(); }));
  store->Flush();
  const auto events = ReadAll(log.get());
  ASSERT_EQ(Seqs(events), Range(1, accepted.size()));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]->response().message().text(), accepted[i]);
  }
  log.reset();
  store.reset();
  // And it reopens intact.
  store = OpenStore(options);
  log = OpenLog(store.get(), "lobby");
  EXPECT_EQ(Seqs(ReadAll(log.get())), Range(1, accepted.size()));
}

TEST_F(StoreTest, ReadOnlyDirectoryFailsToOpenWithAClearMessage) {
  // A store on a file system remounted read-only (root ignores permission
  // bits, so a chmod would prove nothing here).
  Tmpfs fs(4 << 20);
  if (!fs.error().empty()) GTEST_SKIP() << fs.error();
  StoreOptions options;
  options.dir = fs.dir() + "/store";
  {
    auto store = OpenStore(options);
    ASSERT_NE(store, nullptr);
    auto log = OpenLog(store.get(), "lobby");
    ASSERT_TRUE(log->Append(Message("kept"), 0, false).ok());
  }
  ASSERT_EQ(mount(nullptr, fs.dir().c_str(), nullptr, MS_REMOUNT | MS_RDONLY,
                  nullptr),
            0)
      << strerror(errno);
  auto store = StoreBackend::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(options.dir), std::string::npos)
      << store.status();
}

// ---------------------------------------------------------------- Open errors

TEST_F(StoreTest, SecondOpenOfTheSameStoreFailsClearly) {
  auto store = OpenStore();
  auto second = StoreBackend::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(
      second.status().message().find(absl::StrCat(
          dir_, " is in use by another chat-service (pid ", getpid(), ")")),
      std::string::npos)
      << second.status();
  // The first one is unharmed.
  auto log = OpenLog(store.get(), "lobby");
  EXPECT_TRUE(log->Append(Message("hi"), 0, false).ok());
}

TEST_F(StoreTest, CorruptFileFailsClearly) {
  {
    std::ofstream out(dir_ + "/chat.db", std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << "this is not a database ";
  }
  auto store = StoreBackend::Open(Options());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(store.status().message().find(dir_ + "/chat.db is corrupt"),
            std::string::npos)
      << store.status();
  EXPECT_NE(store.status().message().find("restore a backup"),
            std::string::npos)
      << store.status();
}

TEST_F(StoreTest, SyncModes) {
  EXPECT_EQ(*ParseSyncMode("every"), SyncMode::kEvery);
  EXPECT_EQ(*ParseSyncMode("batch"), SyncMode::kBatch);
  EXPECT_EQ(*ParseSyncMode("none"), SyncMode::kNone);
  EXPECT_FALSE(ParseSyncMode("always").ok());
  for (SyncMode mode : {SyncMode::kEvery, SyncMode::kBatch, SyncMode::kNone}) {
    std::filesystem::remove_all(dir_);
    StoreOptions options = Options();
    options.sync = mode;
    {
      auto store = OpenStore(options);
      auto log = OpenLog(store.get(), "lobby");
      for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(log->Append(Message("x"), 0, false).ok());
      }
    }
    auto store = OpenStore(options);
    auto log = OpenLog(store.get(), "lobby");
    EXPECT_EQ(log->last_seq(), 50u) << SyncModeName(mode);
  }
}

// ---------------------------------------------------------------- Benchmark

// Prints append cost, restart time and bytes per event for 1,000,000 events
// over 1000 rooms. Run with --gtest_also_run_disabled_tests
// --gtest_filter='*Benchmark*'.
TEST_F(StoreTest, DISABLED_BenchmarkMillionEventsRestart) {
  constexpr int kRooms = 1000;
  constexpr int kPerRoom = 1000;
  StoreOptions options = Options();
  options.history_events = kPerRoom;
  std::string text(60, 'x');
  {
    auto store = OpenStore(options);
    std::vector<std::unique_ptr<RoomLog>> logs;
    for (int r = 0; r < kRooms; ++r) {
      logs.push_back(OpenLog(store.get(), absl::StrCat("room", r)));
    }
    const absl::Time start = absl::Now();
    absl::Duration in_append;
    for (int i = 0; i < kPerRoom; ++i) {
      for (int r = 0; r < kRooms; ++r) {
        const absl::Time t = absl::Now();
        auto e = logs[r]->Append(Message(text), 0, false);
        in_append += absl::Now() - t;
        if (!e.ok()) {
          store->Flush();  // Too far behind: wait, then go on.
          ASSERT_TRUE(logs[r]->Append(Message(text), 0, false).ok());
        }
      }
    }
    store->Flush();
    const absl::Duration total = absl::Now() - start;
    const auto stats = store->stats();
    printf(
        "append: %.2f us per Append call (caller), %.0f events/s "
        "committed (sync=batch), %llu commits, %llu fsyncs\n",
        absl::ToDoubleMicroseconds(in_append) / (kRooms * kPerRoom),
        kRooms * kPerRoom / absl::ToDoubleSeconds(total),
        static_cast<unsigned long long>(stats.commits),
        static_cast<unsigned long long>(stats.syncs));
  }
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  printf("size: %ju bytes on disk, %.1f bytes per event (body %zu bytes)\n",
         bytes, static_cast<double>(bytes) / (kRooms * kPerRoom),
         Message(text).ByteSizeLong() + 8);

  for (int run = 0; run < 3; ++run) {
    const absl::Time start = absl::Now();
    auto store = OpenStore(options);
    const absl::Duration open = absl::Now() - start;
    ASSERT_EQ(store->stats().rooms, static_cast<size_t>(kRooms));
    auto log = OpenLog(store.get(), "room500");
    const absl::Time read_start = absl::Now();
    auto s = log->MessagesStart(50, kMax);
    ASSERT_TRUE(s.ok());
    LogRead read;
    read.after = *s;
    std::vector<EventPtr> out;
    ASSERT_TRUE(log->Read(read, &out).ok());
    const absl::Duration first_read = absl::Now() - read_start;
    printf(
        "restart %d: Open %.1f ms (1000 rooms, 1M events); first "
        "history of 50 from the store %.2f ms\n",
        run, absl::ToDoubleMilliseconds(open),
        absl::ToDoubleMilliseconds(first_read));
    EXPECT_EQ(out.size(), 50u);
  }
  for (SyncMode mode : {SyncMode::kEvery, SyncMode::kBatch, SyncMode::kNone}) {
    StoreOptions o = options;
    o.sync = mode;
    auto store = OpenStore(o);
    auto log = OpenLog(store.get(), "bench");
    // One at a time (each waits for its commit): the latency of a post.
    constexpr int kOne = 300;
    absl::Time start = absl::Now();
    for (int i = 0; i < kOne; ++i) {
      ASSERT_TRUE(log->Append(Message(text), 0, false).ok());
      store->Flush();
    }
    const double one = absl::ToDoubleMicroseconds(absl::Now() - start) / kOne;
    constexpr int kMany = 100000;
    start = absl::Now();
    for (int i = 0; i < kMany; ++i) {
      if (!log->Append(Message(text), 0, false).ok()) store->Flush();
    }
    store->Flush();
    const double rate = kMany / absl::ToDoubleSeconds(absl::Now() - start);
    printf(
        "sync=%s: %.0f us per commit one at a time; %.0f events/s "
        "streamed\n",
        SyncModeName(mode).c_str(), one, rate);
  }
}

}  // namespace
}  // namespace chat

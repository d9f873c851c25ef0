#include "store/sqlite_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "metrics/metrics.h"
#include "service/log.h"
#include "service/memory_log.h"

namespace chat {
namespace {

constexpr size_t kMaxBatch = 8192;  // Events per transaction.
constexpr absl::Duration kSyncInterval = absl::Milliseconds(10);
// The syncer checkpoints the WAL into the database past this many pages
// (4 MiB); the writer does it itself, stalling commits, only past
// kWalPagesMax, when the syncer cannot keep up.
constexpr int kWalPagesCheckpoint = 1000;
constexpr int kWalPagesMax = 65536;
constexpr absl::Duration kAgeInterval = absl::Seconds(1);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);
constexpr absl::Duration kCloseTimeout = absl::Seconds(10);
constexpr const char* kSchemaVersion = "1";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rooms(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  epoch TEXT NOT NULL,
  last_seq INTEGER NOT NULL,
  reserved_seq INTEGER NOT NULL,
  contiguous_from INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  room_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  time_s INTEGER NOT NULL,
  is_message INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY(room_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skips(
  room_id INTEGER NOT NULL,
  first INTEGER NOT NULL,
  last INTEGER NOT NULL,
  PRIMARY KEY(room_id, first)) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1'), ('clean', '1');
)sql";

int Exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

int Prepare(sqlite3* db, const char* sql, sqlite3_stmt** stmt) {
  return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt,
                            nullptr);
}

// Steps a statement that returns no rows (or whose rows do not matter).
int Run(sqlite3_stmt* stmt) {
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
  }
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

// Resets `stmt` when it goes out of scope.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetOnExit() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* const stmt_;
};

int64_t I64(uint64_t v) {
  return static_cast<int64_t>(
      std::min<uint64_t>(v, std::numeric_limits<int64_t>::max()));
}

std::string ErrnoText(int err) { return err == 0 ? "" : strerror(err); }

// What went wrong opening the store, as a sentence naming the file and what
// to do about it.
absl::Status OpenError(sqlite3* db, int rc, const std::string& path,
                       const std::string& dir) {
  const std::string what =
      db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int err = db != nullptr ? sqlite3_system_errno(db) : 0;
  const std::string detail =
      err != 0 ? absl::StrCat(what, ": ", ErrnoText(err)) : what;
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return absl::DataLossError(absl::StrCat(
          path, " is corrupt or is not a chat-service store (", detail,
          "): restore a backup, or move it away to start an empty store"));
    case SQLITE_FULL:
      return absl::UnavailableError(absl::StrCat(
          "cannot write ", path, " (", detail, "): free space in ", dir));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is locked by another program (", detail,
                       "); stop it, or use another --data_dir"));
    default:
      return absl::UnavailableError(absl::StrCat(
          "cannot open ", path, " (", detail, "): check that ", dir,
          " is writable by chat-service and its disk is healthy"));
  }
}

}  // namespace

// ---------------------------------------------------------------- Sync mode

absl::StatusOr<SyncMode> ParseSyncMode(absl::string_view text) {
  if (text == "every") return SyncMode::kEvery;
  if (text == "batch") return SyncMode::kBatch;
  if (text == "none") return SyncMode::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("--sync must be every, batch or none, not \"", text, "\""));
}

std::string SyncModeName(SyncMode mode) {
  switch (mode) {
    case SyncMode::kEvery:
      return "every";
    case SyncMode::kBatch:
      return "batch";
    case SyncMode::kNone:
      return "none";
  }
  return "?";
}

// ---------------------------------------------------------------- Room state

// One room as the store knows it, whether or not its log is open.
struct StoreBackend::RoomState {
  RoomState(HistoryBudget* budget, size_t history_events, std::string name_in,
            std::string epoch_in, int64_t id_in)
      : name(std::move(name_in)),
        epoch(std::move(epoch_in)),
        id(id_in),
        cache(budget, history_events == 0 ? std::numeric_limits<size_t>::max()
                                          : history_events) {}

  // Constant.
  const std::string name;
  const std::string epoch;
  const int64_t id;
  // Committed events, newest first to go; a suffix of what the store holds.
  HistoryCache cache;

  // Set by Append (serialized by the room).
  std::atomic<uint64_t> last_seq{0};
  // Set by the writer.
  std::atomic<uint64_t> committed_seq{0};
  std::atomic<uint64_t> stored_first{0};  // Oldest seq stored; 0 for none.
  std::atomic<bool> stored{false};        // Has a row in `rooms`.
  // Every seq from this one through committed_seq is held (unless dropped
  // by retention): the first seq after the last unclean stop (stored in
  // `rooms`), since history before it may have a gap.
  std::atomic<uint64_t> contiguous_from{1};

  // Seqs never used (skipped after unclean stops), oldest first. Set while
  // the store opens, constant after.
  std::vector<SeqRange> skipped;

  // Writer thread only (and Start).
  uint64_t reserved_seq = 0;  // Durable: no seq beyond it was ever shown.
  int64_t oldest_time_s = 0;  // Time of stored_first.

  // Guarded by StoreBackend::mu_.
  std::weak_ptr<CommitListener> listener;
  int open_logs = 0;
};

// One room's share of a batch.
struct StoreBackend::BatchRoom {
  std::shared_ptr<RoomState> room;
  uint64_t first = 0;
  uint64_t last = 0;
  int64_t first_time = 0;
  uint64_t reserved = 0;
  bool trimmed = false;  // Retention ran: new_first is the oldest held.
  uint64_t new_first = 0;
  int64_t new_first_time = 0;
};

// ---------------------------------------------------------------- The log

class StoreBackend::StoreLog final : public RoomLog {
 public:
  StoreLog(StoreBackend* backend, std::shared_ptr<RoomState> room)
      : backend_(backend), room_(std::move(room)) {}
  ~StoreLog() override { backend_->Closed(room_); }

  const std::string& epoch() const override { return room_->epoch; }
  bool synchronous() const override { return false; }

  absl::StatusOr<EventPtr> Append(v1::ChatResponse response, uint64_t origin,
                                  bool must) override {
    return backend_->Append(room_, std::move(response), origin, must);
  }
  uint64_t last_seq() const override {
    return room_->last_seq.load(std::memory_order_acquire);
  }
  uint64_t committed_seq() const override {
    return room_->committed_seq.load(std::memory_order_acquire);
  }
  uint64_t first_seq() const override { return backend_->FirstSeq(*room_); }
  absl::StatusOr<uint64_t> Read(const LogRead& read,
                                std::vector<EventPtr>* out) override {
    return backend_->Read(*room_, read, out);
  }
  absl::StatusOr<uint64_t> MessagesStart(uint32_t count,
                                         uint64_t before) override {
    return backend_->MessagesStart(*room_, count, before);
  }
  std::vector<SeqRange> Skipped() const override { return room_->skipped; }

 private:
  StoreBackend* const backend_;
  const std::shared_ptr<RoomState> room_;
};

// ---------------------------------------------------------------- Open

StoreBackend::StoreBackend(const StoreOptions& options)
    : options_(options),
      db_path_(options.dir + "/chat.db"),
      budget_(options.history_memory) {}

absl::StatusOr<std::unique_ptr<StoreBackend>> StoreBackend::Open(
    const StoreOptions& options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("--data_dir is empty");
  }
  std::unique_ptr<StoreBackend> backend(new StoreBackend(options));
  absl::Status status = backend->Start();
  if (!status.ok()) return status;
  return backend;
}

absl::Status StoreBackend::Start() {
  const std::string& dir = options_.dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create the store directory ", dir, " (", ec.message(), ")"));
  }

  // The lock: one chat-service per store.
  const std::string lock_path = dir + "/LOCK";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", lock_path, " (", ErrnoText(errno),
                     "): check that ", dir, " is writable by chat-service"));
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      return absl::UnavailableError(
          absl::StrCat("cannot lock ", lock_path, " (", ErrnoText(err), ")"));
    }
    char buf[32] = {};
    const ssize_t n = pread(lock_fd_, buf, sizeof(buf) - 1, 0);
    std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
    pid = std::string(absl::StripAsciiWhitespace(pid));
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " is in use by another chat-service",
                     pid.empty() ? "" : absl::StrCat(" (pid ", pid, ")"),
                     "; stop it, or give this one another --data_dir"));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(lock_fd_, 0) != 0 ||
      pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only a hint for the message above.
  }

  // The writer's connection and the schema.
  int rc = sqlite3_open_v2(
      db_path_.c_str(), &wdb_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) return OpenError(wdb_, rc, db_path_, dir);
  sqlite3_extended_result_codes(wdb_, 1);
  sqlite3_busy_timeout(wdb_, 5000);
  {
    sqlite3_stmt* stmt = nullptr;
    rc = Prepare(wdb_, "PRAGMA journal_mode=WAL", &stmt);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW) {
        const char* mode =
            reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        rc = mode != nullptr && std::string(mode) == "wal" ? SQLITE_OK
                                                           : SQLITE_CANTOPEN;
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK) return OpenError(wdb_, rc, db_path_, dir);
  }
  rc = Exec(wdb_, "PRAGMA synchronous=FULL");
  // A batch touches a page per room: keep more of them cached (32 MiB).
  if (rc == SQLITE_OK) rc = Exec(wdb_, "PRAGMA cache_size=-32768");
  if (rc == SQLITE_OK) rc = Exec(wdb_, "BEGIN IMMEDIATE");
  if (rc == SQLITE_OK) rc = Exec(wdb_, kSchema);
  if (rc == SQLITE_OK) rc = Exec(wdb_, "COMMIT");
  if (rc != SQLITE_OK) return OpenError(wdb_, rc, db_path_, dir);

  // Schema version and the clean flag.
  std::string schema, clean;
  {
    sqlite3_stmt* stmt = nullptr;
    rc = Prepare(wdb_, "SELECT key, value FROM meta", &stmt);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const std::string key =
          reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      const std::string value =
          reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
      if (key == "schema") schema = value;
      if (key == "clean") clean = value;
      rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
      return OpenError(wdb_, rc, db_path_, dir);
    }
  }
  if (schema != kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(db_path_, " has schema version ", schema,
                     ", this chat-service knows ", kSchemaVersion,
                     ": run the chat-service that wrote it, or move it away"));
  }
  absl::Status status = LoadRooms(clean == "1");
  if (!status.ok()) return status;
  // From now on, a stop without the destructor is unclean.
  rc = Exec(wdb_, "UPDATE meta SET value = '0' WHERE key = 'clean'");
  if (rc != SQLITE_OK) return OpenError(wdb_, rc, db_path_, dir);
  if (options_.sync != SyncMode::kEvery) {
    rc = Exec(wdb_, "PRAGMA synchronous=NORMAL");
    if (rc != SQLITE_OK) return OpenError(wdb_, rc, db_path_, dir);
  }
  const std::string wal_path = db_path_ + "-wal";
  wal_fd_ = open(wal_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (wal_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", wal_path, " (", ErrnoText(errno), ")"));
  }

  // The writer's statements.
  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } writer_sql[] = {
      {&insert_room_,
       "INSERT INTO rooms(id, name, epoch, last_seq, reserved_seq, "
       "contiguous_from) VALUES(?1, ?2, ?3, 0, 0, 1)"},
      {&insert_event_,
       "INSERT INTO events(room_id, seq, time_s, is_message, body) "
       "VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&update_room_,
       "UPDATE rooms SET last_seq = ?2, reserved_seq = ?3, "
       "contiguous_from = ?4 WHERE id = ?1"},
      {&delete_before_, "DELETE FROM events WHERE room_id = ?1 AND seq < ?2"},
      {&oldest_,
       "SELECT seq, time_s FROM events WHERE room_id = ?1 ORDER BY seq "
       "LIMIT 1"},
      {&nth_newest_,
       "SELECT seq FROM events WHERE room_id = ?1 ORDER BY seq DESC "
       "LIMIT 1 OFFSET ?2"},
      {&keep_from_,
       "SELECT seq FROM events WHERE room_id = ?1 AND time_s >= ?2 "
       "ORDER BY seq LIMIT 1"},
  };
  for (const auto& s : writer_sql) {
    rc = Prepare(wdb_, s.sql, s.stmt);
    if (rc != SQLITE_OK) return OpenError(wdb_, rc, db_path_, dir);
  }

  // The readers' connection.
  {
    absl::MutexLock lock(&read_mu_);
    rc = sqlite3_open_v2(db_path_.c_str(), &rdb_,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return OpenError(rdb_, rc, db_path_, dir);
    sqlite3_extended_result_codes(rdb_, 1);
    sqlite3_busy_timeout(rdb_, 5000);
    rc = Exec(rdb_, "PRAGMA query_only=1");
    if (rc == SQLITE_OK) {
      rc = Prepare(rdb_,
                   "SELECT seq, body FROM events WHERE room_id = ?1 AND "
                   "seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT ?4",
                   &read_all_);
    }
    if (rc == SQLITE_OK) {
      rc = Prepare(rdb_,
                   "SELECT seq, body FROM events WHERE room_id = ?1 AND "
                   "seq > ?2 AND seq <= ?3 AND is_message = 1 "
                   "ORDER BY seq LIMIT ?4",
                   &read_messages_);
    }
    if (rc == SQLITE_OK) {
      rc = Prepare(rdb_,
                   "SELECT seq FROM events WHERE room_id = ?1 AND "
                   "is_message = 1 AND seq >= ?2 AND seq < ?3 "
                   "ORDER BY seq DESC LIMIT 1 OFFSET ?4",
                   &nth_message_);
    }
    if (rc != SQLITE_OK) return OpenError(rdb_, rc, db_path_, dir);
  }

  // Checkpoints run on the syncer's own connection, not in the writer's
  // commits (SQLite's automatic checkpoint would).
  sqlite3_wal_hook(
      wdb_,
      +[](void* self, sqlite3*, const char*, int pages) {
        static_cast<StoreBackend*>(self)->wal_pages_.store(
            pages, std::memory_order_relaxed);
        return SQLITE_OK;
      },
      this);
  rc = sqlite3_open_v2(db_path_.c_str(), &cdb_,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return OpenError(cdb_, rc, db_path_, dir);
  sqlite3_busy_timeout(cdb_, 5000);

  writer_ = std::thread([this] { WriterLoop(); });
  syncer_ = std::thread([this] { SyncerLoop(); });
  return absl::OkStatus();
}

void StoreBackend::SyncerLoop() {
  pthread_setname_np(pthread_self(), "chat-store-sync");
  for (;;) {
    {
      // Idle until a commit asks; then at most one round per kSyncInterval,
      // so that a busy store shares each fdatasync among many commits.
      absl::MutexLock lock(&mu_);
      while (!stop_syncer_ && !syncer_work_) syncer_cv_.Wait(&mu_);
      if (stop_syncer_) return;
      syncer_work_ = false;
    }
    const absl::Time round = absl::Now();
    if (options_.sync == SyncMode::kBatch &&
        dirty_.exchange(false, std::memory_order_acq_rel)) {
      SyncWal();
    }
    if (wal_pages_.load(std::memory_order_relaxed) >= kWalPagesCheckpoint) {
      // PASSIVE: copies what no reader needs, without blocking the writer.
      int log = 0, done = 0;
      sqlite3_wal_checkpoint_v2(cdb_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log,
                                &done);
    }
    absl::MutexLock lock(&mu_);
    syncer_cv_.WaitWithDeadline(&mu_, round + kSyncInterval);
    if (stop_syncer_) return;
  }
}

absl::Status StoreBackend::LoadRooms(bool clean) {
  sqlite3_stmt* stmt = nullptr;
  int rc = Prepare(wdb_,
                   "SELECT r.id, r.name, r.epoch, r.last_seq, r.reserved_seq, "
                   "(SELECT e.seq FROM events e WHERE e.room_id = r.id "
                   " ORDER BY e.seq LIMIT 1), "
                   "(SELECT e.time_s FROM events e WHERE e.room_id = r.id "
                   " ORDER BY e.seq LIMIT 1), "
                   "r.contiguous_from, "
                   "(SELECT max(e.seq) FROM events e WHERE e.room_id = r.id) "
                   "FROM rooms r",
                   &stmt);
  size_t count = 0;
  std::vector<std::pair<int64_t, SeqRange>> new_skips;
  absl::flat_hash_map<int64_t, RoomState*> by_id;
  {
    absl::MutexLock lock(&mu_);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      rc = SQLITE_OK;
      const int64_t id = sqlite3_column_int64(stmt, 0);
      auto room = std::make_shared<RoomState>(
          &budget_, options_.history_events,
          reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)),
          reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)), id);
      // rooms.last_seq is written when a reservation is crossed and at a
      // clean stop, not with every commit: the newest stored event may be
      // newer.
      const uint64_t last =
          std::max<uint64_t>(sqlite3_column_int64(stmt, 3),
                             sqlite3_column_type(stmt, 8) == SQLITE_NULL
                                 ? 0
                                 : sqlite3_column_int64(stmt, 8));
      const uint64_t reserved = sqlite3_column_int64(stmt, 4);
      // After an unclean stop, seqs up to the reservation may have been
      // shown and then lost: continue after it.
      const uint64_t next_after = clean ? last : std::max(last, reserved);
      room->last_seq.store(next_after);
      room->committed_seq.store(next_after);
      room->reserved_seq = reserved;
      room->stored.store(true);
      // Where the seqs have no gap: from the first seq after the last
      // unclean stop on.
      room->contiguous_from.store(
          clean ? static_cast<uint64_t>(sqlite3_column_int64(stmt, 7))
                : next_after + 1);
      if (sqlite3_column_type(stmt, 5) != SQLITE_NULL) {
        room->stored_first.store(sqlite3_column_int64(stmt, 5));
        room->oldest_time_s = sqlite3_column_int64(stmt, 6);
      }
      if (!clean && reserved > last) {
        new_skips.push_back({id, SeqRange{last + 1, reserved}});
      }
      by_id[id] = room.get();
      next_room_id_ = std::max(next_room_id_, id + 1);
      rooms_[room->name] = std::move(room);
      ++count;
    }
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_OK) {
    return OpenError(wdb_, rc, db_path_, options_.dir);
  }
  // The seqs this unclean stop skips are remembered, so that a resume across
  // them can say no event had them; then every room's skips are loaded.
  stmt = nullptr;
  rc = Exec(wdb_, "BEGIN IMMEDIATE");
  if (rc == SQLITE_OK) {
    rc = Prepare(wdb_,
                 "INSERT OR REPLACE INTO skips(room_id, first, last) "
                 "VALUES(?1, ?2, ?3)",
                 &stmt);
  }
  for (size_t i = 0; rc == SQLITE_OK && i < new_skips.size(); ++i) {
    sqlite3_bind_int64(stmt, 1, new_skips[i].first);
    sqlite3_bind_int64(stmt, 2, I64(new_skips[i].second.first));
    sqlite3_bind_int64(stmt, 3, I64(new_skips[i].second.last));
    rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(stmt);
  }
  sqlite3_finalize(stmt);
  stmt = nullptr;
  if (rc == SQLITE_OK) rc = Exec(wdb_, "COMMIT");
  if (rc == SQLITE_OK) {
    rc = Prepare(wdb_,
                 "SELECT room_id, first, last FROM skips "
                 "ORDER BY room_id, first",
                 &stmt);
  }
  while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    rc = SQLITE_OK;
    auto it = by_id.find(sqlite3_column_int64(stmt, 0));
    if (it == by_id.end()) continue;
    it->second->skipped.push_back(
        SeqRange{static_cast<uint64_t>(sqlite3_column_int64(stmt, 1)),
                 static_cast<uint64_t>(sqlite3_column_int64(stmt, 2))});
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_OK) {
    Exec(wdb_, "ROLLBACK");
    return OpenError(wdb_, rc, db_path_, options_.dir);
  }
  if (!clean && count > 0) {
    Log(LogLevel::kWarning,
        "store: was not shut down cleanly; each room continues after its "
        "reserved seqs (clients resuming will be told of the gap)",
        {{"dir", options_.dir}, {"rooms", count}});
  }
  return absl::OkStatus();
}

StoreBackend::~StoreBackend() {
  if (writer_.joinable()) {
    FlushFor(kCloseTimeout);
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      writer_cv_.Signal();
    }
    writer_.join();
    {
      absl::MutexLock lock(&mu_);
      stop_syncer_ = true;
      syncer_cv_.Signal();
    }
    syncer_.join();
    uint64_t lost;
    {
      absl::MutexLock lock(&mu_);
      lost = queued_total_ - done_total_;
    }
    if (lost > 0) {
      Log(LogLevel::kError,
          "store: events could not be written before shutdown and are lost; "
          "the store stays marked unclean",
          {{"dir", options_.dir}, {"lost", lost}});
    } else {
      // Every room's last seq (retention may have deleted every event of
      // a room) with the clean mark, in one transaction.
      std::vector<std::shared_ptr<RoomState>> rooms;
      {
        absl::MutexLock lock(&mu_);
        for (const auto& [name, room] : rooms_) {
          if (room->stored.load()) rooms.push_back(room);
        }
      }
      int rc = Exec(wdb_, "PRAGMA synchronous=FULL");
      if (rc == SQLITE_OK) rc = Exec(wdb_, "BEGIN IMMEDIATE");
      for (size_t i = 0; rc == SQLITE_OK && i < rooms.size(); ++i) {
        const RoomState& room = *rooms[i];
        sqlite3_bind_int64(update_room_, 1, room.id);
        sqlite3_bind_int64(update_room_, 2, I64(room.committed_seq.load()));
        sqlite3_bind_int64(update_room_, 3, I64(room.reserved_seq));
        sqlite3_bind_int64(update_room_, 4, I64(room.contiguous_from.load()));
        rc = Run(update_room_);
      }
      if (rc == SQLITE_OK) {
        rc = Exec(wdb_, "UPDATE meta SET value = '1' WHERE key = 'clean'");
      }
      if (rc == SQLITE_OK) {
        rc = Exec(wdb_, "COMMIT");
      } else if (!sqlite3_get_autocommit(wdb_)) {
        Exec(wdb_, "ROLLBACK");
      }
      if (rc != SQLITE_OK) {
        Log(LogLevel::kError,
            "store: cannot mark the store clean; the next start will skip "
            "past reserved seqs",
            {{"db", db_path_}, {"error", sqlite3_errmsg(wdb_)}});
      }
    }
  }
  for (sqlite3_stmt* stmt :
       {insert_room_, insert_event_, update_room_, delete_before_, oldest_,
        keep_from_, nth_newest_}) {
    sqlite3_finalize(stmt);
  }
  {
    absl::MutexLock lock(&read_mu_);
    for (sqlite3_stmt* stmt : {read_all_, read_messages_, nth_message_}) {
      sqlite3_finalize(stmt);
    }
    if (rdb_ != nullptr) sqlite3_close_v2(rdb_);
  }
  if (cdb_ != nullptr) sqlite3_close_v2(cdb_);
  if (wdb_ != nullptr) sqlite3_close_v2(wdb_);
  if (wal_fd_ >= 0) close(wal_fd_);
  if (lock_fd_ >= 0) close(lock_fd_);  // Releases the flock.
}

// ---------------------------------------------------------------- Backend

absl::StatusOr<std::unique_ptr<RoomLog>> StoreBackend::Open(
    const std::string& room, std::weak_ptr<CommitListener> listener) {
  std::shared_ptr<RoomState> state;
  {
    absl::MutexLock lock(&mu_);
    auto it = rooms_.find(room);
    if (it == rooms_.end()) {
      it = rooms_
               .emplace(room, std::make_shared<RoomState>(
                                  &budget_, options_.history_events, room,
                                  NewEpoch(), next_room_id_++))
               .first;
    }
    state = it->second;
    state->listener = std::move(listener);
    ++state->open_logs;
  }
  return std::unique_ptr<RoomLog>(
      std::make_unique<StoreLog>(this, std::move(state)));
}

void StoreBackend::Closed(const std::shared_ptr<RoomState>& room) {
  // A room opened and closed without an event leaves nothing behind.
  absl::MutexLock lock(&mu_);
  --room->open_logs;
  if (room->open_logs > 0 || room->last_seq.load() != 0 ||
      room->stored.load()) {
    return;
  }
  auto it = rooms_.find(room->name);
  if (it != rooms_.end() && it->second == room) rooms_.erase(it);
}

bool StoreBackend::Holds(const std::string& room) {
  absl::MutexLock lock(&mu_);
  auto it = rooms_.find(room);
  return it != rooms_.end() && it->second->last_seq.load() != 0;
}

void StoreBackend::Flush() { FlushFor(absl::InfiniteDuration()); }

bool StoreBackend::FlushFor(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  const uint64_t target = queued_total_;
  while (done_total_ < target && !writer_exited_) {
    if (done_cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return done_total_ >= target;
}

StoreBackend::Stats StoreBackend::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s;
  s.rooms = rooms_.size();
  s.pending = queued_total_ - done_total_;
  s.commits = commits_;
  s.syncs = syncs_;
  s.failures = failures_;
  s.failing = failing_.load();
  return s;
}

// ---------------------------------------------------------------- Append

absl::StatusOr<EventPtr> StoreBackend::Append(
    const std::shared_ptr<RoomState>& room, v1::ChatResponse response,
    uint64_t origin, bool must) {
  if (!must && failing_.load(std::memory_order_relaxed)) {
    absl::MutexLock lock(&mu_);
    if (!failure_message_.empty()) {
      return absl::UnavailableError(failure_message_);
    }
  }
  const uint64_t seq = room->last_seq.load(std::memory_order_relaxed) + 1;
  response.set_seq(seq);
  SetTimeNow(&response);
  auto event = std::make_shared<const Event>(std::move(response), origin);

  absl::MutexLock lock(&mu_);
  if (!must) {
    if (failing_.load(std::memory_order_relaxed) && !failure_message_.empty()) {
      return absl::UnavailableError(failure_message_);
    }
    const uint64_t pending = queued_total_ - done_total_;
    if (pending >= options_.max_pending) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "message not sent: chat-service's history store in ", options_.dir,
          " is ", pending, " events behind; try again in a moment"));
    }
  }
  if (queue_.empty()) writer_cv_.Signal();
  queue_.push_back(Pending{room, event});
  ++queued_total_;
  room->last_seq.store(seq, std::memory_order_release);
  return event;
}

// ---------------------------------------------------------------- Read

uint64_t StoreBackend::FirstSeq(const RoomState& room) const {
  const uint64_t committed = room.committed_seq.load(std::memory_order_acquire);
  const uint64_t stored = room.stored_first.load(std::memory_order_acquire);
  uint64_t first = stored == 0 ? committed + 1 : stored;
  // Retention by count is exact for reads (the store deletes in steps)
  // where the seqs have no gap.
  const size_t keep = options_.history_events;
  if (keep > 0 && committed >= keep &&
      committed - keep + 1 >= room.contiguous_from.load()) {
    first = std::max(first, committed - keep + 1);
  }
  return first;
}

absl::StatusOr<uint64_t> StoreBackend::Read(RoomState& room,
                                            const LogRead& read,
                                            std::vector<EventPtr>* out) {
  const uint64_t limit = room.committed_seq.load(std::memory_order_acquire);
  const uint64_t until = std::min(read.until, limit);
  LogRead r = read;
  // What retention dropped is skipped (the caller sees the gap).
  r.after = std::max(r.after, FirstSeq(room) - 1);
  if (r.after >= until) return std::max(read.after, until);

  // The cache holds every committed event from its first seq on; eviction
  // only moves that first seq forward, so if it still covers after + 1
  // once the read is done, the read saw everything.
  const uint64_t cached = room.cache.first_seq();
  if (cached != 0 && cached <= r.after + 1) {
    const size_t size = out->size();
    const uint64_t through = room.cache.Read(r, limit, out);
    const uint64_t still = room.cache.first_seq();
    if (still != 0 && still <= r.after + 1) return through;
    out->resize(size);  // Evicted meanwhile: read the store.
  }
  return ReadStore(room, r, until, out);
}

absl::StatusOr<uint64_t> StoreBackend::ReadStore(const RoomState& room,
                                                 const LogRead& read,
                                                 uint64_t until,
                                                 std::vector<EventPtr>* out) {
  const size_t max_events = std::max<size_t>(read.max_events, 1);
  absl::MutexLock lock(&read_mu_);
  sqlite3_stmt* stmt = read.messages_only ? read_messages_ : read_all_;
  ResetOnExit reset(stmt);
  sqlite3_bind_int64(stmt, 1, room.id);
  sqlite3_bind_int64(stmt, 2, I64(read.after));
  sqlite3_bind_int64(stmt, 3, I64(until));
  sqlite3_bind_int64(stmt, 4, I64(max_events));
  uint64_t through = read.after;
  size_t count = 0;
  size_t bytes = 0;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (count > 0 && bytes >= read.max_bytes) return through;
    const uint64_t seq = sqlite3_column_int64(stmt, 0);
    const void* body = sqlite3_column_blob(stmt, 1);
    const int size = sqlite3_column_bytes(stmt, 1);
    v1::ChatResponse response;
    if (!response.ParseFromArray(body, size)) {
      return absl::DataLossError(absl::StrCat(
          db_path_, ": event ", seq, " of room \"", room.name,
          "\" cannot be read: restore a backup, or move the store away"));
    }
    // The origin (a member id of the process that appended it) is not
    // stored: events read back from the store have none.
    auto event = std::make_shared<const Event>(std::move(response), 0);
    bytes += event->cost();
    out->push_back(std::move(event));
    ++count;
    through = seq;
  }
  if (rc != SQLITE_DONE) {
    return absl::UnavailableError(absl::StrCat("cannot read the history in ",
                                               db_path_, " (",
                                               sqlite3_errmsg(rdb_), ")"));
  }
  // Fewer rows than asked for: nothing more is held up to `until`.
  return count < max_events ? until : through;
}

absl::StatusOr<uint64_t> StoreBackend::MessagesStart(RoomState& room,
                                                     uint32_t count,
                                                     uint64_t before) {
  const uint64_t limit = room.committed_seq.load(std::memory_order_acquire);
  before = std::min(before, limit + 1);
  bool complete = false;
  const uint64_t start = room.cache.MessagesStart(count, before, &complete);
  if (complete) return start;
  const uint64_t first = FirstSeq(room);
  if (count == 0 || first >= before) return first - 1;
  absl::MutexLock lock(&read_mu_);
  ResetOnExit reset(nth_message_);
  sqlite3_bind_int64(nth_message_, 1, room.id);
  sqlite3_bind_int64(nth_message_, 2, I64(first));
  sqlite3_bind_int64(nth_message_, 3, I64(before));
  sqlite3_bind_int64(nth_message_, 4, count - 1);
  const int rc = sqlite3_step(nth_message_);
  if (rc == SQLITE_ROW) {
    return static_cast<uint64_t>(sqlite3_column_int64(nth_message_, 0)) - 1;
  }
  if (rc != SQLITE_DONE) {
    return absl::UnavailableError(absl::StrCat("cannot read the history in ",
                                               db_path_, " (",
                                               sqlite3_errmsg(rdb_), ")"));
  }
  return first - 1;  // Fewer than `count`: every message held.
}

// ---------------------------------------------------------------- Writer

std::string StoreBackend::FailureMessage(int rc, int sys_errno) const {
  std::string reason = sys_errno != 0 ? ErrnoText(sys_errno) : "";
  std::string remedy = "check its disk";
  if ((rc & 0xff) == SQLITE_FULL || sys_errno == ENOSPC ||
      sys_errno == EDQUOT) {
    if (reason.empty()) reason = ErrnoText(ENOSPC);
    remedy = "free space";
  } else if ((rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_PERM ||
             sys_errno == EROFS || sys_errno == EACCES || sys_errno == EPERM) {
    if (reason.empty()) reason = "it is read-only";
    remedy = "make it writable";
  } else if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
    reason = "chat.db is corrupt";
    remedy = "restore a backup and restart";
  }
  if (reason.empty()) reason = sqlite3_errstr(rc);
  return absl::StrCat("chat-service cannot write its history to ", options_.dir,
                      " (", reason, "); ", remedy, " and it will resume");
}

bool StoreBackend::SyncWal() {
  const int64_t start = MonotonicNanos();
  const bool ok = fdatasync(wal_fd_) == 0;
  Metrics().store_sync.Observe(MonotonicNanos() - start);
  absl::MutexLock lock(&mu_);
  ++syncs_;
  return ok;
}

int StoreBackend::WriteBatch(const std::deque<Pending>& batch,
                             std::vector<BatchRoom>* rooms, bool* need_sync,
                             int* sys_errno) {
  rooms->clear();
  *need_sync = false;
  *sys_errno = 0;
  absl::flat_hash_map<RoomState*, size_t> index;
  for (const Pending& p : batch) {
    auto [it, inserted] = index.try_emplace(p.room.get(), rooms->size());
    if (inserted) {
      BatchRoom br;
      br.room = p.room;
      br.first = p.event->seq();
      br.first_time = p.event->response().time().seconds();
      rooms->push_back(std::move(br));
    }
    (*rooms)[it->second].last = p.event->seq();
  }

  auto fail = [&](int rc) {
    *sys_errno = sqlite3_system_errno(wdb_);
    if (!sqlite3_get_autocommit(wdb_)) Exec(wdb_, "ROLLBACK");
    return rc;
  };
  int rc = Exec(wdb_, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return fail(rc);
  for (BatchRoom& br : *rooms) {
    const RoomState& room = *br.room;
    if (room.stored.load()) continue;
    sqlite3_bind_int64(insert_room_, 1, room.id);
    sqlite3_bind_text(insert_room_, 2, room.name.data(),
                      static_cast<int>(room.name.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert_room_, 3, room.epoch.data(),
                      static_cast<int>(room.epoch.size()), SQLITE_STATIC);
    rc = Run(insert_room_);
    if (rc != SQLITE_OK) return fail(rc);
  }
  for (const Pending& p : batch) {
    const Event& e = *p.event;
    sqlite3_bind_int64(insert_event_, 1, p.room->id);
    sqlite3_bind_int64(insert_event_, 2, I64(e.seq()));
    sqlite3_bind_int64(insert_event_, 3, e.response().time().seconds());
    sqlite3_bind_int(insert_event_, 4, e.response().has_message() ? 1 : 0);
    sqlite3_bind_blob(insert_event_, 5, e.wire().data(),
                      static_cast<int>(e.wire().size()), SQLITE_STATIC);
    rc = Run(insert_event_);
    if (rc != SQLITE_OK) return fail(rc);
  }
  const uint64_t keep = options_.history_events;
  for (BatchRoom& br : *rooms) {
    const RoomState& room = *br.room;
    br.reserved = room.reserved_seq;
    if (br.last > br.reserved) {
      br.reserved = br.last + kReserveBlock;
      *need_sync = true;
    }
    // The room's row changes only with a new reservation (and at a clean
    // stop): a commit is one page write fewer. A start finds the last seq
    // from the events themselves (LoadRooms).
    if (br.reserved != room.reserved_seq) {
      sqlite3_bind_int64(update_room_, 1, room.id);
      sqlite3_bind_int64(update_room_, 2, I64(br.last));
      sqlite3_bind_int64(update_room_, 3, I64(br.reserved));
      sqlite3_bind_int64(update_room_, 4, I64(room.contiguous_from.load()));
      rc = Run(update_room_);
      if (rc != SQLITE_OK) return fail(rc);
    }
    // Retention by count, in steps of `slack` events rather than one by one.
    if (keep == 0 || br.last < keep) continue;
    const uint64_t stored = room.stored_first.load();
    const uint64_t held = stored == 0 ? br.first : stored;
    const uint64_t slack = std::max<uint64_t>(64, keep / 8);
    uint64_t boundary = br.last - keep + 1;  // Exact when seqs have no gap.
    if (held + slack > boundary) continue;
    if (boundary < room.contiguous_from.load()) {
      // A gap (an unclean stop) may lie in between: count the events.
      ResetOnExit reset(nth_newest_);
      sqlite3_bind_int64(nth_newest_, 1, room.id);
      sqlite3_bind_int64(nth_newest_, 2, I64(keep - 1));
      rc = sqlite3_step(nth_newest_);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(rc);
      boundary = rc == SQLITE_ROW ? sqlite3_column_int64(nth_newest_, 0) : 0;
      if (held + slack > boundary) continue;
    }
    sqlite3_bind_int64(delete_before_, 1, room.id);
    sqlite3_bind_int64(delete_before_, 2, I64(boundary));
    rc = Run(delete_before_);
    if (rc != SQLITE_OK) return fail(rc);
    sqlite3_bind_int64(oldest_, 1, room.id);
    {
      ResetOnExit reset(oldest_);
      rc = sqlite3_step(oldest_);
      if (rc == SQLITE_ROW) {
        br.trimmed = true;
        br.new_first = sqlite3_column_int64(oldest_, 0);
        br.new_first_time = sqlite3_column_int64(oldest_, 1);
      } else if (rc != SQLITE_DONE) {
        return fail(rc);
      }
    }
  }
  if (options_.fault_for_test) {
    rc = options_.fault_for_test();
    if (rc != SQLITE_OK) {
      if (!sqlite3_get_autocommit(wdb_)) Exec(wdb_, "ROLLBACK");
      return rc;
    }
  }
  rc = Exec(wdb_, "COMMIT");
  if (rc != SQLITE_OK) return fail(rc);
  return SQLITE_OK;
}

void StoreBackend::ApplyAge() {
  const int64_t cutoff =
      absl::ToUnixSeconds(absl::Now() - options_.history_age);
  std::vector<std::shared_ptr<RoomState>> old;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, room] : rooms_) {
      if (room->stored_first.load() != 0 && room->oldest_time_s < cutoff) {
        old.push_back(room);
      }
    }
  }
  if (old.empty()) return;
  struct Trim {
    uint64_t first = 0;
    int64_t time = 0;
  };
  std::vector<Trim> trims(old.size());
  int rc = Exec(wdb_, "BEGIN IMMEDIATE");
  for (size_t i = 0; i < old.size() && rc == SQLITE_OK; ++i) {
    const RoomState& room = *old[i];
    int64_t keep_from = std::numeric_limits<int64_t>::max();
    {
      ResetOnExit reset(keep_from_);
      sqlite3_bind_int64(keep_from_, 1, room.id);
      sqlite3_bind_int64(keep_from_, 2, cutoff);
      rc = sqlite3_step(keep_from_);
      if (rc == SQLITE_ROW) keep_from = sqlite3_column_int64(keep_from_, 0);
      rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK) break;
    sqlite3_bind_int64(delete_before_, 1, room.id);
    sqlite3_bind_int64(delete_before_, 2, keep_from);
    rc = Run(delete_before_);
    if (rc != SQLITE_OK) break;
    ResetOnExit reset(oldest_);
    sqlite3_bind_int64(oldest_, 1, room.id);
    rc = sqlite3_step(oldest_);
    if (rc == SQLITE_ROW) {
      trims[i].first = sqlite3_column_int64(oldest_, 0);
      trims[i].time = sqlite3_column_int64(oldest_, 1);
    }
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
  }
  if (rc == SQLITE_OK) rc = Exec(wdb_, "COMMIT");
  if (rc != SQLITE_OK) {
    if (!sqlite3_get_autocommit(wdb_)) Exec(wdb_, "ROLLBACK");
    return;  // The next write reports the trouble; this retries in a second.
  }
  for (size_t i = 0; i < old.size(); ++i) {
    RoomState& room = *old[i];
    room.stored_first.store(trims[i].first, std::memory_order_release);
    room.oldest_time_s = trims[i].time;
    room.cache.DropBefore(trims[i].first != 0 ? trims[i].first
                                              : room.committed_seq.load() + 1);
  }
}

void StoreBackend::WriterLoop() {
  pthread_setname_np(pthread_self(), "chat-store");
  std::deque<Pending> batch;  // Taken from queue_; kept across failures.
  std::vector<BatchRoom> rooms;
  std::vector<std::pair<std::shared_ptr<CommitListener>, uint64_t>> tell;
  absl::Duration backoff = absl::ZeroDuration();
  absl::Time retry_at = absl::InfinitePast();
  const bool by_age = options_.history_age > absl::ZeroDuration();
  absl::Time next_age = by_age ? absl::Now() : absl::InfiniteFuture();
  absl::Time failing_since = absl::InfiniteFuture();

  for (;;) {
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        const absl::Time now = absl::Now();
        if (stop_ || now >= next_age) break;
        const bool work = !queue_.empty() || !batch.empty();
        if (work && now >= retry_at) break;
        absl::Time wake = next_age;
        if (work) wake = std::min(wake, retry_at);
        writer_cv_.WaitWithDeadline(&mu_, wake);
      }
      stop = stop_;
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }

    if (!batch.empty() && (stop || absl::Now() >= retry_at)) {
      bool need_sync = false;
      int sys_errno = 0;
      const int64_t write_start = MonotonicNanos();
      const int rc = WriteBatch(batch, &rooms, &need_sync, &sys_errno);
      if (rc == SQLITE_OK) {
        Metrics().store_write.Observe(MonotonicNanos() - write_start);
        // For the syncer: a commit to fdatasync, a WAL to checkpoint.
        bool wake_syncer =
            wal_pages_.load(std::memory_order_relaxed) >= kWalPagesCheckpoint;
        // A new reservation is durable before any seq under it is shown.
        if (options_.sync != SyncMode::kEvery && need_sync) {
          dirty_.store(false, std::memory_order_relaxed);
          SyncWal();
        } else if (options_.sync == SyncMode::kBatch) {
          wake_syncer |= !dirty_.exchange(true, std::memory_order_acq_rel);
        }
        if (wal_pages_.load(std::memory_order_relaxed) >= kWalPagesMax) {
          int log = 0, done = 0;
          sqlite3_wal_checkpoint_v2(wdb_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                    &log, &done);
        }
        for (BatchRoom& br : rooms) {
          RoomState& room = *br.room;
          room.reserved_seq = br.reserved;
          room.stored.store(true);
          if (br.trimmed) {
            room.stored_first.store(br.new_first, std::memory_order_release);
            room.oldest_time_s = br.new_first_time;
          } else if (room.stored_first.load() == 0) {
            room.stored_first.store(br.first, std::memory_order_release);
            room.oldest_time_s = br.first_time;
          }
        }
        for (const Pending& p : batch) p.room->cache.Add(p.event);
        for (BatchRoom& br : rooms) {
          br.room->committed_seq.store(br.last, std::memory_order_release);
          if (br.trimmed) br.room->cache.DropBefore(br.new_first);
        }
        {
          absl::MutexLock lock(&mu_);
          for (BatchRoom& br : rooms) {
            tell.emplace_back(br.room->listener.lock(), br.last);
          }
        }
        for (auto& [listener, through] : tell) {
          if (listener != nullptr) listener->Committed(through);
        }
        tell.clear();
        const size_t written = batch.size();
        batch.clear();
        rooms.clear();
        backoff = absl::ZeroDuration();
        retry_at = absl::InfinitePast();
        {
          absl::MutexLock lock(&mu_);
          done_total_ += written;
          ++commits_;
          if (wake_syncer) {
            syncer_work_ = true;
            syncer_cv_.Signal();
          }
          failing_.store(false);
          failure_message_.clear();
          done_cv_.SignalAll();
        }
        if (failing_since != absl::InfiniteFuture()) {
          Log(LogLevel::kInfo, "store: writing again; nothing was lost",
              {{"dir", options_.dir},
               {"failed_for",
                absl::FormatDuration(absl::Now() - failing_since)}});
          failing_since = absl::InfiniteFuture();
        }
      } else {
        rooms.clear();
        const std::string message = FailureMessage(rc, sys_errno);
        size_t waiting;
        {
          absl::MutexLock lock(&mu_);
          ++failures_;
          failing_.store(true);
          failure_message_ = absl::StrCat("message not sent: ", message);
          waiting = batch.size() + queue_.size();
          if (failing_since == absl::InfiniteFuture()) {
            // Who waits: their members hear why.
            absl::flat_hash_set<RoomState*> seen;
            for (const Pending& p : batch) {
              if (seen.insert(p.room.get()).second) {
                tell.emplace_back(p.room->listener.lock(), 0);
              }
            }
          }
        }
        for (auto& [listener, unused] : tell) {
          if (listener != nullptr)
            listener->Stalled(absl::UnavailableError(message));
        }
        tell.clear();
        backoff =
            std::min(backoff == absl::ZeroDuration() ? absl::Milliseconds(10)
                                                     : backoff * 2,
                     kMaxBackoff);
        retry_at = absl::Now() + backoff;
        if (failing_since == absl::InfiniteFuture()) {
          failing_since = absl::Now();
          Log(LogLevel::kError,
              "store: cannot write; events wait and are retried, new "
              "messages are refused until then",
              {{"db", db_path_},
               {"error",
                absl::StrCat(sqlite3_errstr(rc),
                             sys_errno != 0
                                 ? absl::StrCat(": ", ErrnoText(sys_errno))
                                 : "")},
               {"waiting", waiting}});
        }
        if (stop) break;  // Shutting down: give up (the store stays unclean).
      }
    }

    const absl::Time now = absl::Now();
    if (now >= next_age) {
      ApplyAge();
      next_age = now + kAgeInterval;
    }
    if (stop && batch.empty()) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) break;
    }
  }
  if (dirty_.exchange(false)) SyncWal();
  absl::MutexLock lock(&mu_);
  writer_exited_ = true;
  done_cv_.SignalAll();
}

}  // namespace chat

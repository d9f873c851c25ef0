// The embedded store behind --data_dir: every room's seq, epoch and history
// in one SQLite database, DIR/chat.db, so that they survive a restart.
//
// StoreBackend is a LogBackend (service/room_log.h) whose logs are
// asynchronous: Append gives the event its seq and time, puts it on a queue
// and returns at once; one writer thread ("chat-store") takes everything
// queued, writes it in one transaction (group commit), and only then adds the
// events to the room's history in memory, advances the room's committed seq
// and calls its CommitListener. A failed write rolls back, keeps the events
// queued and retries with backoff; meanwhile Append refuses (UNAVAILABLE)
// everything but `must` events, with a sentence that says what to do, and
// the rooms whose events wait hear it once (CommitListener::Stalled).
//
// Durability (--sync): kEvery fsyncs each commit before anyone is told;
// kBatch writes each commit at once (a killed process loses nothing
// committed) and a second thread ("chat-store-sync") fdatasyncs the WAL
// within 10 ms; kNone leaves fsync to SQLite's checkpoints, which that
// thread also runs, on its own connection, so that no commit waits for one.
// Whatever the mode, a seq is never reused: seqs are reserved in blocks of
// kReserveBlock, and a commit that goes past a room's reservation is fsynced
// with the new one; after an unclean stop every room continues after its
// reservation, and the run of seqs skipped is kept (table skips;
// RoomLog::Skipped), so a resuming client is told no event had them.
//
// Retention: each room keeps its last `history_events` events and, when
// `history_age` is set, none older than that (checked about once a second).
// The writer deletes in steps of max(64, history_events / 8) events; reads
// still stop at exactly history_events, except in the first history_events
// events after an unclean stop (a gap of seqs), when up to one step more may
// show.
// History in memory (one HistoryCache per room) is bounded by
// `history_memory` in total; what is evicted is read back from the store.
// Events read back from the store have origin 0: member ids are not stored
// (they mean nothing to another process).
//
// Files in DIR: chat.db (+ chat.db-wal, chat.db-shm while open) and LOCK,
// flock()ed for the backend's life so that two chat-services never share a
// store. An online backup: `sqlite3 DIR/chat.db ".backup FILE"`.
//
// Schema: rooms(id, name UNIQUE, epoch, last_seq, reserved_seq,
// contiguous_from = the first seq after the last gap), written with each new
// reservation and at a clean stop (a start takes the newest of last_seq and
// the room's newest event); skips(room_id, first, last);
// events(room_id, seq, time_s, is_message, body = ChatResponse wire bytes)
// WITHOUT ROWID keyed by (room_id, seq); meta(key, value) with "schema" and
// "clean" (set on a clean shutdown).
//
// What main.cc calls:
//
//   chat::StoreOptions options;
//   options.dir = absl::GetFlag(FLAGS_data_dir);
//   absl::StatusOr<chat::SyncMode> sync =
//       chat::ParseSyncMode(absl::GetFlag(FLAGS_sync));  // "every|batch|none"
//   if (!sync.ok()) { /* print sync.status().message(), exit 2 */ }
//   options.sync = *sync;
//   options.history_events = absl::GetFlag(FLAGS_history_events);
//   options.history_age = absl::GetFlag(FLAGS_history_age);  // absl::Duration
//   options.history_memory = absl::GetFlag(FLAGS_history_memory);
//   absl::StatusOr<std::unique_ptr<chat::StoreBackend>> store =
//       chat::StoreBackend::Open(options);
//   if (!store.ok()) { /* print store.status().message(), exit 1 */ }
//   // Hand *store to the Hub as its LogBackend. At shutdown: stop the
//   // transports and the hub (no more appends), then destroy the backend:
//   // it flushes (at most 10 s), marks the store clean and closes it.
//
// Thread-safety: every method may be called from any thread. Append (through
// a RoomLog) takes only mu_ briefly and never does I/O; Read and
// MessagesStart may read the store (with no backend lock but read_mu_ held).
// Lock order: a room's lock (the caller's), mu_; read_mu_ is a leaf; the
// HistoryBudget/HistoryCache locks are taken with none of ours held.
// The backend must outlive every RoomLog it opened.
#ifndef CHATROOM_STORE_SQLITE_LOG_H_
#define CHATROOM_STORE_SQLITE_LOG_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/history_cache.h"
#include "service/room_log.h"

struct sqlite3;
struct sqlite3_stmt;

namespace chat {

enum class SyncMode { kEvery, kBatch, kNone };

// "every", "batch" or "none"; INVALID_ARGUMENT with the choices otherwise.
absl::StatusOr<SyncMode> ParseSyncMode(absl::string_view text);
std::string SyncModeName(SyncMode mode);

struct StoreOptions {
  std::string dir;  // Created if missing.
  SyncMode sync = SyncMode::kBatch;
  size_t history_events = 1000;  // Kept per room; 0 keeps every event.
  absl::Duration history_age = absl::ZeroDuration();  // 0: by count only.
  size_t history_memory = 256 << 20;  // Bytes of history cached in memory.
  size_t max_pending = 65536;         // Events waiting for the writer.
  // For tests: called by the writer just before each commit; a result other
  // than SQLITE_OK (0) fails that commit as if SQLite had returned it (the
  // transaction rolls back). Errno-like detail: return SQLITE_FULL for a
  // full disk, SQLITE_READONLY, SQLITE_IOERR, ...
  std::function<int()> fault_for_test;
};

class StoreBackend final : public LogBackend {
 public:
  // Seqs reserved (and fsynced) ahead of the committed ones, per room.
  static constexpr uint64_t kReserveBlock = 1000;

  // Open
  //
  // Opens (creating if needed) the store in options.dir, locks it, and loads
  // every room's state (not its history). Errors name the directory and what
  // to do: FAILED_PRECONDITION when another chat-service holds it, DATA_LOSS
  // when chat.db is corrupt or not a store, UNAVAILABLE for I/O errors.
  static absl::StatusOr<std::unique_ptr<StoreBackend>> Open(
      const StoreOptions& options);

  // Flushes (at most 10 s), marks the store clean, and closes it.
  ~StoreBackend() override;

  StoreBackend(const StoreBackend&) = delete;
  StoreBackend& operator=(const StoreBackend&) = delete;

  // LogBackend. Open does no I/O.
  absl::StatusOr<std::unique_ptr<RoomLog>> Open(
      const std::string& room, std::weak_ptr<CommitListener> listener) override;
  bool Holds(const std::string& room) override;
  void Flush() override;

  // FlushFor
  //
  // As Flush, but gives up after `timeout`; true when everything appended
  // before the call is committed.
  bool FlushFor(absl::Duration timeout) override;

  // Counts, for logs and tests.
  struct Stats {
    size_t rooms = 0;
    uint64_t pending = 0;   // Appended, not yet committed.
    uint64_t commits = 0;   // Transactions committed.
    uint64_t syncs = 0;     // fsyncs of our own (WAL) besides SQLite's.
    uint64_t failures = 0;  // Failed transactions.
    bool failing = false;   // Appends are refused now.
  };
  Stats stats() const;
  const HistoryBudget& budget() const { return budget_; }
  const std::string& dir() const { return options_.dir; }

 private:
  struct RoomState;
  class StoreLog;
  struct Pending {
    std::shared_ptr<RoomState> room;
    EventPtr event;
  };
  struct BatchRoom;

  explicit StoreBackend(const StoreOptions& options);

  absl::Status Start();
  absl::Status LoadRooms(bool clean);

  absl::StatusOr<EventPtr> Append(const std::shared_ptr<RoomState>& room,
                                  v1::ChatResponse response, uint64_t origin,
                                  bool must);
  uint64_t FirstSeq(const RoomState& room) const;
  absl::StatusOr<uint64_t> Read(RoomState& room, const LogRead& read,
                                std::vector<EventPtr>* out);
  absl::StatusOr<uint64_t> ReadStore(const RoomState& room, const LogRead& read,
                                     uint64_t until,
                                     std::vector<EventPtr>* out);
  absl::StatusOr<uint64_t> MessagesStart(RoomState& room, uint32_t count,
                                         uint64_t before);
  void Closed(const std::shared_ptr<RoomState>& room);

  // The writer thread.
  void WriterLoop();
  // Writes `batch` in one transaction; returns an SQLite result code.
  int WriteBatch(const std::deque<Pending>& batch,
                 std::vector<BatchRoom>* rooms, bool* need_sync,
                 int* sys_errno);
  void ApplyAge();
  bool SyncWal();
  // The syncer thread: the WAL's fdatasync every 10 ms with --sync=batch,
  // and checkpoints, so that neither stalls the writer's commits.
  void SyncerLoop();
  std::string FailureMessage(int rc, int sys_errno) const;

  // Constant after Start.
  const StoreOptions options_;
  const std::string db_path_;
  int lock_fd_ = -1;
  int wal_fd_ = -1;
  HistoryBudget budget_;
  // The writer's connection and statements: writer thread only (and Start,
  // the destructor, before and after it runs).
  sqlite3* wdb_ = nullptr;
  sqlite3_stmt* insert_room_ = nullptr;
  sqlite3_stmt* insert_event_ = nullptr;
  sqlite3_stmt* update_room_ = nullptr;
  sqlite3_stmt* delete_before_ = nullptr;
  sqlite3_stmt* oldest_ = nullptr;
  sqlite3_stmt* keep_from_ = nullptr;
  sqlite3_stmt* nth_newest_ = nullptr;
  std::thread writer_;
  // The syncer's connection (checkpoints): syncer thread only.
  sqlite3* cdb_ = nullptr;
  std::thread syncer_;
  // Set by the writer after a commit not yet fdatasynced (batch).
  std::atomic<bool> dirty_{false};
  // Pages in the WAL after the writer's last commit (sqlite3_wal_hook).
  std::atomic<int> wal_pages_{0};

  // The reader connection and its statements.
  absl::Mutex read_mu_;
  sqlite3* rdb_ ABSL_GUARDED_BY(read_mu_) = nullptr;
  sqlite3_stmt* read_all_ ABSL_GUARDED_BY(read_mu_) = nullptr;
  sqlite3_stmt* read_messages_ ABSL_GUARDED_BY(read_mu_) = nullptr;
  sqlite3_stmt* nth_message_ ABSL_GUARDED_BY(read_mu_) = nullptr;

  std::atomic<bool> failing_{false};

  mutable absl::Mutex mu_;
  absl::CondVar writer_cv_;  // Work for the writer, or stop.
  absl::CondVar done_cv_;    // done_total_ advanced.
  absl::CondVar syncer_cv_;  // Stop, for the syncer.
  bool stop_syncer_ ABSL_GUARDED_BY(mu_) = false;
  bool syncer_work_ ABSL_GUARDED_BY(mu_) = false;  // A sync or checkpoint due.
  absl::flat_hash_map<std::string, std::shared_ptr<RoomState>> rooms_
      ABSL_GUARDED_BY(mu_);
  int64_t next_room_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_total_ ABSL_GUARDED_BY(mu_) = 0;  // Ever appended.
  uint64_t done_total_ ABSL_GUARDED_BY(mu_) = 0;    // Ever committed + told.
  std::string failure_message_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_exited_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace chat

#endif  // CHATROOM_STORE_SQLITE_LOG_H_

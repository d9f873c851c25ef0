// History in memory: each room's recent committed events (HistoryCache), and
// one budget for all of them (HistoryBudget, --history_memory), so that
// history is bounded in total and not only per room.
//
// When the rooms together hold more than the budget, the history of the
// least recently active rooms goes first (their oldest events first), until
// they hold at most 90% of it. For a log in memory that history is gone (a
// resume or a GetHistory then finds the gap); a stored log reads it back from
// its store.
//
// Thread-safe. Lock order: HistoryBudget::mu_, then HistoryCache::mu_. A
// cache never calls its budget while holding its own lock.
#ifndef CHATROOM_SERVICE_HISTORY_CACHE_H_
#define CHATROOM_SERVICE_HISTORY_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "service/event.h"
#include "service/room_log.h"

namespace chat {

class HistoryCache;

class HistoryBudget {
 public:
  // `max_bytes` 0 means no limit.
  explicit HistoryBudget(size_t max_bytes) : max_bytes_(max_bytes) {}

  HistoryBudget(const HistoryBudget&) = delete;
  HistoryBudget& operator=(const HistoryBudget&) = delete;

  // Bytes (Event::cost) held by every cache now.
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  size_t max_bytes() const { return max_bytes_; }

 private:
  friend class HistoryCache;

  void Register(HistoryCache* cache);
  void Unregister(HistoryCache* cache);
  // A cache grew by `bytes` (it holds no lock): evicts when over budget.
  void Grew(size_t bytes);
  void Shrank(size_t bytes) { used_.fetch_sub(bytes); }

  const size_t max_bytes_;
  std::atomic<size_t> used_{0};
  absl::Mutex mu_;
  absl::flat_hash_set<HistoryCache*> caches_ ABSL_GUARDED_BY(mu_);
  uint64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
};

// HistoryCache: one room's committed events in memory, at most `max_events`
// of them, oldest first, seqs increasing (gaps allowed).
class HistoryCache {
 public:
  // `budget` may be null (no total limit); it must outlive the cache.
  HistoryCache(HistoryBudget* budget, size_t max_events);
  ~HistoryCache();

  HistoryCache(const HistoryCache&) = delete;
  HistoryCache& operator=(const HistoryCache&) = delete;

  // Add
  //
  // Appends a committed event; its seq must exceed every seq held. Drops
  // the oldest events past max_events, then charges the budget.
  void Add(EventPtr event);

  // Read
  //
  // As RoomLog::Read over what the cache holds, with `limit` as the highest
  // seq to read (the log's committed seq): appends events and returns
  // `through`.
  uint64_t Read(const LogRead& read, uint64_t limit,
                std::vector<EventPtr>* out) const;

  // MessagesStart
  //
  // As RoomLog::MessagesStart over what the cache holds. Sets *complete to
  // false when the cache ran out of events before finding `count` messages
  // (older ones may be in a store).
  uint64_t MessagesStart(uint32_t count, uint64_t before, bool* complete) const;

  // The oldest and newest seq held; 0 when empty.
  uint64_t first_seq() const;
  uint64_t last_seq() const;
  size_t bytes() const;
  size_t size() const;

  // Drops every event with seq < `seq` (retention).
  void DropBefore(uint64_t seq);

 private:
  friend class HistoryBudget;

  // Drops the oldest events until at least `bytes` are freed or the cache is
  // empty; returns the bytes freed. Does not call the budget.
  size_t EvictOldest(size_t bytes);
  // Moves the oldest event to *dropped (to be freed after the lock is
  // released) and returns its cost. The cache must not be empty.
  size_t PopOldestLocked(std::vector<EventPtr>* dropped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t last_active() const {
    return last_active_.load(std::memory_order_relaxed);
  }

  HistoryBudget* const budget_;
  const size_t max_events_;
  std::atomic<int64_t> last_active_;

  mutable absl::Mutex mu_;
  std::deque<EventPtr> events_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_HISTORY_CACHE_H_

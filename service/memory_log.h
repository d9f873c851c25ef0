// The room log in memory: what chat-service keeps without --data_dir.
//
// Each room's recent events live in a HistoryCache (--history_events per
// room, --history_memory across all rooms); nothing survives the process.
// The log is synchronous: an event is committed as it is appended. Every log
// opened gets a new epoch, so a client resuming against a room that was
// forgotten (an empty room evicted past --max_rooms) or a server that
// restarted is told its seqs name another history.
//
// Thread-safe.
#ifndef CHATROOM_SERVICE_MEMORY_LOG_H_
#define CHATROOM_SERVICE_MEMORY_LOG_H_

#include <cstddef>
#include <memory>
#include <string>

#include "service/history_cache.h"
#include "service/room_log.h"

namespace chat {

// A new random epoch: 16 hex digits from a random source, so epochs from
// different processes or rooms do not repeat.
std::string NewEpoch();

class MemoryLogBackend final : public LogBackend {
 public:
  // `history_events` per room; `history_memory` bytes across all rooms (0:
  // no total limit).
  MemoryLogBackend(size_t history_events, size_t history_memory);

  absl::StatusOr<std::unique_ptr<RoomLog>> Open(
      const std::string& room, std::weak_ptr<CommitListener> listener) override;
  bool Holds(const std::string&) override { return false; }
  void Flush() override {}

  const HistoryBudget& budget() const { return budget_; }

 private:
  const size_t history_events_;
  HistoryBudget budget_;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_MEMORY_LOG_H_

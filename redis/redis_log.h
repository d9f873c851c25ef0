// The room log in Redis (--redis): several chat-service nodes share rooms.
//
// A shared log (service/room_log.h): each room lives on one Redis server, the
// "shard" picked by a stable hash of its name (several --redis addresses
// spread the rooms, as Centrifugo does), where one Lua script
// (redis/room_script.lua) checks and orders everything a node submits in one
// atomic step:
//   chat:{ROOM}:log    a Stream of the room's events, entry id SEQ-0, at
//                      most --history_events of them (MAXLEN ~)
//   chat:{ROOM}:meta   a hash: the epoch, the last seq
//   chat:{ROOM}:names  a hash: name key -> the member holding it (its node,
//                      its id there, transport, owner, join seq, resume
//                      secret, name), for every node
//   chat:{ROOM}:ids, :idtimes   the client ids of recent messages
//   chat:node:NODE     the node's lease (a key that expires unless renewed)
//   chat:nodes, chat:node:NODE:rooms   which nodes there are, and in which
//                      rooms each has members, to take out a lost node's.
//
// Every node reads every room it holds back with one XREAD BLOCK per shard
// (one read per batch of events, not per member) and hands the events to
// its rooms in seq order. A post costs one round trip (the script), whose
// reply only says whether it was refused: the event itself arrives with the
// others', through the read.
//
// Threads: one thread ("chat-redis") runs every Redis connection, the reads,
// and the calls to the rooms (SharedListener). Submit is called from the
// transports' threads: it queues the op and wakes that thread, never
// waiting on the network.
//
// Failures:
//   - A node that stops cleanly takes its members out at once (each
//     member_left "server shutting down", for everyone, FlushFor).
//   - A node that dies stops renewing its lease (renewed every 2 s, for
//     8 s); every node checks the leases every 2 s, and the first to see
//     one expired takes that node's members out ("node lost"): within 12 s.
//   - A shard unreachable: the node's rooms on it refuse posts, joins and
//     renames ("chat is paused: storage unreachable, retrying") while it
//     reconnects; leaves wait. What was sent and not answered when the
//     connection broke is settled after reconnecting: an op whose event
//     shows up in the log was done, one that does not by then was not (the
//     member is told). Nothing acknowledged is lost or reordered.
//   - A shard that lost a room (restarted without persistence, flushed):
//     the room's epoch changes (SharedListener::Lost).
//
// Thread-safe.
#ifndef CHATROOM_REDIS_REDIS_LOG_H_
#define CHATROOM_REDIS_REDIS_LOG_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "redis/redis_connection.h"
#include "service/room_log.h"

namespace chat::redis {

struct LogOptions {
  std::vector<Address> shards;   // At least one; every node lists the same.
  size_t history_events = 1000;  // Per room, in Redis and in memory here.
  // Client ids (HubOptions): remembered for this long, at most this many a
  // room; a zero window or count turns them off.
  absl::Duration client_id_window = absl::Minutes(10);
  size_t client_ids_per_room = 16384;
  // How long a node's lease lasts, and how often it is renewed and the
  // others' are checked.
  absl::Duration lease = absl::Seconds(8);
  absl::Duration lease_renewal = absl::Seconds(2);
  // Told, on the Redis thread, each time a shard's command connection goes
  // up or down (for tests; may be empty).
  std::function<void(size_t shard, bool up)> on_shard_state;
};

// The text of a refusal while a shard cannot be reached.
inline constexpr char kPausedMessage[] =
    "chat is paused: storage unreachable, retrying";

class RedisLogBackend final : public LogBackend {
 public:
  // Start
  //
  // Connects to every shard and returns once each has answered, logging
  // while one cannot be reached (and retrying, without end). A shard that
  // is not a Redis server, or a host that does not resolve: the error.
  static absl::StatusOr<std::unique_ptr<RedisLogBackend>> Start(
      LogOptions options);

  ~RedisLogBackend() override;

  absl::StatusOr<std::unique_ptr<RoomLog>> Open(
      const std::string& room, std::weak_ptr<CommitListener> listener) override;
  bool Holds(const std::string&) override { return true; }
  bool shared() const override { return true; }
  void Flush() override { FlushFor(absl::Seconds(5)); }
  // Sends what is queued, then takes this node's members out of every room
  // (a clean stop: the other nodes see them leave at once).
  bool FlushFor(absl::Duration timeout) override;

  // This node's id in Redis (random, new for each process).
  const std::string& node_id() const;

  class Core;

 private:
  explicit RedisLogBackend(std::shared_ptr<Core> core);

  std::shared_ptr<Core> core_;
};

// The shard of `room` among `shards` servers: a stable hash of its name
// (FNV-1a), the same on every node.
size_t ShardOf(const std::string& room, size_t shards);

}  // namespace chat::redis

#endif  // CHATROOM_REDIS_REDIS_LOG_H_

// chat-service's --redis flag: the rooms' logs in Redis, shared with other
// nodes (redis/redis_log.h).
#ifndef CHATROOM_REDIS_REDIS_FLAGS_H_
#define CHATROOM_REDIS_REDIS_FLAGS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "service/room.h"
#include "service/room_log.h"

namespace chat {

// True when --redis is given.
bool RedisFlagSet();

// The logs in Redis as --redis says (and the history and client-id limits
// in `hub`), connected: returns once every Redis answered (logging while
// one does not). INVALID_ARGUMENT for a bad --redis, or with --data_dir too;
// the error for a server that is not Redis.
absl::StatusOr<std::unique_ptr<LogBackend>> MakeRedisLogsFromFlags(
    const HubOptions& hub);

}  // namespace chat

#endif  // CHATROOM_REDIS_REDIS_FLAGS_H_

#include "redis/redis_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "redis/redis_connection.h"
#include "redis/redis_log.h"

ABSL_FLAG(std::string, redis, "",
          "HOST:PORT[,HOST:PORT...]: share rooms with other chat-service "
          "nodes through these Redis servers (every node lists the same, in "
          "the same order; rooms are spread over them by name). History, "
          "seqs and names then live in Redis, and --data_dir is not used. "
          "Empty: this node alone.");

ABSL_FLAG(absl::Duration, redis_lease, absl::Seconds(8),
          "With --redis: how long this node's lease in Redis lasts (it is "
          "renewed every quarter of it). A node that stops renewing it "
          "(killed, cut off) has its members shown as left, \"node lost\", "
          "by the others within about 1.5 times this; a node cut off from "
          "Redis for longer loses its members' places.");

namespace chat {

bool RedisFlagSet() { return !absl::GetFlag(FLAGS_redis).empty(); }

absl::StatusOr<std::unique_ptr<LogBackend>> MakeRedisLogsFromFlags(
    const HubOptions& hub) {
  absl::StatusOr<std::vector<redis::Address>> shards =
      redis::ParseAddresses(absl::GetFlag(FLAGS_redis));
  if (!shards.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--redis: ", shards.status().message()));
  }
  redis::LogOptions options;
  options.shards = *std::move(shards);
  options.history_events = hub.history_events;
  options.client_id_window = hub.client_id_window;
  options.client_ids_per_room = hub.client_ids_per_room;
  const absl::Duration lease = absl::GetFlag(FLAGS_redis_lease);
  if (lease < absl::Milliseconds(400)) {
    return absl::InvalidArgumentError(
        "--redis_lease: at least 400ms (it is renewed every quarter of it)");
  }
  options.lease = lease;
  options.lease_renewal = lease / 4;
  absl::StatusOr<std::unique_ptr<redis::RedisLogBackend>> logs =
      redis::RedisLogBackend::Start(std::move(options));
  if (!logs.ok()) return logs.status();
  return std::unique_ptr<LogBackend>(*std::move(logs));
}

}  // namespace chat

#include "service/grpc_flags.h"

#include <cstdint>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "net/net_flags.h"
#include "net/tls_flags.h"
#include "service/grpc_keepalive.h"
#include "service/grpc_listener.h"

ABSL_FLAG(std::string, grpc_addr, "127.0.0.1:50051",
          "Address for the gRPC ChatRoom service (port 0 picks a free port).");
ABSL_FLAG(size_t, grpc_max_connections, 10000,
          "Most gRPC connections; over it, a new one has its first call "
          "fail with RESOURCE_EXHAUSTED and a sentence that says the server "
          "is full, and is closed. Like --max_connections and "
          "--http_max_connections, it is cut down at start (with a log line) "
          "when the caps of the ports that are on add up to more than the "
          "file descriptor limit less 64.");
ABSL_FLAG(uint32_t, max_streams_per_connection, 100,
          "Most concurrent gRPC streams (calls) on one connection "
          "(HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); clients queue the "
          "rest.");
ABSL_FLAG(absl::Duration, join_timeout, absl::Seconds(10),
          "A gRPC Chat stream that sends no join within this long is ended "
          "with DEADLINE_EXCEEDED (e.g. 10s, 500ms; inf: never).");
ABSL_FLAG(absl::Duration, grpc_min_ping_interval,
          absl::Milliseconds(chat::kMinClientPingIntervalMs),
          "The shortest interval between a gRPC client's keepalive pings the "
          "server accepts (chatctl pings every 60s); a client that pings "
          "more often gets GOAWAY (too_many_pings) after two. Lower it so "
          "that clients (tests) may notice a dead connection sooner, e.g. "
          "1s; 0 accepts pings at any rate.");

ABSL_FLAG(absl::Duration, grpc_keepalive,
          absl::Milliseconds(chat::kServerKeepaliveTimeMs),
          "Ping a gRPC connection after this long without traffic, and close "
          "it when the answer takes longer than this or 20s, whichever is "
          "shorter: how soon a client that died, or was stopped, loses its "
          "name (at least 1s; tests use 1s).");

namespace chat {

std::unique_ptr<Listener> MakeGrpcListenerFromFlags(Hub* hub) {
  GrpcListenerOptions options;
  options.address = absl::GetFlag(FLAGS_grpc_addr);
  options.max_connections = absl::GetFlag(FLAGS_grpc_max_connections);
  options.max_connections_per_ip = absl::GetFlag(FLAGS_max_connections_per_ip);
  options.max_streams_per_connection =
      absl::GetFlag(FLAGS_max_streams_per_connection);
  options.join_timeout = absl::GetFlag(FLAGS_join_timeout);
  options.min_client_ping_interval =
      absl::GetFlag(FLAGS_grpc_min_ping_interval);
  options.keepalive = absl::GetFlag(FLAGS_grpc_keepalive);
  // main checked the TLS flags first (a bad file is an error there).
  options.tls = TlsContextFromFlags().value_or(nullptr);
  return std::make_unique<GrpcListener>(hub, options);
}

}  // namespace chat

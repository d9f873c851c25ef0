// The keepalive policy of chat.v1 gRPC connections, for both ends: what
// chat-service's server does and allows (service/grpc_listener.cc) and what
// chatctl's channels do (cli/client.cc). Header-only, so that a client
// library takes it without linking the server.
//
// The server pings a connection after kServerKeepaliveTime without traffic
// and closes it when the answer takes longer than kServerKeepaliveTimeout:
// a dead peer (a pulled cable, a suspended laptop) is gone within 80 s. It
// accepts client pings kMinClientPingInterval apart, with or without calls
// (chat-service's --grpc_min_ping_interval changes that, for tests whose
// clients ping every second); a client that pings more often gets GOAWAY
// (too_many_pings) after two strikes. The client pings after
// kClientKeepaliveTime, which must not be shorter than that interval;
// KeepaliveMismatch says when it is.
//
// Example:
//   grpc::ServerBuilder builder;
//   for (const auto& [name, value] : ServerKeepaliveArgs()) {
//     builder.AddChannelArgument(name, value);
//   }
//   grpc::ChannelArguments args;
//   for (const auto& [name, value] : ClientKeepaliveArgs()) {
//     args.SetInt(name, value);
//   }
#ifndef CHATROOM_SERVICE_GRPC_KEEPALIVE_H_
#define CHATROOM_SERVICE_GRPC_KEEPALIVE_H_

#include <grpc/grpc.h>

#include <string>
#include <utility>
#include <vector>

namespace chat {

// Server: ping after this long without traffic, and give up on the
// connection when the ping is not answered within the timeout.
inline constexpr int kServerKeepaliveTimeMs = 60 * 1000;
inline constexpr int kServerKeepaliveTimeoutMs = 20 * 1000;
// Server: client pings closer together than this are strikes (the default
// of --grpc_min_ping_interval).
inline constexpr int kMinClientPingIntervalMs = 30 * 1000;
// Client (chatctl): ping after this long without traffic, same timeout.
inline constexpr int kClientKeepaliveTimeMs = 60 * 1000;
inline constexpr int kClientKeepaliveTimeoutMs = 20 * 1000;

// gRPC channel arguments, as name and integer value.
using IntChannelArgs = std::vector<std::pair<std::string, int>>;

// ServerKeepaliveArgs
//
// The server's keepalive arguments (ServerBuilder::AddChannelArgument):
// pings `ping_ms` apart (kServerKeepaliveTimeMs by default), each answered
// within min(ping_ms, kServerKeepaliveTimeoutMs). Pings go on while a
// stream is quiet (no limit on pings without data), and on connections
// without calls.
inline IntChannelArgs ServerKeepaliveArgs(
    int ping_ms = kServerKeepaliveTimeMs) {
  return {
      {GRPC_ARG_KEEPALIVE_TIME_MS, ping_ms},
      {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ping_ms < kServerKeepaliveTimeoutMs
                                          ? ping_ms
                                          : kServerKeepaliveTimeoutMs},
      {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1},
      {GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0},
      // As for the client below, where without it gRPC sent a ping without
      // data in between at most every 5 minutes, whatever the keepalive time
      // said (a stopped client was noticed in time without it here, but
      // nothing says that holds for every version).
      {GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS, ping_ms},
      {GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
       kMinClientPingIntervalMs},
  };
}

// ClientKeepaliveArgs
//
// A client's keepalive arguments (grpc::ChannelArguments::SetInt), which
// the server above accepts: pings `ping_ms` apart (kClientKeepaliveTimeMs
// by default), also while idle and while a Chat stream is quiet, each
// answered within min(ping_ms, kClientKeepaliveTimeoutMs).
inline IntChannelArgs ClientKeepaliveArgs(
    int ping_ms = kClientKeepaliveTimeMs) {
  return {
      {GRPC_ARG_KEEPALIVE_TIME_MS, ping_ms},
      {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ping_ms < kClientKeepaliveTimeoutMs
                                          ? ping_ms
                                          : kClientKeepaliveTimeoutMs},
      {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1},
      {GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0},
      // As for the server: without it, 5 minutes between pings when idle.
      {GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS, ping_ms},
  };
}

// KeepaliveMismatch
//
// Why a client with `client` args would get GOAWAY (too_many_pings) from a
// server with `server` args, or "" when it would not: the client pings
// more often than the server allows, or pings without calls where the
// server does not permit that. Arguments absent from a list take gRPC's
// defaults (client keepalive off; server: 5 min between pings, none
// without calls).
inline std::string KeepaliveMismatch(const IntChannelArgs& server,
                                     const IntChannelArgs& client) {
  auto get = [](const IntChannelArgs& args, const char* name, int fallback) {
    for (const auto& [key, value] : args) {
      if (key == name) return value;
    }
    return fallback;
  };
  constexpr int kOff = 0x7fffffff;  // gRPC's "no keepalive" for clients.
  const int ping_every = get(client, GRPC_ARG_KEEPALIVE_TIME_MS, kOff);
  if (ping_every == kOff) return "";
  const int allowed_every = get(
      server, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 300000);
  if (ping_every < allowed_every) {
    return "the client pings every " + std::to_string(ping_every) +
           " ms; the server allows one every " + std::to_string(allowed_every) +
           " ms";
  }
  if (get(client, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0) != 0 &&
      get(server, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0) == 0) {
    return "the client pings without calls; the server does not permit it";
  }
  return "";
}

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_KEEPALIVE_H_

// chatctl stats: the server's figures at a glance, from the GetStats RPC
// (members by transport, rooms, messages a second now, members dropped as
// too slow, uptime), for a person (FormatStats) or, with --json, for a
// script (StatsJson: protobuf's JSON, every field shown, 0 included).
//
// Example (chatctl stats):
//   members      4 (grpc 2, tcp 1, web 1)
//   rooms        2
//   messages/s   3.5 (last 10s)
//   messages     1200 since the start
//   ...
//
// Thread-safe: every function may be called from any thread, except
// RunStats, which reads chatctl's flags (main thread).
#ifndef CHATROOM_CLI_STATS_H_
#define CHATROOM_CLI_STATS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "chat/v1/chat.grpc.pb.h"
#include "cli/args.h"

namespace chat {

// What chatctl's help says of the command.
inline constexpr char kStatsUsage[] =
    "chatctl stats [--server HOST:PORT[,...]] [--json]";
inline constexpr char kStatsSummary[] = "show a server's figures at a glance";
inline constexpr char kStatsDetails[] =
    "Prints how many members are connected (by transport) and rooms in use,\n"
    "messages a second over the last few seconds, and since the server\n"
    "started: messages, room events, deliveries (an event to ten members is\n"
    "ten), members dropped for reading too slowly; and its uptime. Figures\n"
    "only, no names. --json prints the GetStats answer as one JSON object.\n"
    "A server that admits no guests wants a token (--token, any name).\n"
    "With several servers (--server HOST:PORT,HOST:PORT,...), the first\n"
    "that can be reached answers, with its own figures.";

// GetStats
//
// The unary call, with a kConnectTimeout deadline and FromGrpc's errors
// (cli/client.h), carrying `token` unless empty.
absl::StatusOr<v1::GetStatsResponse> GetStats(v1::ChatRoom::StubInterface* stub,
                                              absl::string_view server,
                                              absl::string_view token = "");

// FormatStats
//
// The figures for a person: one "label value" line each, ending in "\n".
std::string FormatStats(const v1::GetStatsResponse& stats);

// StatsJson
//
// The answer as one line of JSON (the proto's field names, every field
// shown, 64-bit numbers as strings as protobuf's JSON mapping has them).
std::string StatsJson(const v1::GetStatsResponse& stats);

// RunStats
//
// chatctl stats: `servers` is the checked --server list (its error is a
// usage error; the first server that can be reached answers), `token` the
// --token or $CHATCTL_TOKEN ("" for none); prints the figures (--json:
// StatsJson) and returns the exit code (cli/commands.h).
int RunStats(const Command& command, const std::vector<std::string>& positional,
             const absl::StatusOr<std::vector<std::string>>& servers,
             const std::string& token);

}  // namespace chat

#endif  // CHATROOM_CLI_STATS_H_

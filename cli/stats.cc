#include "cli/stats.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "google/protobuf/util/json_util.h"
#include "service/format.h"

namespace chat {
namespace {

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "chatctl: %s\n", std::string(status.message()).c_str());
  return kExitError;
}

}  // namespace

absl::StatusOr<v1::GetStatsResponse> GetStats(v1::ChatRoom::StubInterface* stub,
                                              absl::string_view server,
                                              absl::string_view token) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(kConnectTimeout));
  AddToken(&context, token);
  v1::GetStatsResponse response;
  absl::Status s = FromGrpc(
      stub->GetStats(&context, v1::GetStatsRequest(), &response), server);
  if (!s.ok()) return s;
  return response;
}

std::string FormatStats(const v1::GetStatsResponse& stats) {
  std::vector<std::string> by;
  for (const v1::TransportMembers& t : stats.members_by_transport()) {
    by.push_back(absl::StrCat(TransportName(t.transport()), " ", t.members()));
  }
  const absl::Duration window = FromProto(stats.rate_window());
  const absl::Duration uptime =
      absl::Trunc(FromProto(stats.uptime()), absl::Seconds(1));
  const absl::Time started =
      absl::FromUnixSeconds(stats.start_time().seconds());
  std::string out;
  absl::StrAppend(&out, "members      ", stats.members());
  if (!by.empty()) absl::StrAppend(&out, " (", absl::StrJoin(by, ", "), ")");
  absl::StrAppend(
      &out, "\nrooms        ", stats.rooms(), "\nmessages/s   ",
      absl::StrFormat("%.1f", stats.messages_per_second()), " (last ",
      absl::FormatDuration(window), ")\nmessages     ", stats.messages_total(),
      " since the start\nevents       ", stats.events_total(),
      "\ndeliveries   ", stats.deliveries_total(), "\nslow drops   ",
      stats.slow_drops_total(), " (members dropped for reading too slowly)",
      "\nuptime       ", absl::FormatDuration(uptime), " (since ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", started, absl::UTCTimeZone()),
      ")\n");
  return out;
}

std::string StatsJson(const v1::GetStatsResponse& stats) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  // A count of 0 is a figure too: a script reads .members, not a missing key.
  print.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(stats, &json, print).ok()) {
    return "{}";
  }
  return json;
}

int RunStats(const Command& command, const std::vector<std::string>& positional,
             const absl::StatusOr<std::vector<std::string>>& servers,
             const std::string& token) {
  if (!positional.empty()) {
    return UsageError(
        command, absl::StrCat("unexpected argument \"", positional[0], "\""));
  }
  if (!servers.ok()) return UsageError(command, servers.status().message());
  // The first that can be reached answers: its own figures.
  absl::StatusOr<ConnectedServer> connected =
      ConnectFirst(*servers, kConnectTimeout);
  if (!connected.ok()) return Fail(connected.status());
  const std::string& server = (*servers)[connected->index];
  v1::ChatRoom::Stub stub(connected->channel);
  absl::StatusOr<v1::GetStatsResponse> stats = GetStats(&stub, server, token);
  if (!stats.ok()) return Fail(stats.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", StatsJson(*stats).c_str());
  } else {
    std::fputs(FormatStats(*stats).c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace chat

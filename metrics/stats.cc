#include "metrics/stats.h"

#include <cstddef>
#include <cstdint>

#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "metrics/metrics.h"
#include "service/auth.h"

namespace chat {
namespace {

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

}  // namespace

v1::GetStatsResponse CollectStats(const Hub& hub) {
  const HubStats hub_stats = hub.Stats();
  ServerMetrics& m = Metrics();
  v1::GetStatsResponse r;
  r.set_members(hub_stats.members);
  for (v1::Transport t :
       {v1::TRANSPORT_GRPC, v1::TRANSPORT_TCP, v1::TRANSPORT_WEB}) {
    v1::TransportMembers* by = r.add_members_by_transport();
    by->set_transport(t);
    by->set_members(hub_stats.members_by_transport[static_cast<size_t>(t)]);
  }
  r.set_rooms(hub_stats.rooms);
  r.set_messages_per_second(
      m.message_rate.PerSecond(MonotonicSeconds(), kStatsRateWindowSeconds));
  SetDuration(absl::Seconds(kStatsRateWindowSeconds), r.mutable_rate_window());
  r.set_messages_total(m.messages.Value());
  r.set_events_total(m.events.Value());
  uint64_t deliveries = 0;
  for (const Counter& c : m.deliveries) deliveries += c.Value();
  r.set_deliveries_total(deliveries);
  r.set_slow_drops_total(m.slow_drops.Value());
  const absl::Time start = ProcessStartTime();
  r.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
  r.mutable_start_time()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(
          start - absl::FromUnixSeconds(absl::ToUnixSeconds(start)))));
  SetDuration(Uptime(), r.mutable_uptime());
  return r;
}

absl::Status AuthorizeStats(const HubOptions& options, absl::string_view token,
                            absl::Time now) {
  if (options.auth == nullptr) return absl::OkStatus();
  absl::Status s;
  if (token.empty()) {
    s = options.auth->guests() ? absl::OkStatus() : NeedsTokenError();
  } else {
    s = options.auth->Owner(token, now).status();
  }
  if (!s.ok()) Metrics().Refused(s);
  return s;
}

}  // namespace chat

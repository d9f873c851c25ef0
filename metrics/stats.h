// The GetStats RPC's answer (chat.v1.GetStatsResponse): the figures a person
// wants at a glance, from the hub (members, rooms: Hub::Stats) and the
// process's counters (metrics/metrics.h). The same numbers /metrics shows,
// in the API's shape.
//
// Who may ask: the figures are aggregates and name no one, so anyone who
// may enter may see them: everyone with tokens off or guests allowed; with
// --guests=false, a caller with a valid token (any name, any room).
//
// Thread-safe: both functions may be called from any thread; they take the
// hub's and rooms' locks briefly, one at a time, and do no I/O.
#ifndef CHATROOM_METRICS_STATS_H_
#define CHATROOM_METRICS_STATS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "chat/v1/chat.pb.h"
#include "service/room.h"

namespace chat {

// The window GetStatsResponse.messages_per_second averages over.
inline constexpr int kStatsRateWindowSeconds = 10;

// CollectStats
//
// The figures now.
v1::GetStatsResponse CollectStats(const Hub& hub);

// AuthorizeStats
//
// OK when a GetStats call carrying `token` ("" for none) may see the
// figures (see the top of this file). A token that is given must be valid.
// Errors: UNAUTHENTICATED (no token where one is needed, a bad one).
absl::Status AuthorizeStats(const HubOptions& options, absl::string_view token,
                            absl::Time now);

}  // namespace chat

#endif  // CHATROOM_METRICS_STATS_H_

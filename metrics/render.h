// RenderMetrics: the body of chat-service's GET /metrics, in the Prometheus
// text format (metrics/text_format.h): the hub's gauges (members by
// transport, rooms), the process's counters (metrics/metrics.h) and the
// standard process_* metrics (metrics/process_stats.h).
//
// Every family, with its name, type and labels:
//   chat_members{transport}                      gauge
//   chat_rooms, chat_rooms_held                  gauge
//   chat_events_total, chat_messages_total       counter
//   chat_deliveries_total{transport}             counter
//   chat_delivered_bytes_total{transport}        counter
//   chat_outbox_depth_events                     histogram
//   chat_members_dropped_too_slow_total          counter
//   chat_refusals_total{cause}                   counter
//   chat_connections_opened_total{port}          counter
//   chat_connections_closed_total{port}          counter
//   chat_grpc_streams                            gauge
//   chat_store_write_duration_seconds            histogram
//   chat_store_sync_duration_seconds             histogram
//   process_cpu_seconds_total, process_resident_memory_bytes,
//   process_virtual_memory_bytes, process_open_fds, process_max_fds,
//   process_start_time_seconds
// `transport` is grpc, tcp or websocket (chat.v1.Transport; the TLS line
// port's members are tcp); `port` a name on the ready line (grpc, legacy,
// legacy_tls, http) or metrics; `cause` flood, caps, auth, bad_input,
// name_taken, unavailable or other. Every label value is shown, 0 included,
// so a rate() has a series from the start.
//
// Thread-safe. Takes the hub's and rooms' locks briefly, one at a time, and
// reads /proc: call it with no lock held.
#ifndef CHATROOM_METRICS_RENDER_H_
#define CHATROOM_METRICS_RENDER_H_

#include <string>

#include "service/room.h"

namespace chat {

std::string RenderMetrics(const Hub& hub);

}  // namespace chat

#endif  // CHATROOM_METRICS_RENDER_H_

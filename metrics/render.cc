#include "metrics/render.h"

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "metrics/metrics.h"
#include "metrics/process_stats.h"
#include "metrics/text_format.h"

namespace chat {
namespace {

// The transports a `transport` label shows (chat.v1.Transport values).
constexpr int kShownTransports[] = {1, 2, 3};

void PerTransport(TextExposition* out,
                  const std::array<Counter, kTransports>& counters) {
  for (int t : kShownTransports) {
    out->Sample({{"transport", TransportLabel(t)}},
                counters[static_cast<size_t>(t)].Value());
  }
}

void PerPort(TextExposition* out, const std::array<Counter, kPorts>& counters) {
  for (size_t p = 0; p < kPorts; ++p) {
    const Port port = static_cast<Port>(p);
    const uint64_t value = counters[p].Value();
    // "other" is for servers chat-service does not run (tests'): shown only
    // when something counted there.
    if (port == Port::kOther && value == 0) continue;
    out->Sample({{"port", PortLabel(port)}}, value);
  }
}

}  // namespace

std::string RenderMetrics(const Hub& hub) {
  const HubStats stats = hub.Stats();
  ServerMetrics& m = Metrics();
  TextExposition out;

  out.Begin("chat_members", MetricType::kGauge,
            "Members in every room now, by how they are connected.");
  for (int t : kShownTransports) {
    out.Sample({{"transport", TransportLabel(t)}},
               static_cast<uint64_t>(
                   stats.members_by_transport[static_cast<size_t>(t)]));
  }
  out.Begin("chat_rooms", MetricType::kGauge,
            "Rooms with at least one member now.");
  out.Sample({}, static_cast<uint64_t>(stats.rooms));
  out.Begin("chat_rooms_held", MetricType::kGauge,
            "Rooms held in memory now, empty ones until forgotten "
            "(--max_rooms).");
  out.Sample({}, static_cast<uint64_t>(stats.rooms_held));

  out.Begin("chat_events_total", MetricType::kCounter,
            "Room events sequenced and handed to the room's members "
            "(messages, joins, leaves, renames).");
  out.Sample({}, m.events.Value());
  out.Begin("chat_messages_total", MetricType::kCounter, "Messages posted.");
  out.Sample({}, m.messages.Value());
  out.Begin("chat_deliveries_total", MetricType::kCounter,
            "Events handed to members' connections to be written (one event "
            "to ten members is ten), by transport.");
  PerTransport(&out, m.deliveries);
  out.Begin("chat_delivered_bytes_total", MetricType::kCounter,
            "Bytes of those events as each transport encodes them "
            "(protobuf, text lines, JSON; before TLS and framing).");
  PerTransport(&out, m.delivered_bytes);
  out.Begin("chat_outbox_depth_events", MetricType::kHistogram,
            "Events waiting in a member's outbox when its transport took "
            "them; a member over --outbox_events is dropped as too slow.");
  out.HistogramSample({}, m.outbox_depth.Read());
  out.Begin("chat_members_dropped_too_slow_total", MetricType::kCounter,
            "Members removed because they read too slowly (their outbox "
            "overflowed).");
  out.Sample({}, m.slow_drops.Value());

  out.Begin("chat_refusals_total", MetricType::kCounter,
            "Requests refused, by cause: flood (over the flood limit), caps "
            "(connections, rooms, members), auth (tokens), bad_input, "
            "name_taken, unavailable (store, shutdown), other.");
  for (size_t c = 0; c < kRefusalCauses; ++c) {
    out.Sample({{"cause", RefusalCauseLabel(static_cast<RefusalCause>(c))}},
               m.refusals[c].Value());
  }
  out.Begin("chat_connections_opened_total", MetricType::kCounter,
            "Connections accepted under the caps, by port (a WebSocket "
            "counts once more after its HTTP request).");
  PerPort(&out, m.connections_opened);
  out.Begin("chat_connections_closed_total", MetricType::kCounter,
            "Connections closed, by port (gRPC's are noticed within 10 s).");
  PerPort(&out, m.connections_closed);
  out.Begin("chat_grpc_streams", MetricType::kGauge,
            "gRPC Chat streams open now.");
  out.Sample({}, m.grpc_streams.Value());

  out.Begin("chat_store_write_duration_seconds", MetricType::kHistogram,
            "Time to write one transaction of events to the store "
            "(--data_dir), with its sync under --sync=every.");
  out.HistogramSample({}, m.store_write.Read());
  out.Begin("chat_store_sync_duration_seconds", MetricType::kHistogram,
            "Time of one fdatasync of the store's log (--sync=batch, and "
            "before a new block of seqs is used).");
  out.HistogramSample({}, m.store_sync.Read());

  absl::StatusOr<ProcessStats> process = ReadProcessStats();
  if (process.ok()) {
    out.Begin("process_cpu_seconds_total", MetricType::kCounter,
              "Total user and system CPU time spent in seconds.");
    out.Sample({}, process->cpu_seconds);
    out.Begin("process_resident_memory_bytes", MetricType::kGauge,
              "Resident memory size in bytes.");
    out.Sample({}, process->resident_bytes);
    out.Begin("process_virtual_memory_bytes", MetricType::kGauge,
              "Virtual memory size in bytes.");
    out.Sample({}, process->virtual_bytes);
    out.Begin("process_open_fds", MetricType::kGauge,
              "Number of open file descriptors.");
    out.Sample({}, process->open_fds);
    if (process->max_fds > 0) {
      out.Begin("process_max_fds", MetricType::kGauge,
                "Maximum number of open file descriptors.");
      out.Sample({}, process->max_fds);
    }
    out.Begin("process_start_time_seconds", MetricType::kGauge,
              "Start time of the process since unix epoch in seconds.");
    out.Sample({}, process->start_time_seconds);
  }
  return out.Take();
}

}  // namespace chat

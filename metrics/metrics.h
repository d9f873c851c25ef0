// What chat-service counts about itself, for /metrics (metrics/
// metrics_server.h) and the GetStats RPC: counters, gauges and histograms
// that any thread updates cheaply and a scrape reads.
//
// One process-wide set (Metrics()), as Prometheus' own client libraries keep
// one default registry: the room core, every transport, the Asio plumbing and
// the store count into it without a pointer threaded through each
// constructor. What the hub holds right now (members, rooms) is not counted
// here: a scrape asks the hub (Hub::Stats), so it is exact by construction.
// Tests that share a process with other tests compare values before and
// after, never absolute counts.
//
// Cost: a counter bumped on the delivery path (deliveries, bytes, the outbox
// depth) is sharded: each thread adds, with a relaxed atomic, to one of
// kMetricShards cache lines of its own, and a scrape sums them, so threads
// writing to many members never bounce one cache line between cores. Rare
// counters (refusals, connections) are the same type; what they cost is
// memory (a cache line per shard), bounded by the fixed set below.
//
// Bounded: every label set is fixed (transports, ports, causes): an unknown
// port name counts as "other".
//
// Thread-safe: everything here may be called from any thread, and never
// blocks.
#ifndef CHATROOM_METRICS_METRICS_H_
#define CHATROOM_METRICS_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "metrics/text_format.h"

namespace chat {

// Shards of a sharded counter: a thread keeps to one (its first use picks
// the next, round robin).
inline constexpr size_t kMetricShards = 8;

// The shard of the calling thread.
size_t ThisThreadShard();

// Counter: a monotonic count.
//
//   Metrics().events.Add();
//   uint64_t n = Metrics().events.Value();
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Add(uint64_t n = 1) {
    shards_[ThisThreadShard()].value.fetch_add(n, std::memory_order_relaxed);
  }
  // The sum of every shard: what was added before the call, at least.
  uint64_t Value() const;

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> value{0};
  };
  std::array<Shard, kMetricShards> shards_;
};

// Gauge: a value that goes up and down (one atomic: gauges here change per
// stream or connection, not per delivery).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Histogram: how many observations fell at or under each of a fixed list of
// upper bounds. Observations are integers in the histogram's unit (events;
// nanoseconds for a latency, shown in seconds): the sum stays exact.
class Histogram {
 public:
  static constexpr size_t kMaxBounds = 15;

  // `bounds`: increasing upper bounds, at most kMaxBounds, in the
  // observations' unit; `scale` turns that unit into the one shown (1e-9
  // for nanoseconds shown as seconds).
  Histogram(std::initializer_list<int64_t> bounds, double scale = 1);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(int64_t value);

  // What a scrape shows (metrics/text_format.h), in the unit shown.
  HistogramSnapshot Read() const;

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kMaxBounds + 1> buckets{};
    std::atomic<int64_t> sum{0};
  };

  std::array<int64_t, kMaxBounds> bounds_{};
  size_t size_ = 0;
  const double scale_;
  std::array<Shard, kMetricShards> shards_;
};

// RecentRate: how many things happen a second, over the last few seconds:
// one slot per second in a ring, each slot its second and its count packed
// in one atomic word (so a slot is reset and counted in one step).
class RecentRate {
 public:
  // The most seconds PerSecond looks back.
  static constexpr int kMaxWindow = 60;

  RecentRate() = default;
  RecentRate(const RecentRate&) = delete;
  RecentRate& operator=(const RecentRate&) = delete;

  // Counts `n` things in second `now` (of any monotonic clock, >= 0).
  void Add(int64_t now, uint64_t n = 1);
  // The average a second over the `window` whole seconds before `now`
  // (now - window to now - 1; clamped to 1..kMaxWindow).
  double PerSecond(int64_t now, int window) const;

 private:
  // A slot: second << kCountBits | count (the count saturates).
  static constexpr int kCountBits = 24;
  static constexpr int kSlots = kMaxWindow + 4;
  std::array<std::atomic<uint64_t>, kSlots> slots_{};
};

// How a member is connected, as the label `transport` shows it: the API's
// chat.v1.Transport values (1 grpc, 2 tcp, 3 websocket; TLS line-port
// members are tcp).
inline constexpr size_t kTransports = 4;  // Indexed by chat.v1.Transport.
// "grpc", "tcp", "websocket"; "" for 0 and anything else.
absl::string_view TransportLabel(int transport);

// The listening ports, as the label `port` shows them: the names on the
// ready line (and the metrics port's own).
enum class Port { kGrpc, kLegacy, kLegacyTls, kHttp, kMetrics, kOther };
inline constexpr size_t kPorts = 6;
absl::string_view PortLabel(Port port);
// The Port a TcpServer's name stands for ("legacy" -> kLegacy); kOther for
// names it does not know (tests').
Port PortNamed(absl::string_view name);

// Why a request was refused, as the label `cause` shows it.
enum class RefusalCause {
  kFlood,        // Over the flood limit.
  kCaps,         // A cap: connections, rooms, members per room, per address.
  kAuth,         // No token where one is needed, a bad one, a room not
                 // allowed.
  kBadInput,     // A bad name or room, an empty or too long message, a
                 // first request that is not a join.
  kNameTaken,    // The name is someone else's in the room.
  kUnavailable,  // The store cannot be written, or shutting down.
  kOther,
};
inline constexpr size_t kRefusalCauses = 7;
absl::string_view RefusalCauseLabel(RefusalCause cause);
// The cause of a refusal the core answered with `status` (not OK): by its
// code (RESOURCE_EXHAUSTED is kCaps; flood refusals are counted as kFlood
// where they are decided).
RefusalCause RefusalCauseOf(const absl::Status& status);

// ServerMetrics: everything counted. Each field's comment is its HELP text's
// gist; metrics/render.cc names them.
struct ServerMetrics {
  // Room events committed and handed to the room's members (messages,
  // joins, leaves, renames), once per event.
  Counter events;
  // Messages posted (and their rate, RecentRate's seconds from
  // MonotonicSeconds()).
  Counter messages;
  RecentRate message_rate;
  // Events handed to a member's connection to be written, and their bytes
  // as that transport encodes them, by chat.v1.Transport.
  std::array<Counter, kTransports> deliveries;
  std::array<Counter, kTransports> delivered_bytes;
  // Events queued in a member's outbox when its transport took them.
  Histogram outbox_depth{{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096}};
  // Members removed because their outbox overflowed.
  Counter slow_drops;
  // Refusals, by RefusalCause.
  std::array<Counter, kRefusalCauses> refusals;
  // Connections accepted under the caps and closed, by Port.
  std::array<Counter, kPorts> connections_opened;
  std::array<Counter, kPorts> connections_closed;
  // gRPC Chat streams open.
  Gauge grpc_streams;
  // The store (--data_dir): one write transaction (events of many posts;
  // with --sync=every, its fsync too), and one fdatasync of its log.
  Histogram store_write{
      {100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000,
       25'000'000, 50'000'000, 100'000'000, 250'000'000, 1'000'000'000},
      1e-9};
  Histogram store_sync{
      {100'000, 250'000, 500'000, 1'000'000, 2'500'000, 5'000'000, 10'000'000,
       25'000'000, 50'000'000, 100'000'000, 250'000'000, 1'000'000'000},
      1e-9};

  // A refusal the core answered with `status`.
  void Refused(const absl::Status& status) {
    refusals[static_cast<size_t>(RefusalCauseOf(status))].Add();
  }
  void Refused(RefusalCause cause) {
    refusals[static_cast<size_t>(cause)].Add();
  }
  // A message posted now.
  void MessagePosted();
  // `events` events of `bytes` bytes handed to a member's connection of
  // `transport` (a chat.v1.Transport).
  void Delivered(int transport, uint64_t events, uint64_t bytes) {
    const size_t t = static_cast<size_t>(transport) < kTransports
                         ? static_cast<size_t>(transport)
                         : 0;
    deliveries[t].Add(events);
    delivered_bytes[t].Add(bytes);
  }
};

// The process's metrics.
ServerMetrics& Metrics();

// Seconds of a monotonic clock (CLOCK_MONOTONIC), for RecentRate.
int64_t MonotonicSeconds();

// When the process started (its metrics were initialized, before main),
// and how long ago that was, by a monotonic clock.
absl::Time ProcessStartTime();
absl::Duration Uptime();

// Nanoseconds of a monotonic clock, for latencies:
//   const int64_t start = MonotonicNanos();
//   ... the write ...
//   Metrics().store_write.Observe(MonotonicNanos() - start);
int64_t MonotonicNanos();

}  // namespace chat

#endif  // CHATROOM_METRICS_METRICS_H_

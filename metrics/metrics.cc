#include "metrics/metrics.h"

#include <time.h>

#include <algorithm>

#include "absl/time/clock.h"

namespace chat {

size_t ThisThreadShard() {
  static std::atomic<size_t> next{0};
  thread_local const size_t shard =
      next.fetch_add(1, std::memory_order_relaxed) % kMetricShards;
  return shard;
}

uint64_t Counter::Value() const {
  uint64_t sum = 0;
  for (const Shard& s : shards_) sum += s.value.load(std::memory_order_relaxed);
  return sum;
}

Histogram::Histogram(std::initializer_list<int64_t> bounds, double scale)
    : scale_(scale) {
  for (int64_t b : bounds) {
    if (size_ == kMaxBounds || (size_ > 0 && b <= bounds_[size_ - 1])) break;
    bounds_[size_++] = b;
  }
}

void Histogram::Observe(int64_t value) {
  size_t i = 0;
  while (i < size_ && value > bounds_[i]) ++i;
  Shard& s = shards_[ThisThreadShard()];
  s.buckets[i].fetch_add(1, std::memory_order_relaxed);
  s.sum.fetch_add(value, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Read() const {
  HistogramSnapshot snap;
  std::array<uint64_t, kMaxBounds + 1> counts{};
  int64_t sum = 0;
  for (const Shard& s : shards_) {
    for (size_t i = 0; i <= size_; ++i) {
      counts[i] += s.buckets[i].load(std::memory_order_relaxed);
    }
    sum += s.sum.load(std::memory_order_relaxed);
  }
  uint64_t running = 0;
  for (size_t i = 0; i < size_; ++i) {
    snap.bounds.push_back(static_cast<double>(bounds_[i]) * scale_);
    running += counts[i];
    snap.cumulative.push_back(running);
  }
  running += counts[size_];
  snap.cumulative.push_back(running);
  snap.count = running;
  snap.sum = static_cast<double>(sum) * scale_;
  return snap;
}

void RecentRate::Add(int64_t now, uint64_t n) {
  if (now < 0 || n == 0) return;
  constexpr uint64_t kMaxCount = (uint64_t{1} << kCountBits) - 1;
  const uint64_t second = static_cast<uint64_t>(now);
  std::atomic<uint64_t>& slot = slots_[second % kSlots];
  uint64_t old = slot.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t count =
        (old >> kCountBits) == second ? (old & kMaxCount) : 0;
    const uint64_t next =
        (second << kCountBits) | std::min(kMaxCount, count + n);
    if (next == old ||
        slot.compare_exchange_weak(old, next, std::memory_order_relaxed)) {
      return;
    }
  }
}

double RecentRate::PerSecond(int64_t now, int window) const {
  window = std::clamp(window, 1, kMaxWindow);
  constexpr uint64_t kMaxCount = (uint64_t{1} << kCountBits) - 1;
  uint64_t total = 0;
  for (int back = 1; back <= window; ++back) {
    const int64_t second = now - back;
    if (second < 0) break;
    const uint64_t s = static_cast<uint64_t>(second);
    const uint64_t slot = slots_[s % kSlots].load(std::memory_order_relaxed);
    if ((slot >> kCountBits) == s) total += slot & kMaxCount;
  }
  return static_cast<double>(total) / window;
}

absl::string_view TransportLabel(int transport) {
  switch (transport) {
    case 1:
      return "grpc";
    case 2:
      return "tcp";
    case 3:
      return "websocket";
    default:
      return "";
  }
}

absl::string_view PortLabel(Port port) {
  switch (port) {
    case Port::kGrpc:
      return "grpc";
    case Port::kLegacy:
      return "legacy";
    case Port::kLegacyTls:
      return "legacy_tls";
    case Port::kHttp:
      return "http";
    case Port::kMetrics:
      return "metrics";
    case Port::kOther:
      break;
  }
  return "other";
}

Port PortNamed(absl::string_view name) {
  for (Port p : {Port::kGrpc, Port::kLegacy, Port::kLegacyTls, Port::kHttp,
                 Port::kMetrics}) {
    if (name == PortLabel(p)) return p;
  }
  return Port::kOther;
}

absl::string_view RefusalCauseLabel(RefusalCause cause) {
  switch (cause) {
    case RefusalCause::kFlood:
      return "flood";
    case RefusalCause::kCaps:
      return "caps";
    case RefusalCause::kAuth:
      return "auth";
    case RefusalCause::kBadInput:
      return "bad_input";
    case RefusalCause::kNameTaken:
      return "name_taken";
    case RefusalCause::kUnavailable:
      return "unavailable";
    case RefusalCause::kOther:
      break;
  }
  return "other";
}

RefusalCause RefusalCauseOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return RefusalCause::kCaps;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return RefusalCause::kAuth;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return RefusalCause::kBadInput;
    case absl::StatusCode::kAlreadyExists:
      return RefusalCause::kNameTaken;
    case absl::StatusCode::kUnavailable:
      return RefusalCause::kUnavailable;
    default:
      return RefusalCause::kOther;
  }
}

void ServerMetrics::MessagePosted() {
  messages.Add();
  message_rate.Add(MonotonicSeconds());
}

ServerMetrics& Metrics() {
  // Never destroyed: threads may count while the process exits.
  static ServerMetrics* const metrics = new ServerMetrics();
  return *metrics;
}

int64_t MonotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t MonotonicSeconds() { return MonotonicNanos() / 1'000'000'000; }

namespace {

// Set before main, when this file's globals are initialized.
const int64_t g_start_nanos = MonotonicNanos();
const absl::Time g_start_time = absl::Now();

}  // namespace

absl::Time ProcessStartTime() { return g_start_time; }

absl::Duration Uptime() {
  return absl::Nanoseconds(MonotonicNanos() - g_start_nanos);
}

}  // namespace chat

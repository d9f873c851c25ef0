#include "metrics/metrics.h"

#include <cstdint>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::ElementsAre;

TEST(CounterTest, SumsWhatEveryThreadAdded) {
  Counter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {  // More threads than shards.
    threads.emplace_back([&counter] {
      for (int i = 0; i < 10000; ++i) counter.Add();
      counter.Add(5);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counter.Value(), 12u * 10005u);
}

TEST(GaugeTest, GoesUpAndDown) {
  Gauge gauge;
  gauge.Add(3);
  gauge.Add(-5);
  EXPECT_EQ(gauge.Value(), -2);
}

TEST(HistogramTest, BucketsAreCumulativeAndBoundsInclusive) {
  Histogram h({1, 4, 16});
  for (int64_t v : {0, 1, 2, 4, 5, 16, 17, 1000}) h.Observe(v);
  const HistogramSnapshot s = h.Read();
  EXPECT_THAT(s.bounds, ElementsAre(1, 4, 16));
  // <=1: 0,1; <=4: +2,4; <=16: +5,16; +Inf: +17,1000.
  EXPECT_THAT(s.cumulative, ElementsAre(2, 4, 6, 8));
  EXPECT_EQ(s.count, 8u);
  EXPECT_EQ(s.sum, 0 + 1 + 2 + 4 + 5 + 16 + 17 + 1000);
}

TEST(HistogramTest, ScaleShowsNanosecondsAsSeconds) {
  Histogram h({1'000'000, 1'000'000'000}, 1e-9);
  h.Observe(500'000);        // 0.5 ms
  h.Observe(2'000'000'000);  // 2 s
  const HistogramSnapshot s = h.Read();
  EXPECT_THAT(s.bounds, ElementsAre(0.001, 1));
  EXPECT_THAT(s.cumulative, ElementsAre(1, 1, 2));
  EXPECT_DOUBLE_EQ(s.sum, 2.0005);
}

TEST(HistogramTest, ObservationsFromManyThreads) {
  Histogram h({10});
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 1000; ++i) h.Observe(i % 20);
    });
  }
  for (std::thread& t : threads) t.join();
  const HistogramSnapshot s = h.Read();
  EXPECT_EQ(s.count, 10000u);
  EXPECT_THAT(s.cumulative, ElementsAre(5500, 10000));  // 0..10 of 0..19.
}

TEST(HistogramTest, IgnoresBoundsOutOfOrder) {
  Histogram h({4, 2, 8});
  EXPECT_THAT(h.Read().bounds, ElementsAre(4));
}

TEST(RecentRateTest, AveragesTheWholeSecondsBeforeNow) {
  RecentRate rate;
  rate.Add(100, 10);
  rate.Add(101, 20);
  rate.Add(102, 7);  // The current second, not yet whole.
  EXPECT_DOUBLE_EQ(rate.PerSecond(102, 2), 15);  // (10 + 20) / 2.
  EXPECT_DOUBLE_EQ(rate.PerSecond(102, 10), 3);  // (10 + 20) / 10.
  EXPECT_DOUBLE_EQ(rate.PerSecond(103, 1), 7);
}

TEST(RecentRateTest, ForgetsOldSecondsAndReusesSlots) {
  RecentRate rate;
  rate.Add(5, 100);
  // Far later: the slot second 5 used is someone else's now, or stale.
  EXPECT_DOUBLE_EQ(rate.PerSecond(500, 10), 0);
  rate.Add(5 + 64 * 7, 3);  // Lands in second 5's slot, resets it.
  EXPECT_DOUBLE_EQ(rate.PerSecond(5 + 64 * 7 + 1, 1), 3);
  EXPECT_DOUBLE_EQ(rate.PerSecond(6, 1), 0);
}

TEST(RecentRateTest, CountsFromManyThreads) {
  RecentRate rate;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&rate] {
      for (int i = 0; i < 5000; ++i) rate.Add(42);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_DOUBLE_EQ(rate.PerSecond(43, 1), 40000);
}

TEST(RecentRateTest, WindowIsClamped) {
  RecentRate rate;
  rate.Add(10, 6);
  EXPECT_DOUBLE_EQ(rate.PerSecond(11, 0), 6);       // At least 1 s.
  EXPECT_DOUBLE_EQ(rate.PerSecond(11, 1000), 0.1);  // At most 60 s.
}

TEST(LabelsTest, Transports) {
  EXPECT_EQ(TransportLabel(1), "grpc");
  EXPECT_EQ(TransportLabel(2), "tcp");
  EXPECT_EQ(TransportLabel(3), "websocket");
  EXPECT_EQ(TransportLabel(0), "");
  EXPECT_EQ(TransportLabel(9), "");
}

TEST(LabelsTest, PortsByTheirServerNames) {
  EXPECT_EQ(PortNamed("grpc"), Port::kGrpc);
  EXPECT_EQ(PortNamed("legacy"), Port::kLegacy);
  EXPECT_EQ(PortNamed("legacy_tls"), Port::kLegacyTls);
  EXPECT_EQ(PortNamed("http"), Port::kHttp);
  EXPECT_EQ(PortNamed("metrics"), Port::kMetrics);
  EXPECT_EQ(PortNamed("test"), Port::kOther);
  EXPECT_EQ(PortLabel(Port::kOther), "other");
}

TEST(LabelsTest, RefusalCausesByStatusCode) {
  EXPECT_EQ(RefusalCauseOf(absl::ResourceExhaustedError("")),
            RefusalCause::kCaps);
  EXPECT_EQ(RefusalCauseOf(absl::UnauthenticatedError("")),
            RefusalCause::kAuth);
  EXPECT_EQ(RefusalCauseOf(absl::PermissionDeniedError("")),
            RefusalCause::kAuth);
  EXPECT_EQ(RefusalCauseOf(absl::InvalidArgumentError("")),
            RefusalCause::kBadInput);
  EXPECT_EQ(RefusalCauseOf(absl::AlreadyExistsError("")),
            RefusalCause::kNameTaken);
  EXPECT_EQ(RefusalCauseOf(absl::UnavailableError("")),
            RefusalCause::kUnavailable);
  EXPECT_EQ(RefusalCauseOf(absl::FailedPreconditionError("")),
            RefusalCause::kOther);
  for (size_t c = 0; c < kRefusalCauses; ++c) {
    EXPECT_FALSE(RefusalCauseLabel(static_cast<RefusalCause>(c)).empty());
  }
}

TEST(ServerMetricsTest, DeliveredCountsEventsAndBytesByTransport) {
  ServerMetrics m;
  m.Delivered(2, 3, 100);
  m.Delivered(2, 1, 20);
  m.Delivered(99, 1, 1);  // Unknown: counted at 0, never out of bounds.
  EXPECT_EQ(m.deliveries[2].Value(), 4u);
  EXPECT_EQ(m.delivered_bytes[2].Value(), 120u);
  EXPECT_EQ(m.deliveries[0].Value(), 1u);
}

TEST(ServerMetricsTest, UptimeGrowsFromTheProcessStart) {
  EXPECT_GT(Uptime(), absl::ZeroDuration());
  EXPECT_LE(ProcessStartTime(), absl::Now());
}

}  // namespace
}  // namespace chat

#include "cli/bench_stats.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace chat {
namespace bench {
namespace {

TEST(MessageTextTest, RoundTripsAndPadsToSize) {
  Stamp in;
  in.run = 4242;
  in.sender = 7;
  in.seq = 19999;
  in.sent_ns = 123456789012345;
  std::string text;
  AppendMessageText(in, 64, &text);
  EXPECT_EQ(text.size(), 64u);
  Stamp out;
  ASSERT_TRUE(ParseMessageText(text, &out));
  EXPECT_EQ(out.run, in.run);
  EXPECT_EQ(out.sender, in.sender);
  EXPECT_EQ(out.seq, in.seq);
  EXPECT_EQ(out.sent_ns, in.sent_ns);
}

TEST(MessageTextTest, TooSmallASizeStillHoldsTheStamp) {
  Stamp in;
  in.seq = 3;
  std::string text;
  AppendMessageText(in, 4, &text);
  Stamp out;
  ASSERT_TRUE(ParseMessageText(text, &out));
  EXPECT_EQ(out.seq, 3u);
}

TEST(MessageTextTest, RejectsOtherText) {
  Stamp s;
  EXPECT_FALSE(ParseMessageText("", &s));
  EXPECT_FALSE(ParseMessageText("hello there", &s));
  EXPECT_FALSE(ParseMessageText("B1 2 3", &s));
  EXPECT_FALSE(ParseMessageText("Bx 2 3 4 ", &s));
  EXPECT_FALSE(ParseMessageText("S1 2", &s));
}

TEST(SyncTextTest, RoundTripsForItsRunOnly) {
  uint64_t token = 0;
  EXPECT_TRUE(ParseSyncText(SyncText(17, 5), 17, &token));
  EXPECT_EQ(token, 5u);
  EXPECT_FALSE(ParseSyncText(SyncText(18, 5), 17, &token));
  EXPECT_FALSE(ParseSyncText("S17 5 extra", 17, &token));
}

TEST(HistogramTest, BucketsCoverEveryValueWithinOnePercent) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 129ull, 1000ull, 65535ull,
                     1234567ull, 999999999ull, (1ull << 39) + 12345}) {
    const size_t b = Histogram::BucketOf(v);
    EXPECT_LE(Histogram::BucketLow(b), v) << v;
    EXPECT_GE(Histogram::BucketHigh(b), v) << v;
    EXPECT_LE(Histogram::BucketHigh(b) - Histogram::BucketLow(b),
              Histogram::BucketLow(b) / 64 + 1)
        << v;
  }
  // Buckets are contiguous.
  for (size_t b = 0; b + 1 < 1000; ++b) {
    EXPECT_EQ(Histogram::BucketHigh(b) + 1, Histogram::BucketLow(b + 1)) << b;
  }
}

TEST(HistogramTest, PercentilesOfAUniformRange) {
  Histogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v * 1000);  // 1us..100ms
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max(), 100000000u);
  EXPECT_EQ(h.min(), 1000u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(50)), 50e6, 50e6 / 64);
  EXPECT_NEAR(static_cast<double>(h.Percentile(99)), 99e6, 99e6 / 64);
  EXPECT_EQ(h.Percentile(100), h.max());
  EXPECT_NEAR(h.mean(), 50000.5e3, 1);
}

TEST(HistogramTest, SmallCountsAndMerge) {
  Histogram empty;
  EXPECT_EQ(empty.Percentile(99), 0u);
  Histogram a, b;
  a.Record(10);
  b.Record(5000);
  b.Record(7);
  a.Merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.min(), 7u);
  EXPECT_EQ(a.max(), 5000u);
  EXPECT_EQ(a.Percentile(1), 7u);
  EXPECT_EQ(a.Percentile(50), 10u);
  EXPECT_EQ(a.Percentile(99), 5000u);  // Clamped to max, not the bucket top.
}

TEST(DeliveryCheckTest, InOrderDeliveryIsClean) {
  DeliveryCheck c(2, 100);
  for (uint64_t i = 0; i < 100; ++i) {
    EXPECT_EQ(c.Record(0, i), DeliveryCheck::Verdict::kInOrder);
    EXPECT_EQ(c.Record(1, i), DeliveryCheck::Verdict::kInOrder);
  }
  EXPECT_EQ(c.unique(), 200u);
  EXPECT_EQ(c.missing(), 0u);
  EXPECT_EQ(c.duplicated(), 0u);
  EXPECT_EQ(c.out_of_order(), 0u);
}

TEST(DeliveryCheckTest, CountsLostDuplicatedAndReordered) {
  DeliveryCheck c(1, 10);
  c.Record(0, 0);
  c.Record(0, 2);  // 1 skipped: lost unless it comes later.
  EXPECT_EQ(c.Record(0, 2), DeliveryCheck::Verdict::kDuplicate);
  c.Record(0, 3);
  EXPECT_EQ(c.Record(0, 1), DeliveryCheck::Verdict::kOutOfOrder);
  EXPECT_EQ(c.Record(0, 10), DeliveryCheck::Verdict::kUnknown);
  EXPECT_EQ(c.Record(5, 0), DeliveryCheck::Verdict::kUnknown);
  EXPECT_EQ(c.unique(), 4u);
  EXPECT_EQ(c.missing(), 6u);
  EXPECT_EQ(c.duplicated(), 1u);
  EXPECT_EQ(c.out_of_order(), 1u);
  EXPECT_EQ(c.unknown(), 2u);
}

TEST(FormatRateTest, Units) {
  EXPECT_EQ(FormatRate(3.9e6), "3.90M");
  EXPECT_EQ(FormatRate(91234), "91.2k");
  EXPECT_EQ(FormatRate(12), "12");
}

}  // namespace
}  // namespace bench
}  // namespace chat

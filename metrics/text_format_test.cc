#include "metrics/text_format.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

TEST(TextExpositionTest, CounterFamilyHasHelpTypeAndSamples) {
  TextExposition out;
  out.Begin("chat_events_total", MetricType::kCounter, "Room events.");
  out.Sample({}, uint64_t{42});
  EXPECT_EQ(out.Take(),
            "# HELP chat_events_total Room events.\n"
            "# TYPE chat_events_total counter\n"
            "chat_events_total 42\n");
}

TEST(TextExpositionTest, LabelsInOrderSeparatedByCommas) {
  TextExposition out;
  out.Begin("chat_members", MetricType::kGauge, "Members.");
  out.Sample({{"transport", "grpc"}}, int64_t{3});
  out.Sample({{"a", "1"}, {"b", "2"}}, int64_t{-1});
  EXPECT_EQ(out.Take(),
            "# HELP chat_members Members.\n"
            "# TYPE chat_members gauge\n"
            "chat_members{transport=\"grpc\"} 3\n"
            "chat_members{a=\"1\",b=\"2\"} -1\n");
}

TEST(TextExpositionTest, EscapesHelpAndLabelValues) {
  TextExposition out;
  out.Begin("x", MetricType::kGauge, "back\\slash \"quoted\"\nnext line");
  out.Sample({{"v", "a\\b\"c\nd"}}, int64_t{1});
  EXPECT_EQ(out.Take(),
            // HELP escapes \ and newline only; quotes stay.
            "# HELP x back\\\\slash \"quoted\"\\nnext line\n"
            "# TYPE x gauge\n"
            "x{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(TextExpositionTest, LargeIntegersAreExact) {
  TextExposition out;
  out.Begin("big_total", MetricType::kCounter, "Big.");
  out.Sample({}, std::numeric_limits<uint64_t>::max());
  EXPECT_THAT(out.Take(),
              ::testing::HasSubstr("big_total 18446744073709551615\n"));
}

TEST(TextExpositionTest, HistogramBucketsSumAndCount) {
  HistogramSnapshot h;
  h.bounds = {0.001, 0.5};
  h.cumulative = {2, 5, 7};
  h.count = 7;
  h.sum = 3.25;
  TextExposition out;
  out.Begin("latency_seconds", MetricType::kHistogram, "Latency.");
  out.HistogramSample({{"op", "write"}}, h);
  EXPECT_EQ(out.Take(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{op=\"write\",le=\"0.001\"} 2\n"
            "latency_seconds_bucket{op=\"write\",le=\"0.5\"} 5\n"
            "latency_seconds_bucket{op=\"write\",le=\"+Inf\"} 7\n"
            "latency_seconds_sum{op=\"write\"} 3.25\n"
            "latency_seconds_count{op=\"write\"} 7\n");
}

TEST(TextExpositionTest, HistogramWithoutLabels) {
  HistogramSnapshot h;
  h.bounds = {1};
  h.cumulative = {0, 0};
  TextExposition out;
  out.Begin("depth", MetricType::kHistogram, "Depth.");
  out.HistogramSample({}, h);
  EXPECT_EQ(out.Take(),
            "# HELP depth Depth.\n"
            "# TYPE depth histogram\n"
            "depth_bucket{le=\"1\"} 0\n"
            "depth_bucket{le=\"+Inf\"} 0\n"
            "depth_sum 0\n"
            "depth_count 0\n");
}

TEST(TextExpositionTest, TakeStartsAgainEmpty) {
  TextExposition out;
  out.Begin("a", MetricType::kGauge, "A.");
  out.Sample({}, int64_t{1});
  EXPECT_FALSE(out.Take().empty());
  EXPECT_EQ(out.Take(), "");
}

TEST(FormatSampleValueTest, ShortestFormAndSpecialValues) {
  EXPECT_EQ(FormatSampleValue(0), "0");
  EXPECT_EQ(FormatSampleValue(42), "42");
  EXPECT_EQ(FormatSampleValue(0.25), "0.25");
  EXPECT_EQ(FormatSampleValue(0.1), "0.1");
  EXPECT_EQ(FormatSampleValue(1e-4), "0.0001");
  EXPECT_EQ(FormatSampleValue(5e-4), "0.0005");
  EXPECT_EQ(FormatSampleValue(1e-6), "1e-06");
  EXPECT_EQ(FormatSampleValue(1e21), "1e+21");
  // As Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' own
  // client uses: exponents from 6 up in e-notation.
  EXPECT_EQ(FormatSampleValue(12345.5), "12345.5");
  EXPECT_EQ(FormatSampleValue(1234567.891), "1.234567891e+06");
  EXPECT_EQ(FormatSampleValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatSampleValue(-std::numeric_limits<double>::infinity()),
            "-Inf");
  EXPECT_EQ(FormatSampleValue(std::nan("")), "NaN");
}

TEST(NamesTest, MetricNames) {
  EXPECT_TRUE(ValidMetricName("chat_events_total"));
  EXPECT_TRUE(ValidMetricName("a:b_c9"));
  EXPECT_TRUE(ValidMetricName("_x"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_FALSE(ValidMetricName("9lives"));
  EXPECT_FALSE(ValidMetricName("chat-events"));
  EXPECT_FALSE(ValidMetricName("chat events"));
}

TEST(NamesTest, LabelNames) {
  EXPECT_TRUE(ValidLabelName("transport"));
  EXPECT_TRUE(ValidLabelName("le"));
  EXPECT_TRUE(ValidLabelName("_x9"));
  EXPECT_FALSE(ValidLabelName(""));
  EXPECT_FALSE(ValidLabelName("__name__"));
  EXPECT_FALSE(ValidLabelName("a:b"));
  EXPECT_FALSE(ValidLabelName("1a"));
}

}  // namespace
}  // namespace chat

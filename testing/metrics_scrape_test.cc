#include "testing/metrics_scrape.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

TEST(ParseMetricSamplesTest, SamplesBySeries) {
  absl::StatusOr<MetricSamples> m = ParseMetricSamples(
      "# HELP a_total A.\n"
      "# TYPE a_total counter\n"
      "a_total 42\n"
      "b{x=\"1\",y=\"two words\"} 0.5\n"
      "h_bucket{le=\"+Inf\"} 3\n"
      "g -Inf\n"
      "n NaN\n");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->at("a_total"), 42);
  EXPECT_EQ(m->at("b{x=\"1\",y=\"two words\"}"), 0.5);
  EXPECT_EQ(m->at("h_bucket{le=\"+Inf\"}"), 3);
  EXPECT_TRUE(std::isinf(m->at("g")));
  EXPECT_TRUE(std::isnan(m->at("n")));
  EXPECT_EQ(m->size(), 5u);
}

TEST(ParseMetricSamplesTest, RefusesWhatIsNotASample) {
  EXPECT_FALSE(ParseMetricSamples("a_total\n").ok());
  EXPECT_FALSE(ParseMetricSamples("a_total many\n").ok());
}

TEST(SeriesFromShortFormTest, QuotesLabelValues) {
  EXPECT_EQ(SeriesFromShortForm("chat_rooms"), "chat_rooms");
  EXPECT_EQ(SeriesFromShortForm("chat_refusals_total{cause=flood}"),
            "chat_refusals_total{cause=\"flood\"}");
  EXPECT_EQ(SeriesFromShortForm("x{a=1,b=two}"), "x{a=\"1\",b=\"two\"}");
  EXPECT_EQ(SeriesFromShortForm("x{a=\"1\"}"), "x{a=\"1\"}");
}

TEST(HttpGetTest, NothingListening) {
  // Port 1 on the loopback: nothing listens there (tests never bind it).
  absl::StatusOr<HttpAnswer> a = HttpGet("127.0.0.1:1", "/metrics");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(HttpGet("localhost", "/").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chat

// Reading chat-service's /metrics (--metrics_addr) from a test, as
// Prometheus would: one blocking HTTP/1.1 GET, and the samples of the text
// format by series.
//
// A series is written as the exposition writes it: NAME or
// NAME{label="value",...}, labels in the server's order, e.g.
// chat_refusals_total{cause="flood"}.
//
// Example:
//   absl::StatusOr<MetricSamples> m = ScrapeMetrics(server.metrics_addr());
//   ASSERT_TRUE(m.ok()) << m.status();
//   EXPECT_EQ(m->at("chat_members{transport=\"grpc\"}"), 2);
//
// No gtest: the scenario harness uses it too. Thread-safe.
#ifndef CHATROOM_TESTING_METRICS_SCRAPE_H_
#define CHATROOM_TESTING_METRICS_SCRAPE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

// What one GET answered.
struct HttpAnswer {
  int status = 0;    // 200.
  std::string head;  // The status line and headers, each ending "\r\n".
  std::string body;
};

// HttpGet
//
// GET `path` from `address` ("127.0.0.1:PORT", IPv4), "Connection: close",
// read to the server's close. Errors: UNAVAILABLE (cannot connect),
// DEADLINE_EXCEEDED (no whole answer within `timeout`), INTERNAL (not an
// HTTP answer).
absl::StatusOr<HttpAnswer> HttpGet(const std::string& address,
                                   absl::string_view path,
                                   absl::Duration timeout = absl::Seconds(10));

// Every sample by its series, in the exposition's spelling.
using MetricSamples = std::map<std::string, double>;

// ParseMetricSamples
//
// The samples of a text-format body (comments skipped). INVALID_ARGUMENT
// for a line that is not NAME[{...}] VALUE.
absl::StatusOr<MetricSamples> ParseMetricSamples(absl::string_view text);

// ScrapeMetrics
//
// HttpGet of /metrics, which must answer 200, then ParseMetricSamples.
absl::StatusOr<MetricSamples> ScrapeMetrics(
    const std::string& address, absl::Duration timeout = absl::Seconds(10));

// SeriesFromShortForm
//
// A series as a script writes it, labels without quotes:
// chat_refusals_total{cause=flood} -> chat_refusals_total{cause="flood"};
// NAME alone, or quoted labels, are kept.
std::string SeriesFromShortForm(absl::string_view series);

}  // namespace chat

#endif  // CHATROOM_TESTING_METRICS_SCRAPE_H_

// TextExposition: writes metrics in the Prometheus text exposition format,
// version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/),
// the body of a GET /metrics answered as "text/plain; version=0.0.4".
//
// Written by hand: Debian 12 packages no Prometheus client for C++, and the
// format is small. A metric family is a "# HELP" line, a "# TYPE" line and
// its samples, one per line: NAME{LABEL="VALUE",...} VALUE. A histogram's
// samples are NAME_bucket{le="BOUND"} (cumulative, the last le="+Inf"),
// NAME_sum and NAME_count. HELP text escapes \ and newline; label values
// escape \, " and newline. Integers are written exactly; other numbers in
// the shortest form that reads back the same, +Inf, -Inf and NaN as
// Prometheus spells them.
//
// Names are the caller's constants: ValidMetricName and ValidLabelName say
// whether one follows the format's rules, for tests; the writer does not
// check them on every sample.
//
// Example:
//   TextExposition out;
//   out.Begin("chat_events_total", MetricType::kCounter, "Room events.");
//   out.Sample({}, uint64_t{42});
//   out.Begin("chat_members", MetricType::kGauge, "Members now.");
//   out.Sample({{"transport", "grpc"}}, int64_t{3});
//   std::string body = out.Take();
//
// Not thread-safe: one writer per scrape.
#ifndef CHATROOM_METRICS_TEXT_FORMAT_H_
#define CHATROOM_METRICS_TEXT_FORMAT_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace chat {

// The content type of a body TextExposition wrote.
inline constexpr absl::string_view kTextExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram };

// A histogram as a scrape shows it.
struct HistogramSnapshot {
  std::vector<double> bounds;        // Increasing upper bounds.
  std::vector<uint64_t> cumulative;  // Observations <= each bound, then all
                                     // (bounds.size() + 1 entries).
  uint64_t count = 0;                // == cumulative.back().
  double sum = 0;
};

class TextExposition {
 public:
  using Label = std::pair<absl::string_view, absl::string_view>;
  using Labels = std::initializer_list<Label>;

  TextExposition() = default;
  TextExposition(const TextExposition&) = delete;
  TextExposition& operator=(const TextExposition&) = delete;

  // Begin
  //
  // Starts the family `name` (a counter's name ends in "_total"): its HELP
  // and TYPE lines. The samples that follow are its own.
  void Begin(absl::string_view name, MetricType type, absl::string_view help);

  // Sample
  //
  // One sample of the current counter or gauge family.
  void Sample(Labels labels, uint64_t value);
  void Sample(Labels labels, int64_t value);
  void Sample(Labels labels, double value);

  // HistogramSample
  //
  // The samples of the current histogram family for one label set:
  // buckets, sum and count.
  void HistogramSample(Labels labels, const HistogramSnapshot& histogram);

  // The text so far; the writer starts again empty.
  std::string Take();

 private:
  // NAME{labels[,extra]} without the value.
  void Series(absl::string_view suffix, Labels labels,
              const Label* extra = nullptr);

  std::string name_;  // The current family's.
  std::string out_;
};

// FormatSampleValue
//
// A sample value as the format writes it: "42", "0.25", "1e-06", "+Inf",
// "-Inf", "NaN".
std::string FormatSampleValue(double value);

// ValidMetricName / ValidLabelName
//
// [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (not starting "__",
// which Prometheus keeps for itself).
bool ValidMetricName(absl::string_view name);
bool ValidLabelName(absl::string_view name);

}  // namespace chat

#endif  // CHATROOM_METRICS_TEXT_FORMAT_H_

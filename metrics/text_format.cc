#include "metrics/text_format.h"

#include <charconv>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace chat {
namespace {

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text: \ and newline escaped.
void AppendHelp(std::string* out, absl::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// A label value: \, " and newline escaped.
void AppendLabelValue(std::string* out, absl::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

void AppendLabel(std::string* out, const TextExposition::Label& label,
                 bool first) {
  if (!first) out->push_back(',');
  absl::StrAppend(out, label.first, "=\"");
  AppendLabelValue(out, label.second);
  out->push_back('"');
}

}  // namespace

std::string FormatSampleValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  // Shortest round trip in %g's style, as Prometheus' Go client writes
  // (strconv.FormatFloat(v, 'g', -1, 64): 0.0001, 1e-06, 1.5e+06): the same
  // bound reads the same across exporters.
  const std::to_chars_result r = std::to_chars(
      buffer, buffer + sizeof(buffer), value, std::chars_format::general);
  return std::string(buffer, r.ptr);
}

bool ValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        c == ':' ||
        (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

bool ValidLabelName(absl::string_view name) {
  if (name.empty() || absl::StartsWith(name, "__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
        (i > 0 && absl::ascii_isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

void TextExposition::Begin(absl::string_view name, MetricType type,
                           absl::string_view help) {
  name_ = std::string(name);
  absl::StrAppend(&out_, "# HELP ", name, " ");
  AppendHelp(&out_, help);
  absl::StrAppend(&out_, "\n# TYPE ", name, " ", TypeName(type), "\n");
}

void TextExposition::Series(absl::string_view suffix, Labels labels,
                            const Label* extra) {
  absl::StrAppend(&out_, name_, suffix);
  if (labels.size() == 0 && extra == nullptr) return;
  out_.push_back('{');
  bool first = true;
  for (const Label& label : labels) {
    AppendLabel(&out_, label, first);
    first = false;
  }
  if (extra != nullptr) AppendLabel(&out_, *extra, first);
  out_.push_back('}');
}

void TextExposition::Sample(Labels labels, uint64_t value) {
  Series("", labels);
  absl::StrAppend(&out_, " ", value, "\n");
}

void TextExposition::Sample(Labels labels, int64_t value) {
  Series("", labels);
  absl::StrAppend(&out_, " ", value, "\n");
}

void TextExposition::Sample(Labels labels, double value) {
  Series("", labels);
  absl::StrAppend(&out_, " ", FormatSampleValue(value), "\n");
}

void TextExposition::HistogramSample(Labels labels,
                                     const HistogramSnapshot& histogram) {
  for (size_t i = 0; i < histogram.cumulative.size(); ++i) {
    const std::string le = i < histogram.bounds.size()
                               ? FormatSampleValue(histogram.bounds[i])
                               : std::string("+Inf");
    const Label bound{"le", le};
    Series("_bucket", labels, &bound);
    absl::StrAppend(&out_, " ", histogram.cumulative[i], "\n");
  }
  Series("_sum", labels);
  absl::StrAppend(&out_, " ", FormatSampleValue(histogram.sum), "\n");
  Series("_count", labels);
  absl::StrAppend(&out_, " ", histogram.count, "\n");
}

std::string TextExposition::Take() {
  std::string out;
  out.swap(out_);
  name_.clear();
  return out;
}

}  // namespace chat

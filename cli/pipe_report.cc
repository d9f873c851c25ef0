#include "cli/pipe_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace chat {
namespace {

// The most runs of lines listed for one reason.
constexpr size_t kMaxRuns = 8;

// "line 5", "lines 17-19, 40", "lines 1-3, 5 and 9 more".
std::string Runs(std::vector<uint64_t> lines) {
  std::sort(lines.begin(), lines.end());
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  for (uint64_t n : lines) {
    if (!runs.empty() && runs.back().second + 1 == n) {
      runs.back().second = n;
    } else {
      runs.push_back({n, n});
    }
  }
  std::string out = lines.size() == 1 ? "line " : "lines ";
  uint64_t listed = 0;
  for (size_t i = 0; i < runs.size() && i < kMaxRuns; ++i) {
    const auto& [first, last] = runs[i];
    absl::StrAppend(&out, i == 0 ? "" : ", ", first);
    if (last > first) absl::StrAppend(&out, "-", last);
    listed += last - first + 1;
  }
  if (listed < lines.size()) {
    absl::StrAppend(&out, " and ", lines.size() - listed, " more");
  }
  return out;
}

}  // namespace

void PipeReport::Sent(uint64_t line) {
  if (outstanding_.insert(line).second) ++lines_;
}

void PipeReport::Posted(uint64_t line) { outstanding_.erase(line); }

void PipeReport::NotSent(uint64_t line, absl::string_view reason) {
  if (outstanding_.erase(line) == 0) ++lines_;  // Refused before sending.
  Record(line, reason);
}

void PipeReport::Finish(absl::string_view reason) {
  for (uint64_t line : outstanding_) Record(line, reason);
  outstanding_.clear();
}

void PipeReport::Record(uint64_t line, absl::string_view reason) {
  ++not_sent_;
  const std::string key(reason);
  auto [it, added] = lines_by_reason_.try_emplace(key);
  if (added) reasons_.push_back(key);
  it->second.push_back(line);
}

std::string PipeReport::Summary() const {
  if (not_sent_ == 0) return "";
  std::string out =
      absl::StrCat(not_sent_, " of ", lines_, " line",
                   lines_ == 1 ? " was" : "s were", " not sent: ");
  for (size_t i = 0; i < reasons_.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : "; ",
                    Runs(lines_by_reason_.at(reasons_[i])), " (", reasons_[i],
                    ")");
  }
  return out;
}

}  // namespace chat

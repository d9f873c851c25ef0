#include "net/throttled_log.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/log.h"

namespace chat {
namespace {

ThrottledLog::Options WithDefaults(ThrottledLog::Options options) {
  if (!options.clock) options.clock = [] { return absl::Now(); };
  if (!options.sink) options.sink = [](absl::string_view l) { LogLine(l); };
  if (options.burst < 1) options.burst = 1;
  return options;
}

}  // namespace

ThrottledLog::ThrottledLog() : ThrottledLog(Options()) {}

ThrottledLog::ThrottledLog(Options options)
    : options_(WithDefaults(std::move(options))) {}

std::string ThrottledLog::Summary(absl::string_view cause, size_t left_out) {
  return absl::StrCat("... and ", left_out, " more like it (", cause,
                      ") not logged");
}

void ThrottledLog::Log(absl::string_view cause, absl::string_view line) {
  const absl::Time now = options_.clock();
  std::string summary;
  bool write = false;
  {
    absl::MutexLock lock(&mu_);
    Cause& c = causes_[cause];
    if (c.logged == 0 || now - c.window_start >= options_.window) {
      if (c.left_out > 0) summary = Summary(cause, c.left_out);
      c = Cause{.window_start = now};
    }
    if (c.logged < options_.burst) {
      ++c.logged;
      write = true;
    } else {
      ++c.left_out;
    }
  }
  if (!summary.empty()) options_.sink(summary);
  if (write) options_.sink(line);
}

void ThrottledLog::Flush() {
  std::vector<std::string> summaries;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [cause, c] : causes_) {
      if (c.left_out > 0) summaries.push_back(Summary(cause, c.left_out));
      c.left_out = 0;
    }
  }
  for (const std::string& line : summaries) options_.sink(line);
}

}  // namespace chat

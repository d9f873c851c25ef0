#include "net/throttled_log.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/time/clock.h"

namespace chat {
namespace {

ThrottledLog::Options WithDefaults(ThrottledLog::Options options) {
  if (!options.clock) options.clock = [] { return absl::Now(); };
  if (!options.sink) options.sink = [](const LogRecord& r) { Log(r); };
  if (options.burst < 1) options.burst = 1;
  return options;
}

}  // namespace

ThrottledLog::ThrottledLog() : ThrottledLog(Options()) {}

ThrottledLog::ThrottledLog(Options options)
    : options_(WithDefaults(std::move(options))) {}

LogRecord ThrottledLog::Summary(absl::string_view cause, const Cause& c) {
  return LogRecord{c.level,
                   "not logged: more like it",
                   {{"count", c.left_out}, {"cause", cause}}};
}

void ThrottledLog::Log(absl::string_view cause, LogRecord record) {
  const absl::Time now = options_.clock();
  std::optional<LogRecord> summary;
  bool write = false;
  {
    absl::MutexLock lock(&mu_);
    Cause& c = causes_[cause];
    if (c.logged == 0 || now - c.window_start >= options_.window) {
      if (c.left_out > 0) summary = Summary(cause, c);
      c = Cause{.window_start = now};
    }
    if (c.logged < options_.burst) {
      ++c.logged;
      write = true;
    } else {
      ++c.left_out;
      c.level = std::max(c.level, record.level);
    }
  }
  if (summary) options_.sink(*summary);
  if (write) {
    record.fields.emplace_back("cause", cause);
    options_.sink(record);
  }
}

void ThrottledLog::Flush() {
  std::vector<LogRecord> summaries;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [cause, c] : causes_) {
      if (c.left_out > 0) summaries.push_back(Summary(cause, c));
      c.left_out = 0;
    }
  }
  for (const LogRecord& record : summaries) options_.sink(record);
}

}  // namespace chat

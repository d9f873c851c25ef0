#include "metrics/process_stats.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "service/fd_limit.h"

namespace chat {
namespace {

// The whole of a small /proc file (at most `max` bytes).
absl::StatusOr<std::string> ReadSmallFile(const char* path, size_t max) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", path));
  }
  std::string text;
  char buffer[4096];
  while (text.size() < max) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

}  // namespace

absl::Status ParseProcStat(absl::string_view stat, int64_t ticks_per_second,
                           int64_t page_size, int64_t boot_time_seconds,
                           ProcessStats* stats) {
  // "PID (NAME) STATE PPID ...": the name may hold ") ", so the fields
  // start after the last ')'.
  const size_t close = stat.rfind(')');
  if (close == absl::string_view::npos || ticks_per_second <= 0) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line");
  }
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::StripAsciiWhitespace(stat.substr(close + 1)), ' ',
                     absl::SkipEmpty());
  // fields[0] is field 3 (state): utime is field 14, stime 15, starttime
  // 22, vsize 23, rss 24 (man 5 proc).
  auto field = [&fields](size_t number, uint64_t* value) {
    return number - 3 < fields.size() &&
           absl::SimpleAtoi(fields[number - 3], value);
  };
  uint64_t utime, stime, start, vsize, rss;
  if (!field(14, &utime) || !field(15, &stime) || !field(22, &start) ||
      !field(23, &vsize) || !field(24, &rss)) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line");
  }
  const double ticks = static_cast<double>(ticks_per_second);
  stats->cpu_seconds = static_cast<double>(utime + stime) / ticks;
  stats->virtual_bytes = vsize;
  stats->resident_bytes = rss * static_cast<uint64_t>(page_size);
  stats->start_time_seconds = static_cast<double>(boot_time_seconds) +
                              static_cast<double>(start) / ticks;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseBootTime(absl::string_view proc_stat) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    int64_t btime = 0;
    if (absl::ConsumePrefix(&line, "btime ") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &btime)) {
      return btime;
    }
  }
  return absl::InternalError("no btime line in /proc/stat");
}

absl::StatusOr<ProcessStats> ReadProcessStats() {
  absl::StatusOr<std::string> stat = ReadSmallFile("/proc/self/stat", 4096);
  if (!stat.ok()) return stat.status();
  // btime is near the end of /proc/stat, after a line per CPU.
  absl::StatusOr<std::string> system = ReadSmallFile("/proc/stat", 1 << 20);
  if (!system.ok()) return system.status();
  absl::StatusOr<int64_t> boot = ParseBootTime(*system);
  if (!boot.ok()) return boot.status();
  ProcessStats stats;
  absl::Status parsed = ParseProcStat(*stat, sysconf(_SC_CLK_TCK),
                                      sysconf(_SC_PAGESIZE), *boot, &stats);
  if (!parsed.ok()) return absl::InternalError(parsed.message());
  stats.open_fds = OpenFdCount();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    stats.max_fds = limit.rlim_cur;
  }
  return stats;
}

}  // namespace chat

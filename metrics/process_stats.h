// ProcessStats: what Prometheus' standard process_* metrics show (CPU time,
// memory, descriptors, start time), read from /proc/self as its own clients
// read them. Linux only.
//
// Example:
//   absl::StatusOr<ProcessStats> p = ReadProcessStats();
//   if (p.ok()) std::cout << p->resident_bytes;
//
// Thread-safe: every function may be called from any thread; each reads a
// few small files (I/O: call with no lock held).
#ifndef CHATROOM_METRICS_PROCESS_STATS_H_
#define CHATROOM_METRICS_PROCESS_STATS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chat {

struct ProcessStats {
  double cpu_seconds = 0;         // User and system time.
  uint64_t resident_bytes = 0;    // Resident set size.
  uint64_t virtual_bytes = 0;     // Virtual memory size.
  double start_time_seconds = 0;  // Since the Unix epoch.
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;  // The soft RLIMIT_NOFILE (0 if unknown).
};

// ReadProcessStats
//
// This process's, now. Errors: INTERNAL when /proc/self/stat or /proc/stat
// cannot be read or parsed.
absl::StatusOr<ProcessStats> ReadProcessStats();

// ParseProcStat
//
// Fills the cpu, memory and start time fields of *stats from the text of
// /proc/PID/stat, given the clock ticks a second, the page size and the
// boot time (/proc/stat's btime). A name (the second field) may hold spaces
// and parentheses. INVALID_ARGUMENT when the text is not such a line.
absl::Status ParseProcStat(absl::string_view stat, int64_t ticks_per_second,
                           int64_t page_size, int64_t boot_time_seconds,
                           ProcessStats* stats);

// ParseBootTime
//
// The "btime" line of /proc/stat's text: seconds since the Unix epoch.
absl::StatusOr<int64_t> ParseBootTime(absl::string_view proc_stat);

}  // namespace chat

#endif  // CHATROOM_METRICS_PROCESS_STATS_H_

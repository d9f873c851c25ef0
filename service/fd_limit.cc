#include "service/fd_limit.h"

#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "service/log.h"

namespace chat {
namespace {

// The most a soft limit can be raised to when the hard limit is unlimited.
uint64_t NrOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  if (in >> value && value > 0) return value;
  return 1 << 20;
}

}  // namespace

absl::StatusOr<FdLimit> RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(absl::StrCat(
        "cannot read the descriptor limit: ", std::strerror(errno)));
  }
  FdLimit result;
  result.before = limit.rlim_cur;
  result.soft = limit.rlim_cur;
  result.hard = limit.rlim_max;
  const rlim_t target =
      limit.rlim_max == RLIM_INFINITY ? NrOpen() : limit.rlim_max;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < target) {
    rlimit raised = limit;
    raised.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      result.soft = target;
      Log(LogLevel::kInfo, "file descriptor limit raised to the hard limit",
          {{"from", result.before}, {"to", result.soft}});
    } else {
      Log(LogLevel::kWarning,
          "file descriptor limit stays: cannot raise it to the hard limit",
          {{"limit", result.before},
           {"hard", target},
           {"error", std::strerror(errno)}});
    }
  } else {
    Log(LogLevel::kInfo, "file descriptor limit is the hard limit",
        {{"limit", result.soft}});
  }
  return result;
}

size_t OpenFdCount() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  size_t count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count > 0 ? count - 1 : 0;  // Less the directory's own.
}

absl::StatusOr<std::vector<size_t>> FitConnectionCaps(
    const std::vector<size_t>& caps, uint64_t fd_limit, size_t reserved,
    const std::vector<size_t>& fds_per_connection) {
  const uint64_t budget = fd_limit > reserved ? fd_limit - reserved : 0;
  // What each transport needs at its cap, in descriptors.
  std::vector<uint64_t> weight(caps.size(), 1);
  for (size_t i = 0; i < caps.size() && i < fds_per_connection.size(); ++i) {
    weight[i] = std::max<uint64_t>(1, fds_per_connection[i]);
  }
  long double sum = 0;
  uint64_t least = 0;  // Descriptors for one connection of each.
  for (size_t i = 0; i < caps.size(); ++i) {
    sum += static_cast<long double>(caps[i]) * weight[i];
    if (caps[i] > 0) least += weight[i];
  }
  if (sum <= budget) return caps;
  const auto nonzero = static_cast<uint64_t>(
      std::count_if(caps.begin(), caps.end(), [](size_t c) { return c > 0; }));
  if (budget < least) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the file descriptor limit ", fd_limit, " leaves no room for ", nonzero,
        " transports' connections (", reserved,
        " are kept for files and internals); raise it (ulimit -n)"));
  }
  // Smallest need first: a need under an equal share of what is left is
  // kept whole; the larger ones split the rest equally.
  auto need = [&](size_t i) {
    return static_cast<long double>(caps[i]) * weight[i];
  };
  std::vector<size_t> order;
  for (size_t i = 0; i < caps.size(); ++i) {
    if (caps[i] > 0) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return need(a) < need(b); });
  std::vector<size_t> fitted(caps.size(), 0);
  uint64_t left = budget;
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    const uint64_t share = left / (order.size() - k);
    fitted[i] = static_cast<size_t>(
        std::max<uint64_t>(1, std::min<uint64_t>(caps[i], share / weight[i])));
    left -= std::min<uint64_t>(left, fitted[i] * weight[i]);
  }
  return fitted;
}

}  // namespace chat

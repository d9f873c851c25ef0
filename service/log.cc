#include "service/log.h"

#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace chat {

void LogLine(absl::string_view line) {
  std::string out = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", absl::Now(),
                                     absl::UTCTimeZone());
  absl::StrAppend(&out, line, "\n");
  // One write keeps concurrent lines whole; a log line that cannot be
  // written is dropped rather than blocking or failing the caller.
  ssize_t unused = ::write(STDERR_FILENO, out.data(), out.size());
  (void)unused;
}

}  // namespace chat

// Logging: one line at a time to stderr, each line written whole.
// Thread-safe. Do not call while holding a lock: a log line is I/O.
#ifndef CHATROOM_SERVICE_LOG_H_
#define CHATROOM_SERVICE_LOG_H_

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace chat {

// Writes "<UTC time> <line>\n" to stderr in one write.
void LogLine(absl::string_view line);

// LogLine(absl::StrCat(args...)).
template <typename... Args>
void Log(const Args&... args) {
  LogLine(absl::StrCat(args...));
}

}  // namespace chat

#endif  // CHATROOM_SERVICE_LOG_H_

// Logging: one line per event to stderr, each line written whole, in a
// logfmt-like form a person reads and a program splits:
//
//   2026-11-29T19:00:00.000Z level=info msg="joined" member=alice room=lobby
//
// Each line has a level (debug, info, warning, error; lines under the level
// set with SetLogLevel, chat-service's --log_level, are not written), a
// message `msg` and key=value fields. A value is written bare when it is a
// plain word, else in double quotes with \" \\ \n \r \t and \xHH escapes
// (other control bytes, invalid UTF-8), so one event is always one line.
// When stderr is the systemd journal ($JOURNAL_STREAM names it), each line
// starts with the journal's priority prefix ("<6>", info) instead of the
// time, which the journal keeps itself.
//
// Thread-safe. Do not call while holding a lock: a log line is I/O. Events
// are logged, not messages: nothing logs per chat message.
//
// Example:
//   Log(LogLevel::kInfo, "tls: reloaded certificate", {{"cert", cert}});
//   Log(LogLevel::kWarning, "store: cannot write",
//       {{"dir", dir}, {"waiting", 42}});
#ifndef CHATROOM_SERVICE_LOG_H_
#define CHATROOM_SERVICE_LOG_H_

#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace chat {

// LogLevel: how much a line matters, least first.
enum class LogLevel { kDebug, kInfo, kWarning, kError };

// "debug", "info", "warning", "error".
absl::string_view LogLevelName(LogLevel level);

// --log_level: "debug", "info", "warning" (or "warn"), "error".
bool AbslParseFlag(absl::string_view text, LogLevel* level, std::string* error);
std::string AbslUnparseFlag(LogLevel level);

// SetLogLevel
//
// Lines under `level` are dropped from now on (default: kInfo). Any thread.
void SetLogLevel(LogLevel level);

// LogEnabled
//
// Whether a line at `level` is written: to skip building a costly one.
bool LogEnabled(LogLevel level);

// LogField: one key=value of a line. The key is a word (letters, digits,
// '_'); the value anything absl::StrCat takes (text, numbers).
struct LogField {
  LogField(absl::string_view k, const absl::AlphaNum& v)
      : key(k), value(v.Piece()) {}

  std::string key;
  std::string value;
};

// LogRecord: a line to write later (after a lock is released, say).
struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string msg;
  std::vector<LogField> fields;
};

// FormatLogLine
//
// The line for one event, without the line end: "<time> level=L msg=M
// k=v...", or with `journal` "<N>level=L msg=M k=v..." (N: the syslog
// priority). Pure, for tests.
std::string FormatLogLine(absl::Time time, LogLevel level,
                          absl::string_view msg,
                          absl::Span<const LogField> fields,
                          bool journal = false);

// AppendLogValue
//
// Appends `value` to *out as one logfmt value: bare if it is a non-empty
// run of printable ASCII without space, '"', '=' or '\\', else quoted and
// escaped.
void AppendLogValue(absl::string_view value, std::string* out);

// Log
//
// Writes one line for an event at `level` (if enabled) to stderr, in one
// write; a line that cannot be written is dropped.
void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields = {});
void Log(const LogRecord& record);

// Log(args...): free text at info, the older form: the arguments joined
// (absl::StrCat) become msg. Prefer a level, a short msg and fields.
template <typename First, typename... Rest,
          typename =
              std::enable_if_t<!std::is_same_v<std::decay_t<First>, LogLevel> &&
                               !std::is_same_v<std::decay_t<First>, LogRecord>>>
void Log(const First& first, const Rest&... rest) {
  Log(LogLevel::kInfo, absl::StrCat(first, rest...));
}

}  // namespace chat

#endif  // CHATROOM_SERVICE_LOG_H_

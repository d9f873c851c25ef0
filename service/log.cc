#include "service/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace chat {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};

// Syslog priorities, as the journal reads them from a "<N>" prefix.
int JournalPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 7;
    case LogLevel::kInfo:
      return 6;
    case LogLevel::kWarning:
      return 4;
    case LogLevel::kError:
      return 3;
  }
  return 6;
}

// Whether stderr is the journal's stream: $JOURNAL_STREAM ("DEVICE:INODE",
// set by systemd) names the file stderr is.
bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(env, absl::MaxSplits(':', 1));
  uint64_t dev = 0, ino = 0;
  struct stat st;
  return absl::SimpleAtoi(parts.first, &dev) &&
         absl::SimpleAtoi(parts.second, &ino) &&
         ::fstat(STDERR_FILENO, &st) == 0 &&
         static_cast<uint64_t>(st.st_dev) == dev &&
         static_cast<uint64_t>(st.st_ino) == ino;
}

// The length of the valid UTF-8 sequence at the start of `s` (2-4), or 0.
size_t Utf8SequenceLength(absl::string_view s) {
  const auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](size_t i) {
    return i < s.size() && (byte(i) & 0xC0) == 0x80;
  };
  const unsigned char c = byte(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && byte(1) < 0xA0) return 0;   // Overlong.
    if (c == 0xED && byte(1) >= 0xA0) return 0;  // Surrogate.
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && byte(1) < 0x90) return 0;   // Overlong.
    if (c == 0xF4 && byte(1) >= 0x90) return 0;  // Over U+10FFFF.
    return 4;
  }
  return 0;
}

bool IsBare(absl::string_view value) {
  if (value.empty()) return false;
  for (char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= ' ' || c >= 0x7F || c == '"' || c == '=' || c == '\\') {
      return false;
    }
  }
  return true;
}

void Write(LogLevel level, absl::string_view msg,
           absl::Span<const LogField> fields) {
  if (!LogEnabled(level)) return;
  static const bool journal = StderrIsJournal();
  std::string out = FormatLogLine(absl::Now(), level, msg, fields, journal);
  out.push_back('\n');
  // One write keeps concurrent lines whole; a log line that cannot be
  // written is dropped rather than blocking or failing the caller.
  ssize_t unused = ::write(STDERR_FILENO, out.data(), out.size());
  (void)unused;
}

}  // namespace

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

bool AbslParseFlag(absl::string_view text, LogLevel* level,
                   std::string* error) {
  const std::string name = absl::AsciiStrToLower(text);
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                     LogLevel::kError}) {
    if (name == LogLevelName(l)) {
      *level = l;
      return true;
    }
  }
  if (name == "warn") {
    *level = LogLevel::kWarning;
    return true;
  }
  *error = "a log level is debug, info, warning or error";
  return false;
}

std::string AbslUnparseFlag(LogLevel level) {
  return std::string(LogLevelName(level));
}

void SetLogLevel(LogLevel level) {
  min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

void AppendLogValue(absl::string_view value, std::string* out) {
  if (IsBare(value)) {
    out->append(value.data(), value.size());
    return;
  }
  out->push_back('"');
  for (size_t i = 0; i < value.size();) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(value.substr(i));
      if (n > 0) {
        out->append(value.data() + i, n);
        i += n;
        continue;
      }
    }
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20 || c >= 0x7F) {
          constexpr char kHex[] = "0123456789abcdef";
          out->append("\\x");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

std::string FormatLogLine(absl::Time time, LogLevel level,
                          absl::string_view msg,
                          absl::Span<const LogField> fields, bool journal) {
  std::string out;
  if (journal) {
    absl::StrAppend(&out, "<", JournalPriority(level), ">");
  } else {
    out = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ ", time, absl::UTCTimeZone());
  }
  absl::StrAppend(&out, "level=", LogLevelName(level), " msg=");
  // msg is always quoted: a sentence, and easy to find by eye.
  if (IsBare(msg)) {
    absl::StrAppend(&out, "\"", msg, "\"");
  } else {
    AppendLogValue(msg, &out);
  }
  for (const LogField& field : fields) {
    absl::StrAppend(&out, " ", field.key, "=");
    AppendLogValue(field.value, &out);
  }
  return out;
}

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields) {
  Write(level, msg, fields);
}

void Log(const LogRecord& record) {
  Write(record.level, record.msg, record.fields);
}

}  // namespace chat

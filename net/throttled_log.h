// ThrottledLog: log lines about refused and closed connections, kept from
// flooding the log. Each line has a cause ("per-ip", "idle", ...), written
// as its field cause=...; at most `burst` lines of one cause are written per
// `window`, and the rest are counted and summed up in one line (msg="not
// logged: more like it" count=1234 cause=...) once the window is over: at
// that cause's next line, or at Flush.
//
// A port scanner or a slowloris attack then costs a few log lines a window,
// while a single refusal is still logged with its peer address.
//
// Thread-safe. Lines are written after the lock is released (log.h).
//
// Example:
//   ThrottledLog log;
//   log.Log("per-ip", {LogLevel::kWarning, "refused: 32 connections ...",
//                      {{"transport", "legacy"}, {"peer", "10.0.0.7:51234"}}});
//   ...
//   log.Flush();  // At shutdown: says what was left out.
#ifndef CHATROOM_NET_THROTTLED_LOG_H_
#define CHATROOM_NET_THROTTLED_LOG_H_

#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/log.h"

namespace chat {

class ThrottledLog {
 public:
  struct Options {
    int burst = 10;                             // Lines per cause and window.
    absl::Duration window = absl::Seconds(10);  //
    // The clock and the writer; tests give their own. Defaults: absl::Now
    // and Log (service/log.h).
    std::function<absl::Time()> clock;
    std::function<void(const LogRecord&)> sink;
  };

  ThrottledLog();
  explicit ThrottledLog(Options options);

  ThrottledLog(const ThrottledLog&) = delete;
  ThrottledLog& operator=(const ThrottledLog&) = delete;

  // Log
  //
  // Writes `record`, with the field cause=`cause` added, unless `cause`
  // already had `burst` lines in this window; then counts it.
  void Log(absl::string_view cause, LogRecord record);

  // Flush
  //
  // Writes the summary of every cause that has lines left out.
  void Flush();

 private:
  struct Cause {
    absl::Time window_start;
    int logged = 0;
    size_t left_out = 0;
    LogLevel level = LogLevel::kInfo;  // Of its lines left out.
  };

  static LogRecord Summary(absl::string_view cause, const Cause& c);

  // Constant after construction.
  const Options options_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cause> causes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chat

#endif  // CHATROOM_NET_THROTTLED_LOG_H_

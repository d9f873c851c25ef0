// PipeReport: what became of each line `chatctl join` posted from a pipe,
// for the one line it prints at the end when some were not posted.
//
// Lines are known by their number in the input (1 for the first). A line
// is sent, then posted or not sent (with a reason, a sentence); lines still
// outstanding when the session ends are closed with Finish.
//
// Example:
//   PipeReport report;
//   report.Sent(1);
//   report.Sent(2);
//   report.Posted(1);
//   report.NotSent(2, "message not sent: it is empty");
//   report.Summary();  // "1 of 2 lines were not sent: line 2 (message not
//                      //  sent: it is empty)"
//
// Thread-compatible.
#ifndef CHATROOM_CLI_PIPE_REPORT_H_
#define CHATROOM_CLI_PIPE_REPORT_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace chat {

class PipeReport {
 public:
  // Line `line` is a message, handed to the server (or about to be).
  void Sent(uint64_t line);
  // The server posted it.
  void Posted(uint64_t line);
  // It was not posted (or it cannot be told), because of `reason`. Also for
  // a line refused before it was sent (then Sent is not needed).
  void NotSent(uint64_t line, absl::string_view reason);
  // Every line sent and not answered yet is not sent, because of `reason`.
  void Finish(absl::string_view reason);

  uint64_t lines() const { return lines_; }
  uint64_t not_sent() const { return not_sent_; }

  // "" when every line was posted; else "N of M lines were not sent: "
  // and, for each reason, the lines (as ranges, "lines 17-19, 40") and the
  // reason in parentheses.
  std::string Summary() const;

 private:
  void Record(uint64_t line, absl::string_view reason);

  uint64_t lines_ = 0;
  uint64_t not_sent_ = 0;
  std::set<uint64_t> outstanding_;
  // Reasons in the order first seen, with their lines.
  std::vector<std::string> reasons_;
  std::map<std::string, std::vector<uint64_t>> lines_by_reason_;
};

}  // namespace chat

#endif  // CHATROOM_CLI_PIPE_REPORT_H_

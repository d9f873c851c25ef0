// The scenario script format: parsing a plain-text scenario into steps.
//
// A scenario is one step per line; `#` starts a comment (outside quotes and
// regexes); blank lines are ignored. A step is an operation name followed by
// tokens separated by spaces:
//   word         alice, 300ms, --outbox_events=64
//   "string"     C-style escapes: \n \r \t \0 \\ \" \xHH
//   /regex/      an RE2 regex, searched in a received line; \/ for a slash
//   key=value    an option; the value may be a word, a "string" or a
//                /regex/ (key=/regex/)
// The operations and their arguments are listed in integration_tests/
// README.md and checked here (ParseScript), so a typo is reported with its
// line before any server starts. That includes the cluster's shape: a node
// or Redis shard that the last `start` does not have (`grpc alice@3` after
// `start nodes=2 redis`, `redis-kill` after a start without redis) is an
// error too. Pure functions; thread-safe.
#ifndef CHATROOM_INTEGRATION_TESTS_SCRIPT_H_
#define CHATROOM_INTEGRATION_TESTS_SCRIPT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

// Token: one piece of a step line.
struct Token {
  enum class Kind { kWord, kString, kRegex };
  Kind kind = Kind::kWord;
  std::string text;  // Unescaped for strings; the RE2 source for regexes.
  // For a key=value word: how the value was written (key="..." is a
  // string, key=/.../ a regex); text holds "key=" and the unescaped value.
  Kind value_kind = Kind::kWord;

  bool operator==(const Token& o) const {
    return kind == o.kind && text == o.text;
  }
};

// Pattern: what an expectation matches a received line against. A word or a
// string must equal the whole line; a regex must be found in it.
struct Pattern {
  bool regex = false;
  std::string text;

  // How the script spelled it: "text" (escaped) or /text/.
  std::string ToString() const;
};

// Step: one line of a scenario.
struct Step {
  int line = 0;             // 1-based line number in the script.
  std::string source;       // The line as written, without the comment.
  std::string op;           // "say", "expect", ...
  std::vector<Token> args;  // Positional arguments, in order.
  std::map<std::string, std::string> options;  // key=value options.
  // How each option's value was written (a word, "string" or /regex/).
  std::map<std::string, Token::Kind> option_kinds;
  // The nodes a user-creating step (grpc, tcp, group) names after its
  // alias or list: `grpc alice@2` -> {2}, `group u1..u6@1,2,3 grpc` ->
  // {1, 2, 3} (round-robin). The parser strips "@..." from args[0], so
  // args[0] is the alias or list alone. Empty: node 1.
  std::vector<int> nodes;

  // The option's value, or `fallback` when the step has none.
  std::string Option(const std::string& key,
                     const std::string& fallback = "") const;
  bool HasOption(const std::string& key) const {
    return options.count(key) > 0;
  }
  // The option's value as a pattern: a regex when written key=/.../, else
  // the exact line. The option must be present.
  Pattern OptionPattern(const std::string& key) const;
};

struct Script {
  std::string path;
  std::vector<Step> steps;
};

// TokenizeLine
//
// Splits one line into tokens (comments removed). Errors name the column.
absl::StatusOr<std::vector<Token>> TokenizeLine(absl::string_view line);

// ParseScript
//
// Parses a whole scenario and checks every step against the operation table
// (known operation, argument count and kinds, known options, well-formed
// durations, numbers, user lists and regexes) and against the shape the
// last `start` gave the scenario (node and shard numbers). Errors read
// "PATH:LINE: what is wrong".
absl::StatusOr<Script> ParseScript(absl::string_view path,
                                   absl::string_view text);

// ParseDuration
//
// "300ms", "5s", "1.5s", "2m" -> a duration; anything else is an error.
absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text);

// ExpandUsers
//
// A user list: "alice", "alice,bob", "u1..u20" (a name prefix and an
// inclusive number range), or a mix: "alice,u1..u3".
// Appends the names to *out.
absl::Status ExpandUsers(absl::string_view text, std::vector<std::string>* out);

// ToPattern
//
// A string or word token becomes an exact-line pattern, a regex token a
// regex pattern.
Pattern ToPattern(const Token& token);

// EscapeForDisplay
//
// Shows bytes the way a script writes them: printable ASCII as is, the rest
// as \r \n \t \0 \xHH, so failure messages show exactly what arrived.
std::string EscapeForDisplay(absl::string_view bytes);

}  // namespace chat

#endif  // CHATROOM_INTEGRATION_TESTS_SCRIPT_H_

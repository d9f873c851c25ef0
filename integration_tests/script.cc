#include "integration_tests/script.h"

#include <cctype>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "re2/re2.h"

namespace chat {
namespace {

absl::Status ExpandUsersInto(absl::string_view text,
                             std::vector<std::string>* out);

// What a positional argument may be.
enum class Arg {
  kUser,      // One user alias (a word).
  kUsers,     // A user list (ExpandUsers).
  kText,      // A word or a string.
  kPattern,   // A word, string or regex.
  kDuration,  // A word such as 300ms.
  kCount,     // A word holding a positive integer.
  kWord,      // Any word.
  kFlag,      // A word starting with "--" (repeatable, see `repeat_last`).
};

struct OpSpec {
  std::vector<Arg> args;
  size_t required = 0;       // The first `required` args must be present.
  bool repeat_last = false;  // The last arg kind may repeat.
  std::set<std::string> options;
};

const std::map<std::string, OpSpec>& Ops() {
  static const auto* ops = new std::map<std::string, OpSpec>{
      {"start", {{Arg::kFlag}, 0, true, {}}},
      {"restart", {{}, 0, false, {}}},
      {"stop", {{}, 0, false, {"code", "timeout"}}},
      {"grpc",
       {{Arg::kUser},
        1,
        false,
        {"room", "history", "resume", "epoch", "channel", "wait", "rcvbuf",
         "name"}}},
      {"tcp", {{Arg::kUser}, 1, false, {"room", "nick", "rcvbuf", "wait"}}},
      {"group",
       {{Arg::kUsers, Arg::kWord}, 2, false, {"room", "channels", "history"}}},
      {"say", {{Arg::kUser, Arg::kText}, 2, false, {"repeat"}}},
      {"me", {{Arg::kUser, Arg::kText}, 2, false, {}}},
      {"nick", {{Arg::kUser, Arg::kText}, 2, false, {}}},
      {"join", {{Arg::kUser, Arg::kText}, 2, false, {"history"}}},
      {"leave", {{Arg::kUser, Arg::kText}, 1, false, {}}},
      {"kill", {{Arg::kUser}, 1, false, {}}},
      {"close", {{Arg::kUser}, 1, false, {}}},
      {"pause", {{Arg::kUsers}, 1, false, {}}},
      {"resume", {{Arg::kUsers}, 1, false, {}}},
      {"send", {{Arg::kUser, Arg::kText}, 2, false, {"repeat"}}},
      {"expect", {{Arg::kUser, Arg::kPattern}, 2, false, {"timeout", "since"}}},
      {"expect-next", {{Arg::kUser, Arg::kPattern}, 2, false, {"timeout"}}},
      {"expect-none",
       {{Arg::kUser, Arg::kPattern}, 1, false, {"until", "timeout"}}},
      {"expect-end",
       {{Arg::kUser, Arg::kWord, Arg::kPattern}, 2, false, {"timeout"}}},
      {"expect-all", {{Arg::kUsers, Arg::kPattern}, 2, false, {"timeout"}}},
      {"expect-epoch", {{Arg::kUser, Arg::kWord}, 2, false, {"than"}}},
      {"members", {{Arg::kText, Arg::kPattern}, 2, false, {}}},
      {"metrics-mark", {{}, 0, false, {}}},
      {"metric", {{Arg::kWord}, 1, false, {"value", "delta", "min"}}},
      {"burst",
       {{Arg::kUsers, Arg::kCount}, 2, false, {"size", "times", "pace"}}},
      {"check-order",
       {{Arg::kUsers}, 1, false, {"timeout", "expect", "witness"}}},
      {"flush", {{Arg::kUsers}, 1, false, {}}},
      {"sleep", {{Arg::kDuration}, 1, false, {}}},
  };
  return *ops;
}

const std::set<std::string>& EndCodes() {
  static const auto* codes = new std::set<std::string>{"OK",
                                                       "CANCELLED",
                                                       "UNKNOWN",
                                                       "INVALID_ARGUMENT",
                                                       "DEADLINE_EXCEEDED",
                                                       "NOT_FOUND",
                                                       "ALREADY_EXISTS",
                                                       "PERMISSION_DENIED",
                                                       "RESOURCE_EXHAUSTED",
                                                       "FAILED_PRECONDITION",
                                                       "ABORTED",
                                                       "OUT_OF_RANGE",
                                                       "UNIMPLEMENTED",
                                                       "INTERNAL",
                                                       "UNAVAILABLE",
                                                       "DATA_LOSS",
                                                       "UNAUTHENTICATED",
                                                       "closed",
                                                       "reset"};
  return *codes;
}

bool IsAlias(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool IsOptionKey(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_islower(c) && c != '_') return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads a "string" starting at line[*pos] == '"'. Leaves *pos after the
// closing quote.
absl::StatusOr<std::string> ReadString(absl::string_view line, size_t* pos) {
  std::string out;
  size_t i = *pos + 1;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '"') {
      *pos = i + 1;
      return out;
    }
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= line.size()) break;
    const char e = line[i + 1];
    i += 2;
    switch (e) {
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case '0':
        out.push_back('\0');
        break;
      case 'e':
        out.push_back('\x1b');
        break;
      case '\\':
      case '"':
        out.push_back(e);
        break;
      case 'x': {
        const int hi = i < line.size() ? HexValue(line[i]) : -1;
        const int lo = i + 1 < line.size() ? HexValue(line[i + 1]) : -1;
        if (hi < 0 || lo < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "column ", i - 1, ": \\x needs two hex digits, as in \\xff"));
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "column ", i - 1, ": unknown escape \\", std::string(1, e),
            " (known: \\n \\r \\t \\0 \\e \\\\ \\\" \\xHH)"));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("column ", *pos + 1, ": string has no closing quote"));
}

// Reads a /regex/ starting at line[*pos] == '/'. "\/" stands for "/"; other
// escapes are left to RE2.
absl::StatusOr<std::string> ReadRegex(absl::string_view line, size_t* pos) {
  std::string out;
  size_t i = *pos + 1;
  while (i < line.size()) {
    const char c = line[i];
    if (c == '/') {
      *pos = i + 1;
      return out;
    }
    if (c == '\\' && i + 1 < line.size()) {
      if (line[i + 1] == '/') {
        out.push_back('/');
      } else {
        out.push_back('\\');
        out.push_back(line[i + 1]);
      }
      i += 2;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("column ", *pos + 1, ": regex has no closing /"));
}

absl::Status CheckArg(Arg kind, const Token& t) {
  const bool word = t.kind == Token::Kind::kWord;
  switch (kind) {
    case Arg::kUser:
      if (!word || !IsAlias(t.text)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "expected a user name (letters, digits, _ or -), got \"", t.text,
            "\""));
      }
      return absl::OkStatus();
    case Arg::kUsers:
      if (!word) {
        return absl::InvalidArgumentError(
            "expected a user list, got a " +
            std::string(t.kind == Token::Kind::kRegex ? "regex" : "string"));
      }
      {
        std::vector<std::string> users;
        return ExpandUsersInto(t.text, &users);
      }
    case Arg::kText:
      if (t.kind == Token::Kind::kRegex) {
        return absl::InvalidArgumentError(
            "expected text (a word or a \"string\"), got a regex");
      }
      return absl::OkStatus();
    case Arg::kPattern:
      if (t.kind == Token::Kind::kRegex) {
        RE2 re(t.text, RE2::Quiet);
        if (!re.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("bad regex /", t.text, "/: ", re.error()));
        }
      }
      return absl::OkStatus();
    case Arg::kDuration:
      if (!word) return absl::InvalidArgumentError("expected a duration");
      return ParseDuration(t.text).status();
    case Arg::kCount: {
      int n = 0;
      if (!word || !absl::SimpleAtoi(t.text, &n) || n <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected a positive number, got \"", t.text, "\""));
      }
      return absl::OkStatus();
    }
    case Arg::kWord:
      if (!word) return absl::InvalidArgumentError("expected a word");
      return absl::OkStatus();
    case Arg::kFlag:
      if (!word || !absl::StartsWith(t.text, "--")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "expected a server flag such as --outbox_events=64, got \"", t.text,
            "\""));
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

// Checks option values that have a fixed form.
absl::Status CheckOption(const std::string& key, const std::string& value) {
  auto number = [&]() -> absl::Status {
    uint64_t n;
    if (!absl::SimpleAtoi(value, &n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "= needs a number, got \"", value, "\""));
    }
    return absl::OkStatus();
  };
  if (key == "pace" || key == "witness") {
    std::vector<std::string> users;
    return ExpandUsersInto(value, &users);
  }
  if (key == "history" || key == "rcvbuf" || key == "repeat" ||
      key == "times" || key == "size" || key == "code" || key == "channels" ||
      key == "value" || key == "delta" || key == "min") {
    return number();
  }
  if (key == "timeout") return ParseDuration(value).status();
  if (key == "wait" || key == "nick") {
    if (value != "yes" && value != "no") {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "= is yes or no, got \"", value, "\""));
    }
  }
  if (key == "resume" && value != "last") {
    if (!number().ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "resume= is a seq number or \"last\", got \"", value, "\""));
    }
  }
  if (key == "channel" && value != "own") return number();
  if (key == "epoch" && value != "last" && value != "current" &&
      value != "other" && value != "none") {
    return absl::InvalidArgumentError(absl::StrCat(
        "epoch= is last, current, other or none, got \"", value, "\""));
  }
  if (key == "expect" && value != "sent" && value != "seen") {
    return absl::InvalidArgumentError(
        absl::StrCat("expect= is sent or seen, got \"", value, "\""));
  }
  if (key == "than" && !IsAlias(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("than= is a user name, got \"", value, "\""));
  }
  if (key == "since" && value != "start") {
    return absl::InvalidArgumentError(
        absl::StrCat("since= can only be start, got \"", value, "\""));
  }
  return absl::OkStatus();
}

// expect-none proves an absence only against a later line the user must
// receive (until=MARKER) or the end of its connection (until=end); the old
// form with a duration is refused with what to write instead.
absl::Status CheckExpectNone(const Step& step) {
  constexpr absl::string_view kHow =
      "write `expect-none U [PATTERN] until=MARKER`: U must receive MARKER (a "
      "line, \"string\" or /regex/, e.g. a message another user says after "
      "the event in question) and nothing matching PATTERN before it; or "
      "until=end once U's connection ends";
  if (step.args.size() >= 2 && step.args[1].kind == Token::Kind::kWord &&
      ParseDuration(step.args[1].text).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expect-none no longer waits for a duration (", step.args[1].text,
        " of silence proves nothing on a loaded machine); ", kHow));
  }
  if (!step.HasOption("until")) {
    return absl::InvalidArgumentError(
        absl::StrCat("expect-none needs until=: ", kHow));
  }
  const Pattern marker = step.OptionPattern("until");
  if (marker.regex) {
    RE2 re(marker.text, RE2::Quiet);
    if (!re.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("until=: bad regex /", marker.text, "/: ", re.error()));
    }
  } else if (marker.text.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("until= needs a marker; ", kHow));
  }
  return absl::OkStatus();
}

absl::Status CheckStep(const Step& step) {
  auto it = Ops().find(step.op);
  if (it == Ops().end()) {
    std::vector<std::string> names;
    for (const auto& [name, spec] : Ops()) names.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown step \"", step.op, "\"; known: ", absl::StrJoin(names, " ")));
  }
  const OpSpec& spec = it->second;
  if (step.op == "expect-none") {
    if (absl::Status s = CheckExpectNone(step); !s.ok()) return s;
  }
  if (step.args.size() < spec.required ||
      (!spec.repeat_last && step.args.size() > spec.args.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        step.op, " takes ", spec.required,
        spec.repeat_last ? " or more"
                         : (spec.args.size() > spec.required
                                ? absl::StrCat(" to ", spec.args.size())
                                : std::string()),
        " arguments, got ", step.args.size()));
  }
  for (size_t i = 0; i < step.args.size(); ++i) {
    const Arg kind = spec.args[std::min(i, spec.args.size() - 1)];
    if (absl::Status s = CheckArg(kind, step.args[i]); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(step.op, " argument ", i + 1, ": ", s.message()));
    }
  }
  for (const auto& [key, value] : step.options) {
    if (!spec.options.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          step.op, " has no option ", key, "=", "; it takes: ",
          spec.options.empty() ? std::string("none")
                               : absl::StrJoin(spec.options, "= ") + "="));
    }
    if (absl::Status s = CheckOption(key, value); !s.ok()) return s;
  }
  if (step.op == "expect-end" && !EndCodes().count(step.args[1].text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expect-end: \"", step.args[1].text,
        "\" is not a gRPC status code name (e.g. RESOURCE_EXHAUSTED) nor "
        "closed/reset (TCP)"));
  }
  if (step.op == "expect-epoch" && step.args[1].text != "same" &&
      step.args[1].text != "changed") {
    return absl::InvalidArgumentError(absl::StrCat(
        "expect-epoch: same or changed, got \"", step.args[1].text, "\""));
  }
  if (step.op == "grpc" && step.HasOption("epoch") &&
      !step.HasOption("resume")) {
    return absl::InvalidArgumentError(
        "grpc: epoch= goes with resume= (it is the resume's epoch)");
  }
  if (step.op == "start") {
    for (const Token& t : step.args) {
      const size_t at = t.text.find("@tmp");
      if (at == std::string::npos) continue;
      const size_t eq = t.text.find('=');
      const std::string rest = t.text.substr(at + 4);
      if (eq == std::string::npos || at != eq + 1 ||
          !(rest.empty() || (rest[0] == '/' && rest.size() > 1 &&
                             rest.find("..") == std::string::npos))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "start: @tmp stands for the scenario's scratch directory and must "
            "begin a flag's value (--data_dir=@tmp or --data_dir=@tmp/NAME), "
            "got \"",
            t.text, "\""));
      }
    }
  }
  if (step.op == "metric" && !step.HasOption("value") &&
      !step.HasOption("delta") && !step.HasOption("min")) {
    return absl::InvalidArgumentError(
        "metric: say what to check: value=N, delta=N (since metrics-mark) or "
        "min=N");
  }
  if (step.op == "group") {
    const std::string& t = step.args[1].text;
    if (t != "grpc" && t != "tcp" && t != "mixed") {
      return absl::InvalidArgumentError(absl::StrCat(
          "group: transport is grpc, tcp or mixed, got \"", t, "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string Pattern::ToString() const {
  if (regex) return absl::StrCat("/", text, "/");
  std::string out = "\"";
  for (char c : EscapeForDisplay(text)) {
    if (c == '"') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

Pattern Step::OptionPattern(const std::string& key) const {
  Pattern p;
  auto kind = option_kinds.find(key);
  p.regex = kind != option_kinds.end() && kind->second == Token::Kind::kRegex;
  p.text = Option(key);
  return p;
}

std::string Step::Option(const std::string& key,
                         const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

absl::StatusOr<std::vector<Token>> TokenizeLine(absl::string_view line) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '#') break;
    Token t;
    if (c == '"') {
      t.kind = Token::Kind::kString;
      absl::StatusOr<std::string> s = ReadString(line, &i);
      if (!s.ok()) return s.status();
      t.text = std::move(*s);
    } else if (c == '/') {
      t.kind = Token::Kind::kRegex;
      absl::StatusOr<std::string> s = ReadRegex(line, &i);
      if (!s.ok()) return s.status();
      t.text = std::move(*s);
    } else {
      const size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' &&
             line[i] != '\r') {
        // key="quoted value"
        if (line[i] == '=' && i + 1 < line.size() && line[i + 1] == '"') {
          t.text = std::string(line.substr(start, i + 1 - start));
          t.value_kind = Token::Kind::kString;
          ++i;
          absl::StatusOr<std::string> s = ReadString(line, &i);
          if (!s.ok()) return s.status();
          absl::StrAppend(&t.text, *s);
          break;
        }
        // key=/regex/ (an option key only: --flag=/path stays a word)
        if (line[i] == '=' && i + 1 < line.size() && line[i + 1] == '/' &&
            IsOptionKey(line.substr(start, i - start))) {
          t.text = std::string(line.substr(start, i + 1 - start));
          t.value_kind = Token::Kind::kRegex;
          ++i;
          absl::StatusOr<std::string> s = ReadRegex(line, &i);
          if (!s.ok()) return s.status();
          absl::StrAppend(&t.text, *s);
          break;
        }
        ++i;
      }
      if (t.text.empty()) t.text = std::string(line.substr(start, i - start));
      if (i < line.size() && line[i] != ' ' && line[i] != '\t' &&
          line[i] != '\r') {
        return absl::InvalidArgumentError(absl::StrCat(
            "column ", i + 1, ": expected a space after a quoted value"));
      }
    }
    if (t.kind != Token::Kind::kWord && i < line.size() && line[i] != ' ' &&
        line[i] != '\t' && line[i] != '\r') {
      return absl::InvalidArgumentError(absl::StrCat(
          "column ", i + 1, ": expected a space after ",
          t.kind == Token::Kind::kString ? "a string" : "a regex"));
    }
    tokens.push_back(std::move(t));
  }
  return tokens;
}

absl::StatusOr<Script> ParseScript(absl::string_view path,
                                   absl::string_view text) {
  Script script;
  script.path = std::string(path);
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": ", what));
    };
    absl::StatusOr<std::vector<Token>> tokens = TokenizeLine(line);
    if (!tokens.ok()) return fail(tokens.status().message());
    if (tokens->empty()) continue;
    Step step;
    step.line = number;
    step.source = std::string(absl::StripAsciiWhitespace(line));
    const Token& op = tokens->front();
    if (op.kind != Token::Kind::kWord) {
      return fail("a step starts with its name, e.g. say or expect");
    }
    step.op = op.text;
    for (size_t i = 1; i < tokens->size(); ++i) {
      Token& t = (*tokens)[i];
      const size_t eq = t.text.find('=');
      if (t.kind == Token::Kind::kWord && eq != std::string::npos &&
          IsOptionKey(absl::string_view(t.text).substr(0, eq))) {
        const std::string key = t.text.substr(0, eq);
        if (step.options.count(key)) {
          return fail(absl::StrCat("option ", key, "= given twice"));
        }
        step.options[key] = t.text.substr(eq + 1);
        step.option_kinds[key] = t.value_kind;
        continue;
      }
      step.args.push_back(std::move(t));
    }
    if (absl::Status s = CheckStep(step); !s.ok()) return fail(s.message());
    script.steps.push_back(std::move(step));
  }
  return script;
}

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration() || !absl::ascii_isalpha(text.back())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not a duration such as 300ms, 5s or 1.5s"));
  }
  return d;
}

absl::Status ExpandUsers(absl::string_view text,
                         std::vector<std::string>* out) {
  return ExpandUsersInto(text, out);
}

namespace {

// The most users one list names (a range is at most 100,000 of them).
constexpr size_t kMaxUsersPerList = 100000;

absl::Status ExpandUsersInto(absl::string_view text,
                             std::vector<std::string>* out) {
  std::vector<std::string>& users = *out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const size_t dots = part.find("..");
    if (dots == absl::string_view::npos) {
      if (!IsAlias(part)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", part, "\" is not a user name"));
      }
      users.emplace_back(part);
      continue;
    }
    // u1..u20: the prefix is what precedes the first number's digits.
    absl::string_view first = part.substr(0, dots);
    absl::string_view last = part.substr(dots + 2);
    size_t digits = first.size();
    while (digits > 0 && absl::ascii_isdigit(first[digits - 1])) --digits;
    absl::string_view prefix = first.substr(0, digits);
    int from = 0;
    int to = 0;
    if (digits == first.size() || !IsAlias(prefix) ||
        !absl::ConsumePrefix(&last, prefix) ||
        !absl::SimpleAtoi(first.substr(digits), &from) ||
        !absl::SimpleAtoi(last, &to) || from > to || to - from >= 100000) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", part,
                       "\" is not a user range such as u1..u20 (same "
                       "prefix, increasing numbers)"));
    }
    // The whole list too: 370 ranges of 99,999 would be 37 million names.
    if (users.size() + (to - from + 1) > kMaxUsersPerList) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a user list may name at most ", kMaxUsersPerList, " users"));
    }
    for (int n = from; n <= to; ++n) {
      users.push_back(absl::StrCat(prefix, n));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Pattern ToPattern(const Token& token) {
  Pattern p;
  p.regex = token.kind == Token::Kind::kRegex;
  p.text = token.text;
  return p;
}

std::string EscapeForDisplay(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\0':
        out += "\\0";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

}  // namespace chat

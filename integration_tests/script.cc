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
  kStart,     // start's: a --flag, or the word `redis` (once).
};

// The most nodes and Redis shards a scenario may start.
constexpr int kMaxNodes = 9;
constexpr int kMaxShards = 8;

struct OpSpec {
  std::vector<Arg> args;
  size_t required = 0;       // The first `required` args must be present.
  bool repeat_last = false;  // The last arg kind may repeat.
  std::set<std::string> options;
};

const std::map<std::string, OpSpec>& Ops() {
  static const auto* ops = new std::map<std::string, OpSpec>{
      {"start", {{Arg::kStart}, 0, true, {"nodes", "shards", "persist"}}},
      {"restart", {{}, 0, false, {}}},
      {"stop", {{}, 0, false, {"code", "timeout"}}},
      {"kill-node", {{Arg::kCount}, 1, false, {}}},
      {"stop-node", {{Arg::kCount}, 1, false, {"code", "timeout"}}},
      {"start-node", {{Arg::kCount}, 1, false, {}}},
      {"redis-restart", {{}, 0, false, {"shard"}}},
      {"redis-kill", {{}, 0, false, {"shard"}}},
      {"redis-pause", {{}, 0, false, {"shard"}}},
      {"redis-resume", {{}, 0, false, {"shard"}}},
      {"redis-cli", {{Arg::kText}, 1, true, {"shard", "expect"}}},
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
      {"expect-log", {{Arg::kPattern}, 1, false, {"node", "timeout"}}},
      {"members", {{Arg::kText, Arg::kPattern}, 2, false, {"node"}}},
      {"metrics-mark", {{}, 0, false, {"node"}}},
      {"metric", {{Arg::kWord}, 1, false, {"value", "delta", "min", "node"}}},
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
  if ((kind == Arg::kUser || kind == Arg::kUsers) && word &&
      t.text.find('@') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", t.text,
        "\": a user's node is named only where the user is created (grpc "
        "ALIAS@K, tcp ALIAS@K, group USERS@K,...); afterwards the alias "
        "alone names it"));
  }
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
    case Arg::kStart:
      if (word && t.text == "redis") return absl::OkStatus();
      if (!word || !absl::StartsWith(t.text, "--")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "expected a server flag such as --outbox_events=64 or the word "
            "redis, got \"",
            t.text, "\""));
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

// Checks option values that have a fixed form. `kind`: how the value was
// written.
absl::Status CheckOption(const std::string& op, const std::string& key,
                         const std::string& value, Token::Kind kind) {
  auto number = [&]() -> absl::Status {
    uint64_t n;
    if (!absl::SimpleAtoi(value, &n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "= needs a number, got \"", value, "\""));
    }
    return absl::OkStatus();
  };
  auto positive = [&]() -> absl::Status {
    int n = 0;
    if (!absl::SimpleAtoi(value, &n) || n <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "= needs a positive number, got \"", value, "\""));
    }
    return absl::OkStatus();
  };
  if (key == "node" || key == "nodes" || key == "shard" || key == "shards") {
    return positive();
  }
  if (key == "persist" && value != "yes" && value != "no") {
    return absl::InvalidArgumentError(
        absl::StrCat("persist= is yes or no, got \"", value, "\""));
  }
  // redis-cli's expect= is a pattern for its output.
  if (op == "redis-cli" && key == "expect") {
    if (kind == Token::Kind::kRegex) {
      RE2 re(value, RE2::Quiet);
      if (!re.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("expect=: bad regex /", value, "/: ", re.error()));
      }
    }
    return absl::OkStatus();
  }
  if (key == "pace" || key == "witness") {
    if (value.find('@') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, "=", value,
                       ": a user's node is named only where the user is "
                       "created; afterwards the alias alone names it"));
    }
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
    if (absl::Status s =
            CheckOption(step.op, key, value, step.option_kinds.at(key));
        !s.ok()) {
      return s;
    }
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
  if (step.op == "start") {
    int redis_words = 0;
    bool redis_flag = false;
    for (const Token& t : step.args) {
      redis_words += t.text == "redis" ? 1 : 0;
      redis_flag |= absl::StartsWith(t.text, "--redis=") || t.text == "--redis";
    }
    if (redis_words > 1) {
      return absl::InvalidArgumentError("start: `redis` given twice");
    }
    if (redis_words == 1 && redis_flag) {
      return absl::InvalidArgumentError(
          "start: with `redis` the harness gives every node --redis= (its "
          "redis-servers' addresses); leave the flag out");
    }
    int nodes = 1;
    if (step.HasOption("nodes")) {
      absl::SimpleAtoi(step.Option("nodes"), &nodes);
      if (nodes > kMaxNodes) {
        return absl::InvalidArgumentError(
            absl::StrCat("start: at most ", kMaxNodes, " nodes, got ", nodes));
      }
    }
    if (redis_words == 0) {
      for (const char* key : {"shards", "persist"}) {
        if (step.HasOption(key)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "start: ", key, "= is about the redis-servers; add `redis`"));
        }
      }
      if (nodes > 1) {
        return absl::InvalidArgumentError(
            "start: several nodes share their rooms through Redis; write "
            "`start nodes=N redis`");
      }
    }
    int shards = 1;
    if (step.HasOption("shards")) {
      absl::SimpleAtoi(step.Option("shards"), &shards);
      if (shards > kMaxShards) {
        return absl::InvalidArgumentError(absl::StrCat(
            "start: at most ", kMaxShards, " redis shards, got ", shards));
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

// ParseNodes
//
// What follows the @ of a user-creating step: one node number (grpc, tcp),
// or for a group a list of numbers and ranges ("1,2,3", "1..3", "1,3..4").
absl::Status ParseNodes(const std::string& op, absl::string_view text,
                        std::vector<int>* out) {
  const std::string how =
      op == "group" ? "a list of node numbers, as in u1..u6@1,2,3 or @1..3"
                    : "a node number, as in alice@2";
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const size_t dots = part.find("..");
    int from = 0;
    int to = 0;
    bool ok = false;
    if (dots == absl::string_view::npos) {
      ok = absl::SimpleAtoi(part, &from);
      to = from;
    } else {
      ok = absl::SimpleAtoi(part.substr(0, dots), &from) &&
           absl::SimpleAtoi(part.substr(dots + 2), &to);
    }
    ok = ok && from > 0 && from <= to && to <= kMaxNodes &&
         (op == "group" || (dots == absl::string_view::npos && out->empty()));
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": after @ comes ",
                                                     how, " (1 to ", kMaxNodes,
                                                     "), got \"@", text, "\""));
    }
    for (int n = from; n <= to; ++n) out->push_back(n);
  }
  return absl::OkStatus();
}

// The cluster the last `start` asked for, as far as the parser can tell.
struct Shape {
  int line = 0;  // Of that start; 0: none yet.
  int nodes = 1;
  bool redis = false;
  int shards = 0;

  std::string Describe() const {
    if (line == 0) return "no start step before it";
    return absl::StrCat(
        "the start at line ", line, " has ",
        nodes == 1 ? std::string("one node") : absl::StrCat(nodes, " nodes"),
        redis ? absl::StrCat(" and ", shards, " redis shard",
                             shards == 1 ? "" : "s")
              : std::string(" and no redis"));
  }
};

// Checks that the nodes and shards a step names exist in `shape`, and
// updates it at a start.
absl::Status CheckShape(const Step& step, Shape* shape) {
  if (step.op == "start") {
    shape->line = step.line;
    shape->nodes = 1;
    absl::SimpleAtoi(step.Option("nodes", "1"), &shape->nodes);
    shape->redis = false;
    for (const Token& t : step.args) shape->redis |= t.text == "redis";
    shape->shards = 0;
    if (shape->redis)
      absl::SimpleAtoi(step.Option("shards", "1"), &shape->shards);
    return absl::OkStatus();
  }
  auto node = [&](int n, const std::string& what) -> absl::Status {
    if (n <= shape->nodes) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        step.op, ": ", what, " names node ", n, ", but ", shape->Describe()));
  };
  for (int n : step.nodes) {
    if (absl::Status s = node(n, absl::StrCat(step.args[0].text, "@", n));
        !s.ok()) {
      return s;
    }
  }
  if (step.op == "kill-node" || step.op == "stop-node" ||
      step.op == "start-node") {
    int n = 0;
    absl::SimpleAtoi(step.args[0].text, &n);
    if (absl::Status s = node(n, absl::StrCat(n)); !s.ok()) return s;
  }
  if (step.HasOption("node")) {
    int n = 0;
    absl::SimpleAtoi(step.Option("node"), &n);
    if (absl::Status s = node(n, absl::StrCat("node=", n)); !s.ok()) return s;
  }
  if (step.op == "restart" && shape->nodes > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("restart: ", shape->Describe(),
                     "; restart one with kill-node K and start-node K"));
  }
  if (absl::StartsWith(step.op, "redis-")) {
    if (!shape->redis) {
      return absl::InvalidArgumentError(absl::StrCat(
          step.op, ": no redis-server to act on: ", shape->Describe(),
          " (write `start ... redis`)"));
    }
    int j = 0;
    if (step.HasOption("shard")) {
      absl::SimpleAtoi(step.Option("shard"), &j);
      if (j > shape->shards) {
        return absl::InvalidArgumentError(
            absl::StrCat(step.op, ": shard=", j, ", but ", shape->Describe()));
      }
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
  Shape shape;
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
    // grpc alice@2, tcp bob@3, group u1..u6@1,2,3: the node(s) go to
    // step.nodes, the alias or list stays.
    if ((step.op == "grpc" || step.op == "tcp" || step.op == "group") &&
        !step.args.empty() && step.args[0].kind == Token::Kind::kWord) {
      std::string& who = step.args[0].text;
      const size_t at = who.find('@');
      if (at != std::string::npos) {
        if (absl::Status s =
                ParseNodes(step.op, who.substr(at + 1), &step.nodes);
            !s.ok()) {
          return fail(s.message());
        }
        who.resize(at);
      }
    }
    if (absl::Status s = CheckStep(step); !s.ok()) return fail(s.message());
    if (absl::Status s = CheckShape(step, &shape); !s.ok()) {
      return fail(s.message());
    }
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

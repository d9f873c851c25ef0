#include "service/format.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace chat {
namespace {

constexpr absl::string_view kBlanks = " \t";
// The most of an unknown command's word that its error sentence quotes.
constexpr size_t kMaxQuotedCommand = 32;

absl::string_view StripBlanks(absl::string_view s) {
  const size_t first = s.find_first_not_of(kBlanks);
  if (first == absl::string_view::npos) return {};
  const size_t last = s.find_last_not_of(kBlanks);
  return s.substr(first, last - first + 1);
}

TypedLine Make(TypedLine::Kind kind, absl::string_view argument = {}) {
  TypedLine typed;
  typed.kind = kind;
  typed.argument = argument;
  return typed;
}

TypedLine Error(TypedLine::Kind kind, std::string error) {
  TypedLine typed;
  typed.kind = kind;
  typed.error = std::move(error);
  return typed;
}

// Printable ASCII only, so the sentence is safe on any terminal.
std::string Quote(absl::string_view word) {
  std::string quoted(word.substr(0, kMaxQuotedCommand));
  for (char& c : quoted) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) c = '?';
  }
  return quoted;
}

}  // namespace

const char* TransportName(v1::Transport transport) {
  switch (transport) {
    case v1::TRANSPORT_TCP:
      return "tcp";
    case v1::TRANSPORT_WEB:
      return "web";
    default:
      return "grpc";
  }
}

std::string FormatEventLine(const v1::ChatResponse& event) {
  switch (event.event_case()) {
    case v1::ChatResponse::kMessage: {
      const v1::Message& m = event.message();
      return m.action() ? absl::StrCat("* ", m.sender(), " ", m.text())
                        : absl::StrCat("<", m.sender(), "> ", m.text());
    }
    case v1::ChatResponse::kMemberJoined:
      return absl::StrCat("-- ", event.member_joined().member().name(),
                          " joined");
    case v1::ChatResponse::kMemberLeft: {
      const v1::MemberLeft& l = event.member_left();
      if (l.rejoined()) {
        return absl::StrCat("-- ", l.member().name(), " reconnected");
      }
      return l.reason().empty()
                 ? absl::StrCat("-- ", l.member().name(), " left")
                 : absl::StrCat("-- ", l.member().name(), " left (", l.reason(),
                                ")");
    }
    case v1::ChatResponse::kMemberRenamed:
      return absl::StrCat("-- ", event.member_renamed().old_name(),
                          " is now known as ",
                          event.member_renamed().new_name());
    case v1::ChatResponse::kNotice:
      return absl::StrCat("!! ", event.notice().text());
    case v1::ChatResponse::kDuplicate:
      return absl::StrCat("!! already posted as seq ", event.duplicate().seq(),
                          ", not posted again");
    case v1::ChatResponse::kWelcome: {
      const v1::Welcome& w = event.welcome();
      std::string others;
      uint32_t listed = 0;
      for (const v1::Member& m : w.members()) {
        if (m.name() == w.name()) continue;
        absl::StrAppend(&others, listed++ == 0 ? "" : ", ", m.name());
      }
      // A welcome lists the first members only; member_count counts all
      // (0 from a server that predates it).
      uint32_t count = listed;
      if (w.member_count() > 0) count = w.member_count() - 1;
      if (count == 0) {
        return absl::StrCat("-- you are ", w.name(), " in room ", w.room(),
                            ", alone so far");
      }
      if (count > listed) {
        absl::StrAppend(&others, " and ", count - listed,
                        " more (/who lists everyone)");
      }
      return absl::StrCat("-- you are ", w.name(), " in room ", w.room(),
                          " with ", count,
                          count == 1 ? " other: " : " others: ", others);
    }
    case v1::ChatResponse::EVENT_NOT_SET:
      break;
  }
  return "";
}

TypedLine ParseTypedLine(absl::string_view line) {
  absl::ConsumeSuffix(&line, "\r");
  if (StripBlanks(line).empty()) return Make(TypedLine::Kind::kEmpty);
  if (line[0] != '/') return Make(TypedLine::Kind::kSay, line);
  if (absl::StartsWith(line, "//")) {
    return Make(TypedLine::Kind::kSay, line.substr(1));
  }

  // "/WORD ARGUMENT": the word, then the rest without surrounding blanks.
  line.remove_prefix(1);
  const size_t blank = line.find_first_of(kBlanks);
  const absl::string_view word = line.substr(0, blank);
  const absl::string_view argument = blank == absl::string_view::npos
                                         ? absl::string_view()
                                         : StripBlanks(line.substr(blank));
  auto is = [word](absl::string_view name) {
    return absl::EqualsIgnoreCase(word, name);
  };

  if (is("me")) {
    if (argument.empty()) {
      return Error(TypedLine::Kind::kBadUsage, "usage: /me ACTION");
    }
    return Make(TypedLine::Kind::kAction, argument);
  }
  if (is("nick")) {
    if (argument.empty()) {
      return Error(TypedLine::Kind::kBadUsage, "usage: /nick NAME");
    }
    return Make(TypedLine::Kind::kNick, argument);
  }
  if (is("join")) {
    if (argument.empty()) {
      return Error(TypedLine::Kind::kBadUsage, "usage: /join ROOM");
    }
    return Make(TypedLine::Kind::kJoin, argument);
  }
  if (is("who")) {
    if (!argument.empty()) {
      return Error(TypedLine::Kind::kBadUsage,
                   "usage: /who (it lists everyone in the room)");
    }
    return Make(TypedLine::Kind::kWho);
  }
  if (is("quit") || is("exit")) return Make(TypedLine::Kind::kQuit, argument);
  if (is("help") || is("?")) return Make(TypedLine::Kind::kHelp);
  if (is("auth")) {
    if (argument.empty()) {
      return Error(TypedLine::Kind::kBadUsage, "usage: /auth TOKEN");
    }
    return Make(TypedLine::Kind::kAuth, argument);
  }
  return Error(TypedLine::Kind::kUnknown,
               absl::StrCat("unknown command /", Quote(word),
                            "; the commands are ", kCommandList));
}

}  // namespace chat

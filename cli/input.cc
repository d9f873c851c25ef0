#include "cli/input.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace chat {
namespace {

Input Make(Input::Kind kind, absl::string_view text = "") {
  Input input;
  input.kind = kind;
  input.text = std::string(text);
  return input;
}

}  // namespace

const char* InputHelp() {
  return "Type a line and press Enter to post it. Commands:\n"
         "  /me ACTION     post an action (\"* alice waves\")\n"
         "  /nick NAME     change your name\n"
         "  /who           list who is in the room\n"
         "  /join ROOM     move to another room\n"
         "  /quit [REASON] leave (Ctrl-D and Ctrl-C leave too)\n"
         "  /help          this text\n"
         "  //TEXT         post TEXT starting with '/'";
}

Input ParseInput(absl::string_view line) {
  absl::ConsumeSuffix(&line, "\r");
  if (absl::StripAsciiWhitespace(line).empty())
    return Make(Input::Kind::kEmpty);
  if (!absl::StartsWith(line, "/")) return Make(Input::Kind::kSay, line);
  if (absl::StartsWith(line, "//")) {
    return Make(Input::Kind::kSay, line.substr(1));
  }

  // "/cmd args": the command word, then the rest without surrounding blanks.
  absl::string_view rest = line.substr(1);
  const size_t space = rest.find_first_of(" \t");
  const std::string command = absl::AsciiStrToLower(rest.substr(0, space));
  absl::string_view arg = space == absl::string_view::npos
                              ? absl::string_view()
                              : absl::StripAsciiWhitespace(rest.substr(space));
  const bool one_word = arg.find_first_of(" \t") == absl::string_view::npos;

  if (command == "me") {
    if (arg.empty()) return Make(Input::Kind::kError, "usage: /me ACTION");
    return Make(Input::Kind::kAction, arg);
  }
  if (command == "nick") {
    if (arg.empty() || !one_word) {
      return Make(Input::Kind::kError, "usage: /nick NAME");
    }
    return Make(Input::Kind::kNick, arg);
  }
  if (command == "join") {
    if (arg.empty() || !one_word) {
      return Make(Input::Kind::kError, "usage: /join ROOM");
    }
    return Make(Input::Kind::kJoin, arg);
  }
  if (command == "who") {
    if (!arg.empty()) return Make(Input::Kind::kError, "usage: /who");
    return Make(Input::Kind::kWho);
  }
  if (command == "quit" || command == "exit") {
    return Make(Input::Kind::kQuit, arg);
  }
  if (command == "help" || command == "?") return Make(Input::Kind::kHelp);
  return Make(Input::Kind::kError, absl::StrCat("unknown command /", command,
                                                "; /help lists the commands"));
}

}  // namespace chat

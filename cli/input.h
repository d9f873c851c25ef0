// What a line typed at chatctl means: a message, or a slash command. Pure
// functions, safe from any thread.
#ifndef CHATROOM_CLI_INPUT_H_
#define CHATROOM_CLI_INPUT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace chat {

// One parsed input line.
struct Input {
  enum class Kind {
    kEmpty,   // Nothing but blanks: ignored.
    kSay,     // A message: `text`.
    kAction,  // /me `text`.
    kNick,    // /nick `text` (the new name).
    kWho,     // /who.
    kJoin,    // /join `text` (the room).
    kQuit,    // /quit [`text` = the reason].
    kHelp,    // /help.
    kError,   // Not understood; `text` says why, for the user.
  };
  Kind kind = Kind::kEmpty;
  std::string text;
};

// ParseInput
//
// Lines that start with '/' are commands (case-insensitive); "//x" sends
// "/x". A trailing "\r" (CRLF input) is dropped.
//
//   ParseInput("hi")          -> {kSay, "hi"}
//   ParseInput("/me waves")   -> {kAction, "waves"}
//   ParseInput("/quit bye")   -> {kQuit, "bye"}
//   ParseInput("/frob")       -> {kError, "unknown command /frob; ..."}
Input ParseInput(absl::string_view line);

// The text /help prints, several lines without a final newline.
const char* InputHelp();

}  // namespace chat

#endif  // CHATROOM_CLI_INPUT_H_

// The text side of chat, shared by every transport and client that speaks
// lines to a person: the rendering of events (the line formats of the legacy
// TCP port, which chatctl also prints in pipe mode), and the grammar of the
// lines a person types (messages and slash commands), which the legacy port
// and chatctl both read. Pure functions of their arguments, safe from any
// thread, so every client that shows or reads text does the same thing.
#ifndef CHATROOM_SERVICE_FORMAT_H_
#define CHATROOM_SERVICE_FORMAT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "chat/v1/chat.pb.h"

namespace chat {

// FormatEventLine
//
// One line, without a line ending:
//   message        <alice> hello
//   action         * alice waves
//   member_joined  -- bob joined
//   member_left    -- bob left (reason)      or "-- bob left" without one
//   member_renamed -- bob is now known as robert
//   notice         !! text
//   welcome        -- you are alice in room lobby with 2 others: bob, carol
std::string FormatEventLine(const v1::ChatResponse& event);

// "grpc" or "tcp".
const char* TransportName(v1::Transport transport);

// TypedLine
//
// One line a person typed, as ParseTypedLine reads it: a message, a slash
// command, or a mistake to tell them about.
struct TypedLine {
  enum class Kind {
    kEmpty,     // Nothing but blanks: ignored, nothing is said or answered.
    kSay,       // A message: `argument`, as typed ("//x" says "/x").
    kAction,    // /me ACTION: `argument` (shown as "* name ACTION").
    kNick,      // /nick NAME: `argument`, the new name.
    kWho,       // /who.
    kJoin,      // /join ROOM: `argument`, the room.
    kQuit,      // /quit [REASON] or /exit [REASON]: `argument`, maybe empty.
    kHelp,      // /help or /? (any argument is ignored).
    kAuth,      // /auth TOKEN: `argument`, a token for an owned name.
    kBadUsage,  // A known command with a missing or extra argument: `error`.
    kUnknown,   // A slash command that is not one of the above: `error`.
  };
  Kind kind = Kind::kEmpty;
  // Points into the line given to ParseTypedLine: valid while that line is.
  absl::string_view argument;
  // For kBadUsage and kUnknown: a sentence for the person, without a prefix
  // (the legacy port adds "!! ", chatctl "chatctl: "). Empty otherwise.
  std::string error;
};

// The commands, as the kUnknown sentence lists them.
inline constexpr absl::string_view kCommandList =
    "/nick NAME, /who, /me ACTION, /join ROOM, /quit [REASON], /help";

// ParseTypedLine
//
// Reads one line a person typed (without its line end; one trailing "\r" is
// dropped). The one grammar of the legacy TCP port and chatctl:
//
//  * A line of nothing but spaces and tabs (or nothing) is kEmpty.
//  * A line is a command only if its first byte is '/': "  /who" is a
//    message. "//text" is the message "/text". Any other line is a message,
//    as typed (the room core cleans and checks text, not this parser).
//  * A command is "/WORD" then, after spaces or tabs, its argument, trimmed
//    of spaces and tabs at both ends. WORD is matched ignoring ASCII case:
//    "/NICK bob" is "/nick bob".
//  * /nick and /join need an argument; it is the rest of the line, spaces
//    and all ("/nick two words" is kNick "two words"): the room core is the
//    one judge of names, and its answer says what is wrong ("name \"two
//    words\" may only have letters, digits, '_' and '-"), to gRPC clients
//    too, instead of a second copy of the name rules here.
//  * /me needs an argument (an empty action is a usage error, not a blank
//    message). /who takes none: "/who bob" is a usage error rather than the
//    whole list, which would look like an answer about bob. /help ignores
//    an argument: "/help nick" still wants the help.
//  * /exit is /quit: people type either.
//  * Any other "/WORD" is kUnknown, with a sentence that lists the commands,
//    /help among them. It quotes at most 32 bytes of WORD, and only
//    printable ASCII of it ('?' for other bytes), so echoing it is safe on
//    any terminal.
//
// Example:
//
//   TypedLine c = ParseTypedLine(line);
//   switch (c.kind) {
//     case TypedLine::Kind::kSay: member->Say(c.argument, false); break;
//     case TypedLine::Kind::kNick: member->Rename(c.argument); break;
//     ...
//     case TypedLine::Kind::kBadUsage:
//     case TypedLine::Kind::kUnknown: Reply(absl::StrCat("!! ", c.error));
//   }
//
//   ParseTypedLine("hi")             -> {kSay, "hi"}
//   ParseTypedLine("//etc/passwd")   -> {kSay, "/etc/passwd"}
//   ParseTypedLine("/ME  waves ")    -> {kAction, "waves"}
//   ParseTypedLine("/quit bye now")  -> {kQuit, "bye now"}
//   ParseTypedLine("/nick")          -> {kBadUsage, error "usage: /nick NAME"}
//   ParseTypedLine("/frob")          -> {kUnknown, error "unknown command
//                                      /frob; the commands are /nick NAME,
//                                      ..., /help"}
TypedLine ParseTypedLine(absl::string_view line);

}  // namespace chat

#endif  // CHATROOM_SERVICE_FORMAT_H_

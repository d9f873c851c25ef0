// Text rules shared by every transport: member names, room names and message
// text. Pure functions, safe to call from any thread.
#ifndef CHATROOM_SERVICE_TEXT_H_
#define CHATROOM_SERVICE_TEXT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chat {

inline constexpr size_t kMaxNameLength = 32;
inline constexpr absl::string_view kDefaultRoom = "lobby";
// Longest leave reason shown to others, in bytes.
inline constexpr size_t kMaxLeaveReasonBytes = 200;

// ValidateName
//
// OK when `name` is 1-32 letters, digits, '_' or '-'; otherwise
// INVALID_ARGUMENT with a sentence that says what is wrong.
absl::Status ValidateName(absl::string_view name);

// NameKey
//
// The key under which names are unique: names compare ignoring ASCII case.
std::string NameKey(absl::string_view name);

// NormalizeRoom
//
// "" becomes "lobby"; a leading '#' is dropped; the rest follows the name
// rules and is lowercased, so "#Dev" and "dev" are the same room.
absl::StatusOr<std::string> NormalizeRoom(absl::string_view room);

// SanitizeText
//
// Makes text safe to show on anybody's terminal: invalid UTF-8 is replaced
// with U+FFFD, terminal escape sequences (CSI, OSC, ...) are removed whole,
// and every other control character except tab is removed, as are the
// characters that make text look other than it is: the line and paragraph
// separators U+2028 and U+2029 and the bidi controls U+202A-U+202E and
// U+2066-U+2069.
//
//   SanitizeText("\x1b[31mred\x1b[0m") == "red"
std::string SanitizeText(absl::string_view text);

// IsValidUtf8
//
// True when `text` is valid UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF), as a chat.v1 string field must be.
bool IsValidUtf8(absl::string_view text);

// RepairUtf8
//
// `text` with each byte that is not part of valid UTF-8 replaced with
// U+FFFD; valid text comes back unchanged (control characters too).
std::string RepairUtf8(absl::string_view text);

// TruncateUtf8
//
// Shortens valid UTF-8 `text` to at most `max_bytes` without cutting a
// character in two.
std::string TruncateUtf8(absl::string_view text, size_t max_bytes);

// IsBlank
//
// True when `text` has nothing but spaces and tabs.
bool IsBlank(absl::string_view text);

}  // namespace chat

#endif  // CHATROOM_SERVICE_TEXT_H_

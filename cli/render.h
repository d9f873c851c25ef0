// How chatctl shows events and member lists: the legacy line formats of
// service/format.h, optionally with a colored name and a timestamp, or one
// JSON object per line for scripts. Pure functions, safe from any thread.
#ifndef CHATROOM_CLI_RENDER_H_
#define CHATROOM_CLI_RENDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "chat/v1/chat.pb.h"

namespace chat {

// What --color=auto|always|never asked for.
enum class ColorMode { kAuto, kAlways, kNever };

// ParseColorMode
//
// "auto", "always" or "never"; INVALID_ARGUMENT otherwise.
absl::StatusOr<ColorMode> ParseColorMode(absl::string_view text);

// UseColor
//
// Resolves kAuto: color when `fd` is a terminal, $TERM is not "dumb" and
// $NO_COLOR is unset.
bool UseColor(ColorMode mode, int fd);

struct RenderOptions {
  bool color = false;       // ANSI colors: one stable color per name.
  bool timestamps = false;  // Prefix "[HH:MM:SS] " (event time, in `zone`).
  bool json = false;        // One JSON object per event instead of text.
  absl::TimeZone zone = absl::LocalTimeZone();
};

// RenderEvent
//
// One line, without a line ending. With default options it is exactly
// FormatEventLine(event):
//
//   RenderEvent(e, {})                     == "<alice> hi"
//   RenderEvent(e, {.timestamps = true})   == "[14:03:07] <alice> hi"
//   RenderEvent(e, {.json = true})         == R"({"seq":"3",...})"
std::string RenderEvent(const v1::ChatResponse& event,
                        const RenderOptions& options);

// NameColor
//
// The ANSI SGR foreground code for `name`: the same for the same name
// (ignoring ASCII case), on every run and every machine.
int NameColor(absl::string_view name);

// RenderMembers
//
// The answer to /who: "-- 2 in room lobby: alice, bob (tcp)". Members on
// the legacy TCP port are marked.
std::string RenderMembers(const v1::ListMembersResponse& members,
                          const RenderOptions& options);

}  // namespace chat

#endif  // CHATROOM_CLI_RENDER_H_

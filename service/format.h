// The text rendering of chat events: the line formats of the legacy TCP port,
// which chatctl also prints in pipe mode. A pure function of the public API
// (chat.v1), so every client that shows text shows the same thing.
#ifndef CHATROOM_SERVICE_FORMAT_H_
#define CHATROOM_SERVICE_FORMAT_H_

#include <string>

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

}  // namespace chat

#endif  // CHATROOM_SERVICE_FORMAT_H_

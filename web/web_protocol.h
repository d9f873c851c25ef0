// The rules of the HTTP port that need no socket: chat.v1 in protobuf's JSON
// mapping (one ChatRequest or ChatResponse per WebSocket text frame), how an
// ended chat becomes a close frame, and which origins may open a chat.
//
// Thread-safe: pure functions.
#ifndef CHATROOM_WEB_WEB_PROTOCOL_H_
#define CHATROOM_WEB_WEB_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "chat/v1/chat.pb.h"

namespace chat {

// ParseChatRequestJson
//
// Parses one frame's text. Field names may be the proto's (resume_after_seq)
// or lowerCamelCase (resumeAfterSeq); unknown fields are errors, so a typo
// is not silently ignored. Errors: INVALID_ARGUMENT, saying what is wrong.
absl::Status ParseChatRequestJson(absl::string_view json,
                                  v1::ChatRequest* request);

// ChatResponseJson
//
// One event as a frame's text: the proto's field names, fields at their
// default value left out, 64-bit integers as strings (protobuf's mapping).
//   {"seq":"7","time":"2026-11-29T07:00:00Z","message":{"sender":"bob",...}}
std::string ChatResponseJson(const v1::ChatResponse& response);

// A WebSocket close frame's code and reason.
struct CloseFrame {
  uint16_t code = 1000;
  std::string reason;
};

// CloseFor
//
// How a chat that ended with `status` is closed: OK is 1000 (normal);
// otherwise 4000 + the gRPC status code (4006 ALREADY_EXISTS, 4008
// RESOURCE_EXHAUSTED, 4014 UNAVAILABLE, ...) with the status message as the
// reason, cut to the 123 bytes a close frame holds, at a character boundary.
CloseFrame CloseFor(const absl::Status& status);

// OriginAllowed
//
// Whether a WebSocket handshake with Origin `origin` ("" when the request
// has none: not a browser) may open a chat on a server reached as `host`
// (the Host header): the page's own origin (http:// or https:// and `host`)
// always, and those in `allowed`, --http_allowed_origins: each entry an
// origin ("https://chat.example.com") compared ignoring case, or "*" for
// any.
bool OriginAllowed(absl::string_view origin, absl::string_view host,
                   const std::vector<std::string>& allowed);

}  // namespace chat

#endif  // CHATROOM_WEB_WEB_PROTOCOL_H_

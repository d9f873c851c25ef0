// The largest request a transport reads in one piece, derived from
// --max_message_bytes (HubOptions::max_message_bytes): big enough for a
// message at the limit in any encoding a transport uses, small enough that a
// client cannot make the server buffer megabytes. One bound for every
// transport that reads whole requests (the gRPC port, the WebSocket).
// Header-only.
#ifndef CHATROOM_SERVICE_REQUEST_LIMITS_H_
#define CHATROOM_SERVICE_REQUEST_LIMITS_H_

#include <algorithm>
#include <cstddef>

namespace chat {

// MaxRequestBytes
//
// At least 64 KiB; else six bytes per message byte (a character escaped in
// JSON, "\u0001", takes six) plus 4 KiB for the rest of the request (names,
// rooms, framing). max_message_bytes = 4096 gives 64 KiB; 100 KiB gives
// 604 KiB.
inline size_t MaxRequestBytes(size_t max_message_bytes) {
  return std::max<size_t>(64 * 1024, 6 * max_message_bytes + 4096);
}

}  // namespace chat

#endif  // CHATROOM_SERVICE_REQUEST_LIMITS_H_

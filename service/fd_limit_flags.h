// chat-service's descriptor budget, from its flags: raises the descriptor
// limit (service/fd_limit.h) and scales the connection cap flags of the
// ports that are on (--max_connections for the legacy port,
// --http_max_connections, --grpc_max_connections) down together when they
// add up to more than the limit less kReservedFds, with one log line that
// says so. Call once at start, after parsing flags and before the
// listeners are made from them.
#ifndef CHATROOM_SERVICE_FD_LIMIT_FLAGS_H_
#define CHATROOM_SERVICE_FD_LIMIT_FLAGS_H_

#include "absl/status/status.h"

namespace chat {

// FitConnectionCapsToFdLimit
//
// Errors: RESOURCE_EXHAUSTED when the limit leaves no room for one
// connection per port; INTERNAL when the limit cannot be read.
absl::Status FitConnectionCapsToFdLimit();

}  // namespace chat

#endif  // CHATROOM_SERVICE_FD_LIMIT_FLAGS_H_

// The HTTP port's chat-service flags (--http_addr, --http_allowed_origins,
// --http_max_connections, --http_threads, --http_request_timeout,
// --http_join_timeout; and the shared --max_connections_per_ip of
// net/net_flags.h), and its Listener made from them.
#ifndef CHATROOM_WEB_WEB_FLAGS_H_
#define CHATROOM_WEB_WEB_FLAGS_H_

#include <memory>

#include "service/listener.h"
#include "service/room.h"

namespace chat {

// MakeWebListenerFromFlags
//
// The HTTP port as the flags say, or null when --http_addr is empty. `hub`
// must outlive it.
std::unique_ptr<Listener> MakeWebListenerFromFlags(Hub* hub);

}  // namespace chat

#endif  // CHATROOM_WEB_WEB_FLAGS_H_

// The legacy port's chat-service flags (--legacy_addr, --max_connections,
// --legacy_threads, --idle_timeout, --line_timeout; and the shared
// --max_connections_per_ip of net/net_flags.h), and its Listener made from
// them.
#ifndef CHATROOM_LEGACY_TCP_LEGACY_FLAGS_H_
#define CHATROOM_LEGACY_TCP_LEGACY_FLAGS_H_

#include <memory>

#include "service/listener.h"
#include "service/room.h"

namespace chat {

// MakeLegacyListenerFromFlags
//
// The legacy TCP port as the flags say, or null when --legacy_addr is
// empty. `hub` must outlive it.
std::unique_ptr<Listener> MakeLegacyListenerFromFlags(Hub* hub);

}  // namespace chat

#endif  // CHATROOM_LEGACY_TCP_LEGACY_FLAGS_H_

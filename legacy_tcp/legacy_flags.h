// The legacy port's chat-service flags (--legacy_addr, --max_connections,
// --legacy_threads, --idle_timeout, --line_timeout, --legacy_tls_addr; and the
// shared
// --max_connections_per_ip of net/net_flags.h), and its Listener made from
// them.
#ifndef CHATROOM_LEGACY_TCP_LEGACY_FLAGS_H_
#define CHATROOM_LEGACY_TCP_LEGACY_FLAGS_H_

#include <memory>

#include "absl/status/status.h"
#include "service/listener.h"
#include "service/room.h"

namespace chat {

// MakeLegacyListenerFromFlags
//
// The legacy TCP port as the flags say, or null when --legacy_addr is
// empty. `hub` must outlive it.
std::unique_ptr<Listener> MakeLegacyListenerFromFlags(Hub* hub);

// MakeLegacyTlsListenerFromFlags
//
// The legacy TLS line port (--legacy_tls_addr, with the server's TLS
// context, net/tls_flags.h, and the legacy port's other flags), or null
// when --legacy_tls_addr is empty. `hub` must outlive it.
std::unique_ptr<Listener> MakeLegacyTlsListenerFromFlags(Hub* hub);

// CheckLegacyTlsFlags
//
// INVALID_ARGUMENT when --legacy_tls_addr is set but the server has no TLS
// certificate (`tls_configured` false).
absl::Status CheckLegacyTlsFlags(bool tls_configured);

}  // namespace chat

#endif  // CHATROOM_LEGACY_TCP_LEGACY_FLAGS_H_

// Flags every network transport of chat-service shares (the gRPC port, the
// legacy line port, the HTTP port): limits kept per client address. Each
// transport reads them where it builds its options from flags.
#ifndef CHATROOM_NET_NET_FLAGS_H_
#define CHATROOM_NET_NET_FLAGS_H_

#include <cstddef>

#include "absl/flags/declare.h"

// Most connections open at once from one IP address, per transport (0: no
// limit).
ABSL_DECLARE_FLAG(size_t, max_connections_per_ip);

#endif  // CHATROOM_NET_NET_FLAGS_H_

// The gRPC port's chat-service flags (--grpc_addr, --grpc_max_connections,
// --max_streams_per_connection, --join_timeout, --grpc_min_ping_interval,
// --grpc_keepalive;
// --max_connections_per_ip is shared, net/net_flags.h), and its Listener
// made from them.
#ifndef CHATROOM_SERVICE_GRPC_FLAGS_H_
#define CHATROOM_SERVICE_GRPC_FLAGS_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "service/listener.h"
#include "service/room.h"

// Declared for main's descriptor budget (service/fd_limit_flags.h).
ABSL_DECLARE_FLAG(size_t, grpc_max_connections);

namespace chat {

// MakeGrpcListenerFromFlags
//
// The gRPC port as the flags say. `hub` must outlive it.
std::unique_ptr<Listener> MakeGrpcListenerFromFlags(Hub* hub);

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_FLAGS_H_

// chat-service's --metrics_addr, and the metrics port made from it
// (metrics/metrics_server.h).
#ifndef CHATROOM_METRICS_METRICS_FLAGS_H_
#define CHATROOM_METRICS_METRICS_FLAGS_H_

#include <memory>

#include "service/listener.h"
#include "service/room.h"

namespace chat {

// MakeMetricsListenerFromFlags
//
// The metrics port as --metrics_addr says, or null when it is empty (the
// default: off). `hub` must outlive it.
std::unique_ptr<Listener> MakeMetricsListenerFromFlags(const Hub* hub);

}  // namespace chat

#endif  // CHATROOM_METRICS_METRICS_FLAGS_H_

// chat-service's TLS flags (--tls_cert, --tls_key), shared by every port
// that serves TLS (the gRPC port, the legacy TLS line port), and the one
// TlsContext made from them.
#ifndef CHATROOM_NET_TLS_FLAGS_H_
#define CHATROOM_NET_TLS_FLAGS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "net/tls_context.h"

namespace chat {

// TlsContextFromFlags
//
// The server's TLS context from --tls_cert and --tls_key; null when neither
// is set. INVALID_ARGUMENT when only one is set or a file cannot be used.
// Made once per process: every call returns the same context.
absl::StatusOr<std::shared_ptr<TlsContext>> TlsContextFromFlags();

}  // namespace chat

#endif  // CHATROOM_NET_TLS_FLAGS_H_

// chatctl's TLS flags, --tls and --tls_ca (and $CHATCTL_TLS_CA), for the
// commands that reach a server.
#ifndef CHATROOM_CLI_TLS_FLAGS_H_
#define CHATROOM_CLI_TLS_FLAGS_H_

#include "absl/status/status.h"

namespace chat {

// ConfigureTlsFromFlags
//
// UseTls (cli/tls_client.h) when --tls, --tls_ca or $CHATCTL_TLS_CA says
// so; --tls_ca wins over $CHATCTL_TLS_CA. INVALID_ARGUMENT when the CA file
// cannot be read.
absl::Status ConfigureTlsFromFlags();

}  // namespace chat

#endif  // CHATROOM_CLI_TLS_FLAGS_H_

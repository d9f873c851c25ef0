// chatctl's TLS flags, --tls and --tls_ca (and $CHATCTL_TLS_CA), for the
// commands that reach a server.
#ifndef CHATROOM_CLI_TLS_FLAGS_H_
#define CHATROOM_CLI_TLS_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/status.h"

// --tls and --tls_ca, defined in tls_flags.cc (chatctl bench reads them
// itself: its TCP members need the CA file too).
ABSL_DECLARE_FLAG(bool, tls);
ABSL_DECLARE_FLAG(std::string, tls_ca);

namespace chat {

// ConfigureTlsFromFlags
//
// UseTls (cli/tls_client.h) when --tls, --tls_ca or $CHATCTL_TLS_CA says
// so; --tls_ca wins over $CHATCTL_TLS_CA. INVALID_ARGUMENT when the CA file
// cannot be read.
absl::Status ConfigureTlsFromFlags();

}  // namespace chat

#endif  // CHATROOM_CLI_TLS_FLAGS_H_

#include "cli/tls_flags.h"

#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "cli/tls_client.h"

ABSL_FLAG(bool, tls, false,
          "connect with TLS, trusting the system's CAs (the server runs with "
          "--tls_cert)");
ABSL_FLAG(std::string, tls_ca, "",
          "connect with TLS, trusting the CA certificate in this PEM file "
          "(default: $CHATCTL_TLS_CA)");

namespace chat {

absl::Status ConfigureTlsFromFlags() {
  std::string ca = absl::GetFlag(FLAGS_tls_ca);
  if (ca.empty()) {
    const char* env = std::getenv("CHATCTL_TLS_CA");
    if (env != nullptr) ca = env;
  }
  if (!absl::GetFlag(FLAGS_tls) && ca.empty()) return absl::OkStatus();
  return UseTls(ca);
}

}  // namespace chat

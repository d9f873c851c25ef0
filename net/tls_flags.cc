#include "net/tls_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/synchronization/mutex.h"

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain (the server's certificate first, e.g. "
          "certbot's fullchain.pem): the gRPC port then serves TLS only, and "
          "--legacy_tls_addr may be used. Reloaded with --tls_key on SIGHUP.");
ABSL_FLAG(std::string, tls_key, "",
          "PEM private key of --tls_cert (e.g. certbot's privkey.pem).");

namespace chat {

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContextFromFlags() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::StatusOr<std::shared_ptr<TlsContext>>* made = nullptr;
  absl::MutexLock lock(&mu);
  if (made == nullptr) {
    const std::string cert = absl::GetFlag(FLAGS_tls_cert);
    const std::string key = absl::GetFlag(FLAGS_tls_key);
    if (cert.empty() && key.empty()) {
      made = new absl::StatusOr<std::shared_ptr<TlsContext>>(nullptr);
    } else if (cert.empty() || key.empty()) {
      made = new absl::StatusOr<std::shared_ptr<TlsContext>>(
          absl::InvalidArgumentError(
              "--tls_cert and --tls_key go together: give both"));
    } else {
      made = new absl::StatusOr<std::shared_ptr<TlsContext>>(
          TlsContext::Load(cert, key));
    }
  }
  return *made;
}

}  // namespace chat

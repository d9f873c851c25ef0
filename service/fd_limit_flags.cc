#include "service/fd_limit_flags.h"

#include <cstddef>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/fd_limit.h"
#include "service/grpc_flags.h"
#include "service/log.h"

// The other ports' flags (legacy_tcp/legacy_flags.cc, web/web_flags.cc).
ABSL_DECLARE_FLAG(std::string, legacy_addr);
ABSL_DECLARE_FLAG(size_t, max_connections);
ABSL_DECLARE_FLAG(std::string, http_addr);
ABSL_DECLARE_FLAG(size_t, http_max_connections);
ABSL_DECLARE_FLAG(std::string, legacy_tls_addr);
ABSL_DECLARE_FLAG(std::string, tls_cert);

namespace chat {

absl::Status FitConnectionCapsToFdLimit() {
  absl::StatusOr<FdLimit> limit = RaiseFdLimit();
  if (!limit.ok()) return limit.status();
  // A TLS connection holds 3 descriptors: the client's socket, and the
  // socketpair between the TLS bridge and the plaintext side
  // (net/tls_bridge.h).
  constexpr size_t kTlsFds = 3;
  const bool tls = !absl::GetFlag(FLAGS_tls_cert).empty();
  struct Cap {
    const char* flag;
    absl::Flag<size_t>* value;
    size_t fds;
  };
  std::vector<Cap> on;
  on.push_back(
      {"grpc_max_connections", &FLAGS_grpc_max_connections, tls ? kTlsFds : 1});
  if (!absl::GetFlag(FLAGS_legacy_addr).empty()) {
    on.push_back({"max_connections", &FLAGS_max_connections, 1});
  }
  // The TLS line port shares --max_connections with the plaintext one,
  // each up to it: a cap is fitted once, for the two ports' descriptors.
  if (tls && !absl::GetFlag(FLAGS_legacy_tls_addr).empty()) {
    if (absl::GetFlag(FLAGS_legacy_addr).empty()) {
      on.push_back({"max_connections", &FLAGS_max_connections, kTlsFds});
    } else {
      on.back().fds += kTlsFds;
    }
  }
  if (!absl::GetFlag(FLAGS_http_addr).empty()) {
    on.push_back({"http_max_connections", &FLAGS_http_max_connections, 1});
  }
  std::vector<size_t> caps, fds;
  for (const Cap& cap : on) {
    caps.push_back(absl::GetFlag(*cap.value));
    fds.push_back(cap.fds);
  }
  const size_t reserved = kReservedFds + OpenFdCount();
  absl::StatusOr<std::vector<size_t>> fitted =
      FitConnectionCaps(caps, limit->soft, reserved, fds);
  if (!fitted.ok()) return fitted.status();
  if (*fitted == caps) return absl::OkStatus();
  std::vector<std::string> changes;
  for (size_t i = 0; i < on.size(); ++i) {
    changes.push_back(
        absl::StrCat("--", on[i].flag, " ", caps[i], " -> ", (*fitted)[i]));
    absl::SetFlag(on[i].value, (*fitted)[i]);
  }
  Log(LogLevel::kWarning,
      "connection caps scaled down to fit the file descriptor limit, less "
      "what is kept for files and internals",
      {{"limit", limit->soft},
       {"reserved", reserved},
       {"caps", absl::StrJoin(changes, ", ")}});
  return absl::OkStatus();
}

}  // namespace chat

#include "legacy_tcp/legacy_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "legacy_tcp/legacy_server.h"

ABSL_FLAG(std::string, legacy_addr, "127.0.0.1:5000",
          "Address for the legacy TCP line port (port 0 picks a free port; "
          "empty turns it off).");
ABSL_FLAG(size_t, max_connections, 10000,
          "Most legacy TCP connections; over it, a new one gets one line "
          "and is closed.");
ABSL_FLAG(int, legacy_threads, 2, "Threads serving the legacy TCP port.");

namespace chat {

std::unique_ptr<Listener> MakeLegacyListenerFromFlags(Hub* hub) {
  LegacyServerOptions options;
  options.address = absl::GetFlag(FLAGS_legacy_addr);
  if (options.address.empty()) return nullptr;
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.threads = absl::GetFlag(FLAGS_legacy_threads);
  return std::make_unique<LegacyServer>(hub, options);
}

}  // namespace chat

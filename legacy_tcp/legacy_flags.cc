#include "legacy_tcp/legacy_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "legacy_tcp/legacy_server.h"
#include "net/net_flags.h"
#include "net/tls_flags.h"

ABSL_FLAG(std::string, legacy_addr, "127.0.0.1:5000",
          "Address for the legacy TCP line port (port 0 picks a free port; "
          "empty turns it off).");
ABSL_FLAG(std::string, legacy_tls_addr, "",
          "Address for a TLS line port beside the legacy one, same behaviour "
          "(openssl s_client -quiet, ncat --ssl); needs --tls_cert and "
          "--tls_key. Port 0 picks a free port; empty (the default) turns it "
          "off.");
ABSL_FLAG(size_t, max_connections, 10000,
          "Most legacy TCP connections; over it, a new one gets one line "
          "and is closed.");
ABSL_FLAG(int, legacy_threads, 2, "Threads serving the legacy TCP port.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Minutes(30),
          "A legacy TCP connection that sends nothing for this long gets a "
          "\"!!\" line saying so and is closed (0 turns it off).");
ABSL_FLAG(absl::Duration, line_timeout, absl::Seconds(60),
          "A legacy TCP connection that has sent part of a line and no line "
          "end for this long gets a \"!!\" line saying so and is closed, so "
          "that slow senders cannot hold connection slots (0 turns it off).");

namespace chat {

namespace {

LegacyServerOptions OptionsFromFlags() {
  LegacyServerOptions options;
  options.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.max_connections_per_ip = absl::GetFlag(FLAGS_max_connections_per_ip);
  options.threads = absl::GetFlag(FLAGS_legacy_threads);
  options.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  options.line_timeout = absl::GetFlag(FLAGS_line_timeout);
  return options;
}

}  // namespace

std::unique_ptr<Listener> MakeLegacyListenerFromFlags(Hub* hub) {
  LegacyServerOptions options = OptionsFromFlags();
  options.address = absl::GetFlag(FLAGS_legacy_addr);
  if (options.address.empty()) return nullptr;
  return std::make_unique<LegacyServer>(hub, options);
}

std::unique_ptr<Listener> MakeLegacyTlsListenerFromFlags(Hub* hub) {
  LegacyServerOptions options = OptionsFromFlags();
  options.address = absl::GetFlag(FLAGS_legacy_tls_addr);
  // main checked that TLS is configured when this is set.
  options.tls = TlsContextFromFlags().value_or(nullptr);
  if (options.address.empty() || options.tls == nullptr) return nullptr;
  options.name = "legacy_tls";
  return std::make_unique<LegacyServer>(hub, options);
}

absl::Status CheckLegacyTlsFlags(bool tls_configured) {
  if (!absl::GetFlag(FLAGS_legacy_tls_addr).empty() && !tls_configured) {
    return absl::InvalidArgumentError(
        "--legacy_tls_addr needs a certificate: give --tls_cert and "
        "--tls_key too");
  }
  return absl::OkStatus();
}

}  // namespace chat

#include "metrics/metrics_flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "metrics/metrics_server.h"

ABSL_FLAG(std::string, metrics_addr, "",
          "Address for Prometheus metrics: GET /metrics in the text format "
          "(e.g. 127.0.0.1:9464; port 0 picks a free port, and the ready "
          "line gains metrics=HOST:PORT). Empty: off. Anyone who reaches it "
          "sees the figures (no names): keep it on a private address.");

namespace chat {

std::unique_ptr<Listener> MakeMetricsListenerFromFlags(const Hub* hub) {
  MetricsServerOptions options;
  options.address = absl::GetFlag(FLAGS_metrics_addr);
  if (options.address.empty()) return nullptr;
  return std::make_unique<MetricsServer>(hub, options);
}

}  // namespace chat

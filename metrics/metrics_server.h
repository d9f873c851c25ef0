// MetricsServer: chat-service's --metrics_addr, an HTTP port that answers
// GET /metrics with RenderMetrics (metrics/render.h) in the Prometheus text
// format, "text/plain; version=0.0.4", for Prometheus to scrape. HEAD too;
// any other path is 404, any other method 405. Off unless the flag is set.
//
// Built on the shared TcpServer (net/tcp_server.h) and Boost.Beast's HTTP
// parser, as the HTTP port is (web/web_server.h), with caps of its own:
// max_connections open at once (over it, a 503), a request header of at most
// 8 KiB and no body, each request (and the next on a kept-alive connection)
// within request_timeout.
//
// Threads: one io_context thread, "metrics-io-0", of its own: a scrape
// renders there (the hub's and rooms' locks, briefly, and /proc), so a slow
// scrape never holds up a chat transport. It joins no member and only
// reads the hub.
//
// Thread-safe: every public method may be called from any thread. The hub
// must outlive the server.
//
// Example:
//   MetricsServer metrics(&hub, {.address = "127.0.0.1:0"});
//   if (absl::Status s = metrics.Start(); !s.ok()) return s;
//   // curl http://<metrics.address()>/metrics
//   metrics.Shutdown(absl::Seconds(1));
#ifndef CHATROOM_METRICS_METRICS_SERVER_H_
#define CHATROOM_METRICS_METRICS_SERVER_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "net/tcp_server.h"
#include "service/listener.h"
#include "service/room.h"

namespace chat {

class MetricsSession;

struct MetricsServerOptions {
  // "HOST:PORT" to listen on; port 0 picks one.
  std::string address = "127.0.0.1:9464";
  // Over this many open connections, a new one gets a 503 and is closed.
  size_t max_connections = 16;
  // A request must arrive within this long (the next one on a kept-alive
  // connection too), and its answer be written within it.
  absl::Duration request_timeout = absl::Seconds(10);
};

class MetricsServer final : public Listener {
 public:
  MetricsServer(const Hub* hub, MetricsServerOptions options);
  // Shuts down, if Shutdown was not called.
  ~MetricsServer() override;

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  absl::string_view name() const override { return "metrics"; }
  absl::Status Start() override;
  std::string address() const override;
  int port() const;
  void Shutdown(absl::Duration grace) override;

 private:
  friend class MetricsSession;

  // Constant after construction.
  const Hub* const hub_;
  const MetricsServerOptions options_;
  TcpServer server_;
};

}  // namespace chat

#endif  // CHATROOM_METRICS_METRICS_SERVER_H_

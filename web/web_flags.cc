#include "web/web_flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "net/net_flags.h"
#include "web/web_server.h"

ABSL_FLAG(std::string, http_addr, "127.0.0.1:8080",
          "Address for the HTTP port: the chat page at / and chat.v1 in JSON "
          "over a WebSocket at /ws (port 0 picks a free port; empty turns it "
          "off).");
ABSL_FLAG(std::vector<std::string>, http_allowed_origins, {},
          "Origins whose pages may open a chat over the WebSocket besides "
          "the page chat-service serves itself, e.g. "
          "https://chat.example.com (comma-separated; * allows any). "
          "Clients that send no Origin (scripts, not browsers) are always "
          "allowed.");
ABSL_FLAG(size_t, http_max_connections, 10000,
          "Most HTTP and WebSocket connections; over it, a new one gets a "
          "503 and is closed.");
ABSL_FLAG(int, http_threads, 2, "Threads serving the HTTP port.");
ABSL_FLAG(absl::Duration, http_request_timeout, absl::Seconds(10),
          "An HTTP request (header and body) must arrive within this long, "
          "and the next one on a kept-alive connection too; otherwise the "
          "connection is closed (0: no limit).");
ABSL_FLAG(absl::Duration, http_join_timeout, absl::Seconds(10),
          "A WebSocket at /ws must send its join within this long of its "
          "handshake, or it is closed with code 4004 and a reason (0: no "
          "limit).");

namespace chat {

std::unique_ptr<Listener> MakeWebListenerFromFlags(Hub* hub) {
  WebServerOptions options;
  options.address = absl::GetFlag(FLAGS_http_addr);
  if (options.address.empty()) return nullptr;
  for (const std::string& origin : absl::GetFlag(FLAGS_http_allowed_origins)) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(origin);
    absl::ConsumeSuffix(&trimmed, "/");
    if (!trimmed.empty()) options.allowed_origins.emplace_back(trimmed);
  }
  options.max_connections = absl::GetFlag(FLAGS_http_max_connections);
  options.max_connections_per_ip = absl::GetFlag(FLAGS_max_connections_per_ip);
  options.threads = absl::GetFlag(FLAGS_http_threads);
  options.request_timeout = absl::GetFlag(FLAGS_http_request_timeout);
  options.join_timeout = absl::GetFlag(FLAGS_http_join_timeout);
  return std::make_unique<WebServer>(hub, options);
}

}  // namespace chat

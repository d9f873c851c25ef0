// WebServer: the HTTP port, a third transport into the room core
// (service/room.h). It serves the chat page (web/page/, compiled in) at `/`
// and a WebSocket at `/ws` over which a browser or a script speaks chat.v1
// itself: each text frame one ChatRequest (client to server) or
// ChatResponse (server to client) in protobuf's JSON mapping
// (web/web_protocol.h). Same rooms, names, limits, seq and resume as gRPC
// and the legacy port.
//
// Built on Boost.Beast (Debian's libboost1.81-dev): a maintained HTTP/1.1
// parser with header and body limits, and a WebSocket implementation with
// UTF-8 validation, frame size limits and keep-alive pings, on the same
// Boost.Asio as the shared TcpServer (net/tcp_server.h).
//
// A connection starts as an HTTP session: GET/HEAD of the page's files
// (with a Content-Security-Policy and ETags), 404 for other paths, 403 for a
// WebSocket handshake from an origin not allowed, 426 for /ws without one.
// A WebSocket handshake at /ws turns it into a chat session: the first
// frame must be a join; then says, renames, joins (moves) and a leave. The
// session writes its member's outbox one event per frame, one write in
// flight, each event's JSON made once for every web member
// (Event::Encoded). A chat ends with a close frame: 1000 after a leave,
// else 4000 + the gRPC status code, with the reason (web_protocol.h).
//
// Caps and deadlines: connections in all and per client address
// (TcpServer's, answered with a 503 that says why); a request must arrive
// within request_timeout, and a WebSocket must join within join_timeout.
// Each refusal and closure for these is logged once, with the client's
// address. Members join with the client's IP address (JoinRequest::peer_ip)
// and, for an owned name, the join's token (Join.token: a page has no call
// metadata to carry it); a refused join closes with the core's code and
// sentence (4016 UNAUTHENTICATED, 4007 PERMISSION_DENIED, ...).
//
// Threads: `threads` io_context threads ("http-io-N"); a connection lives on
// one of them for its whole life, so its state needs no lock.
//
// Thread-safe: every public method may be called from any thread. The hub
// must outlive the server.
#ifndef CHATROOM_WEB_WEB_SERVER_H_
#define CHATROOM_WEB_WEB_SERVER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "net/tcp_server.h"
#include "service/listener.h"
#include "service/room.h"

namespace chat {

class HttpSession;
class WsSession;

struct WebServerOptions {
  // "HOST:PORT" to listen on; port 0 picks one.
  std::string address = "127.0.0.1:8080";
  // Over this many connections, a new one gets a 503 and is closed.
  size_t max_connections = 10000;
  // Over this many connections from one IP address, a new one from it gets
  // a 503 and is closed (0: no limit; chat-service's
  // --max_connections_per_ip defaults to 32).
  size_t max_connections_per_ip = 0;
  // io_context threads.
  int threads = 2;
  // A request (its header and body) must arrive within this long, and so
  // must the next one on a kept-alive connection; a response must be
  // written within it. Otherwise the connection is closed (zero: no limit).
  absl::Duration request_timeout = absl::Seconds(10);
  // A WebSocket must send its join within this long of its handshake, or it
  // is closed with 4004 (DEADLINE_EXCEEDED) and a reason (zero: no limit).
  // Beast's keep-alive pings would otherwise hold it open for ever.
  absl::Duration join_timeout = absl::Seconds(10);
  // Origins allowed to open a chat besides the page's own
  // (web_protocol.h's OriginAllowed); "*" means any.
  std::vector<std::string> allowed_origins;
  // How long a chat that ended may take to send its close frame and get
  // the client's answer before the socket is closed hard.
  absl::Duration close_grace = absl::Seconds(5);
};

class WebServer final : public Listener {
 public:
  WebServer(Hub* hub, WebServerOptions options);
  // Shuts down, if Shutdown was not called.
  ~WebServer() override;

  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  absl::string_view name() const override { return "http"; }
  absl::Status Start() override;
  std::string address() const override;
  int port() const;
  void Shutdown(absl::Duration grace) override;

  // Open connections (HTTP or WebSocket).
  size_t connection_count() const;
  bool WaitForConnectionCount(size_t count, absl::Duration timeout) const;

  // The largest WebSocket frame a client may send: room for a message of
  // --max_message_bytes in JSON, escapes and all.
  size_t max_frame_bytes() const;

 private:
  friend class HttpSession;
  friend class WsSession;

  // Writes a 503 that says why to a refused socket, without blocking.
  void Refuse(TcpServer::Socket& socket, TcpServer::Refusal why);

  // Constant after construction.
  Hub* const hub_;
  const WebServerOptions options_;
  TcpServer server_;
};

}  // namespace chat

#endif  // CHATROOM_WEB_WEB_SERVER_H_

// LegacyServer: the legacy TCP line port, a second transport into the room
// core (service/room.h) for telnet, nc and line-based clients. It adds no room
// logic of its own.
//
// Each connection is a session: a guest member ("guest-NNNNN") in room
// "lobby", joined with the client's IP address (JoinRequest::peer_ip). The
// session decodes the lines it reads (LineDecoder), turns them into the core's
// Say, Rename, Move and Leave (or a few local commands: /who, /help), and
// writes what its member's outbox holds as text lines (FormatEventLine plus
// "\r\n"), everything drained at once gathered into one write, with one write
// in flight. The session keeps no queue of its own beyond what it drained for
// that write: a client that stops reading lets the core's bounded outbox
// overflow, and the core removes it as too slow. Answers to its own commands
// are bounded too: a session that owes its client more than a few unwritten
// answers stops reading until they are written.
//
// Caps and deadlines: connections in all and per client address
// (TcpServer's, answered with one "!!" line); a session idle for
// idle_timeout, or holding part of a line for line_timeout, is told why in a
// "!!" line and closed. Each refusal and closure is logged once, with the
// client's address (TcpServer's throttled log).
//
// Threads: the server runs `threads` io_context threads ("legacy-io-N"),
// separate from gRPC's, through the shared TcpServer (net/tcp_server.h),
// which also accepts, caps, registers and shuts down connections. A session
// lives on one thread for its whole life (its implicit strand), so its state
// needs no lock; the core's wake-ups are posted to that thread and never
// block.
//
// Thread-safe: every public method may be called from any thread. The hub
// must outlive the server.
//
// Example:
//   LegacyServer server(&hub, LegacyServerOptions{.address = "127.0.0.1:0"});
//   absl::Status s = server.Start();
//   if (!s.ok()) return s;
//   std::cout << server.address();   // "127.0.0.1:41234"
//   ...
//   hub.Shutdown("bye");
//   server.Shutdown();
#ifndef CHATROOM_LEGACY_TCP_LEGACY_SERVER_H_
#define CHATROOM_LEGACY_TCP_LEGACY_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "net/tcp_server.h"
#include "net/tls_bridge.h"
#include "net/tls_context.h"
#include "service/listener.h"
#include "service/room.h"

namespace chat {

class LegacySession;

struct LegacyServerOptions {
  // "HOST:PORT" to listen on ("[::1]:5000" for IPv6); port 0 picks one.
  std::string address = "127.0.0.1:5000";
  // Over this many connections, a new one gets one "!!" line and is closed.
  size_t max_connections = 10000;
  // Over this many connections from one IP address, a new one from it gets
  // one "!!" line and is closed (0: no limit; chat-service's
  // --max_connections_per_ip defaults to 32).
  size_t max_connections_per_ip = 0;
  // io_context threads.
  int threads = 2;
  // Bytes received without a line end before a client is disconnected.
  size_t max_unterminated_bytes = 64 * 1024;
  // A client that sends nothing for this long gets a "!!" line that says
  // why and is closed; its member leaves with the reason (zero: never).
  absl::Duration idle_timeout = absl::Minutes(30);
  // A client that has sent part of a line and no line end for this long
  // (a slowloris holding a connection slot) gets a "!!" line and is closed
  // likewise (zero: never).
  absl::Duration line_timeout = absl::Seconds(60);
  // How long a closing session may take to flush what it has left, and to
  // let the client read it, before its socket is closed hard.
  absl::Duration close_grace = absl::Seconds(5);
  // TLS: each connection goes through a TLS bridge (net/tls_bridge.h) with
  // this context, and its session is started once the handshake is done; a
  // client that speaks plaintext gets one "!!" line and is closed. Null:
  // plaintext.
  std::shared_ptr<TlsContext> tls;
  // The name in logs and thread names ("legacy", "legacy_tls").
  std::string name = "legacy";
};

class LegacyServer final : public Listener {
 public:
  LegacyServer(Hub* hub, LegacyServerOptions options);
  // Shuts down, if Shutdown was not called.
  ~LegacyServer() override;

  LegacyServer(const LegacyServer&) = delete;
  LegacyServer& operator=(const LegacyServer&) = delete;

  // Start
  //
  // Binds, listens and starts the threads. Errors: INVALID_ARGUMENT (a bad
  // address), UNAVAILABLE (cannot bind or listen), FAILED_PRECONDITION
  // (started twice).
  absl::Status Start() override;

  absl::string_view name() const override { return "legacy"; }
  // The address bound, "HOST:PORT", once started.
  std::string address() const override;
  int port() const;

  // Shutdown
  //
  // Stops accepting, lets every session flush what it has and close (call
  // Hub::Shutdown first, so that members get its notice), closes whatever is
  // still open after `grace`, and joins the threads. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(1)) override;

  // Open connections (sessions not yet destroyed).
  size_t connection_count() const;

  // WaitForConnectionCount
  //
  // Waits up to `timeout` until connection_count() == `count`; returns
  // whether it got there.
  bool WaitForConnectionCount(size_t count, absl::Duration timeout) const;

 private:
  friend class LegacySession;

  // Writes the line that says why to a refused socket, without blocking.
  void Refuse(TcpServer::Socket& socket, TcpServer::Refusal why);
  // With TLS: a session for `socket`'s connection, started once the TLS
  // bridge in front of it has done the handshake.
  void AcceptTls(TcpServer::Socket socket, const asio::ip::tcp::endpoint& peer);
  // "guest-NNNNN": the next of a sequence that starts at a random number.
  std::string NextGuestName();

  // Constant after construction.
  Hub* const hub_;
  const LegacyServerOptions options_;

  std::atomic<uint32_t> next_guest_;
  // With TLS; stopped after server_, once the sessions have closed.
  std::unique_ptr<TlsBridgePool> bridges_;
  TcpServer server_;
};

}  // namespace chat

#endif  // CHATROOM_LEGACY_TCP_LEGACY_SERVER_H_

// TcpServer: the Asio plumbing a socket transport needs, shared by the
// legacy line port (legacy_tcp/) and the HTTP/WebSocket port (web/): one
// io_context per thread, an acceptor that spreads connections over them,
// caps on open connections (in all, and per client IP address), TCP
// keepalive on every accepted socket, a registry of the open connections, a
// throttled log for refusals and closures, and a graceful shutdown. It knows
// nothing of what a connection speaks.
//
// A transport derives its sessions from Connection and gives the server two
// callbacks: what to do with an accepted socket (make a session, which
// registers itself, and post its start to its thread) and what to tell a
// socket over a cap before it is closed.
//
// Threads: `threads` io_context threads, named "NAME-io-N"; the acceptor
// lives on the first. A connection lives on one thread for its whole life
// (its implicit strand), so its state needs no lock.
//
// Fairness: the acceptor accepts one connection per handler. After each, it
// starts the next accept, whose completion (even when a connection is
// already waiting) is queued behind every handler already ready on the
// acceptor's thread: a flood of connects takes turns with the connections
// being served there instead of starving them.
//
// Thread-safe: every public method may be called from any thread.
//
// Example (legacy_tcp/legacy_server.cc has the whole of one):
//   TcpServer server(
//       {.name = "legacy", .address = "127.0.0.1:0"},
//       [&](TcpServer::Socket socket, const asio::ip::tcp::endpoint& peer) {
//         auto s = Connection::Make<MySession>(&server, std::move(socket),
//                                              peer);
//         asio::post(s->executor(), [s] { s->Start(); });
//       },
//       [](TcpServer::Socket& socket, TcpServer::Refusal why) {
//         /* write "server full" */
//       });
//   absl::Status s = server.Start();
//   ...
//   server.Shutdown(absl::Seconds(1));
#ifndef CHATROOM_NET_TCP_SERVER_H_
#define CHATROOM_NET_TCP_SERVER_H_

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "net/throttled_log.h"

namespace chat {

namespace asio = boost::asio;
using ErrorCode = boost::system::error_code;

class TcpServer;

// Connection
//
// One accepted connection, of whatever transport. Made with Connection::Make
// (not std::make_shared). It registers with its server when constructed and
// unregisters when destroyed (a derived class
// closes its socket in its own destructor, before it counts as gone), so
// the server can stop every open connection and wait for them to end, and
// count the connections of each client address. A session that hands its
// socket to another (HTTP to WebSocket) counts twice for that moment.
// Owned through std::shared_ptr; its handlers keep it alive.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Executor = asio::io_context::executor_type;

  // `peer`: the client's address, as the acceptor gave it.
  Connection(TcpServer* server, const Executor& executor,
             const asio::ip::tcp::endpoint& peer);
  virtual ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Make
  //
  // std::make_shared<T>(args...), then hands the server the finished
  // connection's shared_ptr: until then the server counts it but never
  // touches it (its shared_from_this is still being set).
  template <typename T, typename... Args>
  static std::shared_ptr<T> Make(Args&&... args) {
    auto connection = std::make_shared<T>(std::forward<Args>(args)...);
    connection->Adopt();
    return connection;
  }

  // The connection's thread. Any thread may call this.
  const Executor& executor() const { return executor_; }

  // The client's address: "127.0.0.1:51234" (peer_address) and
  // "127.0.0.1" (peer_ip; IPv4 for an IPv4-mapped IPv6 address). Any thread.
  const asio::ip::tcp::endpoint& peer() const { return peer_; }
  const std::string& peer_ip() const { return peer_ip_; }
  std::string peer_address() const;

  // LogClosure
  //
  // Logs once why the server closes or refuses this connection: msg=TEXT
  // with transport=NAME peer=PEER_ADDRESS, through the server's ThrottledLog
  // under `cause` (at info: a closure is the server doing its job).
  void LogClosure(absl::string_view cause, absl::string_view text) const;

  // Stop
  //
  // For a server shutdown: ends the connection gracefully (its member gets
  // the notice, what is queued is written). Called on its thread.
  virtual void Stop() = 0;

  // CloseSocket
  //
  // Closes the socket now; pending operations end with errors. Called on
  // its thread.
  virtual void CloseSocket() = 0;

 protected:
  // shared_from_this(), as the derived type.
  template <typename T>
  std::shared_ptr<T> SharedAs() {
    return std::static_pointer_cast<T>(shared_from_this());
  }
  template <typename T>
  std::weak_ptr<T> WeakAs() {
    return SharedAs<T>();
  }

 private:
  // Gives the server this connection's shared_ptr (see Make).
  void Adopt();

  TcpServer* const server_;
  const Executor executor_;
  const asio::ip::tcp::endpoint peer_;
  const std::string peer_ip_;
};

struct TcpServerOptions {
  // The transport's name: threads are "NAME-io-N"; logs and errors say it.
  std::string name = "tcp";
  // "HOST:PORT" to listen on ("[::1]:5000" for IPv6); port 0 picks one.
  std::string address = "127.0.0.1:0";
  // Over this many open connections, a new one is refused.
  size_t max_connections = 10000;
  // Over this many open connections from one IP address, a new one from it
  // is refused (0: no limit; chat-service's --max_connections_per_ip
  // defaults to 32).
  size_t max_connections_per_ip = 0;
  // io_context threads.
  int threads = 2;
  // TCP keepalive on every accepted socket: the first probe after
  // `keepalive_idle` without traffic, then one every `keepalive_interval`;
  // after `keepalive_count` unanswered probes the kernel drops the
  // connection, and its pending operations end with an error. A zero
  // keepalive_idle turns keepalive off.
  absl::Duration keepalive_idle = absl::Seconds(60);
  absl::Duration keepalive_interval = absl::Seconds(10);
  int keepalive_count = 6;
};

class TcpServer {
 public:
  // A socket bound to one io_context (not a type-erased executor).
  using Socket = asio::ip::tcp::socket::rebind_executor<
      asio::io_context::executor_type>::other;
  // Called on the acceptor's thread for each accepted socket (non-blocking,
  // TCP_NODELAY, keepalive) while under the caps, with the client's address
  // (IPv4 for an IPv4-mapped one): makes its connection (which registers,
  // before this returns) and posts the connection's start to
  // socket.get_executor(). Must not block.
  using AcceptFn =
      std::function<void(Socket socket, const asio::ip::tcp::endpoint& peer)>;
  // Why a connection is refused.
  enum class Refusal {
    kServerFull,         // max_connections are open.
    kTooManyFromPeerIp,  // max_connections_per_ip are open from its address.
  };
  // Called on the acceptor's thread for a socket over a cap, before it is
  // closed: may write a short answer without blocking. The server logs the
  // refusal.
  using RefuseFn = std::function<void(Socket& socket, Refusal why)>;

  // RefusalText
  //
  // What a refused client is told, one sentence without a line end: "the
  // server is full (10000 connections); try again later".
  std::string RefusalText(Refusal why) const;

  TcpServer(TcpServerOptions options, AcceptFn accept, RefuseFn refuse);
  // Shuts down, if Shutdown was not called.
  ~TcpServer();

  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Start
  //
  // Binds, listens and starts the threads. Errors: INVALID_ARGUMENT (a bad
  // address), UNAVAILABLE (cannot bind or listen), FAILED_PRECONDITION
  // (started twice).
  absl::Status Start();

  const TcpServerOptions& options() const { return options_; }
  // The address bound, "HOST:PORT", once started.
  std::string address() const;
  int port() const;

  // Shutdown
  //
  // Stops accepting, asks every connection to Stop, closes whatever is still
  // open after `grace`, and joins the threads. Idempotent.
  void Shutdown(absl::Duration grace);

  // Whether Shutdown was called.
  bool stopped() const;

  // Open connections (constructed and not yet destroyed).
  size_t connection_count() const;
  // Open connections from `ip` ("127.0.0.1").
  size_t connection_count(const std::string& ip) const;

  // The log for refusals and closures (Connection::LogClosure).
  ThrottledLog& closure_log() { return closure_log_; }

  // WaitForConnectionCount
  //
  // Waits up to `timeout` until connection_count() == `count`; returns
  // whether it got there.
  bool WaitForConnectionCount(size_t count, absl::Duration timeout) const;

 private:
  friend class Connection;

  void Accept();
  void OnAccept(const ErrorCode& error, Socket socket);
  // Sets keepalive on an accepted socket.
  void SetKeepalive(Socket& socket);
  // Refuses and closes a socket over a cap.
  void Refuse(Socket& socket, Refusal why, const asio::ip::tcp::endpoint& peer,
              size_t open);
  void Register(Connection* connection);
  void Adopt(const std::shared_ptr<Connection>& connection);
  void Unregister(Connection* connection);
  // Posts `action` to every open connection, on its thread.
  void ForEachConnection(void (*action)(Connection&));

  // Constant after construction.
  const TcpServerOptions options_;
  const AcceptFn accept_;
  const RefuseFn refuse_;

  // Thread-safe itself; outlives the connections, which log through it.
  ThrottledLog closure_log_;

  // Connections register in their constructor and unregister in their
  // destructor; the set is read by Shutdown. Declared before the
  // io_contexts, so it outlives the connections their handlers hold.
  mutable absl::Mutex mu_;
  // Each registered connection, with its shared_ptr's weak_ptr once made
  // (Connection::Make; empty before).
  absl::flat_hash_map<Connection*, std::weak_ptr<Connection>> connections_
      ABSL_GUARDED_BY(mu_);
  // Open connections per client IP address (Connection::peer_ip).
  absl::flat_hash_map<std::string, size_t> per_ip_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::string address_ ABSL_GUARDED_BY(mu_);
  int port_ ABSL_GUARDED_BY(mu_) = 0;

  // One io_context per thread; connections are spread over them.
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;

  // Created by Start, then used on the first thread only (the acceptor's).
  std::optional<asio::ip::tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> accept_retry_;
  asio::ip::tcp::endpoint accept_peer_;  // Filled by the accept in flight.
  size_t next_context_ = 0;
};

// FormatEndpoint
//
// "HOST:PORT", or "[V6HOST]:PORT".
std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint);

// ParseEndpoint
//
// Parses "HOST:PORT" ("[V6]:PORT"; an empty host is every IPv4 address;
// "localhost" is 127.0.0.1; other names are not resolved). Errors name
// `what` ("legacy address").
absl::StatusOr<asio::ip::tcp::endpoint> ParseEndpoint(absl::string_view address,
                                                      absl::string_view what);

}  // namespace chat

#endif  // CHATROOM_NET_TCP_SERVER_H_

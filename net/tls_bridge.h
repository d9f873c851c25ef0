// TlsBridgePool: TLS termination in front of a plaintext transport. Given an
// accepted TCP connection and one end of a socketpair(AF_UNIX, SOCK_STREAM),
// a bridge does the server's TLS handshake (OpenSSL through
// boost::asio::ssl, with TlsContext::Current() at that moment), then copies
// bytes both ways: what the client sends, decrypted, into the socketpair;
// what comes out of it, encrypted, to the client. The other end of the
// socketpair is the transport's, which serves it as if it were the client's
// plaintext connection (gRPC: AddInsecureChannelFromFd; the line port: a
// session of its own).
//
// Plaintext clients: the bridge peeks at the first byte. A TLS handshake
// starts with 0x16; anything else is handed back through on_plaintext,
// with the TCP socket, for the transport to say in its own protocol that
// the port speaks TLS only.
//
// Bounded: one buffer per direction (buffer_bytes); a direction reads again
// only once its last write completed, so a side that does not read stops the
// other (backpressure), and nothing queues. A handshake that takes longer
// than handshake_timeout (a client that connects and says nothing) closes
// the connection; so does a write to the client that makes no progress for
// stall_timeout. Ending: when the client ends (close_notify or TCP FIN) the
// bridge shuts down the socketpair's sending side and keeps relaying the
// other way until the transport closes its end; when the transport closes
// its end, what it wrote is sent, then close_notify (waiting up to 1 s for
// the client's), then the connection is closed. Any error closes both sides
// at once. During the handshake, the transport closing its end cancels it.
//
// Threads: `threads` io_context threads ("NAME-N"); a bridge lives on one
// for its whole life. Callbacks run on the bridge's thread and must not
// block. Thread-safe: every public method may be called from any thread.
//
// Example:
//   TlsBridgePool pool("grpc-tls", 2, {});
//   int pair[2];
//   socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair);
//   pool.Bridge(accepted_fd, pair[1], tls->Current(),
//               [fd = pair[0]] { Serve(fd); },
//               [](int fd) { SayTlsOnly(fd); close(fd); });
//   ...
//   pool.Stop(absl::Seconds(1));
#ifndef CHATROOM_NET_TLS_BRIDGE_H_
#define CHATROOM_NET_TLS_BRIDGE_H_

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace chat {

struct TlsBridgeOptions {
  // Bytes buffered per direction.
  size_t buffer_bytes = 16 * 1024;
  // From accept to a finished handshake.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // A write to the client that completes no progress for this long ends
  // the connection.
  absl::Duration stall_timeout = absl::Seconds(60);
};

class TlsBridgePool {
 public:
  // Called once the handshake is done (before any byte is relayed).
  using ReadyFn = std::function<void()>;
  // Called with the TCP connection's descriptor (now the callee's to close)
  // when the client's first byte is not a TLS handshake; the bridge has
  // closed its socketpair end.
  using PlaintextFn = std::function<void(int tcp_fd)>;

  // `name`: the threads' name prefix ("grpc-tls").
  TlsBridgePool(std::string name, int threads, TlsBridgeOptions options);
  // Stop(zero), if Stop was not called.
  ~TlsBridgePool();

  TlsBridgePool(const TlsBridgePool&) = delete;
  TlsBridgePool& operator=(const TlsBridgePool&) = delete;

  // Bridge
  //
  // Takes `tcp_fd` (an accepted TCP socket) and `inner_fd` (this side's end
  // of a socketpair) and starts a bridge between them with `context`. Once
  // stopped, closes both. Callbacks: see ReadyFn, PlaintextFn; when the
  // handshake fails neither is called (both are destroyed with the bridge).
  void Bridge(int tcp_fd, int inner_fd,
              std::shared_ptr<boost::asio::ssl::context> context,
              ReadyFn on_ready, PlaintextFn on_plaintext);

  // Stop
  //
  // Takes no new bridges, waits up to `grace` for the open ones to end
  // (their transports closing their ends), closes the rest and joins the
  // threads. Idempotent.
  void Stop(absl::Duration grace);

  // Open bridges (handshaking or relaying). Any thread.
  size_t bridge_count() const;

  // WaitForBridgeCount
  //
  // Waits up to `timeout` until bridge_count() == `count`.
  bool WaitForBridgeCount(size_t count, absl::Duration timeout) const;

 private:
  class Link;
  friend class Link;

  void Register(Link* link, std::weak_ptr<Link> weak);
  void Unregister(Link* link);

  // Constant after construction.
  const std::string name_;
  const TlsBridgeOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<Link*, std::weak_ptr<Link>> links_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  size_t next_context_ ABSL_GUARDED_BY(mu_) = 0;

  // One io_context per thread; declared after the registry, which the
  // links' destructors (run when a context is destroyed) use.
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>>
      work_;
  std::vector<std::thread> threads_;
};

}  // namespace chat

#endif  // CHATROOM_NET_TLS_BRIDGE_H_

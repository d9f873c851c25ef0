// GrpcAcceptor: the gRPC port's acceptor. It listens and accepts TCP
// connections itself, under a cap on open connections and a cap per client
// IP address, and hands each one it admits to a grpc::Server that listens on
// no port of its own (grpc::AddInsecureChannelFromFd). A connection over a
// cap has its first call answered with RESOURCE_EXHAUSTED and a sentence
// that says why (service/http2_refusal.h), and is closed: up to
// kMaxRefusing at a time, for at most kRefusalWait each; past that, the
// oldest of them is closed without an answer.
//
// Why not gRPC's own listener: in gRPC 1.51 (Debian 12), the listener's
// accept loop (src/core/lib/iomgr/tcp_server_posix.cc, on_read) treats every
// accept4 error but EAGAIN and EINTR as fatal to the listener: it logs
// "Failed accept4: Too many open files" once and never re-arms, so one
// moment at the descriptor limit (EMFILE) stops the port for good, even
// after every connection closed. gRPC 1.51 has no cap on incoming
// connections either. This acceptor caps connections below the limit and,
// should accept fail anyway (EMFILE, ENFILE, ENOBUFS, ENOMEM), pauses and
// tries again.
//
// gRPC closes a connection's descriptor without telling anyone, so the
// acceptor counts a handed-over connection as open for as long as its
// descriptor number still names the socket it accepted (same inode). It
// checks them whenever a cap is reached, before refusing (all of them at
// most once per 20 times what the last such check took), and every 10 s.
//
// TLS (options.tls set): the port serves TLS only. Each admitted connection
// goes through a TLS bridge (net/tls_bridge.h, threads "grpc-tls-N"), and
// gRPC gets the bridge's plaintext end of a socketpair once the handshake
// is done; the TCP connection counts against the caps from accept on. A
// client that speaks plaintext HTTP/2 to it has its first call answered
// with UNAVAILABLE and a sentence that says to use TLS, like a refusal.
//
// Threads: one, "grpc-accept", accepts, refuses and checks. Peer() is
// called from gRPC's threads. Bind, Start and Stop: one thread.
//
// Example:
//   GrpcAcceptor acceptor({.address = "127.0.0.1:0"});
//   if (absl::Status s = acceptor.Bind(); !s.ok()) return s;
//   std::unique_ptr<grpc::Server> server = builder.BuildAndStart();  // no port
//   acceptor.Start(server.get());
//   ... acceptor.address() ...
//   acceptor.Stop();
//   server->Shutdown(deadline);
#ifndef CHATROOM_SERVICE_GRPC_ACCEPTOR_H_
#define CHATROOM_SERVICE_GRPC_ACCEPTOR_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "net/throttled_log.h"
#include "net/tls_bridge.h"
#include "net/tls_context.h"
#include "service/grpc_peer.h"

namespace chat {

struct GrpcAcceptorOptions {
  // "HOST:PORT" ("[::1]:PORT" for IPv6; "localhost" is 127.0.0.1; an empty
  // host is every IPv4 address); port 0 picks one.
  std::string address = "127.0.0.1:0";
  // Over this many open connections, a new one is refused.
  size_t max_connections = 10000;
  // Over this many open connections from one IP address, a new one from it
  // is refused (0: no limit).
  size_t max_connections_per_ip = 32;
  // Serve TLS only, with this context (null: plaintext only).
  std::shared_ptr<TlsContext> tls;
};

class GrpcAcceptor {
 public:
  // Refused connections answered at once, and how long each may take.
  static constexpr size_t kMaxRefusing = 16;
  static constexpr absl::Duration kRefusalWait = absl::Seconds(2);

  explicit GrpcAcceptor(GrpcAcceptorOptions options);
  // Stops, if Stop was not called.
  ~GrpcAcceptor();

  GrpcAcceptor(const GrpcAcceptor&) = delete;
  GrpcAcceptor& operator=(const GrpcAcceptor&) = delete;

  // Bind
  //
  // Binds and listens. Errors: INVALID_ARGUMENT (a bad address),
  // UNAVAILABLE (cannot bind or listen), FAILED_PRECONDITION (twice).
  absl::Status Bind();

  // Start
  //
  // Starts accepting for `server`: started, listening on no port of its
  // own, and alive until Stop returns. After a successful Bind.
  void Start(grpc::Server* server);

  // The address bound, "HOST:PORT", after Bind.
  std::string address() const;

  // Stop
  //
  // Stops accepting and closes the listening socket. Connections already
  // handed over stay the server's (its Shutdown ends them); TLS handshakes
  // that finish later are closed. Idempotent.
  void Stop();

  // StopBridges
  //
  // With TLS, after the server's Shutdown: waits up to `grace` for the TLS
  // bridges to relay what gRPC wrote last, then closes them. Idempotent.
  void StopBridges(absl::Duration grace);

  // Peer
  //
  // Who is at the other end of a connection this acceptor handed to gRPC,
  // from gRPC's peer string for it ("fd:12"); other peer strings are
  // parsed (ParseGrpcPeer). Any thread; never blocks on I/O.
  PeerInfo Peer(absl::string_view grpc_peer) const;

  // Open connections handed to gRPC (checks each one first). Any thread.
  size_t connection_count();

  // Times accept failed for want of descriptors or memory (for tests and
  // monitoring). Any thread.
  size_t accept_failures() const { return accept_failures_.load(); }

 private:
  class Refusing;
  struct Handed {
    ino_t inode = 0;
    dev_t device = 0;
    PeerInfo peer;
  };
  enum class Cause { kFull, kPerIp };

  void WaitForConnection();
  void OnReadable();
  void Admit(int fd, const boost::asio::ip::tcp::endpoint& from);
  void Refuse(int fd, const PeerInfo& peer, Cause cause);
  // Answers the first call on `fd` with `code` and `text`, then closes it.
  void StartRefusing(int fd, int code, std::string text);
  // With TLS: bridges an admitted connection; gRPC gets the other end.
  void Bridge(int fd, const PeerInfo& peer);
  // Hands `fd` to gRPC, unless stopped. Any thread.
  void Hand(int fd);
  void ScheduleCheck();
  // Forgets handed-over connections whose descriptor no longer names their
  // socket: all of them, or those from `ip`.
  void CheckAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckIpLocked(const std::string& ip) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetLocked(int fd) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StillOpenLocked(int fd, const Handed& handed) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const GrpcAcceptorOptions options_;

  // State of the "grpc-accept" thread (and of Bind/Start before it runs).
  // Refused connections still being answered, oldest first (they hold
  // handlers on context_, so this is declared first, to outlive them).
  std::deque<Refusing*> refusing_;
  boost::asio::io_context context_{1};
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  boost::asio::steady_timer retry_{context_};
  boost::asio::steady_timer check_{context_};
  grpc::Server* server_ = nullptr;
  std::thread thread_;
  uint64_t next_serial_ = 0;
  std::string address_;
  bool stopped_ = false;

  std::atomic<size_t> accept_failures_{0};

  // Refusals and accept errors: one line per address and cause per 10 s.
  ThrottledLog refusals_;

  // Connections handed to gRPC, by descriptor, and how many per IP.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<int, Handed> handed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> per_ip_ ABSL_GUARDED_BY(mu_);
  // CheckAllLocked does nothing before this (it is costly at scale).
  absl::Time next_full_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // With TLS: who is behind each bridge's descriptor that gRPC was given
  // (Peer's "fd:N"); the TCP connection is in handed_. Checked like
  // handed_ (same inode), never counted.
  absl::flat_hash_map<int, Handed> bridged_ ABSL_GUARDED_BY(mu_);

  // Handing connections to gRPC from the bridges' threads stops with Stop.
  absl::Mutex hand_mu_ ABSL_ACQUIRED_AFTER(mu_);
  bool handing_stopped_ ABSL_GUARDED_BY(hand_mu_) = false;

  // With TLS: the bridges (declared last, to be stopped first).
  std::unique_ptr<TlsBridgePool> bridges_;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_ACCEPTOR_H_

// TcpProxy: a TCP proxy on 127.0.0.1:0 that puts faults between a client
// and a server in a test: cut every connection (now, or every N seconds),
// silence the current ones (a dead network path: open, but nothing goes
// through), and move to another backend (a server restarted on another
// port behind the same address). It is a byte pipe: gRPC (HTTP/2) and line
// protocols alike go through unchanged.
//
// Each accepted connection is connected to the backend as it is when the
// proxy accepts it, then forwarded both ways with one 64 KiB buffer per
// direction: the next chunk is read only once the previous one is written,
// so a slow reader slows the writer down instead of filling memory. A FIN is
// passed on as a FIN (half-close); a reset, a refused backend connect or any
// other error closes both sides with a reset. Every close the proxy does of
// its own (CutAll, errors, the destructor) is a reset (SO_LINGER 0): the
// peers see the end at once.
//
// Example:
//   ChatServiceProcess server(...);
//   ASSERT_TRUE(server.Start({}).ok());
//   TcpProxy proxy(server.grpc_addr());
//   ... chatctl --server=proxy.address() ...
//   proxy.CutEvery(absl::Seconds(2));  // Cut every connection every 2 s.
//   ...
//   proxy.CutEvery(absl::ZeroDuration());
//   proxy.Silence();                   // The current connections go dead.
//   server.Kill();
//   ASSERT_TRUE(server.Start({}).ok());  // Another port.
//   proxy.SetBackend(server.grpc_addr());  // New connections go there.
//
// Threads: one io thread, "tcp-proxy", does all the forwarding. Every
// public method may be called from any thread (from the io thread too),
// except the destructor, which must not run on the io thread. Methods that
// act on connections (CutAll, CutEvery, Silence) run on the io thread and
// return once done: after CutAll returns, the cut sockets are closed.
// Failures to listen or a bad backend address are gtest failures.
#ifndef CHATROOM_TESTING_TCP_PROXY_H_
#define CHATROOM_TESTING_TCP_PROXY_H_

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace chat {

class TcpProxy {
 public:
  // Bytes buffered per direction of a connection.
  static constexpr size_t kBufferSize = 64 * 1024;

  // Listens on 127.0.0.1:0 and forwards to `backend`, "HOST:PORT" with an
  // IP address for HOST ("[::1]:PORT" for IPv6; "localhost" is 127.0.0.1).
  // A test failure when it cannot listen (port() is then 0) or the address
  // is bad (connections are then closed at once).
  explicit TcpProxy(std::string backend);
  // Stops accepting, resets every connection and joins the io thread.
  ~TcpProxy();

  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // The port bound, and "127.0.0.1:PORT": what clients connect to.
  int port() const { return port_; }
  std::string address() const;

  // SetBackend
  //
  // Where connections accepted from now on go. Connections already
  // forwarded stay where they are. (A connection the kernel has queued but
  // the proxy has not accepted yet goes to the new backend.)
  void SetBackend(std::string backend);
  std::string backend() const;

  // CutAll
  //
  // Resets every open connection, both sides (silenced ones too), and
  // returns how many that was. New connections are still accepted.
  int CutAll();

  // CutEvery
  //
  // From now on, CutAll every `period`; a zero (or negative) period stops
  // it. Once this returns, the previous schedule cuts no more.
  void CutEvery(absl::Duration period);

  // Silence
  //
  // Every open connection stops forwarding, both ways, now (what is being
  // written may be cut short), but stays open: no FIN, no reset, until
  // CutAll or the destructor. The proxy stops reading them, so what a peer
  // sends fills the socket buffers and then blocks, as on a dead path, and a
  // peer's close goes unnoticed. Returns how many connections are silent.
  // Connections accepted later forward normally.
  int Silence();

  // The counters below change before the sockets concerned close: a test
  // whose client saw its connection end sees it counted.
  //
  // Connections open now (accepted and not closed; silenced ones count).
  int connections() const;
  // Connections accepted in all.
  int64_t accepted() const;
  // Connections cut by CutAll (and CutEvery) in all.
  int64_t cuts() const;

  // WaitForConnections
  //
  // Waits up to `timeout` until connections() == `count`; returns whether
  // it got there.
  bool WaitForConnections(int count, absl::Duration timeout) const;

 private:
  // One proxied connection (tcp_proxy.cc). Lives on the io thread.
  class Link;

  // On the io thread: the accept loop.
  void Accept();
  // On the io thread: resets every link and returns how many; adds them
  // to cuts_ (before any socket is closed) when `count_as_cuts`.
  int CloseAll(bool count_as_cuts);
  // On the io thread: arms the CutEvery timer for schedule `generation`.
  void ArmCutTimer(uint64_t generation);
  // On the io thread: a link is closing; it leaves links_.
  void Forget(Link* link);

  // Declared first: destroyed after every socket and timer below.
  boost::asio::io_context io_;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      work_;

  // Constant after construction.
  int port_ = 0;

  // State below is protected by mu_ (any thread).
  mutable absl::Mutex mu_;
  std::string backend_ ABSL_GUARDED_BY(mu_);
  // backend_ parsed; nullopt when it is not an IP address and port.
  std::optional<boost::asio::ip::tcp::endpoint> backend_endpoint_
      ABSL_GUARDED_BY(mu_);
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t cuts_ ABSL_GUARDED_BY(mu_) = 0;

  // State below is used on the io thread only.
  boost::asio::ip::tcp::acceptor acceptor_;
  // Retries an accept that failed (e.g. out of descriptors).
  boost::asio::steady_timer accept_retry_;
  boost::asio::steady_timer cut_timer_;
  absl::Duration cut_period_;
  // Bumped by each CutEvery: a timer of an older schedule does nothing.
  uint64_t cut_generation_ = 0;
  bool stopping_ = false;
  // The open links, owned here (a silenced link has no handler pending to
  // keep it alive).
  absl::flat_hash_map<Link*, std::shared_ptr<Link>> links_;

  // The io thread; last, so it starts after everything above is made.
  std::thread thread_;
};

}  // namespace chat

#endif  // CHATROOM_TESTING_TCP_PROXY_H_

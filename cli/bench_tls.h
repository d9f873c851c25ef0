// TLS for chatctl bench's TCP members (--transport=tcp --tls against
// chat-service's TLS line port, --legacy_tls_addr): one client SSL_CTX that
// every member shares, and TlsStream, one member's TLS over a non-blocking
// socket served by an epoll thread.
//
// A TlsStream's SSL object is touched by its epoll thread only (Serve): the
// handshake, every read and every write. Other threads hand it plaintext
// with Write, which queues it (bounded) and asks the epoll thread for
// EPOLLOUT; the queue and the epoll interest are under the stream's mutex.
// So a write that wants to read waits for EPOLLIN, a read that wants to
// write waits for EPOLLOUT, and a sender never blocks the epoll thread.
//
// Example:
//   absl::StatusOr<std::unique_ptr<TlsClientContext>> tls =
//       TlsClientContext::Make(ca_file, "localhost");
//   // A connected socket; epoll events for it will carry `conn`:
//   std::unique_ptr<TlsStream> s = (*tls)->NewStream(fd, epoll, conn);
//   s->Write("/nick b1\r\n");  // Queued until the handshake is done.
//   s->Start();
//   // Epoll thread, on every event for `conn`:
//   std::string why;
//   if (s->Serve(buf, cap, on_data, &why) != TlsStream::State::kOpen) ...
#ifndef CHATROOM_CLI_BENCH_TLS_H_
#define CHATROOM_CLI_BENCH_TLS_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace chat {
namespace bench {

class TlsStream;

// TlsClientContext
//
// The SSL_CTX of every member: TLS 1.2 or later, the server's certificate
// verified against a CA file and checked for one host name or IP address.
// Constant after Make; NewStream may be called from any thread.
class TlsClientContext {
 public:
  // Make
  //
  // Trusts the CAs in `ca_file` (PEM), or the system's roots (kSystemRoots)
  // when it is empty; checks certificates for `host` (a DNS name, also sent
  // as SNI, or an IP address). INVALID_ARGUMENT when the CAs cannot be read.
  static absl::StatusOr<std::unique_ptr<TlsClientContext>> Make(
      const std::string& ca_file, const std::string& host);
  ~TlsClientContext();

  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;

  // NewStream
  //
  // A client stream over `fd` (connected, made non-blocking here; the caller
  // keeps owning and closes it after the stream is gone). Start adds it to
  // `epoll` with `tag` as the event's data.ptr; the stream keeps its
  // interest (EPOLLOUT or not) from then on. The handshake starts on the
  // first Serve.
  std::unique_ptr<TlsStream> NewStream(int fd, int epoll, void* tag) const;

 private:
  TlsClientContext(SSL_CTX* ctx, std::string host)
      : ctx_(ctx), host_(std::move(host)) {}

  SSL_CTX* const ctx_;
  const std::string host_;
};

// TlsStream
//
// One member's TLS connection. Serve on its epoll thread only; Write from
// any thread (one at a time per connection, to keep lines whole).
class TlsStream {
 public:
  enum class State { kOpen, kClosed, kFailed };

  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Start
  //
  // Adds the socket to the epoll set. Once, when the epoll thread can find
  // this stream from the tag.
  void Start();

  // Serve
  //
  // On any epoll event: carries the handshake on, then passes every byte
  // that can be decrypted now to `on_data` (reading until the socket and
  // OpenSSL's buffer are empty), then writes what Write queued, until done
  // or the socket is full. kClosed when the server ended the connection,
  // kFailed on a handshake or I/O error; then `*why` says so and the stream
  // has left the epoll set. Epoll thread only.
  State Serve(char* buf, size_t cap,
              absl::FunctionRef<void(const char*, size_t)> on_data,
              std::string* why);

  // Write
  //
  // Queues `data` for the epoll thread, waiting while more than a MiB is
  // queued. False once the stream is closed or failed.
  bool Write(absl::string_view data);

 private:
  friend class TlsClientContext;
  TlsStream(SSL* ssl, int fd, int epoll, void* tag);

  // Asks epoll for EPOLLOUT too when `out` (EPOLLIN only otherwise).
  void SetWantOut(bool out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether Write may queue now (or must give up).
  bool MayQueue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the stream: leaves the epoll set, wakes a waiting Write.
  State End(State state, std::string reason, std::string* why);

  // Constant after construction.
  SSL* const ssl_;
  const int fd_;
  const int epoll_;
  void* const tag_;

  // Epoll thread only.
  bool established_ = false;
  std::string sending_;     // Taken from queued_, being written.
  size_t sending_off_ = 0;  // Bytes of sending_ written.

  absl::Mutex mu_;
  std::string queued_ ABSL_GUARDED_BY(mu_);
  bool want_out_ ABSL_GUARDED_BY(mu_) = true;  // For the ClientHello.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_TLS_H_

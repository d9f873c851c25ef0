#include "cli/bench_tls.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cli/tls_client.h"

namespace chat {
namespace bench {
namespace {

// Plaintext a Write may leave queued before it waits for the epoll thread.
constexpr size_t kMaxQueued = 1 << 20;

// The epoll interest of a stream: always these, EPOLLOUT when it waits to
// write.
constexpr uint32_t kEvents = EPOLLIN | EPOLLRDHUP;
constexpr uint32_t kOut = EPOLLOUT;

// The oldest OpenSSL error, as text ("" when there is none).
std::string SslErrorText() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "";
  char text[256];
  ERR_error_string_n(e, text, sizeof(text));
  return text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsClientContext>> TlsClientContext::Make(
    const std::string& ca_file, const std::string& host) {
  const std::string roots =
      ca_file.empty() ? std::string(kSystemRoots) : ca_file;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    return absl::InternalError(absl::StrCat("SSL_CTX_new: ", SslErrorText()));
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx, roots.c_str(), nullptr) != 1) {
    const std::string why = SslErrorText();
    SSL_CTX_free(ctx);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the CAs in ", roots, ": ", why));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // A write may return after part of its buffer; an end of the connection
  // without close_notify reads as an ordinary end (SSL_ERROR_ZERO_RETURN).
  SSL_CTX_set_mode(
      ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  return std::unique_ptr<TlsClientContext>(new TlsClientContext(ctx, host));
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsStream> TlsClientContext::NewStream(int fd, int epoll,
                                                       void* tag) const {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd);
  SSL_set_connect_state(ssl);
  ExpectPeerName(ssl, host_);
  return std::unique_ptr<TlsStream>(new TlsStream(ssl, fd, epoll, tag));
}

TlsStream::TlsStream(SSL* ssl, int fd, int epoll, void* tag)
    : ssl_(ssl), fd_(fd), epoll_(epoll), tag_(tag) {}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::Start() {
  absl::MutexLock lock(&mu_);
  epoll_event ev{};
  ev.events = kEvents | (want_out_ ? kOut : 0u);
  ev.data.ptr = tag_;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, fd_, &ev);
}

void TlsStream::SetWantOut(bool out) {
  if (out == want_out_ || ended_) return;
  epoll_event ev{};
  ev.events = kEvents | (out ? kOut : 0u);
  ev.data.ptr = tag_;
  epoll_ctl(epoll_, EPOLL_CTL_MOD, fd_, &ev);
  want_out_ = out;
}

TlsStream::State TlsStream::End(State state, std::string reason,
                                std::string* why) {
  *why = std::move(reason);
  absl::MutexLock lock(&mu_);
  if (!ended_) epoll_ctl(epoll_, EPOLL_CTL_DEL, fd_, nullptr);
  ended_ = true;
  return state;
}

TlsStream::State TlsStream::Serve(
    char* buf, size_t cap, absl::FunctionRef<void(const char*, size_t)> on_data,
    std::string* why) {
  ERR_clear_error();
  if (!established_) {
    const int r = SSL_connect(ssl_);
    if (r != 1) {
      const int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        absl::MutexLock lock(&mu_);
        SetWantOut(e == SSL_ERROR_WANT_WRITE);
        return State::kOpen;
      }
      const long verify = SSL_get_verify_result(ssl_);
      std::string reason =
          verify != X509_V_OK
              ? absl::StrCat("the server's certificate is not trusted: ",
                             X509_verify_cert_error_string(verify))
              : SslErrorText();
      if (reason.empty()) {
        reason = e == SSL_ERROR_SYSCALL && errno != 0
                     ? std::strerror(errno)
                     : "the server closed the connection";
      }
      return End(State::kFailed, absl::StrCat("TLS handshake failed: ", reason),
                 why);
    }
    established_ = true;
  }

  // Read until both the socket and OpenSSL's buffer (SSL_pending) are empty.
  bool read_wants_out = false;
  for (;;) {
    const int n = SSL_read(ssl_, buf, static_cast<int>(cap));
    if (n > 0) {
      on_data(buf, static_cast<size_t>(n));
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_WANT_WRITE) {  // E.g. a key update to answer.
      read_wants_out = true;
      break;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      return End(State::kClosed, "the server closed the connection", why);
    }
    std::string reason = SslErrorText();
    if (reason.empty()) {
      reason = errno != 0 ? std::strerror(errno) : "connection lost";
    }
    return End(State::kFailed, absl::StrCat("TLS read: ", reason), why);
  }

  // Write what is queued, until done or the socket wants waiting for.
  for (;;) {
    if (sending_off_ == sending_.size()) {
      sending_.clear();
      sending_off_ = 0;
      absl::MutexLock lock(&mu_);
      if (queued_.empty()) {
        SetWantOut(read_wants_out);
        return State::kOpen;
      }
      sending_.swap(queued_);
    }
    const int n = SSL_write(ssl_, sending_.data() + sending_off_,
                            static_cast<int>(sending_.size() - sending_off_));
    if (n > 0) {
      sending_off_ += static_cast<size_t>(n);
      continue;
    }
    const int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
      // Wanting to read: the next EPOLLIN retries the write after reading.
      absl::MutexLock lock(&mu_);
      SetWantOut(e == SSL_ERROR_WANT_WRITE || read_wants_out);
      return State::kOpen;
    }
    std::string reason = SslErrorText();
    if (reason.empty()) {
      reason = errno != 0 ? std::strerror(errno) : "connection lost";
    }
    return End(State::kFailed, absl::StrCat("TLS write: ", reason), why);
  }
}

bool TlsStream::MayQueue() const {
  return ended_ || queued_.size() < kMaxQueued;
}

bool TlsStream::Write(absl::string_view data) {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &TlsStream::MayQueue));
  if (ended_) return false;
  queued_.append(data.data(), data.size());
  SetWantOut(true);
  return true;
}

}  // namespace bench
}  // namespace chat

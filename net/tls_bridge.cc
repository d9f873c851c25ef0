#include "net/tls_bridge.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace chat {

namespace asio = boost::asio;
using ErrorCode = boost::system::error_code;
using asio::ip::tcp;

namespace {

// A TLS record starts with its content type; a handshake's is 22.
constexpr unsigned char kTlsHandshake = 0x16;
// How often a link looks for a stalled write to the client.
constexpr auto kStallCheck = std::chrono::seconds(5);
// How long a link waits for the client's close_notify.
constexpr auto kShutdownWait = std::chrono::seconds(1);

}  // namespace

// One bridge. Lives on one io_context (its implicit strand); its handlers
// keep it alive.
class TlsBridgePool::Link : public std::enable_shared_from_this<Link> {
 public:
  Link(TlsBridgePool* pool, asio::io_context& context, tcp::socket tcp,
       asio::local::stream_protocol::socket inner,
       std::shared_ptr<asio::ssl::context> ssl, ReadyFn on_ready,
       PlaintextFn on_plaintext)
      : pool_(pool),
        ssl_(std::move(ssl)),
        tcp_(std::move(tcp)),
        inner_(std::move(inner)),
        deadline_(context),
        stall_(context),
        on_ready_(std::move(on_ready)),
        on_plaintext_(std::move(on_plaintext)),
        up_(pool->options_.buffer_bytes),
        down_(pool->options_.buffer_bytes) {}

  ~Link() {
    Close();
    pool_->Unregister(this);
  }

  void Start() {
    deadline_.expires_after(
        absl::ToChronoNanoseconds(pool_->options_.handshake_timeout));
    deadline_.async_wait([self = shared_from_this()](const ErrorCode& e) {
      if (!e && !self->ready_) self->Close();
    });
    // The transport closing its end during the handshake cancels it
    // (bytes it sent meanwhile wait for the handshake).
    inner_.async_wait(asio::socket_base::wait_read,
                      [self = shared_from_this()](const ErrorCode& e) {
                        if (self->ready_ || self->closed_) return;
                        char byte;
                        if (e || recv(self->inner_.native_handle(), &byte, 1,
                                      MSG_PEEK | MSG_DONTWAIT) == 0) {
                          self->Close();
                        }
                      });
    WaitForFirstByte();
  }

  // The link's thread.
  asio::any_io_executor executor() { return inner_.get_executor(); }

  // Closes both sides now; pending operations end with errors. Idempotent.
  void Close() {
    if (closed_) return;
    closed_ = true;
    ErrorCode ignored;
    if (stream_) {
      stream_->lowest_layer().close(ignored);
    } else {
      tcp_.close(ignored);
    }
    inner_.close(ignored);
    deadline_.cancel();
    stall_.cancel();
  }

 private:
  void WaitForFirstByte() {
    tcp_.async_wait(tcp::socket::wait_read,
                    [self = shared_from_this()](const ErrorCode& e) {
                      self->OnFirstByte(e);
                    });
  }

  void OnFirstByte(const ErrorCode& error) {
    if (error || closed_) return Close();
    unsigned char first = 0;
    const ssize_t n = recv(tcp_.native_handle(), &first, 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return WaitForFirstByte();
    }
    if (n <= 0) return Close();
    if (first != kTlsHandshake) {
      ErrorCode ignored;
      const int fd = tcp_.release(ignored);
      Close();
      if (fd >= 0) {
        PlaintextFn said = std::move(on_plaintext_);
        if (said) {
          said(fd);
        } else {
          ::close(fd);
        }
      }
      return;
    }
    stream_.emplace(std::move(tcp_), *ssl_);
    stream_->async_handshake(asio::ssl::stream_base::server,
                             [self = shared_from_this()](const ErrorCode& e) {
                               self->OnHandshake(e);
                             });
  }

  void OnHandshake(const ErrorCode& error) {
    if (error || closed_) return Close();
    ready_ = true;
    deadline_.cancel();
    ReadyFn ready = std::move(on_ready_);
    on_plaintext_ = nullptr;
    if (ready) ready();
    ScheduleStallCheck();
    ReadClient();
    ReadInner();
  }

  // Client to transport.
  void ReadClient() {
    stream_->async_read_some(
        asio::buffer(up_),
        [self = shared_from_this()](const ErrorCode& e, size_t n) {
          if (self->closed_) return;
          if (e) return self->OnClientEnded(e);
          asio::async_write(self->inner_, asio::buffer(self->up_.data(), n),
                            [self](const ErrorCode& e, size_t) {
                              if (e || self->closed_) return self->Close();
                              self->ReadClient();
                            });
        });
  }

  void OnClientEnded(const ErrorCode& error) {
    if (shutting_down_) return Shutdown();  // Our cancel, to send ours.
    if (error != asio::error::eof &&
        error != asio::ssl::error::stream_truncated) {
      return Close();
    }
    client_ended_ = true;
    ErrorCode ignored;
    inner_.shutdown(asio::socket_base::shutdown_send, ignored);
    if (inner_ended_) Shutdown();
  }

  // Transport to client.
  void ReadInner() {
    inner_.async_read_some(
        asio::buffer(down_),
        [self = shared_from_this()](const ErrorCode& e, size_t n) {
          if (self->closed_) return;
          if (e == asio::error::eof) return self->OnInnerEnded();
          if (e) return self->Close();
          self->writing_ = true;
          self->write_started_ = std::chrono::steady_clock::now();
          asio::async_write(*self->stream_, asio::buffer(self->down_.data(), n),
                            [self](const ErrorCode& e, size_t) {
                              self->writing_ = false;
                              if (e || self->closed_) return self->Close();
                              self->ReadInner();
                            });
        });
  }

  void OnInnerEnded() {
    inner_ended_ = true;
    if (client_ended_) return Shutdown();
    // A read from the client is pending: cancel it, then say close_notify.
    shutting_down_ = true;
    ErrorCode ignored;
    stream_->lowest_layer().cancel(ignored);
  }

  // close_notify, waiting a moment for the client's, then close.
  void Shutdown() {
    if (closed_ || shutdown_started_) return;
    shutdown_started_ = true;
    deadline_.expires_after(kShutdownWait);
    deadline_.async_wait([self = shared_from_this()](const ErrorCode& e) {
      if (!e) self->Close();
    });
    stream_->async_shutdown(
        [self = shared_from_this()](const ErrorCode&) { self->Close(); });
  }

  void ScheduleStallCheck() {
    stall_.expires_after(kStallCheck);
    stall_.async_wait([self = shared_from_this()](const ErrorCode& e) {
      if (e || self->closed_) return;
      if (self->writing_ &&
          std::chrono::steady_clock::now() - self->write_started_ >
              absl::ToChronoNanoseconds(self->pool_->options_.stall_timeout)) {
        return self->Close();
      }
      self->ScheduleStallCheck();
    });
  }

  TlsBridgePool* const pool_;
  const std::shared_ptr<asio::ssl::context> ssl_;
  tcp::socket tcp_;  // Until the handshake starts; then inside stream_.
  std::optional<asio::ssl::stream<tcp::socket>> stream_;
  asio::local::stream_protocol::socket inner_;
  asio::steady_timer deadline_;  // The handshake's, then the shutdown's.
  asio::steady_timer stall_;
  ReadyFn on_ready_;
  PlaintextFn on_plaintext_;
  std::vector<char> up_;
  std::vector<char> down_;
  std::chrono::steady_clock::time_point write_started_;
  bool ready_ = false;
  bool writing_ = false;
  bool client_ended_ = false;
  bool inner_ended_ = false;
  bool shutting_down_ = false;
  bool shutdown_started_ = false;
  bool closed_ = false;
};

TlsBridgePool::TlsBridgePool(std::string name, int threads,
                             TlsBridgeOptions options)
    : name_(std::move(name)), options_(options) {
  const int count = std::max(1, threads);
  for (int i = 0; i < count; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    work_.emplace_back(asio::make_work_guard(*contexts_.back()));
  }
  for (int i = 0; i < count; ++i) {
    threads_.emplace_back([this, i] {
      const std::string thread_name = absl::StrCat(name_, "-", i);
      pthread_setname_np(pthread_self(), thread_name.substr(0, 15).c_str());
      contexts_[i]->run();
    });
  }
}

TlsBridgePool::~TlsBridgePool() { Stop(absl::ZeroDuration()); }

void TlsBridgePool::Bridge(int tcp_fd, int inner_fd,
                           std::shared_ptr<asio::ssl::context> context,
                           ReadyFn on_ready, PlaintextFn on_plaintext) {
  asio::io_context* io = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      io = contexts_[next_context_].get();
      next_context_ = (next_context_ + 1) % contexts_.size();
    }
  }
  if (io == nullptr || context == nullptr) {
    ::close(tcp_fd);
    ::close(inner_fd);
    return;
  }
  sockaddr_storage local{};
  socklen_t size = sizeof(local);
  getsockname(tcp_fd, reinterpret_cast<sockaddr*>(&local), &size);
  ErrorCode error;
  tcp::socket tcp(*io);
  tcp.assign(local.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), tcp_fd,
             error);
  if (error) ::close(tcp_fd);
  asio::local::stream_protocol::socket inner(*io);
  ErrorCode inner_error;
  inner.assign(asio::local::stream_protocol(), inner_fd, inner_error);
  if (inner_error) ::close(inner_fd);
  if (error || inner_error) return;
  tcp.non_blocking(true, error);
  inner.non_blocking(true, error);
  auto link = std::make_shared<Link>(
      this, *io, std::move(tcp), std::move(inner), std::move(context),
      std::move(on_ready), std::move(on_plaintext));
  Register(link.get(), link);
  asio::post(*io, [link] { link->Start(); });
}

void TlsBridgePool::Register(Link* link, std::weak_ptr<Link> weak) {
  absl::MutexLock lock(&mu_);
  links_[link] = std::move(weak);
}

void TlsBridgePool::Unregister(Link* link) {
  absl::MutexLock lock(&mu_);
  links_.erase(link);
}

size_t TlsBridgePool::bridge_count() const {
  absl::MutexLock lock(&mu_);
  return links_.size();
}

bool TlsBridgePool::WaitForBridgeCount(size_t count,
                                       absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return links_.size() == count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void TlsBridgePool::Stop(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (!WaitForBridgeCount(0, grace)) {
    std::vector<std::shared_ptr<Link>> open;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [link, weak] : links_) {
        if (std::shared_ptr<Link> l = weak.lock()) open.push_back(l);
      }
    }
    for (std::shared_ptr<Link>& link : open) {
      asio::any_io_executor executor = link->executor();
      asio::post(executor, [link = std::move(link)] { link->Close(); });
    }
    open.clear();
    if (!WaitForBridgeCount(0, absl::Seconds(1))) {
      for (auto& context : contexts_) context->stop();
    }
  }
  for (auto& work : work_) work.reset();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace chat

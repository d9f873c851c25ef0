#include "testing/tcp_proxy.h"

#include <pthread.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace chat {

namespace asio = boost::asio;
using asio::ip::tcp;
using ErrorCode = boost::system::error_code;

namespace {

// "HOST:PORT" ("[V6]:PORT"; "localhost" is 127.0.0.1) as an endpoint;
// nullopt when it is not one.
std::optional<tcp::endpoint> ParseBackend(absl::string_view address) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  absl::string_view host = address.substr(0, colon);
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  if (host == "localhost") host = "127.0.0.1";
  ErrorCode error;
  const asio::ip::address ip = asio::ip::make_address(std::string(host), error);
  if (error) return std::nullopt;
  return tcp::endpoint(ip, static_cast<uint16_t>(port));
}

// Runs `f` on `io`'s thread and returns its result: at once when called
// there, else posted, waiting for it.
template <typename F>
auto RunOn(asio::io_context& io, F f) -> decltype(f()) {
  if (io.get_executor().running_in_this_thread()) return f();
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  asio::post(io, [&task] { task(); });
  return result.get();
}

}  // namespace

// Link: a client's socket and the backend's, forwarded both ways. Lives on
// the io thread; each pending handler holds a shared_ptr, and so does the
// proxy's links_ until the link closes.
class TcpProxy::Link : public std::enable_shared_from_this<Link> {
 public:
  Link(TcpProxy* proxy, tcp::socket client)
      : proxy_(proxy),
        client_(std::move(client)),
        server_(client_.get_executor()) {}

  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Connects to `backend` (nullopt: closes the client), then forwards.
  void Start(const std::optional<tcp::endpoint>& backend) {
    if (!backend) {
      Close(/*reset=*/true);
      return;
    }
    server_.async_connect(*backend,
                          [self = shared_from_this()](const ErrorCode& error) {
                            self->OnConnect(error);
                          });
  }

  // Stops forwarding both ways and cancels what is pending; the sockets
  // stay open. False when the link is closed already.
  bool Silence() {
    if (closed_) return false;
    silenced_ = true;
    ErrorCode ignored;
    client_.cancel(ignored);
    server_.cancel(ignored);
    return true;
  }

  // Leaves the proxy's links_ (connections() drops), then closes both
  // sockets, with a reset when `reset` (else an orderly close, after both
  // sides sent their FIN): a peer that sees the end sees the count
  // already down. The caller holds a shared_ptr to this link.
  void Close(bool reset) {
    if (closed_) return;
    closed_ = true;
    proxy_->Forget(this);
    for (tcp::socket* socket : {&client_, &server_}) {
      ErrorCode ignored;
      if (!socket->is_open()) continue;
      if (reset) socket->set_option(tcp::socket::linger(true, 0), ignored);
      socket->close(ignored);
    }
  }

 private:
  // The two directions: client to server, server to client.
  enum Direction { kUp = 0, kDown = 1 };

  tcp::socket& From(Direction d) { return d == kUp ? client_ : server_; }
  tcp::socket& To(Direction d) { return d == kUp ? server_ : client_; }

  // Whether handlers have nothing more to do.
  bool Idle() const { return closed_ || silenced_; }

  void OnConnect(const ErrorCode& error) {
    if (Idle()) return;
    if (error) {
      Close(/*reset=*/true);
      return;
    }
    ErrorCode ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    server_.set_option(tcp::no_delay(true), ignored);
    Read(kUp);
    Read(kDown);
  }

  void Read(Direction d) {
    From(d).async_read_some(
        asio::buffer(buffers_[d]),
        [self = shared_from_this(), d](const ErrorCode& error, size_t n) {
          self->OnRead(d, error, n);
        });
  }

  void OnRead(Direction d, const ErrorCode& error, size_t n) {
    if (Idle()) return;
    if (error == asio::error::eof) {
      // Pass the FIN on; the other direction goes on.
      ErrorCode ignored;
      To(d).shutdown(tcp::socket::shutdown_send, ignored);
      if (++finished_ == 2) Close(/*reset=*/false);
      return;
    }
    if (error) {
      Close(/*reset=*/true);
      return;
    }
    asio::async_write(
        To(d), asio::buffer(buffers_[d].data(), n),
        [self = shared_from_this(), d](const ErrorCode& error, size_t) {
          self->OnWrite(d, error);
        });
  }

  void OnWrite(Direction d, const ErrorCode& error) {
    if (Idle()) return;
    if (error) {
      Close(/*reset=*/true);
      return;
    }
    Read(d);
  }

  TcpProxy* const proxy_;
  tcp::socket client_;
  tcp::socket server_;
  // One buffer per direction; a chunk is read into it only once the
  // previous one is written.
  std::array<std::array<char, kBufferSize>, 2> buffers_;
  bool silenced_ = false;
  bool closed_ = false;
  // Directions that ended with a FIN.
  int finished_ = 0;
};

TcpProxy::TcpProxy(std::string backend)
    : acceptor_(io_), accept_retry_(io_), cut_timer_(io_) {
  SetBackend(std::move(backend));
  const tcp::endpoint loopback(asio::ip::address_v4::loopback(), 0);
  ErrorCode error;
  acceptor_.open(loopback.protocol(), error);
  if (!error) acceptor_.bind(loopback, error);
  if (!error)
    acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (!error) port_ = acceptor_.local_endpoint(error).port();
  if (error) {
    ADD_FAILURE() << "TcpProxy cannot listen on 127.0.0.1:0: "
                  << error.message();
    port_ = 0;
    acceptor_.close(error);
  } else {
    Accept();
  }
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "tcp-proxy");
    io_.run();
  });
}

TcpProxy::~TcpProxy() {
  RunOn(io_, [this] {
    stopping_ = true;
    ErrorCode ignored;
    acceptor_.close(ignored);
    accept_retry_.cancel();
    ++cut_generation_;
    cut_timer_.cancel();
    return CloseAll(/*count_as_cuts=*/false);
  });
  // Every socket is closed: the handlers still pending end with errors, and
  // then run() runs out of work.
  work_.reset();
  thread_.join();
}

std::string TcpProxy::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void TcpProxy::SetBackend(std::string backend) {
  std::optional<tcp::endpoint> endpoint = ParseBackend(backend);
  EXPECT_TRUE(endpoint.has_value())
      << "TcpProxy: backend \"" << backend
      << "\" is not IP:PORT; connections will be closed";
  absl::MutexLock lock(&mu_);
  backend_ = std::move(backend);
  backend_endpoint_ = endpoint;
}

std::string TcpProxy::backend() const {
  absl::MutexLock lock(&mu_);
  return backend_;
}

int TcpProxy::CutAll() {
  return RunOn(io_, [this] { return CloseAll(/*count_as_cuts=*/true); });
}

void TcpProxy::CutEvery(absl::Duration period) {
  RunOn(io_, [this, period] {
    const uint64_t generation = ++cut_generation_;
    cut_timer_.cancel();
    cut_period_ = period;
    if (period > absl::ZeroDuration() && !stopping_) ArmCutTimer(generation);
  });
}

int TcpProxy::Silence() {
  return RunOn(io_, [this] {
    int silent = 0;
    for (const auto& [raw, link] : links_) silent += link->Silence() ? 1 : 0;
    return silent;
  });
}

int TcpProxy::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_;
}

int64_t TcpProxy::accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

int64_t TcpProxy::cuts() const {
  absl::MutexLock lock(&mu_);
  return cuts_;
}

bool TcpProxy::WaitForConnections(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return connections_ == count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void TcpProxy::Accept() {
  acceptor_.async_accept([this](const ErrorCode& error, tcp::socket socket) {
    if (stopping_ || !acceptor_.is_open()) return;
    if (error) {
      // E.g. out of descriptors: try again a little later.
      accept_retry_.expires_after(std::chrono::milliseconds(10));
      accept_retry_.async_wait([this](const ErrorCode& error) {
        if (!error && !stopping_) Accept();
      });
      return;
    }
    std::optional<tcp::endpoint> backend;
    {
      absl::MutexLock lock(&mu_);
      backend = backend_endpoint_;
      ++accepted_;
      ++connections_;
    }
    auto link = std::make_shared<Link>(this, std::move(socket));
    links_.emplace(link.get(), link);
    link->Start(backend);
    Accept();
  });
}

int TcpProxy::CloseAll(bool count_as_cuts) {
  std::vector<std::shared_ptr<Link>> links;
  links.reserve(links_.size());
  for (const auto& [raw, link] : links_) links.push_back(link);
  if (count_as_cuts) {
    // Counted first: a peer that sees the end sees it counted.
    absl::MutexLock lock(&mu_);
    cuts_ += static_cast<int64_t>(links.size());
  }
  for (const std::shared_ptr<Link>& link : links) link->Close(/*reset=*/true);
  return static_cast<int>(links.size());
}

void TcpProxy::ArmCutTimer(uint64_t generation) {
  cut_timer_.expires_after(absl::ToChronoNanoseconds(cut_period_));
  cut_timer_.async_wait([this, generation](const ErrorCode& error) {
    if (error || generation != cut_generation_ || stopping_) return;
    CloseAll(/*count_as_cuts=*/true);
    ArmCutTimer(generation);
  });
}

void TcpProxy::Forget(Link* link) {
  if (links_.erase(link) == 0) return;
  absl::MutexLock lock(&mu_);
  --connections_;
}

}  // namespace chat

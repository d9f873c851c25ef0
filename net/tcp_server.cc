#include "net/tcp_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "metrics/metrics.h"
#include "service/log.h"

namespace chat {

using asio::ip::tcp;

std::string FormatEndpoint(const tcp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  return address.is_v6()
             ? absl::StrCat("[", address.to_string(), "]:", endpoint.port())
             : absl::StrCat(address.to_string(), ":", endpoint.port());
}

absl::StatusOr<tcp::endpoint> ParseEndpoint(absl::string_view address,
                                            absl::string_view what) {
  const size_t colon = address.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", address, "\" is not HOST:PORT"));
  }
  absl::string_view host = address.substr(0, colon);
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  if (host.empty()) host = "0.0.0.0";
  if (host == "localhost") host = "127.0.0.1";
  ErrorCode error;
  asio::ip::address ip = asio::ip::make_address(std::string(host), error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", address,
                     "\": the host must be an IP address: ", error.message()));
  }
  return tcp::endpoint(ip, static_cast<uint16_t>(port));
}

namespace {

// The address as one client: an IPv4-mapped IPv6 address (a dual-stack
// listener's IPv4 client) as the IPv4 address it is.
tcp::endpoint Unmapped(const tcp::endpoint& endpoint) {
  const asio::ip::address address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return tcp::endpoint(
        asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()),
        endpoint.port());
  }
  return endpoint;
}

// Whole seconds for a socket option, at least 1.
int OptionSeconds(absl::Duration d) {
  return static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(d)));
}

}  // namespace

// ---------------------------------------------------------------- Connection

Connection::Connection(TcpServer* server, const Executor& executor,
                       const tcp::endpoint& peer)
    : server_(server),
      executor_(executor),
      peer_(Unmapped(peer)),
      peer_ip_(peer_.address().to_string()) {
  server_->Register(this);
}

Connection::~Connection() { server_->Unregister(this); }

void Connection::Adopt() { server_->Adopt(shared_from_this()); }

std::string Connection::peer_address() const { return FormatEndpoint(peer_); }

void Connection::LogClosure(absl::string_view cause,
                            absl::string_view text) const {
  server_->closure_log().Log(cause, {LogLevel::kInfo,
                                     std::string(text),
                                     {{"transport", server_->options().name},
                                      {"peer", peer_address()}}});
}

// ---------------------------------------------------------------- TcpServer

TcpServer::TcpServer(TcpServerOptions options, AcceptFn accept, RefuseFn refuse)
    : options_(std::move(options)),
      accept_(std::move(accept)),
      refuse_(std::move(refuse)) {
  const int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    work_.push_back(asio::make_work_guard(*contexts_.back()));
  }
}

TcpServer::~TcpServer() { Shutdown(absl::ZeroDuration()); }

absl::Status TcpServer::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) {
      return absl::FailedPreconditionError(
          absl::StrCat("the ", options_.name, " server was started"));
    }
    started_ = true;
  }
  absl::StatusOr<tcp::endpoint> endpoint =
      ParseEndpoint(options_.address, absl::StrCat(options_.name, " address"));
  if (!endpoint.ok()) return endpoint.status();
  acceptor_.emplace(*contexts_[0]);
  accept_retry_.emplace(*contexts_[0]);
  ErrorCode error;
  acceptor_->open(endpoint->protocol(), error);
  if (!error) acceptor_->set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor_->bind(*endpoint, error);
  if (!error)
    acceptor_->listen(asio::socket_base::max_listen_connections, error);
  tcp::endpoint bound;
  if (!error) bound = acceptor_->local_endpoint(error);
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.address, ": ", error.message()));
  }
  {
    absl::MutexLock lock(&mu_);
    address_ = FormatEndpoint(bound);
    port_ = bound.port();
  }
  asio::post(*contexts_[0], [this] { Accept(); });
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i] {
      const std::string name = absl::StrCat(options_.name, "-io-", i);
      pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
      contexts_[i]->run();
    });
  }
  return absl::OkStatus();
}

std::string TcpServer::address() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

int TcpServer::port() const {
  absl::MutexLock lock(&mu_);
  return port_;
}

void TcpServer::Accept() {
  asio::io_context& context = *contexts_[next_context_];
  next_context_ = (next_context_ + 1) % contexts_.size();
  // One connection per handler (see "Fairness" in the header): Asio tries
  // the accept at once, but queues its completion behind the handlers
  // already ready on this thread.
  acceptor_->async_accept(context, accept_peer_,
                          [this](const ErrorCode& error, Socket socket) {
                            OnAccept(error, std::move(socket));
                          });
}

void TcpServer::OnAccept(const ErrorCode& error, Socket socket) {
  if (error == asio::error::operation_aborted || !acceptor_->is_open()) return;
  if (stopped()) return;  // Shutdown is closing the acceptor.
  if (error) {
    closure_log_.Log("accept failed", {LogLevel::kError,
                                       "accept failed; trying again in 100 ms",
                                       {{"transport", options_.name},
                                        {"error", error.message()}}});
    // Out of descriptors or memory: pause instead of spinning.
    accept_retry_->expires_after(std::chrono::milliseconds(100));
    accept_retry_->async_wait([this](const ErrorCode& error) {
      if (!error) Accept();
    });
    return;
  }
  ErrorCode ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.non_blocking(true, ignored);
  SetKeepalive(socket);
  const tcp::endpoint peer = Unmapped(accept_peer_);
  size_t open = 0, open_from_ip = 0;
  {
    absl::MutexLock lock(&mu_);
    open = connections_.size();
    if (options_.max_connections_per_ip > 0) {
      auto it = per_ip_.find(peer.address().to_string());
      if (it != per_ip_.end()) open_from_ip = it->second;
    }
  }
  // Connections register in accept_, on this thread: the counts cannot grow
  // between this check and the next accept.
  if (open >= options_.max_connections) {
    Refuse(socket, Refusal::kServerFull, peer, open);
  } else if (options_.max_connections_per_ip > 0 &&
             open_from_ip >= options_.max_connections_per_ip) {
    Refuse(socket, Refusal::kTooManyFromPeerIp, peer, open_from_ip);
  } else {
    accept_(std::move(socket), peer);
  }
  Accept();
}

void TcpServer::SetKeepalive(Socket& socket) {
  if (options_.keepalive_idle <= absl::ZeroDuration()) return;
  const int fd = socket.native_handle();
  const int on = 1;
  const int idle = OptionSeconds(options_.keepalive_idle);
  const int interval = OptionSeconds(options_.keepalive_interval);
  const int count = std::max(1, options_.keepalive_count);
  // Failures leave the socket as the kernel made it: nothing to undo.
  if (::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval,
                   sizeof(interval)) != 0 ||
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count)) != 0) {
    closure_log_.Log("keepalive", {LogLevel::kWarning,
                                   "cannot set TCP keepalive",
                                   {{"transport", options_.name},
                                    {"error", std::strerror(errno)}}});
  }
}

void TcpServer::Refuse(Socket& socket, Refusal why, const tcp::endpoint& peer,
                       size_t open) {
  const bool full = why == Refusal::kServerFull;
  closure_log_.Log(
      full ? "server full" : "per-ip cap",
      {LogLevel::kWarning,
       full ? absl::StrCat("refused: the server is full (", open,
                           " connections open, the most it takes)")
            : absl::StrCat("refused: ", open, " connections from ",
                           peer.address().to_string(),
                           " are open, the most per address"),
       {{"transport", options_.name}, {"peer", FormatEndpoint(peer)}}});
  Metrics().Refused(RefusalCause::kCaps);
  refuse_(socket, why);
  ErrorCode ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

std::string TcpServer::RefusalText(Refusal why) const {
  if (why == Refusal::kServerFull) {
    return absl::StrCat("the server is full (", options_.max_connections,
                        " connections); try again later");
  }
  return absl::StrCat("too many connections from your address (",
                      options_.max_connections_per_ip,
                      " open, the most allowed); close one and try again");
}

bool TcpServer::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

void TcpServer::Register(Connection* connection) {
  Metrics()
      .connections_opened[static_cast<size_t>(PortNamed(options_.name))]
      .Add();
  absl::MutexLock lock(&mu_);
  connections_.emplace(connection, std::weak_ptr<Connection>());
  ++per_ip_[connection->peer_ip()];
}

void TcpServer::Adopt(const std::shared_ptr<Connection>& connection) {
  absl::MutexLock lock(&mu_);
  auto it = connections_.find(connection.get());
  if (it != connections_.end()) it->second = connection;
}

void TcpServer::Unregister(Connection* connection) {
  Metrics()
      .connections_closed[static_cast<size_t>(PortNamed(options_.name))]
      .Add();
  absl::MutexLock lock(&mu_);
  connections_.erase(connection);
  auto it = per_ip_.find(connection->peer_ip());
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

size_t TcpServer::connection_count() const {
  absl::MutexLock lock(&mu_);
  return connections_.size();
}

size_t TcpServer::connection_count(const std::string& ip) const {
  absl::MutexLock lock(&mu_);
  auto it = per_ip_.find(ip);
  return it == per_ip_.end() ? 0 : it->second;
}

bool TcpServer::WaitForConnectionCount(size_t count,
                                       absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return connections_.size() == count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void TcpServer::ForEachConnection(void (*action)(Connection&)) {
  std::vector<std::shared_ptr<Connection>> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.reserve(connections_.size());
    for (const auto& [raw, weak] : connections_) {
      // One being made (not adopted yet) or destroyed is still registered,
      // but cannot be locked.
      if (auto alive = weak.lock()) connections.push_back(std::move(alive));
    }
  }
  for (auto& connection : connections) {
    Connection::Executor executor = connection->executor();
    asio::post(executor, [connection = std::move(connection), action] {
      action(*connection);
    });
  }
}

void TcpServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) return;
  }
  if (acceptor_) {
    asio::post(*contexts_[0], [this] {
      ErrorCode ignored;
      acceptor_->close(ignored);
      accept_retry_->cancel();
    });
  }
  ForEachConnection([](Connection& c) { c.Stop(); });
  if (!WaitForConnectionCount(0, grace)) {
    ForEachConnection([](Connection& c) { c.CloseSocket(); });
    if (!WaitForConnectionCount(0, absl::Seconds(1))) {
      Log(LogLevel::kWarning, "connections did not close",
          {{"transport", options_.name}, {"count", connection_count()}});
      for (auto& context : contexts_) context->stop();
    }
  }
  // With every socket closed, the threads run out of work and return.
  work_.clear();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  closure_log_.Flush();
}

}  // namespace chat

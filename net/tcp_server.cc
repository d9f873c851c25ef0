#include "net/tcp_server.h"

#include <pthread.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
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

// ---------------------------------------------------------------- Connection

Connection::Connection(TcpServer* server, const Executor& executor)
    : server_(server), executor_(executor) {
  server_->Register(this);
}

Connection::~Connection() { server_->Unregister(this); }

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
  acceptor_->async_accept(context,
                          [this](const ErrorCode& error, Socket socket) {
                            OnAccept(error, std::move(socket));
                          });
}

void TcpServer::OnAccept(const ErrorCode& error, Socket socket) {
  if (error == asio::error::operation_aborted || !acceptor_->is_open()) return;
  if (stopped()) return;  // Shutdown is closing the acceptor.
  if (error) {
    Log(options_.name, ": accept failed: ", error.message());
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
  if (connection_count() >= options_.max_connections) {
    refuse_(socket);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  } else {
    accept_(std::move(socket));
  }
  Accept();
}

bool TcpServer::stopped() const {
  absl::MutexLock lock(&mu_);
  return stopped_;
}

void TcpServer::Register(Connection* connection) {
  absl::MutexLock lock(&mu_);
  connections_.insert(connection);
}

void TcpServer::Unregister(Connection* connection) {
  absl::MutexLock lock(&mu_);
  connections_.erase(connection);
}

size_t TcpServer::connection_count() const {
  absl::MutexLock lock(&mu_);
  return connections_.size();
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
    for (Connection* connection : connections_) {
      // One being destroyed is still registered, but cannot be locked.
      if (auto alive = connection->weak_from_this().lock()) {
        connections.push_back(std::move(alive));
      }
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
      Log(options_.name, ": ", connection_count(),
          " connections did not close");
      for (auto& context : contexts_) context->stop();
    }
  }
  // With every socket closed, the threads run out of work and return.
  work_.clear();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace chat

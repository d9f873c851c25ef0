#include "service/grpc_acceptor.h"

#include <errno.h>
#include <grpcpp/server_posix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "metrics/metrics.h"
#include "net/tcp_server.h"
#include "service/http2_refusal.h"
#include "service/log.h"

namespace chat {
namespace {

using asio::ip::tcp;

// Accepts per wake-up before the thread looks at its timers again.
constexpr int kAcceptBatch = 64;
// After accept fails for want of descriptors or memory.
constexpr auto kRetryAfter = std::chrono::milliseconds(100);
// Handed-over connections are all checked this often (only to keep
// connection_count() fresh: the caps check when they are reached).
constexpr auto kCheckEvery = std::chrono::seconds(10);
// At the cap, checking them all again waits this many times as long as the
// last check took: under a flood at the cap, checks cost at most 1/20 of
// the thread, while a small server checks at every connection.
constexpr int kFullCheckGapFactor = 20;

}  // namespace

// A refused connection being answered (Http2Refusal) on the acceptor's
// thread: it sends the server's preface, answers the client's first call,
// and closes once the client closes too or kRefusalWait has passed.
class GrpcAcceptor::Refusing
    : public std::enable_shared_from_this<GrpcAcceptor::Refusing> {
 public:
  Refusing(GrpcAcceptor* acceptor, tcp::socket socket, int code,
           std::string text)
      : acceptor_(acceptor),
        socket_(std::move(socket)),
        timer_(acceptor->context_),
        refusal_(code, std::move(text)) {
    acceptor_->refusing_.push_back(this);
  }
  ~Refusing() { Close(); }

  void Start() {
    // Sends never wait: one that does not fit ends the refusal.
    ErrorCode error;
    socket_.non_blocking(true, error);
    if (error || !Send(Http2Refusal::ServerPreface())) return Close();
    timer_.expires_after(absl::ToChronoMilliseconds(kRefusalWait));
    timer_.async_wait([self = shared_from_this()](const ErrorCode& e) {
      if (!e) self->Close();
    });
    Read();
  }

  // Closes the socket and leaves the acceptor's list (pending handlers
  // end, and with them this). Idempotent.
  void Close() {
    if (closed_) return;
    closed_ = true;
    ErrorCode ignored;
    timer_.cancel();
    socket_.close(ignored);
    auto& all = acceptor_->refusing_;
    all.erase(std::find(all.begin(), all.end(), this));
  }

 private:
  void Read() {
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const ErrorCode& e, size_t n) {
          self->OnRead(e, n);
        });
  }

  void OnRead(const ErrorCode& error, size_t n) {
    if (error) return Close();  // EOF (the client closed too) or an error.
    if (!refusal_.done()) {
      const std::string out =
          refusal_.Feed(absl::string_view(buffer_.data(), n));
      if (!out.empty() && !Send(out)) return Close();
      if (refusal_.done()) {
        // Said; the client closes when it has read it.
        ErrorCode ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
      }
    }
    Read();  // Until EOF, so the close is not a reset that loses the answer.
  }

  // A few hundred bytes into a socket buffer that has room for them;
  // false when they did not all fit (a client that does not read).
  bool Send(const std::string& bytes) {
    ErrorCode error;
    const size_t sent = socket_.write_some(asio::buffer(bytes), error);
    return !error && sent == bytes.size();
  }

  GrpcAcceptor* const acceptor_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  Http2Refusal refusal_;
  bool closed_ = false;
  std::array<char, 4096> buffer_;
};

GrpcAcceptor::GrpcAcceptor(GrpcAcceptorOptions options)
    : options_(std::move(options)) {
  if (options_.tls) {
    bridges_ =
        std::make_unique<TlsBridgePool>("grpc-tls", 2, TlsBridgeOptions{});
  }
}

GrpcAcceptor::~GrpcAcceptor() {
  Stop();
  StopBridges(absl::ZeroDuration());
}

void GrpcAcceptor::StopBridges(absl::Duration grace) {
  if (bridges_) bridges_->Stop(grace);
}

absl::Status GrpcAcceptor::Bind() {
  if (acceptor_) {
    return absl::FailedPreconditionError("the gRPC acceptor was bound twice");
  }
  absl::StatusOr<tcp::endpoint> endpoint =
      ParseEndpoint(options_.address, "gRPC address");
  if (!endpoint.ok()) return endpoint.status();
  acceptor_.emplace(context_);
  ErrorCode error;
  acceptor_->open(endpoint->protocol(), error);
  if (!error) acceptor_->set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor_->bind(*endpoint, error);
  if (!error) {
    acceptor_->listen(asio::socket_base::max_listen_connections, error);
  }
  if (!error) acceptor_->non_blocking(true, error);
  tcp::endpoint bound;
  if (!error) bound = acceptor_->local_endpoint(error);
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", options_.address, ": ", error.message()));
  }
  address_ = FormatEndpoint(bound);
  return absl::OkStatus();
}

std::string GrpcAcceptor::address() const { return address_; }

void GrpcAcceptor::Start(grpc::Server* server) {
  if (!acceptor_ || thread_.joinable() || stopped_) return;
  server_ = server;
  work_.emplace(asio::make_work_guard(context_));
  asio::post(context_, [this] {
    WaitForConnection();
    ScheduleCheck();
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "grpc-accept");
    context_.run();
  });
}

void GrpcAcceptor::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock lock(&hand_mu_);
    handing_stopped_ = true;
  }
  if (!thread_.joinable()) {
    ErrorCode ignored;
    if (acceptor_) acceptor_->close(ignored);
    return;
  }
  asio::post(context_, [this] {
    ErrorCode ignored;
    acceptor_->close(ignored);
    retry_.cancel();
    check_.cancel();
    while (!refusing_.empty()) refusing_.front()->Close();
  });
  work_.reset();
  thread_.join();
}

void GrpcAcceptor::WaitForConnection() {
  acceptor_->async_wait(tcp::acceptor::wait_read, [this](const ErrorCode& e) {
    if (e || !acceptor_->is_open()) return;
    OnReadable();
  });
}

void GrpcAcceptor::OnReadable() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage from{};
    socklen_t from_size = sizeof(from);
    const int fd =
        accept4(acceptor_->native_handle(), reinterpret_cast<sockaddr*>(&from),
                &from_size, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error == EINTR || error == ECONNABORTED || error == EPROTO) continue;
      if (error == EAGAIN || error == EWOULDBLOCK) break;
      // Out of descriptors (EMFILE, ENFILE) or memory: the connection waits
      // in the backlog; try again shortly, never give up.
      ++accept_failures_;
      refusals_.Log(absl::StrCat("grpc accept ", error),
                    {LogLevel::kError,
                     "cannot accept a connection; trying again every 100 ms",
                     {{"transport", "grpc"}, {"error", std::strerror(error)}}});
      retry_.expires_after(kRetryAfter);
      retry_.async_wait([this](const ErrorCode& e) {
        if (!e && acceptor_->is_open()) OnReadable();
      });
      return;
    }
    tcp::endpoint endpoint;
    if (from_size <= endpoint.capacity()) {
      std::memcpy(endpoint.data(), &from, from_size);
      endpoint.resize(from_size);
    }
    Admit(fd, endpoint);
  }
  WaitForConnection();
}

void GrpcAcceptor::Admit(int fd, const tcp::endpoint& from) {
  PeerInfo peer;
  asio::ip::address ip = from.address();
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    ip = asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
  }
  peer.ip = ip.to_string();
  peer.address = FormatEndpoint(tcp::endpoint(ip, from.port()));
  peer.connection = absl::StrCat(peer.address, "#", ++next_serial_);

  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    return;
  }
  std::optional<Cause> refused;
  {
    absl::MutexLock lock(&mu_);
    // The kernel gave this number again, so whatever had it is closed.
    ForgetLocked(fd);
    if (handed_.size() >= options_.max_connections) CheckAllLocked();
    const size_t per_ip = options_.max_connections_per_ip;
    if (handed_.size() >= options_.max_connections) {
      refused = Cause::kFull;
    } else if (per_ip != 0 && per_ip_[peer.ip] >= per_ip) {
      CheckIpLocked(peer.ip);
      if (per_ip_[peer.ip] >= per_ip) refused = Cause::kPerIp;
    }
    if (!refused) {
      handed_[fd] = Handed{st.st_ino, st.st_dev, peer};
      ++per_ip_[peer.ip];
      Metrics().connections_opened[static_cast<size_t>(Port::kGrpc)].Add();
    } else if (per_ip_[peer.ip] == 0) {
      per_ip_.erase(peer.ip);
    }
  }
  if (refused) {
    Refuse(fd, peer, *refused);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (bridges_) return Bridge(fd, peer);
  grpc::AddInsecureChannelFromFd(server_, fd);
}

namespace {

// A descriptor closed with the last copy of its holder, unless taken.
struct OwnedFd {
  explicit OwnedFd(int fd) : fd(fd) {}
  ~OwnedFd() {
    if (fd >= 0) close(fd);
  }
  int Take() { return std::exchange(fd, -1); }
  int fd;
};

}  // namespace

void GrpcAcceptor::Bridge(int fd, const PeerInfo& peer) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                 pair) != 0) {
    close(fd);
    return;
  }
  struct stat st {};
  fstat(pair[0], &st);
  {
    absl::MutexLock lock(&mu_);
    ForgetLocked(pair[0]);
    ForgetLocked(pair[1]);
    bridged_[pair[0]] = Handed{st.st_ino, st.st_dev, peer};
  }
  auto grpc_end = std::make_shared<OwnedFd>(pair[0]);
  bridges_->Bridge(
      fd, pair[1], options_.tls->Current(),
      [this, grpc_end] { Hand(grpc_end->Take()); },
      [this, peer](int tcp_fd) {
        // Back to this thread, to answer like a refusal.
        auto plain = std::make_shared<OwnedFd>(tcp_fd);
        asio::post(context_, [this, plain, peer] {
          refusals_.Log("grpc plaintext",
                        {LogLevel::kInfo,
                         "refused: plaintext on the TLS port",
                         {{"transport", "grpc"}, {"peer", peer.address}}});
          StartRefusing(plain->Take(), grpc::StatusCode::UNAVAILABLE,
                        "this port serves TLS only: connect with TLS "
                        "(chatctl --tls)");
        });
      });
}

void GrpcAcceptor::Hand(int fd) {
  absl::MutexLock lock(&hand_mu_);
  if (handing_stopped_) {
    close(fd);
    return;
  }
  grpc::AddInsecureChannelFromFd(server_, fd);
}

void GrpcAcceptor::Refuse(int fd, const PeerInfo& peer, Cause cause) {
  Metrics().Refused(RefusalCause::kCaps);
  std::string text;
  absl::string_view log_cause;
  if (cause == Cause::kFull) {
    text = absl::StrCat("chat-service is full: ", options_.max_connections,
                        " gRPC connections are open; try again later");
    log_cause = "grpc full";
  } else {
    text = absl::StrCat("too many connections from ", peer.ip, " (",
                        options_.max_connections_per_ip,
                        " are open, the most allowed per address); close one "
                        "and try again");
    log_cause = "grpc per-ip";
  }
  refusals_.Log(log_cause, {LogLevel::kWarning,
                            absl::StrCat("refused: ", text),
                            {{"transport", "grpc"}, {"peer", peer.address}}});
  StartRefusing(fd, grpc::StatusCode::RESOURCE_EXHAUSTED, std::move(text));
}

void GrpcAcceptor::StartRefusing(int fd, int code, std::string text) {
  // Over kMaxRefusing, the oldest goes: a client that calls does so within
  // a round trip, so the oldest is the likeliest to be idle (a flood).
  if (refusing_.size() >= kMaxRefusing) refusing_.front()->Close();
  ErrorCode error;
  tcp::socket socket(context_);
  // Accepted sockets are of the listening socket's family.
  const tcp::endpoint local = acceptor_->local_endpoint(error);
  if (!error) socket.assign(local.protocol(), fd, error);
  if (error) {
    close(fd);
    return;
  }
  std::make_shared<Refusing>(this, std::move(socket), code, std::move(text))
      ->Start();
}

void GrpcAcceptor::ScheduleCheck() {
  check_.expires_after(kCheckEvery);
  check_.async_wait([this](const ErrorCode& e) {
    if (e) return;
    {
      absl::MutexLock lock(&mu_);
      CheckAllLocked();
    }
    ScheduleCheck();
  });
}

bool GrpcAcceptor::StillOpenLocked(int fd, const Handed& handed) const {
  struct stat st {};
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
         st.st_ino == handed.inode && st.st_dev == handed.device;
}

void GrpcAcceptor::ForgetLocked(int fd) {
  bridged_.erase(fd);  // The number names another descriptor now.
  auto it = handed_.find(fd);
  if (it == handed_.end()) return;
  auto ip = per_ip_.find(it->second.peer.ip);
  if (ip != per_ip_.end() && --ip->second == 0) per_ip_.erase(ip);
  handed_.erase(it);
  Metrics().connections_closed[static_cast<size_t>(Port::kGrpc)].Add();
}

void GrpcAcceptor::CheckAllLocked() {
  const absl::Time start = absl::Now();
  if (start < next_full_check_) return;
  std::vector<int> closed;
  for (const auto& [fd, handed] : handed_) {
    if (!StillOpenLocked(fd, handed)) closed.push_back(fd);
  }
  for (int fd : closed) ForgetLocked(fd);
  absl::erase_if(bridged_,
                 [this](const auto& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                   return !StillOpenLocked(entry.first, entry.second);
                 });
  const absl::Time end = absl::Now();
  next_full_check_ = end + (end - start) * kFullCheckGapFactor;
}

void GrpcAcceptor::CheckIpLocked(const std::string& ip) {
  std::vector<int> closed;
  for (const auto& [fd, handed] : handed_) {
    if (handed.peer.ip == ip && !StillOpenLocked(fd, handed)) {
      closed.push_back(fd);
    }
  }
  for (int fd : closed) ForgetLocked(fd);
}

PeerInfo GrpcAcceptor::Peer(absl::string_view grpc_peer) const {
  absl::string_view number = grpc_peer;
  int fd = -1;
  if (absl::ConsumePrefix(&number, "fd:") && absl::SimpleAtoi(number, &fd)) {
    absl::MutexLock lock(&mu_);
    if (bridges_) {
      auto it = bridged_.find(fd);
      if (it != bridged_.end()) return it->second.peer;
    } else {
      auto it = handed_.find(fd);
      if (it != handed_.end()) return it->second.peer;
    }
  }
  return ParseGrpcPeer(grpc_peer);
}

size_t GrpcAcceptor::connection_count() {
  absl::MutexLock lock(&mu_);
  next_full_check_ = absl::InfinitePast();
  CheckAllLocked();
  return handed_.size();
}

}  // namespace chat

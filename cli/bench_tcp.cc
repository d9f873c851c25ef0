#include "cli/bench_tcp.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/bench_options.h"
#include "cli/bench_stats.h"

namespace chat {
namespace bench {

TcpMembers::TcpMembers(int threads, std::unique_ptr<TlsClientContext> tls)
    : threads_(threads), tls_(std::move(tls)) {
  for (int i = 0; i < threads_; ++i) epolls_.push_back(epoll_create1(0));
}

TcpMembers::~TcpMembers() {
  Stop();
  for (auto& c : conns_) {
    c->tls.reset();
    if (c->fd >= 0) close(c->fd);
  }
  for (int e : epolls_) close(e);
}

bool TcpMembers::Resolve(const std::string& addr, std::string* error) {
  std::string host;
  int port;
  if (!SplitHostPort(addr, &host, &port)) {
    *error = absl::StrCat("bad address \"", addr, "\"");
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) !=
          0 ||
      res == nullptr) {
    *error = absl::StrCat("cannot resolve ", addr);
    return false;
  }
  Address a;
  std::memcpy(&a.addr, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  a.family = res->ai_family;
  freeaddrinfo(res);
  a.text = addr;
  addrs_.push_back(std::move(a));
  return true;
}

TcpMembers::Conn* TcpMembers::Connect(const std::string& name,
                                      const std::string& room,
                                      Receiver* receiver, std::string* error,
                                      size_t server) {
  if (server >= addrs_.size()) {
    *error = "TcpMembers::Connect to a server not resolved";
    return nullptr;
  }
  const Address& a = addrs_[server];
  int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = absl::StrCat("socket: ", std::strerror(errno));
    return nullptr;
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) != 0) {
    *error = absl::StrCat("cannot connect to the legacy port at ", a.text, " (",
                          std::strerror(errno), ")");
    close(fd);
    return nullptr;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto conn = std::make_unique<Conn>();
  conn->fd = fd;
  conn->receiver = receiver;
  conn->room_marker = absl::StrCat(" in room ", room);
  const std::string join =
      absl::StrCat("/nick ", name, "\r\n/join ", room, "\r\n");
  if (tls_ != nullptr) {
    // The join waits in the stream's queue for the handshake.
    Conn* c = conn.get();
    c->tls = tls_->NewStream(fd, epolls_[conns_.size() % threads_], c);
    c->tls->Write(join);
    conns_.push_back(std::move(conn));
    c->tls->Start();
    return c;
  }
  if (!WriteAll(conn.get(), join)) {
    *error = absl::StrCat("cannot write to ", a.text);
    close(fd);
    return nullptr;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  Conn* c = conn.get();
  const int e = epolls_[conns_.size() % threads_];
  conns_.push_back(std::move(conn));
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = c;
  epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev);
  return c;
}

void TcpMembers::Start() {
  for (int i = 0; i < threads_; ++i) {
    loops_.emplace_back([this, i] { Loop(epolls_[i]); });
  }
}

void TcpMembers::Stop() {
  stop_.store(true);
  for (auto& t : loops_) t.join();
  loops_.clear();
}

bool TcpMembers::WriteAll(Conn* c, absl::string_view data) {
  if (c->tls != nullptr) return c->tls->Write(data);
  while (!data.empty()) {
    ssize_t n = send(c->fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{c->fd, POLLOUT, 0};
      poll(&p, 1, 100);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

size_t TcpMembers::closed() const {
  size_t n = 0;
  for (const auto& c : conns_) n += !c->open.load();
  return n;
}

void TcpMembers::Loop(int epoll) {
  constexpr int kEvents = 256;
  epoll_event events[kEvents];
  std::vector<char> buf(256 * 1024);
  while (!stop_.load(std::memory_order_relaxed)) {
    const int n = epoll_wait(epoll, events, kEvents, 50);
    for (int i = 0; i < n; ++i) {
      Conn* c = static_cast<Conn*>(events[i].data.ptr);
      if (c->tls == nullptr) {
        ReadAll(c, buf.data(), buf.size());
      } else {
        ServeTls(c, buf.data(), buf.size());
      }
    }
  }
}

void TcpMembers::ReadAll(Conn* c, char* buf, size_t cap) {
  for (;;) {
    ssize_t n = recv(c->fd, buf, cap, 0);
    if (n > 0) {
      Lines(c, buf, static_cast<size_t>(n), NowNs());
      if (static_cast<size_t>(n) < cap) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // EOF or error: the server closed the connection.
    if (c->open.exchange(false)) {
      if (c->receiver != nullptr) {
        c->receiver->SetEnded(n == 0 ? "the server closed the connection"
                                     : std::strerror(errno));
      }
      shutdown(c->fd, SHUT_RDWR);
    }
    return;
  }
}

void TcpMembers::ServeTls(Conn* c, char* buf, size_t cap) {
  std::string why;
  const TlsStream::State state = c->tls->Serve(
      buf, cap,
      [this, c](const char* data, size_t len) { Lines(c, data, len, NowNs()); },
      &why);
  if (state == TlsStream::State::kOpen) return;
  if (c->open.exchange(false)) {
    if (c->receiver != nullptr) c->receiver->SetEnded(why);
    shutdown(c->fd, SHUT_RDWR);
  }
}

void TcpMembers::Lines(Conn* c, const char* data, size_t len, uint64_t now) {
  const char* end = data + len;
  while (data < end) {
    const char* nl = static_cast<const char*>(memchr(data, '\n', end - data));
    if (nl == nullptr) {
      c->partial.append(data, end);
      if (c->partial.size() > (1 << 20)) c->partial.clear();
      return;
    }
    if (!c->partial.empty()) {
      c->partial.append(data, nl);
      Line(c, c->partial, now);
      c->partial.clear();
    } else {
      Line(c, absl::string_view(data, nl - data), now);
    }
    data = nl + 1;
  }
}

void TcpMembers::Line(Conn* c, absl::string_view line, uint64_t now) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.empty() && line.front() == '<') {
    if (c->receiver == nullptr) return;
    const size_t gt = line.find("> ");
    if (gt != absl::string_view::npos) {
      c->receiver->OnText(line.substr(gt + 2), now);
    }
    return;
  }
  // The welcome line of the room: "-- you are NAME in room ROOM with..."
  // or "... in room ROOM, alone so far".
  if (!c->joined.load(std::memory_order_relaxed) &&
      (absl::StrContains(line, absl::StrCat(c->room_marker, " ")) ||
       absl::StrContains(line, absl::StrCat(c->room_marker, ",")))) {
    c->joined.store(true, std::memory_order_release);
    joined_.fetch_add(1, std::memory_order_release);
    if (c->receiver != nullptr) c->receiver->SetJoined();
  }
  if (c->receiver != nullptr && absl::StartsWith(line, "!! ")) {
    c->receiver->SetNotice(line.substr(3));
  }
}

void TcpSender::Send(uint64_t n) {
  buf_.clear();
  for (uint64_t i = 0; i < n; ++i) {
    NextText(&buf_);
    buf_.append("\r\n");
  }
  Write();
}

void TcpSender::SendSync(uint64_t token) {
  buf_ = absl::StrCat(SyncText(run_, token), "\r\n");
  Write();
}

void TcpSender::Write() {
  if (!TcpMembers::WriteAll(conn_, buf_)) failed_ = true;
}

}  // namespace bench
}  // namespace chat

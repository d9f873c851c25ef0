#include "integration_tests/tcp_user.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace chat {

TcpUser::TcpUser(std::string alias, absl::Time epoch)
    : User(std::move(alias), "tcp", epoch) {}

TcpUser::~TcpUser() {
  if (reader_.joinable()) {
    {
      absl::MutexLock lock(&io_mu_);
      stop_ = true;
    }
    Wake();
    reader_.join();
  }
  if (fd_ >= 0) close(fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status TcpUser::Connect(const std::string& host_port, int rcvbuf) {
  const size_t colon = host_port.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad TCP address \"", host_port, "\""));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr) !=
      1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad TCP host in \"", host_port, "\""));
  }
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return absl::InternalError(strerror(errno));
  if (rcvbuf > 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // A send that cannot progress for this long fails instead of hanging.
  timeval timeout{10, 0};
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", host_port, ": ", strerror(errno)));
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return absl::InternalError(strerror(errno));
  {
    absl::MutexLock lock(&mu_);
    room_ = "lobby";
  }
  reader_ = std::thread([this] { ReadLoop(); });
  return absl::OkStatus();
}

void TcpUser::Wake() {
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // The counter cannot overflow here; nothing to do.
  }
}

void TcpUser::ReadLoop() {
  bool eof = false;
  char chunk[64 * 1024];
  while (true) {
    bool paused;
    {
      absl::MutexLock lock(&io_mu_);
      if (stop_) return;
      if (kill_ && !socket_closed_) {
        // An abrupt close: SO_LINGER 0 makes close() send an RST.
        linger l{1, 0};
        setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(fd_);
        fd_ = -1;
        socket_closed_ = true;
      }
      paused = paused_;
    }
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {-1, 0, 0}};
    int nfds = 1;
    {
      absl::MutexLock lock(&io_mu_);
      if (!socket_closed_ && !eof && !paused) {
        fds[1] = {fd_, POLLIN, 0};
        nfds = 2;
      }
    }
    if (poll(fds, nfds, -1) < 0) {
      if (errno == EINTR) continue;
      AddViolation(absl::StrCat("harness: poll failed: ", strerror(errno)));
      return;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t n;
      if (read(wake_fd_, &n, sizeof(n)) < 0) {
        // EAGAIN: another wake took it.
      }
    }
    if (nfds < 2 || fds[1].revents == 0) continue;
    const ssize_t got = recv(fds[1].fd, chunk, sizeof(chunk), 0);
    if (got > 0) {
      buffer_.append(chunk, static_cast<size_t>(got));
      SplitLines();
      continue;
    }
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    eof = true;
    if (!buffer_.empty()) {
      AddNote(absl::StrCat("the last ", buffer_.size(),
                           " bytes had no line ending"));
      AddRecord(0, std::move(buffer_));
      buffer_.clear();
    }
    if (got == 0) {
      // As telnet and nc do: the server closed, so close our side too (the
      // descriptor stays open for the runner's sends, which now fail).
      shutdown(fds[1].fd, SHUT_WR);
      SetEnding("closed", "");
    } else {
      SetEnding(errno == ECONNRESET ? "reset" : "closed", strerror(errno));
    }
  }
}

void TcpUser::SplitLines() {
  size_t start = 0;
  while (true) {
    const size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    size_t end = nl;
    if (end > start && buffer_[end - 1] == '\r') {
      --end;
    } else {
      AddViolation(absl::StrCat(
          "a line ended with a bare \\n, not \\r\\n: \"",
          buffer_.substr(start, std::min<size_t>(nl - start, 200)), "\""));
    }
    AddRecord(0, buffer_.substr(start, end - start));
    start = nl + 1;
  }
  buffer_.erase(0, start);
  // A server must bound its lines; so does the harness.
  if (buffer_.size() > (1u << 20)) {
    AddViolation("the server sent over 1 MiB without a line ending");
    buffer_.clear();
  }
}

absl::Status TcpUser::SendRaw(const std::string& bytes) {
  {
    absl::MutexLock lock(&io_mu_);
    if (kill_ || socket_closed_) {
      return absl::FailedPreconditionError("the user was killed");
    }
  }
  if (write_closed_) {
    return absl::FailedPreconditionError(
        "the connection is half-closed (close came before)");
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n =
        send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "send blocked for 10s after ", sent, " of ", bytes.size(),
          " bytes: the server stopped reading this connection"));
    }
    // The server closed or reset the connection: that is for expectations
    // to judge; note it and go on.
    AddNote(absl::StrCat("send stopped after ", sent, " of ", bytes.size(),
                         " bytes: ", strerror(errno)));
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status TcpUser::Say(const std::string& text) {
  return SendRaw(text + "\r\n");
}

absl::Status TcpUser::Me(const std::string& text) {
  return SendRaw("/me " + text + "\r\n");
}

absl::Status TcpUser::Nick(const std::string& name) {
  return SendRaw("/nick " + name + "\r\n");
}

absl::Status TcpUser::Join(const std::string& room, uint32_t history) {
  if (history > 0) {
    return absl::InvalidArgumentError(
        "history= is for gRPC users; /join on the TCP port has none");
  }
  return SendRaw("/join " + room + "\r\n");
}

absl::Status TcpUser::Leave(const std::string& reason) {
  return SendRaw(reason.empty() ? std::string("/quit\r\n")
                                : "/quit " + reason + "\r\n");
}

absl::Status TcpUser::Kill() {
  {
    absl::MutexLock lock(&io_mu_);
    if (kill_) return absl::FailedPreconditionError("already killed");
    kill_ = true;
  }
  Wake();
  absl::MutexLock lock(&io_mu_);
  io_mu_.Await(absl::Condition(&socket_closed_));
  return absl::OkStatus();
}

absl::Status TcpUser::Close() {
  if (write_closed_) return absl::FailedPreconditionError("already closed");
  {
    absl::MutexLock lock(&io_mu_);
    if (kill_) return absl::FailedPreconditionError("the user was killed");
  }
  write_closed_ = true;
  shutdown(fd_, SHUT_WR);
  return absl::OkStatus();
}

void TcpUser::Pause() {
  {
    absl::MutexLock lock(&io_mu_);
    paused_ = true;
  }
  Wake();  // The reader stops polling the socket.
}

void TcpUser::Resume() {
  {
    absl::MutexLock lock(&io_mu_);
    paused_ = false;
  }
  Wake();
}

}  // namespace chat

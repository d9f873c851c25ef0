#include "testing/tcp_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {

namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

TcpTestClient::TcpTestClient(int port, int receive_buffer) {
  Connect(port, receive_buffer, "");
}

TcpTestClient::TcpTestClient(const std::string& source_ip, int port) {
  Connect(port, 0, source_ip);
}

void TcpTestClient::Connect(int port, int receive_buffer,
                            const std::string& source_ip) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    ADD_FAILURE() << "socket: " << strerror(errno);
    return;
  }
  if (receive_buffer > 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
               sizeof(receive_buffer));
  }
  if (!source_ip.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, source_ip.c_str(), &from.sin_addr) != 1 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      ADD_FAILURE() << "bind to " << source_ip << ": " << strerror(errno);
      return;
    }
  }
  const sockaddr_in addr = Loopback(port);
  connected_ =
      connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  EXPECT_TRUE(connected_) << "connect to 127.0.0.1:" << port << ": "
                          << strerror(errno);
}

bool TcpTestClient::CanConnect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_in addr = Loopback(port);
  const bool connected =
      connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return connected;
}

int TcpTestClient::local_port() const {
  sockaddr_in addr{};
  socklen_t length = sizeof(addr);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

TcpTestClient::~TcpTestClient() { Close(); }

void TcpTestClient::Send(absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ADD_FAILURE() << "send failed: " << strerror(errno);
      return;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

bool TcpTestClient::TrySend(absl::string_view bytes) {
  return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

size_t TcpTestClient::SendUntilRefused(absl::string_view bytes,
                                       absl::Duration stall) {
  size_t sent = 0;
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(stall));
  while (sent < bytes.size()) {
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, ms) <= 0 || !(p.revents & POLLOUT)) break;
    const ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  return sent;
}

std::optional<std::string> TcpTestClient::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const size_t end = buffer_.find('\n');
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 1);
      EXPECT_TRUE(absl::EndsWith(line, "\r")) << "no \\r\\n: " << line;
      if (absl::EndsWith(line, "\r")) line.pop_back();
      return line;
    }
    if (!Fill(deadline)) return std::nullopt;
  }
}

std::vector<std::string> TcpTestClient::ReadAvailable(absl::Duration quiet) {
  std::vector<std::string> lines;
  while (std::optional<std::string> line = ReadLine(quiet)) {
    lines.push_back(*std::move(line));
  }
  return lines;
}

std::vector<std::string> TcpTestClient::ReadThrough(absl::string_view text) {
  std::vector<std::string> seen;
  while (std::optional<std::string> line = ReadLine()) {
    seen.push_back(*line);
    if (absl::StrContains(*line, text)) return seen;
  }
  ADD_FAILURE() << "no line with \"" << text << "\"; saw:\n"
                << absl::StrJoin(seen, "\n");
  return seen;
}

std::string TcpTestClient::ReadUntil(absl::string_view text) {
  std::vector<std::string> seen;
  while (std::optional<std::string> line = ReadLine()) {
    if (absl::StrContains(*line, text)) return *line;
    seen.push_back(*line);
  }
  ADD_FAILURE() << "no line with \"" << text << "\"; saw:\n"
                << absl::StrJoin(seen, "\n");
  return "";
}

bool TcpTestClient::ReadsEof(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Fill(deadline)) buffer_.clear();
  return eof_;
}

std::optional<std::string> TcpTestClient::ReadToEof(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Fill(deadline)) {
  }
  if (!eof_) return std::nullopt;
  return std::exchange(buffer_, std::string());
}

std::string TcpTestClient::Welcome() {
  EXPECT_THAT(ReadLine().value_or(""), ::testing::HasSubstr("type /help"));
  const std::string you = ReadLine().value_or("");
  EXPECT_THAT(you, ::testing::StartsWith("-- you are guest-"));
  const std::string name =
      you.size() > 11 ? you.substr(11, you.find(' ', 11) - 11) : "";
  EXPECT_EQ(ReadLine().value_or(""), "-- " + name + " joined");
  return name;
}

void TcpTestClient::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

void TcpTestClient::Reset() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  Close();
}

void TcpTestClient::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

bool TcpTestClient::Fill(absl::Time deadline) {
  if (eof_ || fd_ < 0) return false;
  for (;;) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now()) + 1;
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    break;
  }
  char chunk[65536];
  const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

}  // namespace chat

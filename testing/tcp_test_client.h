// TcpTestClient: a raw TCP client, as nc would be, for tests of the line
// ports and of any TCP port: blocking writes, line reads with timeouts,
// everything up to the server's close, an orderly half-close or a reset.
// Lines must end with "\r\n" (a test failure otherwise), and are returned
// without it.
//
// Example:
//   TcpTestClient bob(port);
//   const std::string guest = bob.Welcome();
//   bob.Send("/nick bob\r\n");
//   EXPECT_EQ(bob.ReadLine(), "-- " + guest + " is now known as bob");
//
// Not thread-safe: one test thread per client.
#ifndef CHATROOM_TESTING_TCP_TEST_CLIENT_H_
#define CHATROOM_TESTING_TCP_TEST_CLIENT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

class TcpTestClient {
 public:
  // How long a read waits by default.
  static constexpr absl::Duration kTimeout = absl::Seconds(5);

  // Connects to 127.0.0.1:`port` (a test failure if it cannot).
  // `receive_buffer` > 0 sets SO_RCVBUF before connecting (a slow reader).
  explicit TcpTestClient(int port, int receive_buffer = 0);
  // Connects to 127.0.0.1:`port` from `source_ip`, another address of this
  // host (any of 127/8), e.g. to stand for a second client address.
  TcpTestClient(const std::string& source_ip, int port);
  ~TcpTestClient();  // Close().

  TcpTestClient(const TcpTestClient&) = delete;
  TcpTestClient& operator=(const TcpTestClient&) = delete;

  // CanConnect
  //
  // Whether 127.0.0.1:`port` takes a connection (closed at once); no test
  // failure either way. For a port that must no longer accept.
  static bool CanConnect(int port);

  bool connected() const { return connected_; }
  // The client side's port.
  int local_port() const;

  // Sends all of `bytes` (a test failure if it cannot).
  void Send(absl::string_view bytes);
  // Sends, and says whether it could (the server may have closed).
  bool TrySend(absl::string_view bytes);
  // Sends as much as the connection takes, waiting up to `stall` for room
  // each time; returns how much that was.
  size_t SendUntilRefused(absl::string_view bytes,
                          absl::Duration stall = absl::Seconds(2));

  // The next line, without its "\r\n"; nullopt at EOF, error or timeout.
  std::optional<std::string> ReadLine(absl::Duration timeout = kTimeout);
  // The lines that arrive until a quiet spell of `quiet` (for polling
  // loops; a quiet spell proves nothing about what comes later).
  std::vector<std::string> ReadAvailable(absl::Duration quiet);
  // Reads lines until one contains `text` and returns them all, that one
  // last; a test failure if none does.
  std::vector<std::string> ReadThrough(absl::string_view text);
  // Reads lines until one contains `text` and returns it; a test failure
  // if none does.
  std::string ReadUntil(absl::string_view text);
  // True once the server closed the connection (EOF or reset) within
  // `timeout`; what arrives meanwhile is dropped.
  bool ReadsEof(absl::Duration timeout = kTimeout);
  // Everything the server sends (not yet read) until it closes the
  // connection; nullopt if it does not close within `timeout`. For ports
  // that answer in bytes, not lines (an HTTP refusal, a test server).
  std::optional<std::string> ReadToEof(absl::Duration timeout = kTimeout);
  // Reads the legacy port's welcome (help line, "-- you are guest-N ...",
  // the own join) and returns the guest name.
  std::string Welcome();

  // shutdown(SHUT_WR): a FIN, the read side stays open.
  void ShutdownWrite();
  // Closes with a reset (SO_LINGER 0) instead of a FIN.
  void Reset();
  void Close();

 private:
  // Makes the socket and connects (from `source_ip` unless empty).
  void Connect(int port, int receive_buffer, const std::string& source_ip);
  // Reads more into buffer_; false at EOF, error or the deadline.
  bool Fill(absl::Time deadline);

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace chat

#endif  // CHATROOM_TESTING_TCP_TEST_CLIENT_H_

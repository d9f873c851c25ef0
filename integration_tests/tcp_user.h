// TcpUser: a simulated user of the legacy TCP line port, as telnet or nc
// would be: a raw socket, lines out as typed, lines in as received.
//
// A reader thread per user polls the socket and a wake-up eventfd, splits
// what arrives into lines (each must end with "\r\n"; a bare "\n" is a
// violation) and records them. Pausing stops the reads, so the kernel
// buffers fill and the server sees a client that stopped reading. Kill
// resets the connection (SO_LINGER 0, an RST); close half-closes it (FIN).
// When the server closes, the user closes its side too, as telnet does.
//
// Threads: the reader thread records; the runner thread calls the public
// methods and is the only one that sends. The reader closes the socket only
// when told to (kill, destruction), so a send never races with a close.
#ifndef CHATROOM_INTEGRATION_TESTS_TCP_USER_H_
#define CHATROOM_INTEGRATION_TESTS_TCP_USER_H_

#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "integration_tests/user.h"

namespace chat {

class TcpUser final : public User {
 public:
  TcpUser(std::string alias, absl::Time epoch);
  ~TcpUser() override;

  // Connects to "HOST:PORT" and starts the reader. `rcvbuf` > 0 shrinks the
  // socket's receive buffer (set before connecting), for slow readers.
  absl::Status Connect(const std::string& host_port, int rcvbuf);

  absl::Status Say(const std::string& text) override;
  absl::Status Me(const std::string& text) override;
  absl::Status Nick(const std::string& name) override;
  absl::Status Join(const std::string& room, uint32_t history) override;
  absl::Status Leave(const std::string& reason) override;
  absl::Status Kill() override;
  absl::Status Close() override;
  absl::Status SendRaw(const std::string& bytes) override;
  void Pause() override;
  void Resume() override;

 private:
  void ReadLoop();
  void Wake();
  // Records the complete lines in buffer_ and keeps the rest.
  void SplitLines();

  int fd_ = -1;
  int wake_fd_ = -1;
  std::thread reader_;
  std::string buffer_;  // Reader thread only.

  absl::Mutex io_mu_;
  bool paused_ ABSL_GUARDED_BY(io_mu_) = false;
  bool kill_ ABSL_GUARDED_BY(io_mu_) = false;
  bool stop_ ABSL_GUARDED_BY(io_mu_) = false;
  bool socket_closed_ ABSL_GUARDED_BY(io_mu_) = false;
  bool write_closed_ = false;  // Runner thread only.
};

}  // namespace chat

#endif  // CHATROOM_INTEGRATION_TESTS_TCP_USER_H_

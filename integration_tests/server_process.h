// ServerProcess: the real chat-service binary, run as a child process.
//
// Start spawns it on 127.0.0.1:0 for both ports, with the scenario's extra
// flags, and reads its one ready line from stdout:
//   chat-service ready grpc=HOST:PORT legacy=HOST:PORT   (or legacy=off)
// Its stderr goes to a log file, whose last lines failure messages quote.
// The child gets SIGKILL if the harness dies (PR_SET_PDEATHSIG), so a
// killed test leaves no server behind.
// Stop sends SIGTERM and waits for the exit; Kill sends SIGKILL. Not
// thread-safe: the runner thread owns it.
#ifndef CHATROOM_INTEGRATION_TESTS_SERVER_PROCESS_H_
#define CHATROOM_INTEGRATION_TESTS_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace chat {

class ServerProcess {
 public:
  // `binary` is the chat-service path; `log_path` receives its stderr
  // (appended, across restarts).
  ServerProcess(std::string binary, std::string log_path);
  ~ServerProcess();  // Kills a server still running.

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server and waits (up to `timeout`) for its ready line.
  absl::Status Start(const std::vector<std::string>& flags,
                     absl::Duration timeout);

  // SIGTERM, then waits up to `timeout` for the exit. Sets *exit_code (or
  // 128 + signal for a death by signal). DEADLINE_EXCEEDED when it did not
  // exit in time (it is then killed).
  absl::Status Stop(absl::Duration timeout, int* exit_code);

  // SIGKILL and reap.
  void Kill();

  bool running() const { return pid_ > 0; }
  const std::string& grpc_addr() const { return grpc_addr_; }
  // Empty when the server reported legacy=off.
  const std::string& legacy_addr() const { return legacy_addr_; }
  // Empty when the server reported http=off.
  const std::string& http_addr() const { return http_addr_; }
  const std::string& ready_line() const { return ready_line_; }
  const std::vector<std::string>& flags() const { return flags_; }

  // CPU time (user + system) the running server has used so far, from
  // /proc; zero when it is not running.
  absl::Duration CpuTime() const;

  // The last `n` lines of the server's stderr log.
  std::string LogTail(int n) const;

 private:
  // Waits up to `timeout` for the child to exit; true when it did.
  bool Reap(absl::Duration timeout, int* exit_code);

  const std::string binary_;
  const std::string log_path_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::vector<std::string> flags_;
  std::string ready_line_;
  std::string grpc_addr_;
  std::string legacy_addr_;
  std::string http_addr_;
};

}  // namespace chat

#endif  // CHATROOM_INTEGRATION_TESTS_SERVER_PROCESS_H_

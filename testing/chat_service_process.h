// ChatServiceProcess: the real chat-service binary, run as a child process
// by a test (the scenario harness, chatctl's and the bench's end-to-end
// tests).
//
// Start spawns it with every port on 127.0.0.1:0 (--grpc_addr, --legacy_addr,
// --http_addr), then the caller's flags (the last value of a flag wins, so
// "--legacy_addr=" turns a port off), and reads its one ready line from
// stdout:
//   chat-service ready grpc=HOST:PORT legacy=HOST:PORT http=HOST:PORT
// (a port that is off reads "off"; with --metrics_addr, metrics=HOST:PORT
// comes last). Its stderr goes to a log file, which
// failure messages can quote (a temporary one with WithTempLog), or to
// /dev/null. The child gets SIGKILL if the test process dies
// (PR_SET_PDEATHSIG), so a killed test leaves no server behind. Stop sends
// SIGTERM and waits for the exit; Kill sends SIGKILL.
//
// Example:
//   ChatServiceProcess server(ChatServiceProcess::DefaultBinary());
//   ASSERT_TRUE(server.Start({"--flood_rate=0"}).ok());
//   ... connect to server.grpc_addr() ...
//   int code;
//   EXPECT_TRUE(server.Stop(absl::Seconds(10), &code).ok());
//   EXPECT_EQ(code, 0);
//
// Not thread-safe: one thread owns it.
#ifndef CHATROOM_TESTING_CHAT_SERVICE_PROCESS_H_
#define CHATROOM_TESTING_CHAT_SERVICE_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace chat {

class ChatServiceProcess {
 public:
  // `binary` is the chat-service path; `log_path` receives its stderr
  // (appended, across restarts); empty: /dev/null.
  explicit ChatServiceProcess(std::string binary, std::string log_path = "");
  // Kills a server still running; deletes a WithTempLog log.
  ~ChatServiceProcess();

  ChatServiceProcess(const ChatServiceProcess&) = delete;
  ChatServiceProcess& operator=(const ChatServiceProcess&) = delete;

  // DefaultBinary
  //
  // $CHAT_SERVICE_BIN when set (another build, e.g. an older one), else
  // `fallback` (usually the CHAT_SERVICE_BIN a test target is compiled with).
  static std::string DefaultBinary(const std::string& fallback = "");

  // WithTempLog
  //
  // A server whose stderr goes to a new file in $TMPDIR (or /tmp), deleted
  // with the object: for a test that quotes the log (Log, LogTail) without
  // keeping it. /dev/null when no file can be made.
  //
  //   auto server = ChatServiceProcess::WithTempLog(CHAT_SERVICE_BIN);
  //   ASSERT_TRUE(server->Start({}).ok());
  //   EXPECT_THAT(server->Log(), HasSubstr("connection caps scaled down"));
  static std::unique_ptr<ChatServiceProcess> WithTempLog(std::string binary);

  // Limits the child's open descriptors (RLIMIT_NOFILE, soft and hard) from
  // the next Start on; 0: inherit the test's limit.
  void set_nofile_limit(uint64_t limit) { nofile_limit_ = limit; }

  // Starts the server and waits (up to `timeout`) for its ready line.
  absl::Status Start(const std::vector<std::string>& flags,
                     absl::Duration timeout = absl::Seconds(20));

  // SIGTERM, then waits up to `timeout` for the exit. Sets *exit_code (or
  // 128 + signal for a death by signal). DEADLINE_EXCEEDED when it did not
  // exit in time (it is then killed).
  absl::Status Stop(absl::Duration timeout, int* exit_code);

  // SIGKILL and reap. Returns the exit code as Stop sets it (128 + SIGKILL,
  // unless it had exited already), or -1 when it was not running or could
  // not be reaped.
  int Kill();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // HOST:PORT of each port; empty when the server reported it off.
  const std::string& grpc_addr() const { return grpc_addr_; }
  const std::string& legacy_addr() const { return legacy_addr_; }
  const std::string& http_addr() const { return http_addr_; }
  // The metrics port's (listed only with --metrics_addr); empty when off.
  const std::string& metrics_addr() const { return metrics_addr_; }
  // The port of an address above (0 when it is empty).
  static int PortOf(const std::string& addr);
  const std::string& ready_line() const { return ready_line_; }
  // The flags of the last Start (for a restart with the same ones).
  const std::vector<std::string>& flags() const { return flags_; }
  // The server's stdout after its ready line (a pipe; -1 before a Start).
  // Owned by this object.
  int stdout_fd() const { return stdout_fd_; }

  // CPU time (user + system) the running server has used so far, from
  // /proc; zero when it is not running.
  absl::Duration CpuTime() const;

  // The last `n` lines of the server's stderr log, each as "    | LINE\n".
  std::string LogTail(int n) const;
  // The whole stderr log, every start's ("" when it goes to /dev/null).
  std::string Log() const;

 private:
  // Waits up to `timeout` for the child to exit; true when it did.
  bool Reap(absl::Duration timeout, int* exit_code);

  const std::string binary_;
  const std::string log_path_;
  bool delete_log_ = false;  // WithTempLog's.
  uint64_t nofile_limit_ = 0;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::vector<std::string> flags_;
  std::string ready_line_;
  std::string grpc_addr_;
  std::string legacy_addr_;
  std::string http_addr_;
  std::string metrics_addr_;
};

}  // namespace chat

#endif  // CHATROOM_TESTING_CHAT_SERVICE_PROCESS_H_

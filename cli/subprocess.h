// Subprocess: runs a program with pipes on stdin, stdout and stderr, for
// tests that drive the real chatctl and chat-service binaries.
//
// Thread-compatible: use one Subprocess from one thread.
#ifndef CHATROOM_CLI_SUBPROCESS_H_
#define CHATROOM_CLI_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace chat {

class Subprocess {
 public:
  // Starts argv[0] (a path) with `argv`. `env` entries ("K=V") are added to
  // the environment. Check ok() for success.
  explicit Subprocess(const std::vector<std::string>& argv,
                      const std::vector<std::string>& env = {});
  // Kills the process (SIGKILL) if it still runs, and reaps it.
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  bool ok() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Writes to the child's stdin (blocking), and closes it.
  bool Write(const std::string& text);
  void CloseStdin();

  // Reads output until `done(stdout, stderr)` holds or `timeout` passes.
  // Returns whether it held.
  bool WaitForOutput(
      const std::function<bool(const std::string&, const std::string&)>& done,
      absl::Duration timeout);
  // WaitForOutput for `text` appearing on stdout (or stderr).
  bool WaitForStdout(const std::string& text, absl::Duration timeout);
  bool WaitForStderr(const std::string& text, absl::Duration timeout);

  // Waits for the exit, reading output meanwhile. Returns the exit code, or
  // 128+signal, or -1 on timeout (the process keeps running).
  int Wait(absl::Duration timeout);

  // Sends `sig`.
  void Signal(int sig);

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // Reads what is available, waiting up to `timeout` for something.
  void Pump(absl::Duration timeout);

  pid_t pid_ = -1;
  int in_ = -1, out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  int status_ = -1;  // Exit code once reaped.
  bool exited_ = false;
};

// Runs a program to completion with `input` on stdin. Returns the exit code
// (-1 on timeout); fills *out and *err.
int RunProgram(const std::vector<std::string>& argv, const std::string& input,
               std::string* out, std::string* err,
               absl::Duration timeout = absl::Seconds(20),
               const std::vector<std::string>& env = {});

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool PollUntil(const std::function<bool()>& condition, absl::Duration timeout);

}  // namespace chat

#endif  // CHATROOM_CLI_SUBPROCESS_H_

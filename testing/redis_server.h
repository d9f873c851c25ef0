// RedisServer: a real redis-server (Debian's redis-server package) as a
// child process, for tests: on a free port of 127.0.0.1, in a scratch
// directory of its own that is removed with the object, with no
// persistence unless asked (then append-only, fsync always, so a Restart
// keeps every write it acknowledged).
//
// Redis cannot bind port 0 and report the port, so Start finds a free one
// (binds 127.0.0.1:0, reads the port, closes) and starts redis-server on it;
// if another process took the port meanwhile, it tries another. It waits for
// the server's "Ready to accept connections" line in its log (read as it
// grows, every 5 ms, up to a deadline; an exit ends the wait at once: no
// fixed sleeps). The child gets SIGKILL if the test process dies
// (PR_SET_PDEATHSIG; strictly, when the thread that started it exits: start
// it from the test's main thread).
//
// Example:
//   absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
//   ASSERT_TRUE(redis.ok()) << redis.status();
//   server.Start({"--redis=" + (*redis)->address()});
//   EXPECT_EQ((*redis)->Cli({"XLEN", "chat:{lobby}:log"}).value(), "3");
//
// Not thread-safe: one thread owns it.
#ifndef CHATROOM_TESTING_REDIS_SERVER_H_
#define CHATROOM_TESTING_REDIS_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace chat {

class RedisServer {
 public:
  struct Options {
    // Append-only file with fsync always, so a Restart keeps every write.
    bool persist = false;
    // Where redis-server's own log goes (appended across restarts); empty:
    // a file in the scratch directory, quoted by errors.
    std::string log_path;
  };

  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start() {
    return Start(Options());
  }

  // Kills a server still running and removes the scratch directory.
  ~RedisServer();

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // "127.0.0.1:PORT", for --redis.
  std::string address() const;
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // The scratch directory (--dir) and redis-server's log file.
  const std::string& dir() const { return dir_; }
  const std::string& log_path() const { return log_path_; }
  // The last `n` lines of the log, each as "    | LINE\n", for a failure
  // message.
  std::string LogTail(int n) const;

  // SIGTERM and wait for the exit (a server with persistence writes it).
  // DEADLINE_EXCEEDED when it did not exit in time (it is then killed);
  // INTERNAL when it exited with another code than 0.
  absl::Status Stop(absl::Duration timeout = absl::Seconds(10));
  // SIGKILL and wait: a crash (with persist, every acknowledged write is
  // kept all the same).
  void Kill();
  // Starts it again on the same port and directory (data kept only with
  // persist), waiting for it to be ready. A server still running is killed
  // first. Fails (the log says "Address already in use") when another
  // process has taken the port meanwhile.
  absl::Status Restart(absl::Duration timeout = absl::Seconds(10));
  // SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing
  // (the kernel still completes TCP handshakes into its backlog). Pause
  // returns once the process has stopped.
  void Pause();
  void Resume();

  // Cli
  //
  // Runs one command through redis-cli and returns its output, trimmed of
  // the final newline (redis-cli's plain output: an integer as "3", nil as
  // "", an array one element per line). An error reply (redis-cli -e) or a
  // failed connection is an error status quoting redis-cli's stderr. The
  // arguments cannot hold NUL bytes (they are exec arguments). Gives up after
  // 10 s (a paused server), killing redis-cli.
  absl::StatusOr<std::string> Cli(const std::vector<std::string>& argv) const;

 private:
  RedisServer() = default;
  // Runs redis-server on port_ and waits for its ready line. *port_taken:
  // it failed because the port was in use.
  absl::Status Launch(absl::Duration timeout, bool* port_taken);

  Options options_;
  std::string dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

}  // namespace chat

#endif  // CHATROOM_TESTING_REDIS_SERVER_H_

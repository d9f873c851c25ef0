// RedisServer: a real redis-server (Debian's redis-server package) as a
// child process, for tests: on a free port of 127.0.0.1, in a scratch
// directory of its own that is removed with the object, with no
// persistence unless asked (then append-only, fsync always, so a Restart
// keeps every write it acknowledged).
//
// Redis cannot bind port 0 and report the port, so Start finds a free one
// (binds 127.0.0.1:0, reads the port, closes) and starts redis-server on it;
// if another process took the port meanwhile, it tries another. It waits for
// the server's "Ready to accept connections" line (no sleeps). The child gets
// SIGKILL if the test process dies (PR_SET_PDEATHSIG).
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

  // SIGTERM and wait for the exit (a server with persistence writes it).
  absl::Status Stop(absl::Duration timeout = absl::Seconds(10));
  // SIGKILL and wait.
  void Kill();
  // Starts it again on the same port and directory (data kept only with
  // persist), waiting for it to be ready.
  absl::Status Restart(absl::Duration timeout = absl::Seconds(10));
  // SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing.
  void Pause();
  void Resume();

  // Cli
  //
  // Runs one command through redis-cli and returns its output, trimmed of
  // the final newline (redis-cli's plain output: an integer as "3", nil as
  // "", an array one element per line).
  absl::StatusOr<std::string> Cli(const std::vector<std::string>& argv) const;

 private:
  RedisServer() = default;
  absl::Status Launch(absl::Duration timeout);

  Options options_;
  std::string dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace chat

#endif  // CHATROOM_TESTING_REDIS_SERVER_H_

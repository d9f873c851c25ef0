#include "testing/redis_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "testing/subprocess.h"

namespace chat {
namespace {

constexpr char kReadyLine[] = "Ready to accept connections";
// How many ports Start tries when another process takes each one between
// our probe and redis-server's bind.
constexpr int kPortAttempts = 5;
constexpr absl::Duration kCliTimeout = absl::Seconds(10);

// A port that was free on 127.0.0.1 a moment ago: bound with port 0, read
// back, closed. 0 on failure.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// A new directory in $TMPDIR (or /tmp); empty on failure.
std::string MakeScratchDir() {
  const char* tmp = getenv("TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                 "/redis-server.XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) return "";
  return dir;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(
    Options options) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->options_ = std::move(options);
  server->dir_ = MakeScratchDir();
  if (server->dir_.empty()) {
    return absl::InternalError(
        absl::StrCat("cannot make a scratch directory: ", strerror(errno)));
  }
  // Absolute: redis-server changes into --dir before it opens its log.
  std::error_code ec;
  server->log_path_ =
      server->options_.log_path.empty()
          ? server->dir_ + "/redis-server.log"
          : std::filesystem::absolute(server->options_.log_path, ec).string();
  absl::Status status;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    server->port_ = FreePort();
    if (server->port_ == 0) {
      return absl::InternalError(
          absl::StrCat("cannot find a free port: ", strerror(errno)));
    }
    bool port_taken = false;
    status = server->Launch(absl::Seconds(10), &port_taken);
    if (status.ok()) return server;
    if (!port_taken) break;
  }
  return status;
}

RedisServer::~RedisServer() {
  Kill();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string RedisServer::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::string RedisServer::LogTail(int n) const {
  return QuoteLines(ReadFileFrom(log_path_), n);
}

absl::Status RedisServer::Launch(absl::Duration timeout, bool* port_taken) {
  *port_taken = false;
  absl::StatusOr<std::string> binary = FindExecutable("redis-server");
  if (!binary.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        binary.status().message(), " (Debian's redis-server package has it)"));
  }
  // Its stdout and stderr (what it says before its log is open, such as a
  // bad option) go to the log file too. Only what this start writes is
  // searched for the ready line: the log is appended to across restarts.
  const int log =
      open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", log_path_, ": ", strerror(errno)));
  }
  const off_t offset = lseek(log, 0, SEEK_END);
  std::vector<std::string> argv = {
      *binary,  "--bind",    "127.0.0.1", "--port", absl::StrCat(port_),
      "--save", "",          "--dir",     dir_,     "--daemonize",
      "no",     "--logfile", log_path_};
  if (options_.persist) {
    argv.insert(argv.end(), {"--appendonly", "yes", "--appendfsync", "always"});
  } else {
    argv.insert(argv.end(), {"--appendonly", "no"});
  }
  absl::StatusOr<pid_t> pid = SpawnChild(argv, log, log);
  close(log);
  if (!pid.ok()) return pid.status();
  paused_ = false;

  // redis-server tells readiness only in its log. Read what this start has
  // written every 5 ms until the line is there; WaitChild returns at once
  // when it exits instead (a port someone else took, a bad option).
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const std::string text =
        ReadFileFrom(log_path_, offset < 0 ? 0 : static_cast<size_t>(offset));
    if (absl::StrContains(text, kReadyLine)) break;
    int code = 0;
    if (WaitChild(*pid, absl::Milliseconds(5), &code)) {
      const std::string all =
          ReadFileFrom(log_path_, offset < 0 ? 0 : static_cast<size_t>(offset));
      *port_taken = absl::StrContains(all, "Address already in use");
      return absl::UnavailableError(absl::StrCat(
          "redis-server on 127.0.0.1:", port_, " exited (code ", code,
          ") before it was ready (", absl::StrJoin(argv, " "), "); its log:\n",
          QuoteLines(all, 10)));
    }
    if (absl::Now() >= deadline) {
      kill(*pid, SIGKILL);
      WaitChild(*pid, absl::Seconds(10), &code);
      return absl::DeadlineExceededError(
          absl::StrCat("redis-server on 127.0.0.1:", port_,
                       " was not ready within ", absl::FormatDuration(timeout),
                       " (killed it); its log:\n", QuoteLines(text, 10)));
    }
  }
  pid_ = *pid;
  return absl::OkStatus();
}

absl::Status RedisServer::Stop(absl::Duration timeout) {
  if (!running()) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGTERM);
  // A stopped process keeps SIGTERM pending until it runs again.
  if (paused_) kill(pid_, SIGCONT);
  paused_ = false;
  int code = 0;
  if (!WaitChild(pid_, timeout, &code)) {
    Kill();
    return absl::DeadlineExceededError(
        absl::StrCat("redis-server did not exit within ",
                     absl::FormatDuration(timeout), " of SIGTERM (killed it)"));
  }
  pid_ = -1;
  if (code != 0) {
    return absl::InternalError(absl::StrCat("redis-server exited with code ",
                                            code, "; its log:\n", LogTail(10)));
  }
  return absl::OkStatus();
}

void RedisServer::Kill() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  int code = 0;
  WaitChild(pid_, absl::Seconds(10), &code);
  pid_ = -1;
  paused_ = false;
}

absl::Status RedisServer::Restart(absl::Duration timeout) {
  Kill();
  bool port_taken = false;
  return Launch(timeout, &port_taken);
}

void RedisServer::Pause() {
  if (!running() || paused_) return;
  kill(pid_, SIGSTOP);
  // SIGSTOP takes effect when the kernel next schedules the process; wait
  // for the stop to be reported so that "paused" is true on return.
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WUNTRACED);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ && !WIFSTOPPED(status)) {
    pid_ = -1;  // It died instead (and is reaped).
    return;
  }
  paused_ = true;
}

void RedisServer::Resume() {
  if (!running() || !paused_) return;
  // Unlike SIGSTOP, SIGCONT resumes the process as it is sent.
  kill(pid_, SIGCONT);
  paused_ = false;
}

absl::StatusOr<std::string> RedisServer::Cli(
    const std::vector<std::string>& argv) const {
  absl::StatusOr<std::string> binary = FindExecutable("redis-cli");
  if (!binary.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        binary.status().message(), " (Debian's redis-tools package has it)"));
  }
  // -e: an error reply makes the exit code 1 (and goes to stderr).
  std::vector<std::string> args = {*binary,     "-e", "-h",
                                   "127.0.0.1", "-p", absl::StrCat(port_)};
  args.insert(args.end(), argv.begin(), argv.end());
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    const int e = errno;
    close(out[0]);
    close(out[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(e)));
  }
  absl::StatusOr<pid_t> pid = SpawnChild(args, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  if (!pid.ok()) {
    close(out[0]);
    close(err[0]);
    return pid.status();
  }

  // Read both pipes to their end (one could fill while we wait on the
  // other), bounded by the deadline.
  const absl::Time deadline = absl::Now() + kCliTimeout;
  std::string text[2];
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    const int ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0) {
      timed_out = true;
      break;
    }
    const int ready = poll(fds, 2, ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      text[i].append(buf, static_cast<size_t>(n));
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  if (timed_out) kill(*pid, SIGKILL);
  int code = -1;
  if (!WaitChild(*pid, absl::Seconds(10), &code)) {
    kill(*pid, SIGKILL);
    WaitChild(*pid, absl::Seconds(10), &code);
  }
  const std::string command = absl::StrJoin(argv, " ");
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        "redis-cli ", command, " on ", address(), " did not finish within ",
        absl::FormatDuration(kCliTimeout), " (killed it)"));
  }
  if (code != 0) {
    std::string why = text[1].empty() ? text[0] : text[1];
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) {
      why.pop_back();
    }
    return absl::UnknownError(absl::StrCat("redis-cli ", command, " on ",
                                           address(), " failed (code ", code,
                                           "): ", why));
  }
  std::string& result = text[0];
  if (!result.empty() && result.back() == '\n') result.pop_back();
  return result;
}

}  // namespace chat

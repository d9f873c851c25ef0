#include "testing/chat_service_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace chat {

ChatServiceProcess::ChatServiceProcess(std::string binary, std::string log_path)
    : binary_(std::move(binary)), log_path_(std::move(log_path)) {}

std::string ChatServiceProcess::DefaultBinary(const std::string& fallback) {
  const char* bin = getenv("CHAT_SERVICE_BIN");
  return bin != nullptr && *bin != '\0' ? bin : fallback;
}

int ChatServiceProcess::PortOf(const std::string& addr) {
  int port = 0;
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(addr).substr(colon + 1), &port)) {
    return 0;
  }
  return port;
}

std::unique_ptr<ChatServiceProcess> ChatServiceProcess::WithTempLog(
    std::string binary) {
  const char* dir = getenv("TMPDIR");
  std::string path = absl::StrCat(dir != nullptr && *dir != '\0' ? dir : "/tmp",
                                  "/chat-service-log.XXXXXX");
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) {
    close(fd);
  } else {
    path.clear();
  }
  auto server = std::make_unique<ChatServiceProcess>(std::move(binary), path);
  server->delete_log_ = !path.empty();
  return server;
}

ChatServiceProcess::~ChatServiceProcess() {
  Kill();
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (delete_log_) unlink(log_path_.c_str());
}

absl::Status ChatServiceProcess::Start(const std::vector<std::string>& flags,
                                       absl::Duration timeout) {
  if (running()) return absl::FailedPreconditionError("already running");
  flags_ = flags;
  std::vector<std::string> args = {binary_, "--grpc_addr=127.0.0.1:0",
                                   "--legacy_addr=127.0.0.1:0",
                                   "--http_addr=127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError(strerror(errno));
  // The log is opened here, the exec error reported through a pipe: after
  // fork, a multithreaded parent's child may only make async-signal-safe
  // calls.
  const int log = log_path_.empty()
                      ? open("/dev/null", O_WRONLY | O_CLOEXEC)
                      : open(log_path_.c_str(),
                             O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError(absl::StrCat(
        "cannot open ", log_path_.empty() ? "/dev/null" : log_path_, ": ",
        strerror(errno)));
  }
  int failed[2];
  if (pipe2(failed, O_CLOEXEC) != 0) {
    const int e = errno;
    close(out[0]);
    close(out[1]);
    close(log);
    return absl::InternalError(strerror(e));
  }
  const rlimit nofile{static_cast<rlim_t>(nofile_limit_),
                      static_cast<rlim_t>(nofile_limit_)};
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    // The server dies with the harness, even if the harness is killed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(out[1], STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    if (nofile_limit_ > 0 && setrlimit(RLIMIT_NOFILE, &nofile) != 0) {
      const int e = errno;
      if (write(failed[1], &e, sizeof(e)) < 0) _exit(126);
      _exit(126);
    }
    execv(binary_.c_str(), argv.data());
    const int e = errno;
    if (write(failed[1], &e, sizeof(e)) < 0) _exit(127);
    _exit(127);
  }
  const int fork_errno = errno;
  close(out[1]);
  close(log);
  close(failed[1]);
  int exec_errno = 0;
  const bool exec_failed =
      pid_ > 0 && read(failed[0], &exec_errno, sizeof(exec_errno)) ==
                      static_cast<ssize_t>(sizeof(exec_errno));
  close(failed[0]);
  if (pid_ < 0 || exec_failed) {
    close(out[0]);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return absl::InternalError(
        absl::StrCat("cannot run ", binary_, ": ",
                     strerror(exec_failed ? exec_errno : fork_errno)));
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = out[0];

  // Read the ready line.
  const absl::Time deadline = absl::Now() + timeout;
  std::string got;
  while (got.find('\n') == std::string::npos) {
    const int ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    pollfd p{stdout_fd_, POLLIN, 0};
    const int ready = ms > 0 ? poll(&p, 1, ms) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      Kill();
      return absl::DeadlineExceededError(
          absl::StrCat("chat-service printed no ready line within ",
                       absl::FormatDuration(timeout), " (got \"", got,
                       "\"); its stderr:\n", LogTail(10)));
    }
    char buf[512];
    const ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) {
      int code = 0;
      Reap(absl::Seconds(2), &code);
      return absl::UnavailableError(absl::StrCat(
          "chat-service exited (code ", code, ") before its ready line",
          " (flags: ", absl::StrJoin(flags, " "), "); its stderr:\n",
          LogTail(10)));
    }
    got.append(buf, static_cast<size_t>(n));
  }
  ready_line_ = got.substr(0, got.find('\n'));
  grpc_addr_.clear();
  legacy_addr_.clear();
  http_addr_.clear();
  metrics_addr_.clear();
  if (!absl::StartsWith(ready_line_, "chat-service ready ")) {
    Kill();
    return absl::InternalError(
        absl::StrCat("unexpected first stdout line: \"", ready_line_, "\""));
  }
  for (absl::string_view word : absl::StrSplit(ready_line_, ' ')) {
    if (absl::ConsumePrefix(&word, "grpc=")) grpc_addr_ = std::string(word);
    if (absl::ConsumePrefix(&word, "legacy=") && word != "off") {
      legacy_addr_ = std::string(word);
    }
    if (absl::ConsumePrefix(&word, "http=") && word != "off") {
      http_addr_ = std::string(word);
    }
    if (absl::ConsumePrefix(&word, "metrics=") && word != "off") {
      metrics_addr_ = std::string(word);
    }
  }
  if (grpc_addr_.empty()) {
    Kill();
    return absl::InternalError(
        absl::StrCat("no grpc= in the ready line \"", ready_line_, "\""));
  }
  return absl::OkStatus();
}

bool ChatServiceProcess::Reap(absl::Duration timeout, int* exit_code) {
  if (pid_ <= 0) return true;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      *exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : -1;
      pid_ = -1;
      return true;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      *exit_code = -1;
      return true;
    }
    if (absl::Now() >= deadline) return false;
    // A child's exit has no descriptor to wait on here; poll it briefly.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

absl::Status ChatServiceProcess::Stop(absl::Duration timeout, int* exit_code) {
  if (!running()) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGTERM);
  if (Reap(timeout, exit_code)) return absl::OkStatus();
  Kill();
  return absl::DeadlineExceededError(
      absl::StrCat("chat-service did not exit within ",
                   absl::FormatDuration(timeout), " of SIGTERM (killed it)"));
}

int ChatServiceProcess::Kill() {
  if (!running()) return -1;
  kill(pid_, SIGKILL);
  int code = -1;
  return Reap(absl::Seconds(10), &code) ? code : -1;
}

absl::Duration ChatServiceProcess::CpuTime() const {
  if (!running()) return absl::ZeroDuration();
  std::ifstream in(absl::StrCat("/proc/", pid_, "/stat"));
  std::string stat;
  std::getline(in, stat);
  // Fields after the ")" that ends the command name: state is field 3,
  // utime and stime are fields 14 and 15.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return absl::ZeroDuration();
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  if (fields.size() < 13) return absl::ZeroDuration();
  const double ticks = std::stod(fields[11]) + std::stod(fields[12]);
  return absl::Seconds(ticks / sysconf(_SC_CLK_TCK));
}

std::string ChatServiceProcess::Log() const {
  if (log_path_.empty()) return "";
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ChatServiceProcess::LogTail(int n) const {
  if (log_path_.empty())
    return "    | (not kept: its stderr went to /dev/null)\n";
  std::ifstream in(log_path_);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  const size_t from =
      lines.size() > static_cast<size_t>(n) ? lines.size() - n : 0;
  std::string out;
  for (size_t i = from; i < lines.size(); ++i) {
    absl::StrAppend(&out, "    | ", lines[i], "\n");
  }
  if (out.empty()) out = "    | (empty)\n";
  return out;
}

}  // namespace chat

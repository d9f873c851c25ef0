#include "testing/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace chat {

absl::StatusOr<std::string> FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) dir = ".";
    std::string candidate = absl::StrCat(dir, "/", name);
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat(
      name, " is not in $PATH (", path != nullptr ? path : "unset", ")"));
}

absl::StatusOr<pid_t> SpawnChild(const std::vector<std::string>& argv,
                                 int stdout_fd, int stderr_fd) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Everything the child needs is made before fork: after it, a
  // multithreaded parent's child may only make async-signal-safe calls.
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (std::string& a : args) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open /dev/null: ", strerror(errno)));
  }
  const int out = stdout_fd >= 0 ? stdout_fd : null_fd;
  const int err = stderr_fd >= 0 ? stderr_fd : null_fd;
  // The exec's error comes back through a pipe that a successful exec
  // closes (O_CLOEXEC), so the parent learns which it was.
  int failed[2];
  if (pipe2(failed, O_CLOEXEC) != 0) {
    const int e = errno;
    close(null_fd);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(e)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // The child dies with the test, even if the test is killed.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // dup2 clears O_CLOEXEC on the copies; the originals close at exec.
    if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
        dup2(err, STDERR_FILENO) < 0) {
      const int e = errno;
      if (write(failed[1], &e, sizeof(e)) < 0) _exit(126);
      _exit(126);
    }
    execv(c_argv[0], c_argv.data());
    const int e = errno;
    if (write(failed[1], &e, sizeof(e)) < 0) _exit(127);
    _exit(127);
  }
  const int fork_errno = errno;
  close(null_fd);
  close(failed[1]);
  if (pid < 0) {
    close(failed[0]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(fork_errno)));
  }
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(failed[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(failed[0]);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    waitpid(pid, nullptr, 0);
    return absl::InternalError(
        absl::StrCat("cannot run ", argv[0], ": ", strerror(exec_errno)));
  }
  return pid;
}

bool WaitChild(pid_t pid, absl::Duration timeout, int* exit_code) {
  const absl::Time deadline = absl::Now() + timeout;
  // A pidfd turns readable when the process exits: poll() on it sleeps until
  // then instead of waking every few milliseconds to ask.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  bool gone = false;
  while (true) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      *exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                   : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                         : -1;
      gone = true;
      break;
    }
    if (r < 0 && errno != EINTR) {
      *exit_code = -1;
      gone = true;
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    } else {
      // No pidfd (a kernel before 5.3): ask again shortly.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  if (pidfd >= 0) close(pidfd);
  return gone;
}

std::string QuoteLines(absl::string_view text, int n) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  const size_t from =
      lines.size() > static_cast<size_t>(n) ? lines.size() - n : 0;
  std::string out;
  for (size_t i = from; i < lines.size(); ++i) {
    absl::StrAppend(&out, "    | ", lines[i], "\n");
  }
  if (out.empty()) out = "    | (empty)\n";
  return out;
}

std::string ReadFileFrom(const std::string& path, size_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(static_cast<std::streamoff>(offset));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace chat

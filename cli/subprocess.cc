#include "cli/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/time/clock.h"

extern char** environ;

namespace chat {

Subprocess::Subprocess(const std::vector<std::string>& argv,
                       const std::vector<std::string>& env) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0) {
    return;
  }
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  envs.insert(envs.end(), env.begin(), env.end());
  std::vector<char*> cargv, cenv;
  for (const std::string& a : argv)
    cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const std::string& e : envs)
    cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  in_ = in[1];
  out_fd_ = out[0];
  err_fd_ = err[0];
  signal(SIGPIPE, SIG_IGN);
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  for (int fd : {in_, out_fd_, err_fd_}) {
    if (fd >= 0) close(fd);
  }
}

bool Subprocess::Write(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(in_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void Subprocess::CloseStdin() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0 && !exited_) kill(pid_, sig);
}

void Subprocess::Pump(absl::Duration timeout) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (out_fd_ < 0 && err_fd_ < 0) {
    absl::SleepFor(std::min(timeout, absl::Milliseconds(20)));
    return;
  }
  const int n =
      poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (n <= 0) return;
  char buf[8192];
  int* fd_of[2] = {&out_fd_, &err_fd_};
  std::string* into[2] = {&out_, &err_};
  for (int i = 0; i < 2; ++i) {
    if (fds[i].revents == 0 || *fd_of[i] < 0) continue;
    ssize_t r = read(*fd_of[i], buf, sizeof(buf));
    if (r > 0) {
      into[i]->append(buf, static_cast<size_t>(r));
    } else if (r == 0 || errno != EINTR) {
      close(*fd_of[i]);
      *fd_of[i] = -1;
    }
  }
}

bool Subprocess::WaitForOutput(
    const std::function<bool(const std::string&, const std::string&)>& done,
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done(out_, err_)) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    if (out_fd_ < 0 && err_fd_ < 0) return done(out_, err_);
    Pump(std::min(left, absl::Milliseconds(50)));
  }
  return true;
}

bool Subprocess::WaitForStdout(const std::string& text,
                               absl::Duration timeout) {
  return WaitForOutput(
      [&text](const std::string& out, const std::string&) {
        return out.find(text) != std::string::npos;
      },
      timeout);
}

bool Subprocess::WaitForStderr(const std::string& text,
                               absl::Duration timeout) {
  return WaitForOutput(
      [&text](const std::string&, const std::string& err) {
        return err.find(text) != std::string::npos;
      },
      timeout);
}

int Subprocess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  const absl::Time deadline = absl::Now() + timeout;
  while (!exited_) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return -1;
    Pump(std::min(left, absl::Milliseconds(20)));
  }
  // Collect what is left in the pipes (closed once every writer is gone).
  const absl::Time drain = absl::Now() + absl::Seconds(2);
  while ((out_fd_ >= 0 || err_fd_ >= 0) && absl::Now() < drain) {
    Pump(absl::Milliseconds(20));
  }
  return status_;
}

int RunProgram(const std::vector<std::string>& argv, const std::string& input,
               std::string* out, std::string* err, absl::Duration timeout,
               const std::vector<std::string>& env) {
  Subprocess p(argv, env);
  if (!p.ok()) return -1;
  p.Write(input);
  p.CloseStdin();
  const int code = p.Wait(timeout);
  if (out != nullptr) *out = p.out();
  if (err != nullptr) *err = p.err();
  return code;
}

bool PollUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

}  // namespace chat

// Child processes for test support: spawn one, wait for its exit with a
// deadline, quote the end of its log. Shared by the classes that run a real
// server as a child (redis_server.h); no gtest, so the scenario harness can
// link them.
//
// A child started here gets SIGKILL when the thread that spawned it exits
// (PR_SET_PDEATHSIG is tied to the thread, not the process): spawn from the
// thread that lives as long as the child should (a test's main thread).
//
// Thread-safe: the functions share no state.
#ifndef CHATROOM_TESTING_SUBPROCESS_H_
#define CHATROOM_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

// FindExecutable
//
// `name` when it holds a '/', else the first executable file of that name in
// $PATH (looked up before fork: execvp may allocate, which a child of a
// multithreaded parent must not). NOT_FOUND saying so otherwise.
absl::StatusOr<std::string> FindExecutable(const std::string& name);

// SpawnChild
//
// Forks and execs `argv` (argv[0] a path, e.g. from FindExecutable) with
// stdin from /dev/null and stdout and stderr onto `stdout_fd` and
// `stderr_fd` (-1: /dev/null). The caller keeps its descriptors (close them
// after the call). Returns the pid once the exec has succeeded, or the exec's
// error. The child dies with the spawning thread (above).
absl::StatusOr<pid_t> SpawnChild(const std::vector<std::string>& argv,
                                 int stdout_fd, int stderr_fd);

// WaitChild
//
// Waits up to `timeout` (zero: just looks) for child `pid` to exit and reaps
// it. True when it is gone (exited now, or not our child any more), with
// *exit_code set to its exit code, 128 + the signal that killed it, or -1
// when unknown. Sleeps in poll() on a pidfd, which wakes at the exit.
bool WaitChild(pid_t pid, absl::Duration timeout, int* exit_code);

// QuoteLines
//
// The last `n` lines of `text`, each as "    | LINE\n", for an error
// message; "    | (empty)\n" when there are none.
std::string QuoteLines(absl::string_view text, int n);

// ReadFileFrom
//
// The contents of file `path` from byte `offset` on ("" when it cannot be
// read).
std::string ReadFileFrom(const std::string& path, size_t offset = 0);

}  // namespace chat

#endif  // CHATROOM_TESTING_SUBPROCESS_H_

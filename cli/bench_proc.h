// chatctl bench's process sampler: the CPU time and memory of a process
// (chat-service, or the bench itself) from /proc, and which process listens
// on a TCP port. Linux only. Each call reads /proc afresh; call them around
// a run, never inside one.
#ifndef CHATROOM_CLI_BENCH_PROC_H_
#define CHATROOM_CLI_BENCH_PROC_H_

namespace chat {
namespace bench {

// ProcSample: one reading of a process.
struct ProcSample {
  bool ok = false;     // False: no such process, or /proc unreadable.
  double cpu_s = 0;    // utime + stime of every thread.
  double rss_kib = 0;  // VmRSS.
};

// SampleProcess
//
// Reads /proc/PID/stat and /proc/PID/status. Not ok for pid <= 0.
ProcSample SampleProcess(int pid);

// SelfCpuSeconds
//
// This process's user + system CPU time so far.
double SelfCpuSeconds();

// FindListeningPid
//
// The pid of a process (not this one) with a listening TCP socket on
// `port`, or 0 when there is none this user may see.
int FindListeningPid(int port);

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_PROC_H_

// chatctl bench: the load tool (issue 6). Owned by the bench work; chatctl's
// command dispatch calls RunBench for "chatctl bench ...".
#ifndef CHATROOM_CLI_BENCH_H_
#define CHATROOM_CLI_BENCH_H_

namespace chat {

// Runs "chatctl bench" with the arguments that follow "bench" (argv[0] is
// "bench"), parsed as every command's are (cli/bench_options.h). Returns the
// process exit code: 0 clean run, 1 loss, reordering or a server error, 2
// bad usage (the problem and the usage line on stderr).
int RunBench(int argc, char** argv);

}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_H_

// chatctl's commands: join, send, who, history and help, each taking the
// arguments after the command name. Each returns the process exit code: 0
// done, 1 server or connection error (with a message on stderr), 2 bad
// usage (with the usage line on stderr).
//
// Run from the main thread only: join installs signal handlers and owns the
// terminal.
#ifndef CHATROOM_CLI_COMMANDS_H_
#define CHATROOM_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace chat {

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

// Runs chatctl with its full argv; dispatches "bench" to RunBench.
int ChatctlMain(int argc, char** argv);

}  // namespace chat

#endif  // CHATROOM_CLI_COMMANDS_H_

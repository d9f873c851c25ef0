// chatctl's command line, one grammar for every command (bench included).
//
// Flags are absl flags, each defined with ABSL_FLAG in the .cc that owns it;
// the ones several commands take (--server, --room, --json) are defined in
// args.cc. A command names the flags it accepts (Command::flags), and
// ParseArgs sets only those: absl::ParseCommandLine would accept every flag
// of every command, and exits 1 on bad usage where chatctl exits 2.
//
// Not thread-safe: ParseArgs sets process-wide flags. Call it from the main
// thread, before the command starts any thread that reads them.
#ifndef CHATROOM_CLI_ARGS_H_
#define CHATROOM_CLI_ARGS_H_

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// --server HOST:PORT[,HOST:PORT...] (empty: $CHATCTL_SERVER, else
// 127.0.0.1:50051; see DefaultServer and ParseServerList in cli/client.h),
// --room ROOM (empty: the command's default), --json.
ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(std::string, room);
ABSL_DECLARE_FLAG(bool, json);

namespace chat {

// Command: one chatctl command, as its help and its parser see it.
struct Command {
  const char* name;     // "join".
  const char* usage;    // The synopsis: "chatctl join --name NAME ...".
  const char* summary;  // One line for chatctl --help.
  const char* details;  // The paragraphs of chatctl help COMMAND.
  std::vector<const char*> flags;  // The absl flags it accepts, by name.
};

// ParsedArgs: what ParseArgs found besides the flags it set.
struct ParsedArgs {
  // --help, -help or -h was given: the arguments after it were not read.
  bool help = false;
  // The arguments that are not flags, in order (everything after "--").
  std::vector<std::string> positional;
  // Each flag set, as (flag name, value as given), in order; a --nobool
  // gives ("bool", "false"), a --bool ("bool", "true"). For flags that may
  // be repeated (chatctl token --room A --room B) and for "was it given".
  std::vector<std::pair<std::string, std::string>> given;
};

// ParseArgs
//
// Parses `args`, the arguments after the command name, into the absl flags
// `command` accepts. Accepts --flag=value, --flag value, -flag, --bool,
// --nobool, and "--" to end flags. Returns INVALID_ARGUMENT with the problem
// ("unknown flag --x", "--x needs a value", "--x: Illegal value ...") for
// anything else; flags set before the problem stay set.
//
//   absl::StatusOr<ParsedArgs> parsed = ParseArgs(command, args);
//   if (!parsed.ok()) return UsageError(command, parsed.status().message());
//   if (parsed->help) ...
absl::StatusOr<ParsedArgs> ParseArgs(const Command& command,
                                     const std::vector<std::string>& args);

// Whether `parsed` set the flag `name`.
bool Given(const ParsedArgs& parsed, absl::string_view name);

// UsageError
//
// Prints "chatctl NAME: PROBLEM" and the usage line to stderr; returns
// kExitUsage (cli/commands.h).
int UsageError(const Command& command, absl::string_view problem);

// PrintCommandHelp
//
// Prints `command`'s usage, details and flags (with their help and
// defaults) to `out`.
void PrintCommandHelp(const Command& command, FILE* out);

}  // namespace chat

#endif  // CHATROOM_CLI_ARGS_H_

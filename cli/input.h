// What chatctl tells a person about the lines they type. The grammar itself
// (messages, slash commands, their mistakes) is ParseTypedLine in
// service/format.h, shared with the legacy TCP port; only the help text is
// chatctl's own. Pure functions, safe from any thread.
#ifndef CHATROOM_CLI_INPUT_H_
#define CHATROOM_CLI_INPUT_H_

namespace chat {

// InputHelp
//
// The text /help prints in `chatctl join`, several lines without a final
// newline. It lists every command ParseTypedLine knows.
const char* InputHelp();

}  // namespace chat

#endif  // CHATROOM_CLI_INPUT_H_

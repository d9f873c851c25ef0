#include "cli/input.h"

namespace chat {

const char* InputHelp() {
  return "Type a line and press Enter to post it. Commands:\n"
         "  /me ACTION     post an action (\"* alice waves\")\n"
         "  /nick NAME     change your name\n"
         "  /who           list who is in the room\n"
         "  /join ROOM     move to another room\n"
         "  /quit [REASON] leave (/exit too; Ctrl-D and Ctrl-C leave too)\n"
         "  /help          this text\n"
         "  //TEXT         post TEXT starting with '/'";
}

}  // namespace chat

// chatctl: the chatroom command-line client. See cli/commands.h.
#include "cli/commands.h"

int main(int argc, char** argv) { return chat::ChatctlMain(argc, argv); }

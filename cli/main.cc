// chatctl: the chatroom command-line client. See cli/commands.h.
#include "cli/commands.h"
#include "service/std_fds.h"

int main(int argc, char** argv) {
  // Before gRPC opens anything: a closed stdin must not become a socket
  // that chatctl then reads as its input.
  chat::ReopenClosedStdFds();
  return chat::ChatctlMain(argc, argv);
}

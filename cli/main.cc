// chatctl: the chatroom command-line client. See cli/commands.h.
#include <grpc/support/log.h>

#include <cstdlib>

#include "cli/commands.h"
#include "service/std_fds.h"

namespace {

// gRPC's own log lines ("E1129 ... ssl_transport_security.cc:1501]
// Handshake failed ...") are for gRPC's developers: chatctl says what went
// wrong in a sentence of its own. $GRPC_VERBOSITY brings them back.
void DropGrpcLog(gpr_log_func_args* /*args*/) {}

}  // namespace

int main(int argc, char** argv) {
  // Before gRPC opens anything: a closed stdin must not become a socket
  // that chatctl then reads as its input.
  chat::ReopenClosedStdFds();
  if (std::getenv("GRPC_VERBOSITY") == nullptr) {
    gpr_set_log_function(DropGrpcLog);
  }
  return chat::ChatctlMain(argc, argv);
}

#include "net/net_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(size_t, max_connections_per_ip, 32,
          "Most connections open at once from one IP address, on each port "
          "(gRPC, legacy TCP, HTTP); over it, a new one is refused with a "
          "sentence that says why. 0: no limit.");

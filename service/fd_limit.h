// The process's file descriptor limit, and the transports' connection caps
// kept below it. Every open connection holds a descriptor; past the limit,
// accept fails (EMFILE) and so do the store's and gRPC's own opens. At start
// chat-service raises RLIMIT_NOFILE's soft limit to the hard limit
// (RaiseFdLimit), then cuts the largest transports' caps down when their
// sum would not leave kReservedFds free (FitConnectionCaps).
//
// Example:
//   absl::StatusOr<FdLimit> limit = RaiseFdLimit();  // logs one line
//   std::vector<size_t> caps = FitConnectionCaps({10000, 10000, 10000},
//                                               limit->soft, kReservedFds);
#ifndef CHATROOM_SERVICE_FD_LIMIT_H_
#define CHATROOM_SERVICE_FD_LIMIT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace chat {

// Descriptors kept free of connections: the store's files, gRPC's and
// Asio's own (epoll, eventfds), log and standard streams, refusals in
// progress.
inline constexpr size_t kReservedFds = 64;

struct FdLimit {
  uint64_t before = 0;  // The soft limit found.
  uint64_t soft = 0;    // The soft limit now.
  uint64_t hard = 0;
};

// RaiseFdLimit
//
// Raises RLIMIT_NOFILE's soft limit to its hard limit (to fs.nr_open when
// the hard limit is unlimited) and logs one line saying what it is now.
// Errors: INTERNAL when getrlimit fails; a failed raise is logged and the
// old limit returned.
absl::StatusOr<FdLimit> RaiseFdLimit();

// OpenFdCount
//
// Descriptors the process has open now (from /proc/self/fd; 0 if unknown).
size_t OpenFdCount();

// FitConnectionCaps
//
// `caps` (one per transport that is on), unchanged when the descriptors
// they need leave `reserved` of `fd_limit` free; else the transports whose
// need is under an equal share of the rest are kept whole (a
// --max_connections=3 stays 3) and the larger ones are cut to equal shares
// of what is left, so that the sum fits. A connection of transport i holds
// `fds_per_connection[i]` descriptors (1 when the vector is empty or
// shorter; a TLS connection holds 3: the client's socket and the pair to
// the plaintext side). Errors: RESOURCE_EXHAUSTED when not even one
// connection per transport fits.
absl::StatusOr<std::vector<size_t>> FitConnectionCaps(
    const std::vector<size_t>& caps, uint64_t fd_limit, size_t reserved,
    const std::vector<size_t>& fds_per_connection = {});

}  // namespace chat

#endif  // CHATROOM_SERVICE_FD_LIMIT_H_

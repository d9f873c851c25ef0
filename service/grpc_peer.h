// Who is at the other end of a gRPC call: the client's IP address (for the
// limits the core keeps per address, JoinRequest::peer_ip), its address for
// log lines, and a key for its connection (for "once per connection").
//
// gRPC names a call's peer in a string of its own (ServerContext::peer()):
// "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555" (or percent-encoded,
// "ipv6:%5B::1%5D:5555"), and "fd:12" for a connection the server was given
// as a file descriptor (GrpcAcceptor, service/grpc_acceptor.h, which keeps
// what the string does not say). Thread-safe.
#ifndef CHATROOM_SERVICE_GRPC_PEER_H_
#define CHATROOM_SERVICE_GRPC_PEER_H_

#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace chat {

struct PeerInfo {
  // "127.0.0.1", "::1"; "" when the connection is not over IP (or unknown).
  std::string ip;
  // "127.0.0.1:5555", "[::1]:5555", or gRPC's peer string when not IP.
  std::string address;
  // Unique among open connections (a connection's calls share it).
  std::string connection;
};

// ParseGrpcPeer
//
// The PeerInfo in a peer string of gRPC's own listener: "ipv4:1.2.3.4:5" ->
// ip "1.2.3.4", address "1.2.3.4:5"; "ipv6:[::1]:5" -> ip "::1", address
// "[::1]:5". Other strings ("unix:/tmp/s", "fd:12") give an empty ip, and
// the string as address. The connection is the whole string.
PeerInfo ParseGrpcPeer(absl::string_view peer);

// What ChatRoomService asks about each call's peer string. Must be
// thread-safe and must not block.
using PeerResolver = std::function<PeerInfo(absl::string_view grpc_peer)>;

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_PEER_H_

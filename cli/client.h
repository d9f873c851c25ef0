// The chatctl side of the chat.v1.ChatRoom API, minus the Chat stream (see
// session.h): finding and reaching the server, the unary calls, and turning
// gRPC errors into sentences a person can act on. Thread-safe: every
// function may be called from any thread.
#ifndef CHATROOM_CLI_CLIENT_H_
#define CHATROOM_CLI_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"
#include "service/grpc_keepalive.h"

namespace chat {

inline constexpr absl::string_view kDefaultServer = "127.0.0.1:50051";

// How long reaching the server, and each unary call, may take.
inline constexpr absl::Duration kConnectTimeout = absl::Seconds(5);

// DefaultServer
//
// $CHATCTL_SERVER when set and not empty, else kDefaultServer.
std::string DefaultServer();

// CheckServerAddress
//
// OK when `server` has the form chatctl takes, HOST:PORT ("127.0.0.1:50051",
// "chat.example.org:50051", "[::1]:50051"); else INVALID_ARGUMENT with a
// sentence that names `source` ("--server", "$CHATCTL_SERVER") and says
// what is wrong: a URL ("http://..."), spaces, no port.
absl::Status CheckServerAddress(absl::string_view server,
                                absl::string_view source);

// ParseServerList
//
// Splits `list`, the value of --server or $CHATCTL_SERVER, at commas into the
// servers to try, in order: "HOST:PORT[,HOST:PORT...]". One address is
// checked as CheckServerAddress checks it, with the same sentences. In a
// longer list each entry is checked likewise, the sentence naming it
// ("--server entry 2 \"localhost\" has no port: give HOST:PORT, ..."); an
// empty entry ("a:1,,b:2", a trailing comma) is INVALID_ARGUMENT too. An
// address may be listed twice.
//
//   absl::StatusOr<std::vector<std::string>> servers =
//       ParseServerList("10.0.0.1:50051,10.0.0.2:50051", "--server");
absl::StatusOr<std::vector<std::string>> ParseServerList(
    absl::string_view list, absl::string_view source);

// Dial
//
// A channel to `server` (HOST:PORT), insecure. Does not connect yet. It
// pings the server after `keepalive` without traffic and drops the
// connection when the answer takes longer than min(keepalive, 20 s): how
// soon a dead network path is noticed. chat-service accepts pings 30 s
// apart unless started with a shorter --grpc_min_ping_interval.
std::shared_ptr<grpc::Channel> Dial(
    const std::string& server,
    absl::Duration keepalive = absl::Milliseconds(kClientKeepaliveTimeMs));

// WaitForServer
//
// Connects `channel` within `timeout`. On failure, UNAVAILABLE with a
// sentence such as "cannot reach chat-service at 127.0.0.1:1 (connection
// refused)".
absl::Status WaitForServer(grpc::Channel* channel, absl::string_view server,
                           absl::Duration timeout);

// ConnectFirst
//
// For the unary commands: dials `servers` in order (Dial's defaults) and
// returns the first channel that connects within `timeout` (each server has
// its own), with its index in `servers`. A server that cannot be reached
// moves on to the next; one that connects is taken, whatever it then
// answers. When none can be reached: with one server, WaitForServer's error
// as it is; with several, UNAVAILABLE with each server's sentence, joined by
// "; ".
struct ConnectedServer {
  std::shared_ptr<grpc::Channel> channel;
  size_t index = 0;
};
absl::StatusOr<ConnectedServer> ConnectFirst(
    const std::vector<std::string>& servers, absl::Duration timeout);

// FromGrpc
//
// The one place where a grpc::Status becomes an absl::Status; connection
// failures are reworded to name `server`, the server's own sentences ("name
// \"bob\" is taken in room lobby") are kept.
absl::Status FromGrpc(const grpc::Status& status, absl::string_view server);

// ListMembers / GetHistory
//
// The unary calls, with a kConnectTimeout deadline and the errors of
// FromGrpc. GetHistory sends `request` as is (room, limit, and a page's
// before_seq or after_seq). Each carries `token` (AddToken) unless empty.
absl::StatusOr<v1::ListMembersResponse> ListMembers(
    v1::ChatRoom::StubInterface* stub, absl::string_view server,
    absl::string_view room, absl::string_view token = "");
absl::StatusOr<v1::GetHistoryResponse> GetHistory(
    v1::ChatRoom::StubInterface* stub, absl::string_view server,
    const v1::GetHistoryRequest& request, absl::string_view token = "");

// AddToken
//
// Adds `token` (an owned name's, chatctl token) to a call as the
// `authorization: Bearer TOKEN` metadata chat-service reads; nothing when
// it is empty.
void AddToken(grpc::ClientContext* context, absl::string_view token);

}  // namespace chat

#endif  // CHATROOM_CLI_CLIENT_H_

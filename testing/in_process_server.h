// InProcessServer: a Hub (its own rooms, seqs and epochs) and the gRPC
// ChatRoomService on 127.0.0.1:0, in the test's own process, for tests that
// need the real service without a child process. A second one stands for a
// server that restarted without its history.
//
// Example:
//   InProcessServer server;
//   GrpcTestClient alice =
//       GrpcTestClient::Join(server.channel(), "alice");
//
// Thread-safe after construction (the Hub and gRPC are); Shutdown from one
// thread.
#ifndef CHATROOM_TESTING_IN_PROCESS_SERVER_H_
#define CHATROOM_TESTING_IN_PROCESS_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "service/grpc_service.h"
#include "service/room.h"

namespace chat {

class InProcessServer {
 public:
  explicit InProcessServer(
      HubOptions hub_options = HubOptions(),
      ChatServiceOptions service_options = ChatServiceOptions());
  ~InProcessServer();  // Shutdown("test over"), unless done already.

  InProcessServer(const InProcessServer&) = delete;
  InProcessServer& operator=(const InProcessServer&) = delete;

  // The port picked for 127.0.0.1:0 (0 when the server did not start).
  int port() const { return port_; }
  std::string address() const;
  Hub* hub() const { return hub_.get(); }
  // A new channel to the server.
  std::shared_ptr<grpc::Channel> channel() const;

  // Ends every stream (UNAVAILABLE, with `why` as the members' notice) and
  // stops listening. Idempotent. A synchronous client should have read its
  // stream to its end (GrpcTestClient::Finish) first: gRPC's shutdown waits
  // for streams whose client neither reads nor finishes. To test the end of
  // streams, call hub()->Shutdown(why) and read them to the end.
  void Shutdown(const std::string& why);

 private:
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ChatRoomService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool down_ = false;
};

}  // namespace chat

#endif  // CHATROOM_TESTING_IN_PROCESS_SERVER_H_

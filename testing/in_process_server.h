// InProcessServer: a Hub (its own rooms, seqs and epochs) and the gRPC
// ChatRoomService on 127.0.0.1:0, in the test's own process, for tests that
// need the real service without a child process; and, on request, the other
// transports' Listeners on the same hub (StartListener). A second one stands
// for a server that restarted without its history.
//
// Example:
//   InProcessServer server;
//   GrpcTestClient alice =
//       GrpcTestClient::Join(server.channel(), "alice");
//   LegacyServer* legacy =
//       server.StartListener<LegacyServer>(LegacyServerOptions());
//   TcpTestClient bob(legacy->port());
//
// Thread-safe after construction (the Hub and gRPC are); Shutdown from one
// thread.
#ifndef CHATROOM_TESTING_IN_PROCESS_SERVER_H_
#define CHATROOM_TESTING_IN_PROCESS_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "service/grpc_service.h"
#include "service/listener.h"
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

  // StartListener
  //
  // Starts a transport on this server's hub: a T(hub(), options), T a
  // Listener such as LegacyServer or WebServer, on 127.0.0.1:0 whatever
  // options.address says. Returns it, owned here (a test failure when it
  // does not start); Shutdown shuts it down.
  template <typename T, typename Options>
  T* StartListener(Options options);

  // Ends every stream (UNAVAILABLE, with `why` as the members' notice),
  // stops listening, and shuts the started listeners down (each with a
  // grace of 1 s). Idempotent. A synchronous client should have read its
  // stream to its end (GrpcTestClient::Finish) first: gRPC's shutdown waits
  // for streams whose client neither reads nor finishes. To test the end of
  // streams, call hub()->Shutdown(why) and read them to the end.
  void Shutdown(const std::string& why);

 private:
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ChatRoomService> service_;
  std::unique_ptr<grpc::Server> server_;
  // After hub_: destroyed before it.
  std::vector<std::unique_ptr<Listener>> listeners_;
  int port_ = 0;
  bool down_ = false;
};

template <typename T, typename Options>
T* InProcessServer::StartListener(Options options) {
  options.address = "127.0.0.1:0";
  auto listener = std::make_unique<T>(hub_.get(), std::move(options));
  const absl::Status started = listener->Start();
  EXPECT_TRUE(started.ok()) << listener->name() << ": " << started;
  T* const started_listener = listener.get();
  listeners_.push_back(std::move(listener));
  return started_listener;
}

}  // namespace chat

#endif  // CHATROOM_TESTING_IN_PROCESS_SERVER_H_

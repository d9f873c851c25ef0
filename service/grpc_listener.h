// GrpcListener: the gRPC transport as a Listener: the chat.v1.ChatRoom
// service (ChatRoomService), gRPC health checking and server reflection, on
// one address.
//
// Example:
//   GrpcListener grpc(&hub, "127.0.0.1:0");
//   if (absl::Status s = grpc.Start(); !s.ok()) return s;
//   std::cout << grpc.address();  // "127.0.0.1:41234"
//   ...
//   hub.Shutdown("bye");
//   grpc.Shutdown(absl::Seconds(1));
#ifndef CHATROOM_SERVICE_GRPC_LISTENER_H_
#define CHATROOM_SERVICE_GRPC_LISTENER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "service/grpc_service.h"
#include "service/listener.h"
#include "service/room.h"

namespace chat {

class GrpcListener final : public Listener {
 public:
  // `address`: "HOST:PORT"; port 0 picks one. `hub` must outlive this.
  GrpcListener(Hub* hub, std::string address);
  // Shuts down at once if still serving.
  ~GrpcListener() override;

  GrpcListener(const GrpcListener&) = delete;
  GrpcListener& operator=(const GrpcListener&) = delete;

  absl::string_view name() const override { return "grpc"; }
  absl::Status Start() override;
  std::string address() const override { return bound_; }
  // Streams whose clients keep their side open are cancelled after `grace`.
  void Shutdown(absl::Duration grace) override;

 private:
  const std::string requested_;
  ChatRoomService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string bound_;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_LISTENER_H_

// ChatRoomService: the chat.v1.ChatRoom gRPC service, a transport into the
// room core (service/room.h) through the callback API.
//
// Each Chat stream is a reactor that owns its state and deletes itself in
// OnDone. Reads: one at a time, each request handed to the core. Writes: one
// in flight; the reactor drains its member's outbox and writes the queued
// events back to back, all but the last with a buffer hint so they leave
// together. Events reach the wire as the bytes the core serialized once per
// event (the Chat method is registered raw, on grpc::ByteBuffer).
#ifndef CHATROOM_SERVICE_GRPC_SERVICE_H_
#define CHATROOM_SERVICE_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "chat/v1/chat.grpc.pb.h"
#include "service/room.h"

namespace chat {

class WriteStarter;

using ChatRoomBase = v1::ChatRoom::WithRawCallbackMethod_Chat<
    v1::ChatRoom::WithCallbackMethod_ListMembers<
        v1::ChatRoom::WithCallbackMethod_GetHistory<v1::ChatRoom::Service>>>;

class ChatRoomService final : public ChatRoomBase {
 public:
  // `hub` must outlive the service.
  explicit ChatRoomService(Hub* hub);
  ~ChatRoomService() override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Chat(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* ListMembers(
      grpc::CallbackServerContext* context,
      const v1::ListMembersRequest* request,
      v1::ListMembersResponse* response) override;

  grpc::ServerUnaryReactor* GetHistory(
      grpc::CallbackServerContext* context,
      const v1::GetHistoryRequest* request,
      v1::GetHistoryResponse* response) override;

 private:
  Hub* const hub_;
  // Starts writes for woken streams on its own thread (grpc_service.cc).
  const std::unique_ptr<WriteStarter> starter_;
};

// ToGrpcStatus
//
// The one place where the core's absl::Status becomes a grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_SERVICE_H_

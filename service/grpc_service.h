// ChatRoomService: the chat.v1.ChatRoom gRPC service, a transport into the
// room core (service/room.h) through the callback API.
//
// Each Chat stream is a reactor that owns its state and deletes itself in
// OnDone. Reads: one at a time, each request handed to the core. Writes: one
// in flight; the reactor drains its member's outbox and writes the queued
// events back to back, all but the last with a buffer hint so they leave
// together. Events reach the wire as the bytes the core serialized once per
// event (the Chat method is registered raw, on grpc::ByteBuffer).
//
// A stream must join within ChatServiceOptions::join_timeout, or it is ended
// with DEADLINE_EXCEEDED. Joins carry the client's IP address, found from the
// call's peer through ChatServiceOptions::peer. Streams refused before
// joining are logged, throttled per cause (net/throttled_log.h).
#ifndef CHATROOM_SERVICE_GRPC_SERVICE_H_
#define CHATROOM_SERVICE_GRPC_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstddef>
#include <memory>

#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"
#include "net/throttled_log.h"
#include "service/grpc_peer.h"
#include "service/room.h"

namespace chat {

class WriteStarter;

using ChatRoomBase = v1::ChatRoom::WithRawCallbackMethod_Chat<
    v1::ChatRoom::WithCallbackMethod_ListMembers<
        v1::ChatRoom::WithCallbackMethod_GetHistory<
            v1::ChatRoom::WithCallbackMethod_GetStats<v1::ChatRoom::Service>>>>;

struct ChatServiceOptions {
  // A Chat stream that sends no join within this long is ended with
  // DEADLINE_EXCEEDED ("no join within 10s"). Infinite: never.
  absl::Duration join_timeout = absl::Seconds(10);
  // Who a call's peer is (its IP for JoinRequest::peer_ip, its address for
  // logs). Default: ParseGrpcPeer.
  PeerResolver peer;
};

class ChatRoomService final : public ChatRoomBase {
 public:
  // `hub` must outlive the service.
  explicit ChatRoomService(Hub* hub,
                           ChatServiceOptions options = ChatServiceOptions());
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

  // The figures at a glance (metrics/stats.h); a token only when the server
  // admits no guests.
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const v1::GetStatsRequest* request,
                                     v1::GetStatsResponse* response) override;

  // Chat streams started and not yet done (for tests and monitoring). Any
  // thread.
  size_t active_streams() const;

 private:
  Hub* const hub_;
  const ChatServiceOptions options_;
  // Refusals of streams: once per cause and connection.
  ThrottledLog refusals_;
  std::atomic<size_t> active_streams_{0};
  // Starts writes for woken streams on its own thread (grpc_service.cc).
  const std::unique_ptr<WriteStarter> starter_;
};

// ToGrpcStatus
//
// The one place where the core's absl::Status becomes a grpc::Status.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_SERVICE_H_

// What every transport does with a chat.v1 ChatRequest once it has one, so
// that gRPC, the WebSocket and whatever comes next act on requests the same
// way. A transport decodes requests its own way (the gRPC transport into
// chat.wire.ChatRequest, whose strings are bytes; the WebSocket from JSON
// into chat.v1.ChatRequest): both generated classes have the same shape,
// hence the templates.
#ifndef CHATROOM_SERVICE_CHAT_REQUEST_H_
#define CHATROOM_SERVICE_CHAT_REQUEST_H_

#include <string>
#include <utility>

#include "service/room.h"

namespace chat {

// JoinRequestFrom
//
// The core's JoinRequest for a Join message from a member of `transport`
// connected from `peer_ip`.
template <typename JoinMessage>
JoinRequest JoinRequestFrom(const JoinMessage& j, v1::Transport transport,
                            std::string peer_ip) {
  JoinRequest join;
  join.peer_ip = std::move(peer_ip);
  join.name = j.name();
  join.room = j.room();
  join.history = j.history();
  join.resume_after_seq = j.resume_after_seq();
  join.resume_epoch = j.resume_epoch();
  join.resume_secret = j.resume_secret();
  join.token = j.token();
  join.transport = transport;
  return join;
}

// ApplyRequest
//
// Acts on a request after the first (the join): say (with its client id),
// rename, join (a move to another room; a later join's resume fields and
// token mean nothing), leave. Errors that do not end the chat reach the member
// as notices. Returns false when the member left.
template <typename ChatRequestMessage>
bool ApplyRequest(Member& member, const ChatRequestMessage& request) {
  switch (request.kind_case()) {
    case ChatRequestMessage::kSay:
      member
          .Say(request.say().text(), request.say().action(),
               request.say().client_id())
          .IgnoreError();
      return true;
    case ChatRequestMessage::kRename:
      member.Rename(request.rename().name()).IgnoreError();
      return true;
    case ChatRequestMessage::kJoin:
      member.Move(request.join().room(), request.join().history())
          .IgnoreError();
      return true;
    case ChatRequestMessage::kLeave:
      member.Leave(request.leave().reason());
      return false;
    case ChatRequestMessage::KIND_NOT_SET:
      member.Notify(
          "empty request ignored: set one of join, say, rename or leave");
      return true;
  }
  return true;
}

}  // namespace chat

#endif  // CHATROOM_SERVICE_CHAT_REQUEST_H_

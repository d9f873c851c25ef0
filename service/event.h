// Event: one immutable thing that happened, as every member receives it.
//
// An event is built and serialized once, then shared (through EventPtr) by
// the history and by every member's outbox, whatever the transport. A
// transport that renders events another way (the legacy TCP port renders
// text lines) caches its rendering in the event, so it too happens once.
// Thread-safe: everything is constant after construction except the cached
// rendering and cached object, each computed once under a once-flag.
#ifndef CHATROOM_SERVICE_EVENT_H_
#define CHATROOM_SERVICE_EVENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/call_once.h"
#include "chat/v1/chat.pb.h"

namespace chat {

class Event {
 public:
  // `origin` is the id of the member who caused the event (0 for none), so a
  // transport can tell its member's own messages apart.
  Event(v1::ChatResponse response, uint64_t origin);

  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  const v1::ChatResponse& response() const { return response_; }
  uint64_t seq() const { return response_.seq(); }
  uint64_t origin() const { return origin_; }

  // The response serialized in the protobuf wire format.
  const std::string& wire() const { return wire_; }

  // What the event counts for against an outbox's byte limit.
  size_t cost() const { return wire_.size() + sizeof(Event); }

  // Rendered
  //
  // Returns `render(response())`, computed on the first call only. Every
  // caller must pass the same renderer: there is one cached rendering.
  template <typename Render>
  const std::string& Rendered(Render render) const {
    absl::call_once(rendered_once_, [&] { rendered_ = render(response_); });
    return rendered_;
  }

  // Cached
  //
  // Returns `*make()`, made on the first call only: a transport's own form
  // of the event that is not a string (the gRPC transport keeps wire() as a
  // grpc::ByteBuffer here, so a delivery allocates nothing of its own). Every
  // caller must ask for the same T: there is one cached object.
  template <typename T, typename Make>
  const T& Cached(Make make) const {
    absl::call_once(cached_once_,
                    [&] { cached_ = std::shared_ptr<const void>(make()); });
    return *static_cast<const T*>(cached_.get());
  }

 private:
  const v1::ChatResponse response_;
  const uint64_t origin_;
  const std::string wire_;
  mutable absl::once_flag rendered_once_;
  mutable std::string rendered_;
  mutable absl::once_flag cached_once_;
  mutable std::shared_ptr<const void> cached_;
};

using EventPtr = std::shared_ptr<const Event>;

}  // namespace chat

#endif  // CHATROOM_SERVICE_EVENT_H_

// Event: one immutable thing that happened, as every member receives it.
//
// An event is built and serialized once, then shared (through EventPtr) by
// the history and by every member's outbox, whatever the transport. A
// transport that sends events in a form of its own (the legacy TCP port
// sends text lines, the gRPC transport a grpc::ByteBuffer of wire()) keeps
// that form in the event, under its own EncodingKey, so it too is made once
// per event, however many members receive it.
//
// Thread-safe: everything is constant after construction except the
// encodings, each made once under its own once-flag.
#ifndef CHATROOM_SERVICE_EVENT_H_
#define CHATROOM_SERVICE_EVENT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "absl/base/call_once.h"
#include "chat/v1/chat.pb.h"

namespace chat {

// The most encodings, across all transports, one process may register; each
// event has room for this many. Raise it (and mind sizeof(Event), which
// every event in every history pays) when a transport is added beyond it.
inline constexpr int kMaxEncodings = 4;

// The most bytes an encoding's object may take in the event (a std::string
// fits; a larger form can be held through a std::unique_ptr).
inline constexpr size_t kMaxEncodingBytes = 32;

namespace event_internal {
// The next free encoding index. Aborts, saying why, after kMaxEncodings.
int NextEncodingIndex();
}  // namespace event_internal

template <typename T>
class EncodingKey;
template <typename T>
EncodingKey<T> RegisterEncoding();

// EncodingKey
//
// Names one transport's encoding of events, an object of type T, and its
// slot in every Event. Keys are made only by RegisterEncoding, so two keys
// never share a slot, and the type is part of the key, so every user of a
// key asks for the same T.
template <typename T>
class EncodingKey {
 public:
  int index() const { return index_; }

 private:
  template <typename U>
  friend EncodingKey<U> RegisterEncoding();
  explicit EncodingKey(int index) : index_(index) {}

  int index_;
};

// RegisterEncoding
//
// Returns a new key, with a slot of its own in every Event. A transport
// declares one key per form it sends, once, at namespace scope in its own
// .cc, so that no central list names the transports and a new transport is
// one new folder:
//
//   const EncodingKey<std::string> kLineEncoding =
//       RegisterEncoding<std::string>();
//
// Slots are numbered in registration order (static initialization, in link
// order); the numbers mean nothing beyond the process. More than
// kMaxEncodings registrations abort the process at start, with a message.
// Thread-safe.
template <typename T>
EncodingKey<T> RegisterEncoding() {
  static_assert(sizeof(T) <= kMaxEncodingBytes,
                "an encoding this large belongs behind a std::unique_ptr");
  static_assert(alignof(T) <= alignof(std::max_align_t),
                "an over-aligned encoding belongs behind a std::unique_ptr");
  static_assert(std::is_nothrow_destructible_v<T>);
  return EncodingKey<T>(event_internal::NextEncodingIndex());
}

class Event {
 public:
  // `origin` is the id of the member who caused the event (0 for none), so a
  // transport can tell its member's own messages apart.
  Event(v1::ChatResponse response, uint64_t origin);
  ~Event();

  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  const v1::ChatResponse& response() const { return response_; }
  uint64_t seq() const { return response_.seq(); }
  uint64_t origin() const { return origin_; }

  // The response serialized in the protobuf wire format.
  const std::string& wire() const { return wire_; }

  // What the event counts for against an outbox's byte limit.
  size_t cost() const { return wire_.size() + sizeof(Event); }

  // Encoded
  //
  // Returns this event's encoding for `key`: `make(*this)`, a T, made on
  // the first call for that key only, in place (no allocation of its own),
  // and kept as long as the event. Concurrent first calls for one key make
  // it once; the others wait for it. Calls for different keys never wait
  // for each other. After the first call, a call costs what an
  // absl::call_once that is done costs: one load, no lock.
  //
  //   const std::string& line = event.Encoded(
  //       kLineEncoding,
  //       [](const Event& e) { return FormatEventLine(e.response()); });
  template <typename T, typename Make>
  const T& Encoded(const EncodingKey<T>& key, Make make) const {
    Slot& slot = slots_[key.index()];
    absl::call_once(slot.once, [&] {
      ::new (static_cast<void*>(slot.bytes)) T(make(*this));
      slot.destroy = [](void* bytes) { static_cast<T*>(bytes)->~T(); };
    });
    return *std::launder(reinterpret_cast<const T*>(slot.bytes));
  }

 private:
  // One encoding's storage. `destroy` is set, with the object made, inside
  // `once`; the destructor runs after every user let go of the event.
  struct Slot {
    absl::once_flag once;
    void (*destroy)(void*) = nullptr;
    alignas(std::max_align_t) unsigned char bytes[kMaxEncodingBytes];
  };

  const v1::ChatResponse response_;
  const uint64_t origin_;
  const std::string wire_;
  mutable std::array<Slot, kMaxEncodings> slots_;
};

using EventPtr = std::shared_ptr<const Event>;

// SetTimeNow
//
// Sets `r`'s time to now: when the core or a room log stamps an event.
void SetTimeNow(v1::ChatResponse* r);

}  // namespace chat

#endif  // CHATROOM_SERVICE_EVENT_H_

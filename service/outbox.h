// Outbox: the bounded queue of events between the room core and one member's
// transport.
//
// The core pushes (from whatever thread posted the event); the member's
// transport drains (from its own thread). Pushing never waits on the
// transport: when the queue is over its limits, the push fails, the outbox
// closes itself, and the core removes the member as too slow.
//
// Wake-ups: a push tells its caller to wake the transport only when the
// transport had drained the outbox empty, so a transport that is busy writing
// is not woken for every event.
//
// Thread-safe.
#ifndef CHATROOM_SERVICE_OUTBOX_H_
#define CHATROOM_SERVICE_OUTBOX_H_

#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "service/event.h"
#include "service/spin_lock.h"

namespace chat {

class Outbox {
 public:
  Outbox(size_t max_events, size_t max_bytes);

  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  enum class PushResult {
    kQueued,      // Queued; the transport is already busy with this outbox.
    kQueuedWake,  // Queued; the caller must wake the transport.
    kOverflow,    // Over the limits: the outbox is now closed as too slow.
    kClosed,      // The outbox was already closed; the event was dropped.
  };

  // Push
  //
  // Queues `event` if it fits in the limits. A `forced` push ignores the
  // limits: the core uses it for what a member must get whatever its speed
  // (its welcome, its replay, a notice), all of them bounded elsewhere.
  PushResult Push(EventPtr event, bool forced = false);

  // Close
  //
  // Ends the outbox with `status`: later pushes are dropped; the transport
  // drains what is still queued (nothing, if `discard_queued`) and then
  // ends its connection with `status`. Only the first close counts. Returns
  // true when the caller must wake the transport.
  bool Close(absl::Status status, bool discard_queued);

  enum class DrainResult {
    kEvents,  // Events were appended to *out.
    kEmpty,   // Nothing queued; the next push or close will ask for a wake.
    kClosed,  // Closed and fully drained; *status says how the member ended.
  };

  // Drain
  //
  // Moves every queued event to the end of *out (the transport's side).
  // When *out is empty the two vectors are swapped, so a transport that
  // passes the same cleared vector each time costs no allocation and no
  // per-event move once both have grown.
  DrainResult Drain(std::vector<EventPtr>* out, absl::Status* status);

  // The first close's status, or OK while open.
  absl::Status closed_status() const;

 private:
  const size_t max_events_;
  const size_t max_bytes_;

  // A spin lock: every critical section below is a few dozen instructions
  // (a push, a swap), taken once per delivery.
  mutable SpinLock mu_;
  std::vector<EventPtr> queue_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  // True when the transport drained the outbox empty and waits to be woken.
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_OUTBOX_H_

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
// Replays: what a member asked to see again (history on join, a resume) is
// not queued whole. The core places a Replay at the current end of the queue
// (AddReplay); Drain reads it in bounded batches, in its place between the
// events queued before and after it, as the transport drains. Replayed events
// do not count against the limits: only live events can make a member too
// slow, and a replay holds at most one batch in the transport at a time.
//
// Thread-safe.
#ifndef CHATROOM_SERVICE_OUTBOX_H_
#define CHATROOM_SERVICE_OUTBOX_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "service/event.h"
#include "service/spin_lock.h"

namespace chat {

// Replay: events read back from a room's log for one member, in batches.
class Replay {
 public:
  virtual ~Replay() = default;

  enum class Step {
    kMore,     // Appended a batch (possibly only notices); call again.
    kBlocked,  // Nothing to read yet: the rest is not committed.
    kDone,     // Finished (what it appended, if anything, is the last).
  };

  // Next
  //
  // Appends the next bounded batch to *out. Called on the transport's
  // thread with no outbox lock held; may read the log (and so do I/O).
  virtual Step Next(std::vector<EventPtr>* out) = 0;
};

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

  // AddReplay
  //
  // Places `replay` after everything queued so far and before whatever is
  // pushed next. Ignored once the outbox is closed.
  void AddReplay(std::unique_ptr<Replay> replay);

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
  // Moves every queued event to the end of *out (the transport's side), or,
  // while a replay is pending, what comes before it or its next batch. When
  // *out is empty the two vectors are swapped, so a transport that passes
  // the same cleared vector each time costs no allocation and no per-event
  // move once both have grown. One thread drains (the transport's).
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
  // Counts pushes, so a drain can tell whether one came while it read a
  // replay without the lock.
  uint64_t pushes_ ABSL_GUARDED_BY(mu_) = 0;

  // A pending replay goes before queue_[before] (its replay is null while
  // Drain reads it without the lock). At most a few (one per room move).
  struct Segment {
    size_t before;
    std::unique_ptr<Replay> replay;
  };
  std::deque<Segment> replays_ ABSL_GUARDED_BY(mu_);

  uint64_t replay_drops_ ABSL_GUARDED_BY(mu_) = 0;

  // Drain without a pending replay.
  DrainResult DrainQueueLocked(std::vector<EventPtr>* out, absl::Status* status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drain with a pending replay: reads it without the lock.
  DrainResult DrainReplay(std::vector<EventPtr>* out, absl::Status* status);
  void DropReplaysLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_OUTBOX_H_

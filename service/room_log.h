// The room log: one room's sequence and history, behind one interface, so
// that the room core (service/room.h) keeps the same promises whether the log
// lives in memory, in an embedded store (--data_dir), or elsewhere.
//
// A RoomLog numbers a room's events (seq 1, 2, 3, ... without gaps while the
// log lives), keeps them for replay and history, and says which history its
// seqs belong to (the epoch). A LogBackend makes the log of each room.
//
// The room calls Append with its own lock held, one call at a time, so the
// log decides the order simply by the order of the calls. An event is
// *committed* once the log may show it to anyone: at once for a log in
// memory, once it is written to the store for a stored one. The room hands
// an event to its members only once it is committed:
//   - A synchronous log (synchronous() is true) commits inside Append; the
//     room delivers the event right after, under its fan-out lock.
//   - An asynchronous log commits later, on a thread of its own, in seq
//     order, and then calls CommitListener::Committed(through_seq) with no
//     lock held. The room keeps each appended event, with the members it is
//     for, until that call, and then delivers in seq order.
// Read and MessagesStart return only committed events, so neither a replay
// nor GetHistory ever shows an event that a crash could still take back.
//
// What a log must never do: block in Append on I/O or on a disk sync (queue
// the write for another thread instead), call back into the room from
// Append, or hold its own lock while calling the listener. Read may do I/O
// (a store reading back history that was evicted from memory); it is called
// from transport threads with no core lock held, for bounded batches.
//
// A log whose order is decided elsewhere (a Redis server shared by several
// nodes) fits the same shape: it is asynchronous, its Append sends the event
// off and returns it with the seq it will get (or the room learns the seq
// only on commit, which then needs Committed to carry the events themselves),
// and Committed runs on the thread that reads the shared order back. The
// room's side (deliver committed events in seq order, to the members each was
// appended for) stays as it is.
//
// Thread-safety: every method of a RoomLog may be called from any thread;
// Append calls are serialized by the room. LogBackend methods too.
#ifndef CHATROOM_SERVICE_ROOM_LOG_H_
#define CHATROOM_SERVICE_ROOM_LOG_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chat/v1/chat.pb.h"
#include "service/event.h"

namespace chat {

// CommitListener: what an asynchronous log tells as events commit.
class CommitListener {
 public:
  virtual ~CommitListener() = default;

  // Every event with seq <= `through_seq` is committed. Called in increasing
  // order of `through_seq`, from the log's own thread, with no log lock held.
  virtual void Committed(uint64_t through_seq) = 0;

  // Events appended and not yet committed wait: the log cannot commit them
  // now (`why` says so, for a person) and keeps retrying; they are committed
  // later, in order, and nothing appended is dropped. Called once when the
  // waiting starts, from the log's own thread, with no log lock held.
  virtual void Stalled(const absl::Status& why) { (void)why; }
};

// What one Read asks for: committed events with after < seq <= until.
struct LogRead {
  uint64_t after = 0;
  uint64_t until = std::numeric_limits<uint64_t>::max();
  bool messages_only = false;  // Skip every event that is not a message.
  // Stop after this many events, or once this many bytes (Event::cost) are
  // read; at least one event is read when there is one.
  size_t max_events = 64;
  size_t max_bytes = 256 * 1024;
};

// A run of seqs [first, last] that no event was given: after an unclean stop
// a stored log continues past the seqs it had reserved, so that no seq a
// client may have seen is ever used again for another event.
struct SeqRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

class RoomLog {
 public:
  virtual ~RoomLog() = default;

  // Names the history the seqs belong to; constant for the log's life. A new
  // room, an in-memory server restarting, or a store wiped gives a new one.
  virtual const std::string& epoch() const = 0;

  // True when Append commits before it returns.
  virtual bool synchronous() const = 0;

  // Append
  //
  // Gives `response` the room's next seq and the current time, makes it an
  // Event with `origin` (the member who caused it, 0 for none), and appends
  // it. Errors, to be shown to the member as a notice: UNAVAILABLE (the store
  // cannot be written; the message says what to do), RESOURCE_EXHAUSTED (too
  // many events wait for the store). A `must` append (a member leaving,
  // which cannot be refused) is taken even then; those are bounded by the
  // number of members.
  virtual absl::StatusOr<EventPtr> Append(v1::ChatResponse response,
                                          uint64_t origin, bool must) = 0;

  // The seq of the last event appended, committed or not (0 for none).
  virtual uint64_t last_seq() const = 0;

  // The seq of the last committed event.
  virtual uint64_t committed_seq() const = 0;

  // The oldest seq the log still holds (committed_seq() + 1 when it holds
  // none). Older events were dropped by retention, by memory limits with no
  // store behind, or never stored (an unclean stop).
  virtual uint64_t first_seq() const = 0;

  // Read
  //
  // Appends to *out the committed events held with read.after < seq <=
  // read.until, oldest first, within read's batch limits. Returns `through`:
  // every held event with seq in (after, through] is now in *out (or was
  // skipped by messages_only), so the next batch starts after `through`.
  // `through` never passes min(until, committed_seq()): a caller that gets
  // less than `until` and no events waits for a commit. Seqs missing in the
  // range were lost (see first_seq); the caller can tell by the gaps.
  virtual absl::StatusOr<uint64_t> Read(const LogRead& read,
                                        std::vector<EventPtr>* out) = 0;

  // MessagesStart
  //
  // The seq S such that the committed messages with S < seq < before are the
  // last `count` messages before `before` (all of those held, for count 0).
  // Reading messages_only from S through before - 1 returns them.
  virtual absl::StatusOr<uint64_t> MessagesStart(uint32_t count,
                                                 uint64_t before) = 0;

  // Skipped
  //
  // The runs of seqs never used (see SeqRange), oldest first; a gap there
  // hides nothing (unless the machine lost power before the store synced).
  // Empty for logs that never skip.
  virtual std::vector<SeqRange> Skipped() const { return {}; }
};

// LogBackend: where the rooms' logs live.
class LogBackend {
 public:
  virtual ~LogBackend() = default;

  // Open
  //
  // The log of room `room` (a normalized room name), with the seq, epoch and
  // history the backend holds for it, or a new log with a new epoch.
  // `listener` hears about commits (asynchronous logs only). At most one log
  // per room is open at a time; the room's next Open after the log is
  // destroyed continues where it left off (or starts a new epoch, for a
  // backend that kept nothing). Called under the hub's lock: must not block
  // on I/O.
  virtual absl::StatusOr<std::unique_ptr<RoomLog>> Open(
      const std::string& room, std::weak_ptr<CommitListener> listener) = 0;

  // True when the backend holds history for `room` even though no log of it
  // is open (a stored room after a restart), so a GetHistory for it must
  // open it.
  virtual bool Holds(const std::string& room) = 0;

  // Flush
  //
  // Returns once every event appended so far is committed and its listener
  // told. For shutdown.
  virtual void Flush() = 0;

  // FlushFor
  //
  // Flush, waiting at most `timeout` (a store that cannot write may never
  // finish). Returns whether everything was committed.
  virtual bool FlushFor(absl::Duration timeout) {
    (void)timeout;
    Flush();
    return true;
  }
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_ROOM_LOG_H_

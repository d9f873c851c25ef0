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
// A shared log (shared() is true: redis/redis_log.h) is one whose order is
// decided elsewhere, by a Redis server that several chat-service nodes
// share. The room cannot know an event's seq when it asks for the event,
// since other nodes add theirs meanwhile, nor whether a name is free, since
// other nodes' members hold names too. So the room does not Append to it:
// it Submits a SharedOp (a join, leave, rename or message), which the log
// checks against every node's members and orders in one step, and then
// hears, on the log's thread, through the SharedListener below:
//   - Opened: the room's epoch, last seq and members (on every node), before
//     any event after them;
//   - Arrived: every event of the shared order, its own and other nodes', in
//     seq order without gaps, each with the ticket of the Submit that made it
//     when it was this node's;
//   - Refused: a Submit that made no event (a name taken on another node, a
//     message whose client id was posted already, the storage unreachable);
//   - Lost: the storage lost the room's history (a new epoch).
// The room delivers an event only when it arrives, to the members it has
// then, so every node hands every member the one order.
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

// What a room asks a shared log to add to the shared order (RoomLog::Submit).
struct SharedOp {
  enum class Kind { kJoin, kLeave, kRename, kMessage };
  Kind kind = Kind::kMessage;
  uint64_t member = 0;  // The member's id on this node.
  // kJoin: the name; kRename: the new name; kLeave, kMessage: the member's.
  std::string name;
  std::string old_name;  // kRename.
  v1::Transport transport = v1::TRANSPORT_UNSPECIFIED;
  bool owner = false;  // kJoin, kRename: the member owns the name (tokens on).
  // kJoin: the member's resume secret, kept with the name; the secret the
  // joiner presents to take the name back ("" for none); and whether an
  // owner's older session holding the name gives it up (tokens on).
  std::string secret;
  std::string resume_secret;
  bool owner_takeover = false;
  std::string reason;  // kLeave: shown to everyone.
  // kMessage: the message (sender, text, action, client_id), its time set.
  v1::ChatResponse message;
};

// An event of the shared order, as this node reads it back.
struct SharedEvent {
  EventPtr event;  // Its seq set; origin: the member's id when it is ours.
  // The Submit that made it, when this node's (0: another node's).
  uint64_t ticket = 0;
  // member_joined, member_left, member_renamed: the member's id when it is
  // a member of this node, else 0. For a member_left with `rejoined`, that
  // is the member whose place was taken.
  uint64_t member = 0;
  // member_left with `rejoined`: the resume secret the taker now holds.
  std::string secret;
};

// One member of a room as a shared log holds it (on any node).
struct SharedMember {
  std::string name;
  v1::Transport transport = v1::TRANSPORT_UNSPECIFIED;
  uint64_t joined_seq = 0;  // The seq of its member_joined: list order.
  uint64_t member = 0;      // Its id when on this node, else 0.
};

// What a shared log holds for a room when it opens it.
struct SharedState {
  std::string epoch;
  uint64_t seq = 0;  // The last seq: events after it arrive next.
  std::vector<SharedMember> members;  // In joined_seq order.
};

// SharedListener: what a shared log tells its room, from the log's own
// thread, with no log lock held, one call at a time.
class SharedListener : public CommitListener {
 public:
  void Committed(uint64_t) override {}

  // The log opened the room, or opened it again after losing touch with the
  // storage (same epoch; the events after state.seq follow, and those up to
  // it that the room had not had yet are not sent again).
  virtual void Opened(const SharedState& state) = 0;

  // Events of the shared order, oldest first, each seq the last's + 1
  // (except after a loss, which comes with a notice in the log).
  virtual void Arrived(std::vector<SharedEvent>& events) = 0;

  // The Submit with `ticket` made no event: `why` says so for a person
  // (ALREADY_EXISTS: a name taken; UNAVAILABLE: the storage could not be
  // reached, and the op may be submitted again; FAILED_PRECONDITION: the
  // member is no longer in the room). OK with `duplicate_seq`: a message
  // whose client id was posted already, as that seq.
  virtual void Refused(uint64_t ticket, const absl::Status& why,
                       uint64_t duplicate_seq) = 0;

  // The storage lost the room's history (flushed, restarted without
  // persistence): its epoch changed. The room ends its members, who come
  // back to a new history.
  virtual void Lost(const absl::Status& why) = 0;
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

  // True for a shared log (see the top of this file): the room Submits to
  // it instead of Appending.
  virtual bool shared() const { return false; }

  // Submit
  //
  // Shared logs: sends `op` to the shared order and returns its ticket, with
  // which Arrived or Refused later names it; or an error at once
  // (UNAVAILABLE: the storage is unreachable: "chat is paused: ..."). A
  // kLeave is never refused at once: it waits for the storage if it must.
  virtual absl::StatusOr<uint64_t> Submit(SharedOp op) {
    (void)op;
    return absl::UnimplementedError("not a shared log");
  }

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

  // True when the logs are shared with other nodes (RoomLog::shared).
  virtual bool shared() const { return false; }

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

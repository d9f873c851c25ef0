// The room core: rooms, members, names, the per-room sequence, history and
// one bounded outbox per member. It knows no transport: a transport (the gRPC
// stream, the legacy TCP session) joins a member through Hub::Join, passing a
// MemberSink that the core uses only to say "your outbox has something", and
// then drains the member's Outbox on its own thread.
//
// Order: every room event (message, joined, left, renamed) takes the room's
// next seq from the room's log (service/room_log.h: in memory, or the store
// behind --data_dir) and reaches every member's outbox in seq order, once
// the log has committed it: sequencing happens under the room's lock, and
// delivery of committed events under its fan-out lock, in seq order. No lock
// is held while a transport does I/O: transports drain outboxes on their own
// threads, and the core wakes them only after releasing its locks.
//
// Several nodes (a shared log, --redis: service/room_log.h): the order is
// decided in Redis, for every node at once, so the room submits each join,
// leave, rename and message to its log, which checks names and client ids
// against every node's there, and acts when the event comes back in the
// shared order: a joiner is welcomed when its own member_joined arrives, and
// every event is delivered as it arrives, to the members the room has then.
// Hub::Join then returns before the welcome, and a join the log refuses (a
// name taken on another node) closes the member's outbox with the error.
// ListMembers and the welcome list every node's members.
//
// Replays (the last N messages on join, a resume after a seq) are read from
// the log as the member's transport drains them (Outbox::AddReplay), so they
// never count against the member's live limits. A resume names the epoch of
// the seq it resumes after; when that is not the room's epoch the member is
// told the history was reset instead of being given another history's
// events under seqs it has seen.
//
// Idempotent posting: a Say may carry a client id. The room remembers, for
// each message posted with one, (the sender's name, the id) -> seq
// (service/recent_ids.h), checked and recorded under the room's lock in the
// same step as the append, so the same Say sent twice, even at once or by a
// new connection under the same name, is posted once; the repeat gets a
// `duplicate` with the first one's seq instead. The ids outlive the members
// who sent them and are bounded by HubOptions (a window of time, a count per
// room and one for the hub). A room rebuilds them from the recent messages
// its log holds before its first member enters, so with --data_dir they
// survive a restart.
//
// Taking a name back: every member has a random resume secret, told in its
// welcomes. A join that presents the secret of the member holding its name
// in the room takes that member's place (same position in the list, same
// secret); the room sees one member_left with `rejoined` set and no
// member_joined, and the old member's connection is closed with ABORTED
// without a leave of its own. This is how a client whose connection died
// comes back before the server has noticed.
//
// Owned names (HubOptions::auth, service/auth.h): with tokens on, a join
// with a token enters as its name's owner, only in the rooms the token
// allows; without one, as a guest whose name carries the mark "~". A guest
// cannot take a name (with the mark dropped) that its owner holds in the
// room. An owner who joins while an older session of it holds the name in
// the room takes its place, as with a resume secret (one member_left with
// `rejoined`); the old session gets a notice that it signed in elsewhere and
// is closed with ABORTED. An owner's name cannot be changed, and a guest
// (the line port's) becomes an owner with Member::Authenticate.
//
// Limits a member is held to (HubOptions): flood control (a token bucket per
// member for says, renames and moves, service/flood_gate.h), the message size,
// the outbox (every event, notices too, counts against it), members per room,
// and rooms opened per client address. The welcome tells the member its
// limits.
//
// Lock order: Hub::mu_, Room::fanout_mu_, Room::mu_, Member::mu_, the
// per-address room counts' lock, the log's own locks, Outbox::mu_.
// Everything here is thread-safe.
#ifndef CHATROOM_SERVICE_ROOM_H_
#define CHATROOM_SERVICE_ROOM_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chat/v1/chat.pb.h"
#include "service/auth.h"
#include "service/event.h"
#include "service/flood_gate.h"
#include "service/outbox.h"
#include "service/room_log.h"

namespace chat {

class Hub;
class Room;
class RoomOpeners;

// Limits, all set by chat-service flags.
struct HubOptions {
  size_t max_message_bytes = 4096;    // Longer messages are refused.
  size_t history_events = 1000;       // Room events kept per room, and
  size_t history_memory = 256 << 20;  // bytes across all rooms (0: none),
                                      // for the default in-memory logs.
  size_t outbox_events = 1024;        // A member's outbox limits: over either,
  size_t outbox_bytes = 1 << 20;      // the member is removed as too slow.
  size_t max_rooms = 10000;           // Empty rooms are forgotten past this.
  size_t max_members_per_room = 10000;  // A full room refuses joins.
  // Rooms one client address may hold open at a time: rooms it entered
  // empty, until they are empty again (0: no limit; joins without an
  // address are not counted).
  size_t max_rooms_per_ip = 100;
  // Flood control per member: after a burst of flood_burst requests (says,
  // renames, room moves), at most flood_rate a second. 0 turns it off (the
  // default here, for tests and tools; chat-service's flag defaults to 5).
  double flood_rate = 0;
  uint32_t flood_burst = 10;
  // Idempotent posting (Say.client_id): a room remembers the client id of
  // each message posted with one for client_id_window after its time (zero:
  // ids are not remembered), at most client_ids_per_room ids per room and
  // client_ids_total across every room, oldest forgotten first. An id
  // costs about 150 bytes (36-byte ids, 32-letter names), 200 at most
  // (64-byte ids): at most 3.3 MB a room and 210 MB a hub with these
  // defaults (service/recent_ids.h). A repeat is recognized while its first
  // is remembered.
  absl::Duration client_id_window = absl::Minutes(10);
  size_t client_ids_per_room = 16384;
  size_t client_ids_total = 1 << 20;
  // Owned names: tokens, and whether guests are let in (service/auth.h).
  // Null: tokens are off, and names are first come, first served.
  std::shared_ptr<const Authenticator> auth;
};

// The longest Say.client_id accepted, in bytes.
inline constexpr size_t kMaxClientIdBytes = 64;

// The most members a welcome lists (Welcome.member_count has the total).
inline constexpr size_t kWelcomeMembers = 100;

// MemberSink: what a transport gives the core for each member.
class MemberSink {
 public:
  virtual ~MemberSink() = default;

  // The member's outbox has something to drain (events, or its close) and
  // the transport had drained it empty before. Called from any thread, with
  // no core lock held; must not block and must not call into the core.
  // Spurious calls are possible and must be harmless.
  virtual void Wake() = 0;
};

// What a transport asks for when a member joins.
struct JoinRequest {
  std::string name;
  std::string room;               // "" means "lobby".
  uint32_t history = 0;           // Replay the last N messages.
  uint64_t resume_after_seq = 0;  // Or: replay every event after this seq
  std::string resume_epoch;       // of this epoch.
  v1::Transport transport = v1::TRANSPORT_GRPC;
  // The client's IP address ("127.0.0.1", "::1"; "" when unknown), for the
  // limits kept per address (rooms created).
  std::string peer_ip;
  // The resume secret of an earlier member under this name (its welcome's):
  // when that member still holds the name in the room, this join takes its
  // place. "" for none.
  std::string resume_secret;
  // A token (service/auth_token.h) for the name, with tokens on; "" for
  // none (a guest). Ignored with tokens off.
  std::string token;
};

// What GetHistory asks for (see chat.v1.GetHistoryRequest).
struct HistoryQuery {
  std::string room;
  uint32_t limit = 0;  // 0, or over kHistoryPage: kHistoryPage.
  uint64_t before_seq = 0;
  uint64_t after_seq = 0;
  std::string token;  // As JoinRequest::token: who asks.
};

// The most messages one History call returns.
inline constexpr uint32_t kHistoryPage = 1000;

// What the hub holds now, for monitoring (Hub::Stats): figures, no names.
struct HubStats {
  size_t rooms_held = 0;  // Rooms in memory (empty ones until forgotten).
  size_t rooms = 0;       // Rooms with at least one member.
  size_t members = 0;
  // Members by chat.v1.Transport (index 1 gRPC, 2 TCP, 3 web; 0 unused).
  std::array<size_t, 4> members_by_transport{};
};

// What it gets back.
struct HistoryPage {
  std::string room;  // Normalized.
  std::string epoch;
  uint64_t last_seq = 0;           // The last committed seq.
  uint64_t first_seq = 1;          // The oldest seq held.
  std::vector<EventPtr> messages;  // Oldest first.
};

// Member: one person in one room, as the core sees them. Created by
// Hub::Join; the transport keeps the shared_ptr and calls the methods below
// from its own thread. After the member leaves (Leave, or removal by the
// core), its outbox is closed and the methods below do nothing.
class Member : public std::enable_shared_from_this<Member> {
 public:
  Member(Hub* hub, uint64_t id, v1::Transport transport, std::string peer_ip,
         std::shared_ptr<MemberSink> sink);

  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // Say
  //
  // Posts a message. A message that is empty or too long, or over the flood
  // limit, or whose `client_id` is over kMaxClientIdBytes or not UTF-8, is
  // not posted: the member gets a notice (carrying `client_id`) and the
  // error is returned. A member that keeps flooding is disconnected
  // (RESOURCE_EXHAUSTED; the room sees it leave for "flooding").
  //
  // With a `client_id` the room has remembered for this member's name, the
  // message is not posted again: the member alone gets a `duplicate` with
  // the seq it was posted under (counted against its outbox like a notice),
  // and OK is returned. Otherwise the message carries `client_id`.
  absl::Status Say(absl::string_view text, bool action,
                   absl::string_view client_id = "");

  // Rename
  //
  // Changes the member's name; everyone sees member_renamed. A bad or taken
  // name, or a rename over the flood limit, gets a notice and the error is
  // returned.
  absl::Status Rename(absl::string_view new_name);

  // Move
  //
  // Leaves the current room and joins another under the same name, with a
  // new welcome. On error (bad room, name taken there) the member stays
  // where it was and gets a notice.
  absl::Status Move(absl::string_view room, uint32_t history);

  // Leave
  //
  // Leaves the room (others see member_left with `reason`) and closes the
  // outbox with OK once the member's leave is delivered (with a store, the
  // events appended before it may still wait for their commit: the member
  // gets those first), and the transport then drains what is queued.
  // Idempotent.
  void Leave(absl::string_view reason);

  // Disconnect
  //
  // For a broken connection: leaves like Leave, and drops what is queued.
  void Disconnect(absl::string_view reason);

  // Authenticate
  //
  // Signs a guest in with `token` (the line port's /auth): the member is
  // renamed to the token's name (everyone sees member_renamed) and becomes
  // its owner, taking the name over from an older session of the owner in
  // the room (which gets a notice and is closed). The member is told, in a
  // notice, "signed in as alice" or "token refused: " and why. Errors:
  // FAILED_PRECONDITION (tokens are off, already signed in), the token's
  // (UNAUTHENTICATED), PERMISSION_DENIED (the token does not allow the
  // room).
  absl::Status Authenticate(absl::string_view token);

  // RoomMembers
  //
  // The members of the member's room (its /who: no token asked, it is in
  // the room), setting *room to the room's name; FAILED_PRECONDITION when
  // it is in none.
  absl::StatusOr<std::vector<v1::Member>> RoomMembers(std::string* room);

  // Notify
  //
  // Sends `text` as a notice to this member alone, with `client_id` when it
  // refuses a Say that had one. It counts against the outbox like any event:
  // a member that does not read its notices is removed as too slow.
  void Notify(absl::string_view text, absl::string_view client_id = "");

  // Wakes the member's transport (see MemberSink::Wake).
  void WakeTransport() { sink_->Wake(); }

  Outbox& outbox() { return outbox_; }
  uint64_t id() const { return id_; }
  v1::Transport transport() const { return transport_; }
  std::string name() const;
  std::string room_name() const;
  // True once the member signed in with a token (its name is its own).
  bool owner() const;

 private:
  friend class Hub;
  friend class Room;

  // Closes the outbox with `status` and takes the member out of its room.
  void End(absl::string_view reason, absl::Status status, bool discard);
  std::shared_ptr<Room> room() const;
  // Flood control for one request (`what` is "message", "rename", ...): OK,
  // or the refusal, which the member was told (with `client_id`, a Say's);
  // a flooder is disconnected.
  absl::Status Admit(absl::string_view what, absl::string_view client_id = "");
  // Pushes an event for this member alone (a notice, a duplicate), counted
  // against the outbox; on overflow the member is removed as too slow.
  void Send(EventPtr event);
  // After a push overflowed the outbox (which closed itself): removes the
  // member as too slow.
  void RemoveAsTooSlow();

  Hub* const hub_;
  const uint64_t id_;
  const v1::Transport transport_;
  const std::string peer_ip_;
  const std::shared_ptr<MemberSink> sink_;
  Outbox outbox_;

  mutable absl::Mutex mu_;
  std::string name_ ABSL_GUARDED_BY(mu_);
  // The room the member is in; set and cleared by Room under its lock.
  std::shared_ptr<Room> room_ ABSL_GUARDED_BY(mu_);
  // Set once the member ended; no room takes it after that.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  FloodGate flood_ ABSL_GUARDED_BY(mu_);
  bool flood_logged_ ABSL_GUARDED_BY(mu_) = false;  // Logged once.
  // Told in every welcome; a member that takes another's place takes its
  // secret too (under the room's lock).
  std::string resume_secret_ ABSL_GUARDED_BY(mu_);
  // Who the member is (tokens on): an owner, and the rooms it may enter.
  bool owner_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<std::vector<std::string>> rooms_ ABSL_GUARDED_BY(mu_);
  // The room the member last entered (not cleared when it leaves): fan-out
  // from an asynchronous log skips members that have moved on.
  std::atomic<const Room*> joined_room_{nullptr};
};

// Hub: every room of one chat-service.
class Hub {
 public:
  // `logs` holds the rooms' logs; null means in memory (MemoryLogBackend
  // with options.history_events and options.history_memory).
  explicit Hub(HubOptions options, std::unique_ptr<LogBackend> logs = nullptr);
  ~Hub();

  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Join
  //
  // Puts a new member in a room. On success the member's outbox already holds
  // its welcome, any replay, and its own member_joined; the transport should
  // start draining it (no wake comes for these). When the name is taken by a
  // member whose resume secret is request.resume_secret, the new member
  // takes its place instead (see the top of this file): its outbox holds the
  // welcome, any replay and the room's member_left with `rejoined`, and the
  // old member is closed with ABORTED; so it does when an owner (tokens on)
  // joins while an older session of it holds the name. Errors:
  // INVALID_ARGUMENT (bad name or room), ALREADY_EXISTS (name taken, or a
  // guest's name whose owner is in the room), UNAUTHENTICATED (no token
  // where one is needed, an expired or badly signed one), PERMISSION_DENIED
  // (a token for another name or room), RESOURCE_EXHAUSTED (too many rooms,
  // the room is full, the client's address has too many rooms open),
  // UNAVAILABLE (shutting down). The first join of a room this hub holds
  // reads the room's recent messages from its log (maybe the store), for
  // their client ids: call it from a thread that may block briefly.
  absl::StatusOr<std::shared_ptr<Member>> Join(
      const JoinRequest& request, std::shared_ptr<MemberSink> sink);

  // ListMembers
  //
  // The members of `room`, in the order they joined. An unknown room is
  // empty. Sets *normalized to the room's normalized name. With tokens on,
  // `token` ("" for none) must allow the room (Authenticator::Authorize).
  absl::StatusOr<std::vector<v1::Member>> ListMembers(
      absl::string_view room, std::string* normalized,
      absl::string_view token = "");

  // History
  //
  // A page of the committed messages of a room still held: the last `limit`
  // before `before_seq` (or the newest), or with `after_seq` the first
  // `limit` after it. With tokens on, query.token must allow the room
  // (Authenticator::Authorize). Reads the log (maybe the store); call it from a
  // thread that may block briefly.
  absl::StatusOr<HistoryPage> History(const HistoryQuery& query);

  // Shutdown
  //
  // Waits until the logs have committed and delivered what they hold, then
  // sends every member a notice with `text` and closes its outbox with
  // UNAVAILABLE; later joins fail with UNAVAILABLE.
  void Shutdown(absl::string_view text);

  const HubOptions& options() const { return options_; }

  // Counts for tests and logs.
  size_t room_count() const;

  // Stats
  //
  // Rooms and members now, room by room: each room's member list is the
  // snapshot fan-out uses, taken under its lock and counted without it.
  // O(rooms + members); for a scrape, not a hot path.
  HubStats Stats() const;

 private:
  friend class Member;

  // Join, without counting its refusals (metrics/metrics.h).
  absl::StatusOr<std::shared_ptr<Member>> JoinUncounted(
      const JoinRequest& request, std::shared_ptr<MemberSink> sink);
  // Returns the room called `name` (normalized), creating it if `create`.
  absl::StatusOr<std::shared_ptr<Room>> FindRoom(const std::string& name,
                                                 bool create);
  // Joins `member` (already named) to `room`; see Hub::Join for errors.
  absl::Status Enter(const std::shared_ptr<Member>& member,
                     const std::string& name, const std::string& room,
                     uint32_t history, uint64_t resume_after_seq,
                     const std::string& resume_epoch,
                     const std::string& resume_secret, bool owner_takeover);
  // Forgets the expired client ids of every room, at most once a second:
  // when the hub holds client_ids_total, a room that holds none cannot
  // remember new ones until others make room. Call with no core lock held.
  void ExpireClientIds();

  const HubOptions options_;
  const std::unique_ptr<LogBackend> logs_;
  const bool logs_shared_;  // logs_->shared()
  const std::unique_ptr<RoomOpeners> openers_;
  std::atomic<uint64_t> next_member_id_{1};
  // The client ids every room holds (HubOptions::client_ids_total), and
  // when ExpireClientIds last ran (absl::ToUnixNanos).
  std::atomic<size_t> client_ids_{0};
  std::atomic<int64_t> client_ids_expired_at_{0};

  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, std::shared_ptr<Room>> rooms_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_ROOM_H_

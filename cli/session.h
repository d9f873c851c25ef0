// ChatSession: one member in a room over a chat.v1 Chat stream, kept alive
// across dropped connections.
//
// Start() connects, joins and waits for the welcome. From then on a reader
// thread ("chat-reader") reads events and hands each one to a
// SessionListener, in order. When the connection drops, the reader says so
// (kDisconnected), reconnects (the channel retries with a backoff of 0.2 to 2
// s; a refused rejoin backs off exponentially) and rejoins the same room
// under the same name with resume_after_seq = the last seq it saw and
// resume_epoch = the epoch of the welcome that seq belongs to, so the server
// replays exactly what was missed (or sends a notice saying how many events
// it no longer holds, or that the room's history was reset and those seqs
// mean nothing any more); kReconnected says it is back. Every welcome (a
// rejoin, a room move) sets the epoch; one that names another room or
// another epoch also restarts the seq count from its last_seq.
//
// Own messages are not echoed locally: the server sends them back once it
// has sequenced them, like everyone else's. Until then a Say is
// unconfirmed. Each Say carries a client_id (Say.client_id: this session's
// random prefix and a count), which the server echoes in the message, in a
// notice that refuses it, or in a `duplicate` answer when it had already
// posted it; so every Say that returned OK is reported exactly once, as
// kPosted (with its seq, just before the event that shows it) or kNotSent
// (with why). When the connection drops with Says unconfirmed, the rejoin
// resumes in the same history (same room and epoch), and the Says are sent
// again (ResendNext), in order, before anything new: the server posts those
// it never got and answers the others as duplicates, so each is posted
// once. When the history was reset instead (a restart without --data_dir),
// whether they were posted cannot be told: each is reported as kNotSent.
// A server from before client_ids (its welcome has no resume_secret) is
// matched by text instead, and Says lost in a drop are reported as kNotSent
// after the replay shows which were sequenced.
//
// Flow control: at most window() Says are unconfirmed at a time (a quarter
// of the server's outbox, Welcome.limits.max_outbox_events), so a sender can
// never be dropped as too slow by its own echoes. SendDelay() says when the
// next Say may go.
//
// Several servers (nodes of one deployment, sharing rooms): Start() joins at
// the first that can be reached, in the order given; when the connection
// drops, the rejoin goes to the next server in the list (round-robin,
// moving on from a server that cannot be reached), with the same resume
// seq, epoch, secret and client_ids, so a dead node costs only the
// reconnect. With one server, the rejoin waits for that server.
//
// Taking the name back: every welcome carries a resume secret; a rejoin
// presents it, so that the server hands the name over at once even when it
// has not yet noticed that the old connection is dead (a network path that
// went silent). A session whose name was taken back by another of its own
// connections ends (ABORTED) rather than fighting for it.
//
// Pacing: the welcome carries the server's flood limits (Welcome.limits);
// Say, Rename and Move keep under them, with a margin, by waiting for their
// turn, so a pipe is slowed down rather than refused or disconnected.
//
// Thread-safety: all methods are thread-safe. Writes (Say, Rename, Move,
// Leave) are serialized by write_mu_, which is held across the gRPC write:
// a write blocks only while the server applies flow control, or while it
// waits for its turn under the flood limits.
#ifndef CHATROOM_CLI_SESSION_H_
#define CHATROOM_CLI_SESSION_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"
#include "cli/client.h"

namespace chat {

// What the reader thread reports.
struct SessionEvent {
  enum class Kind {
    kEvent,         // `event` arrived.
    kDisconnected,  // The connection dropped; `text` says why. Reconnecting.
    kReconnected,   // Rejoined; `text` says so. Replayed events follow.
    kPosted,        // The Say `tag` was posted as `seq`; the event that
                    // shows it follows (none for a duplicate answer).
    kNotSent,       // The Say `tag` was not posted, or it cannot be told;
                    // `text` says why, with the line ("/me ..." for an
                    // action); `reason` is why alone.
    kEnded,         // The session is over with `status` (OK after Leave).
  };
  Kind kind = Kind::kEvent;
  v1::ChatResponse event;
  std::string text;
  std::string reason;
  uint64_t tag = 0;
  uint64_t seq = 0;
  absl::Status status;
};

// SessionListener
//
// Receives a session's events on its reader thread, one at a time, in
// order; kEnded comes last. May block (to bound a queue): the reader then
// stops reading and gRPC flow control holds the server back. Must not call
// ChatSession's destructor.
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  virtual void OnSessionEvent(SessionEvent event) = 0;
};

struct SessionOptions {
  // HOST:PORT of each server, in the order to try them, one channel each.
  // Empty: `server` alone.
  std::vector<std::string> servers;
  std::string server;     // HOST:PORT when `servers` is empty.
  std::string name;       // Join.name
  std::string token;      // An owned name's token ("" for none): every call.
  std::string room;       // Join.room ("" = lobby)
  uint32_t history = 0;   // Join.history, on the first join only.
  bool reconnect = true;  // Reconnect when the connection drops.
  absl::Duration connect_timeout = kConnectTimeout;
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(8);
  // Stop reconnecting (kEnded with UNAVAILABLE) after this long without
  // KeepTrying().
  absl::Duration give_up_after = absl::Minutes(5);
};

class ChatSession {
 public:
  // `listener` must outlive the session. One channel, to options.server.
  ChatSession(std::shared_ptr<grpc::Channel> channel, SessionOptions options,
              SessionListener* listener);
  // One channel per server: channels[i] to options.servers[i].
  ChatSession(std::vector<std::shared_ptr<grpc::Channel>> channels,
              SessionOptions options, SessionListener* listener);
  // Cancels the stream if it is still open and waits for the reader thread.
  ~ChatSession();

  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;

  // Start
  //
  // Connects and joins. Returns once the welcome has been handed to the
  // listener, or with the error that prevents joining: UNAVAILABLE "cannot
  // reach chat-service at ...", ALREADY_EXISTS "name \"bob\" is taken in
  // room lobby", INVALID_ARGUMENT, ... Call once.
  //
  // With several servers, joins at the first that can be reached; a server
  // that answers the join with an error is not skipped. UNAVAILABLE, with
  // each server's sentence, when none can be reached. skipped() then says
  // which were not reachable on the way.
  absl::Status Start();
  // The servers Start could not reach before the one it joined, each as a
  // sentence ("cannot reach chat-service at ... (connection refused)").
  std::vector<std::string> skipped() const;

  // Say / Rename / Move
  //
  // Send a request. UNAVAILABLE when not connected right now (reconnecting,
  // or after Leave); the request was then not sent. The server's answer
  // arrives as events (the message itself, member_renamed, a welcome, or a
  // notice for a refusal).
  //
  // A Say is reported back with `tag` (kPosted or kNotSent). It fails with
  // RESOURCE_EXHAUSTED, not sent, when window() Says are unconfirmed.
  absl::Status Say(absl::string_view text, bool action, uint64_t tag = 0);
  absl::Status Rename(absl::string_view name);
  absl::Status Move(absl::string_view room);

  // SendDelay
  //
  // How long until a Say can be written without waiting: zero now; the
  // time to the next turn under the flood limits; or InfiniteDuration while
  // not connected or while window() Says are unconfirmed (an event comes
  // when that changes). Resends count too: send them first.
  absl::Duration SendDelay();

  // ResendNext
  //
  // After a rejoin that resumed, sends the oldest Say that was unconfirmed
  // when the connection dropped, again, with its client_id. Returns false
  // when none is left to send (or the write failed: the next drop brings
  // them back). Call it while it returns true, when SendDelay() is zero,
  // before sending anything new, so that lines keep their order.
  bool ResendNext();

  // KeepTrying
  //
  // The user is still there (typed a line): a reconnection in progress
  // gives up no sooner than give_up_after from now.
  void KeepTrying();

  // Leave
  //
  // Leaves the room and half-closes the stream; the server sequences what
  // was sent before, sends it back, and ends the stream: kEnded with OK.
  // While reconnecting, stops trying instead (kEnded with OK). Idempotent.
  void Leave(absl::string_view reason);

  // Cancel
  //
  // Ends the session now (kEnded with CANCELLED unless already ending).
  void Cancel();

  bool connected() const;
  // The server of the current connection (or the last one, or the first
  // when none was made yet), and a stub to it (owned by the session).
  std::string server() const;
  v1::ChatRoom::Stub* stub() const;
  std::string name() const;  // As last confirmed by the server.
  std::string room() const;  // Normalized, from the last welcome.
  // The last room seq seen, and the epoch it belongs to (Welcome.epoch):
  // what a rejoin resumes after.
  uint64_t last_seq() const;
  std::string epoch() const;
  // The server's limits, from the last welcome.
  v1::Limits limits() const;
  // How many Says may be unconfirmed at a time; and how many are.
  size_t window() const;
  size_t unconfirmed() const;
  // Of those, how many wait to be sent again (ResendNext).
  size_t resends() const;
  // The server answers each Say by its client_id (a server from before
  // client_ids does not).
  bool confirms_each_say() const;

 private:
  struct Call;

  // A Say written and not yet seen back (nor refused), oldest first.
  struct Unconfirmed {
    std::string line;   // For the kNotSent report.
    std::string clean;  // The text as the server will post it.
    bool action = false;
    uint64_t tag = 0;
    std::string client_id;
    uint64_t call = 0;    // call_number_ when last written.
    bool resend = false;  // Written on a call that dropped; send again.
  };
  // The window when the server does not say (a server from before
  // max_outbox_events), and its largest size.
  static constexpr size_t kDefaultWindow = 64;
  static constexpr size_t kMaxWindow = 256;

  // Opens a Chat stream to servers_[server] and writes `join` on it.
  std::shared_ptr<Call> OpenCall(const v1::Join& join, size_t server);
  // Reconnect's wait for a server that is up, from `*server` on (round
  // robin); sets *server to it. False when the session stops or gives up
  // meanwhile (nothing emitted).
  bool WaitForAServer(size_t* server);
  // Writes `request` on the current call; `say`, when given, is recorded as
  // unconfirmed if the write succeeds.
  absl::Status Write(const v1::ChatRequest& request,
                     std::optional<Unconfirmed> say = std::nullopt);
  // Waits until one more request keeps under the server's flood limits.
  // Returns false if the session is cancelled meanwhile.
  bool WaitForTurn() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  size_t WindowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WindowFull() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The client's bucket refilled up to `now` (see WaitForTurn), and the
  // rate and burst it keeps to (rate 0: no flood limits).
  double TokensAt(absl::Time now, double* rate, double* burst)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Reader thread.
  void Run(std::shared_ptr<Call> call);
  bool ReadWelcome(Call* call, bool rejoin, uint64_t resumed_after);
  absl::Status EndCall(Call* call);
  std::shared_ptr<Call> Reconnect(absl::Status cause);
  // Follows the session's state through `event`; `rejoin_welcome` for the
  // welcome of a rejoin. Returns the kPosted and kNotSent reports due
  // before the event.
  std::vector<SessionEvent> Track(const v1::ChatResponse& event,
                                  bool rejoin_welcome);
  // Takes out the unconfirmed Say with `client_id` as a report of `kind`
  // (kPosted with `seq`, or kNotSent because of `why`); none if unknown.
  void Settle(const std::string& client_id, SessionEvent::Kind kind,
              uint64_t seq, absl::string_view why,
              std::vector<SessionEvent>* reports)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The unconfirmed Says written on earlier calls, taken out as reports.
  std::vector<SessionEvent> TakeLost(absl::string_view why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver(std::vector<SessionEvent> reports, v1::ChatResponse event);
  void Emit(SessionEvent::Kind kind, std::string text);
  void EmitEnded(absl::Status status);
  bool Stopping() const;

  // Constant after construction.
  const SessionOptions options_;
  const std::vector<std::string> servers_;  // At least one.
  // channels_[i] and stubs_[i] are servers_[i]'s.
  const std::vector<std::shared_ptr<grpc::Channel>> channels_;
  const std::vector<std::unique_ptr<v1::ChatRoom::Stub>> stubs_;
  SessionListener* const listener_;
  std::thread reader_;

  // Reader thread only: since when WaitForAServer waits for one server.
  std::optional<absl::Time> waiting_since_;

  // Serializes writes on the stream; taken before mu_.
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The client's own token bucket, under the server's (see WaitForTurn).
  double turn_tokens_ ABSL_GUARDED_BY(write_mu_) = -1;  // -1: not started.
  absl::Time turn_last_ ABSL_GUARDED_BY(write_mu_);

  // State below is protected by mu_.
  mutable absl::Mutex mu_;
  enum class StartState { kJoining, kJoined, kFailed };
  StartState start_state_ ABSL_GUARDED_BY(mu_) = StartState::kJoining;
  absl::Status start_error_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Call> call_ ABSL_GUARDED_BY(mu_);  // The current stream.
  size_t server_ ABSL_GUARDED_BY(mu_) = 0;           // Of call_, in servers_.
  std::vector<std::string> skipped_ ABSL_GUARDED_BY(mu_);  // By Start.
  bool connected_ ABSL_GUARDED_BY(mu_) = false;            // Welcomed on call_.
  bool leaving_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  std::string name_ ABSL_GUARDED_BY(mu_);
  std::string room_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string epoch_ ABSL_GUARDED_BY(mu_);  // That last_seq_ belongs to.
  v1::Limits limits_ ABSL_GUARDED_BY(mu_);  // From the last welcome.
  std::string resume_secret_ ABSL_GUARDED_BY(mu_);  // From the last welcome.
  // The server answers client_ids (its welcome has a resume secret).
  bool ids_ ABSL_GUARDED_BY(mu_) = false;
  // This session's client_id prefix, and the count after it.
  const std::string id_prefix_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  // When a reconnection in progress gives up.
  absl::Time give_up_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool reconnecting_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t call_number_ ABSL_GUARDED_BY(mu_) = 0;  // Of call_, from 1.
  std::deque<Unconfirmed> unconfirmed_ ABSL_GUARDED_BY(mu_);
  size_t resends_ ABSL_GUARDED_BY(mu_) = 0;  // Of unconfirmed_, to resend.
  // After a resuming welcome: its last_seq. The replay is over at the first
  // event above it; unconfirmed Says of earlier calls not seen by then were
  // not sequenced.
  std::optional<uint64_t> replay_until_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chat

#endif  // CHATROOM_CLI_SESSION_H_

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
// unconfirmed. When the connection drops with Says unconfirmed, the rejoin's
// replay shows which of them the server sequenced; each of the others is
// reported once as kNotSent (after the replay, or at the welcome when the
// history was reset and nobody can tell). So every Say that returned OK
// either comes back exactly once as the member's own message or is reported
// as not sent; a Say that returned an error was not sent.
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
    kNotSent,       // A Say from before a drop did not make it; `text` says
                    // so, with the line ("/me ..." for an action).
    kEnded,         // The session is over with `status` (OK after Leave).
  };
  Kind kind = Kind::kEvent;
  v1::ChatResponse event;
  std::string text;
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
  std::string server;     // HOST:PORT, for messages.
  std::string name;       // Join.name
  std::string room;       // Join.room ("" = lobby)
  uint32_t history = 0;   // Join.history, on the first join only.
  bool reconnect = true;  // Reconnect when the connection drops.
  absl::Duration connect_timeout = kConnectTimeout;
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(8);
  // Stop reconnecting (kEnded with UNAVAILABLE) after this long.
  absl::Duration give_up_after = absl::Minutes(5);
};

class ChatSession {
 public:
  // `listener` must outlive the session.
  ChatSession(std::shared_ptr<grpc::Channel> channel, SessionOptions options,
              SessionListener* listener);
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
  absl::Status Start();

  // Say / Rename / Move
  //
  // Send a request. UNAVAILABLE when not connected right now (reconnecting,
  // or after Leave); the request was then not sent. The server's answer
  // arrives as events (the message itself, member_renamed, a welcome, or a
  // notice for a refusal).
  absl::Status Say(absl::string_view text, bool action);
  absl::Status Rename(absl::string_view name);
  absl::Status Move(absl::string_view room);

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
  std::string name() const;  // As last confirmed by the server.
  std::string room() const;  // Normalized, from the last welcome.
  // The last room seq seen, and the epoch it belongs to (Welcome.epoch):
  // what a rejoin resumes after.
  uint64_t last_seq() const;
  std::string epoch() const;

 private:
  struct Call;

  // A Say written and not yet seen back (nor refused), oldest first.
  struct Unconfirmed {
    std::string line;   // For the kNotSent report.
    std::string clean;  // The text as the server will post it.
    bool action = false;
    uint64_t call = 0;  // call_number_ when written.
  };
  static constexpr size_t kMaxUnconfirmed = 4096;

  std::shared_ptr<Call> OpenCall(const v1::Join& join);
  // Writes `request` on the current call; `say`, when given, is recorded as
  // unconfirmed if the write succeeds.
  absl::Status Write(const v1::ChatRequest& request,
                     std::optional<Unconfirmed> say = std::nullopt);
  // Waits until one more request keeps under the server's flood limits.
  // Returns false if the session is cancelled meanwhile.
  bool WaitForTurn() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Reader thread.
  void Run(std::shared_ptr<Call> call);
  bool ReadWelcome(Call* call, bool rejoin, uint64_t resumed_after);
  absl::Status EndCall(Call* call);
  std::shared_ptr<Call> Reconnect(absl::Status cause);
  // Follows the session's state through `event`; `rejoin_welcome` for the
  // welcome of a rejoin. Returns the kNotSent reports due before the event.
  std::vector<std::string> Track(const v1::ChatResponse& event,
                                 bool rejoin_welcome);
  // The unconfirmed Says written on earlier calls, taken out as reports.
  std::vector<std::string> TakeLost(absl::string_view why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver(const std::vector<std::string>& not_sent,
               v1::ChatResponse event);
  void Emit(SessionEvent::Kind kind, std::string text);
  void EmitEnded(absl::Status status);
  bool Stopping() const;

  // Constant after construction.
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::ChatRoom::Stub> stub_;
  const SessionOptions options_;
  SessionListener* const listener_;
  std::thread reader_;

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
  bool connected_ ABSL_GUARDED_BY(mu_) = false;      // Welcomed on call_.
  bool leaving_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  std::string name_ ABSL_GUARDED_BY(mu_);
  std::string room_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string epoch_ ABSL_GUARDED_BY(mu_);         // That last_seq_ belongs to.
  v1::Limits limits_ ABSL_GUARDED_BY(mu_);         // From the last welcome.
  uint64_t call_number_ ABSL_GUARDED_BY(mu_) = 0;  // Of call_, from 1.
  std::deque<Unconfirmed> unconfirmed_ ABSL_GUARDED_BY(mu_);
  // After a resuming welcome: its last_seq. The replay is over at the first
  // event above it; unconfirmed Says of earlier calls not seen by then were
  // not sequenced.
  std::optional<uint64_t> replay_until_ ABSL_GUARDED_BY(mu_);
};

}  // namespace chat

#endif  // CHATROOM_CLI_SESSION_H_

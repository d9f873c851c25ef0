#include "cli/session.h"

#include <pthread.h>

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "service/text.h"

namespace chat {

struct ChatSession::Call {
  size_t server = 0;  // In servers_.
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ChatRequest, v1::ChatResponse>>
      stream;
};

namespace {

// Errors after which a rejoin may succeed. ALREADY_EXISTS: the server has
// not yet noticed that our previous connection is gone.
bool Retryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

// A client_id prefix for one session: the server keys ids by sender name, so
// two sessions of one name (two `chatctl send` in a row) must never share
// one. 96 random bits.
std::string NewIdPrefix() {
  absl::BitGen gen;
  return absl::StrFormat("%016x%08x-", absl::Uniform<uint64_t>(gen),
                         absl::Uniform<uint32_t>(gen));
}

std::vector<std::string> ServersOf(const SessionOptions& options) {
  if (options.servers.empty()) return {options.server};
  return options.servers;
}

std::vector<std::unique_ptr<v1::ChatRoom::Stub>> StubsOf(
    const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
  std::vector<std::unique_ptr<v1::ChatRoom::Stub>> stubs;
  for (const auto& channel : channels) {
    stubs.push_back(v1::ChatRoom::NewStub(channel));
  }
  return stubs;
}

}  // namespace

ChatSession::ChatSession(std::shared_ptr<grpc::Channel> channel,
                         SessionOptions options, SessionListener* listener)
    : ChatSession(std::vector<std::shared_ptr<grpc::Channel>>{channel},
                  std::move(options), listener) {}

ChatSession::ChatSession(std::vector<std::shared_ptr<grpc::Channel>> channels,
                         SessionOptions options, SessionListener* listener)
    : options_(std::move(options)),
      servers_(ServersOf(options_)),
      channels_(std::move(channels)),
      stubs_(StubsOf(channels_)),
      listener_(listener),
      id_prefix_(NewIdPrefix()) {
  assert(servers_.size() == channels_.size());
  name_ = options_.name;
  room_ = options_.room;
}

ChatSession::~ChatSession() {
  Cancel();
  if (reader_.joinable()) reader_.join();
}

std::shared_ptr<ChatSession::Call> ChatSession::OpenCall(const v1::Join& join,
                                                         size_t server) {
  auto call = std::make_shared<Call>();
  call->server = server;
  AddToken(&call->context, options_.token);
  call->stream = stubs_[server]->Chat(&call->context);
  v1::ChatRequest request;
  *request.mutable_join() = join;
  // A failed write shows up as the stream's end, read by the reader.
  call->stream->Write(request);
  return call;
}

absl::Status ChatSession::Start() {
  // The first server that can be reached, in order.
  std::vector<std::string> unreachable;
  size_t server = 0;
  for (;; ++server) {
    if (server == servers_.size()) {
      if (servers_.size() == 1) return absl::UnavailableError(unreachable[0]);
      return absl::UnavailableError(absl::StrJoin(unreachable, "; "));
    }
    absl::Status s = WaitForServer(channels_[server].get(), servers_[server],
                                   options_.connect_timeout);
    if (s.ok()) break;
    if (servers_.size() == 1) return s;
    unreachable.push_back(std::string(s.message()));
  }
  v1::Join join;
  join.set_name(options_.name);
  join.set_room(options_.room);
  join.set_history(options_.history);
  std::shared_ptr<Call> call = OpenCall(join, server);
  {
    absl::MutexLock lock(&mu_);
    call_ = call;
    server_ = server;
    skipped_ = std::move(unreachable);
    call_number_ = 1;
  }
  reader_ = std::thread([this, call] { Run(call); });
  pthread_setname_np(reader_.native_handle(), "chat-reader");

  absl::MutexLock lock(&mu_);
  auto started = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return start_state_ != StartState::kJoining;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&started),
                            options_.connect_timeout)) {
    call->context.TryCancel();  // The reader then fails the start.
    mu_.Await(absl::Condition(&started));
    if (start_state_ == StartState::kFailed) {
      return absl::UnavailableError(
          absl::StrCat("chat-service at ", servers_[server],
                       " did not answer the join within ",
                       absl::FormatDuration(options_.connect_timeout)));
    }
  }
  return start_state_ == StartState::kJoined ? absl::OkStatus() : start_error_;
}

double ChatSession::TokensAt(absl::Time now, double* rate, double* burst) {
  v1::Limits limits;
  {
    absl::MutexLock lock(&mu_);
    limits = limits_;
  }
  *rate = 0;
  *burst = 0;
  if (limits.flood_rate() <= 0) return 0;
  // A margin under the server's bucket: requests that leave here evenly
  // spaced may reach it bunched together.
  *rate = limits.flood_rate() * 0.9;
  *burst = std::max(1.0, limits.flood_burst() / 2.0);
  if (turn_tokens_ < 0) return *burst;
  return std::min(
      *burst, turn_tokens_ + absl::ToDoubleSeconds(now - turn_last_) * *rate);
}

bool ChatSession::WaitForTurn() {
  double rate, burst;
  const absl::Time now = absl::Now();
  const double tokens = TokensAt(now, &rate, &burst);
  if (rate <= 0) return true;
  turn_tokens_ = tokens;
  turn_last_ = now;
  if (turn_tokens_ < 1) {
    const absl::Time turn = now + absl::Seconds((1 - turn_tokens_) / rate);
    // In steps, so that a Cancel does not wait for the turn.
    while (absl::Now() < turn) {
      absl::SleepFor(std::min(turn - absl::Now(), absl::Milliseconds(100)));
      absl::MutexLock lock(&mu_);
      if (leaving_ || cancelled_) return false;
    }
    turn_tokens_ = 1;
    turn_last_ = turn;
  }
  turn_tokens_ -= 1;
  return true;
}

absl::Status ChatSession::Write(const v1::ChatRequest& request,
                                std::optional<Unconfirmed> say) {
  absl::MutexLock write_lock(&write_mu_);
  if (say) {
    // Checked before taking a turn too, so that a refusal costs none.
    absl::MutexLock lock(&mu_);
    if (unconfirmed_.size() >= WindowLocked()) return WindowFull();
  }
  if (!WaitForTurn()) {
    return absl::UnavailableError("leaving the room; not sent");
  }
  std::shared_ptr<Call> call;
  {
    absl::MutexLock lock(&mu_);
    if (leaving_ || cancelled_) {
      return absl::UnavailableError("leaving the room; not sent");
    }
    if (!connected_) {
      return absl::UnavailableError("not connected to chat-service; not sent");
    }
    call = call_;
    if (say) {
      if (unconfirmed_.size() >= WindowLocked()) return WindowFull();
      // Recorded before the write: the server's answer may be read first.
      // call_number_ cannot change while write_mu_ is ours (see EndCall).
      say->call = call_number_;
      unconfirmed_.push_back(*std::move(say));
    }
  }
  if (!call->stream->Write(request)) {
    if (say) {
      // Not sent, so not seen back; the reader only takes out Says it saw
      // back or of earlier calls, so ours is still the last.
      absl::MutexLock lock(&mu_);
      if (!unconfirmed_.empty()) unconfirmed_.pop_back();
    }
    return absl::UnavailableError("the connection dropped; not sent");
  }
  return absl::OkStatus();
}

absl::Status ChatSession::Say(absl::string_view text, bool action,
                              uint64_t tag) {
  Unconfirmed say;
  say.line = action ? absl::StrCat("/me ", text) : std::string(text);
  say.clean = SanitizeText(text);
  say.action = action;
  say.tag = tag;
  {
    absl::MutexLock lock(&mu_);
    say.client_id = absl::StrCat(id_prefix_, ++next_id_);
  }
  v1::ChatRequest request;
  request.mutable_say()->set_text(std::string(text));
  request.mutable_say()->set_action(action);
  request.mutable_say()->set_client_id(say.client_id);
  return Write(request, std::move(say));
}

absl::Duration ChatSession::SendDelay() {
  {
    absl::MutexLock lock(&mu_);
    if (!connected_ || leaving_ || cancelled_) {
      return absl::InfiniteDuration();
    }
    // Resends are in the window already.
    if (resends_ == 0 && unconfirmed_.size() >= WindowLocked()) {
      return absl::InfiniteDuration();
    }
  }
  absl::MutexLock write_lock(&write_mu_);
  double rate, burst;
  const double tokens = TokensAt(absl::Now(), &rate, &burst);
  if (rate <= 0 || tokens >= 1) return absl::ZeroDuration();
  return absl::Seconds((1 - tokens) / rate);
}

bool ChatSession::ResendNext() {
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (resends_ == 0) return false;  // Without taking a turn.
  }
  if (!WaitForTurn()) return false;
  v1::ChatRequest request;
  std::shared_ptr<Call> call;
  {
    absl::MutexLock lock(&mu_);
    if (!connected_ || leaving_ || cancelled_ || resends_ == 0) return false;
    auto it = std::find_if(unconfirmed_.begin(), unconfirmed_.end(),
                           [](const Unconfirmed& u) { return u.resend; });
    if (it == unconfirmed_.end()) return false;
    it->resend = false;
    --resends_;
    // Should this call drop too, the next rejoin sends it again.
    it->call = call_number_;
    request.mutable_say()->set_text(it->clean);
    request.mutable_say()->set_action(it->action);
    request.mutable_say()->set_client_id(it->client_id);
    call = call_;
  }
  return call->stream->Write(request);
}

void ChatSession::KeepTrying() {
  absl::MutexLock lock(&mu_);
  if (reconnecting_) {
    give_up_at_ = std::max(give_up_at_, absl::Now() + options_.give_up_after);
  }
}

absl::Status ChatSession::WindowFull() const {
  return absl::ResourceExhaustedError(
      absl::StrCat(unconfirmed_.size(),
                   " messages are waiting for the server's answer; not sent"));
}

size_t ChatSession::WindowLocked() const {
  const uint32_t outbox = limits_.max_outbox_events();
  if (outbox == 0) return kDefaultWindow;
  return std::clamp<size_t>(outbox / 4, 1, kMaxWindow);
}

absl::Status ChatSession::Rename(absl::string_view name) {
  v1::ChatRequest request;
  request.mutable_rename()->set_name(std::string(name));
  return Write(request);
}

absl::Status ChatSession::Move(absl::string_view room) {
  v1::ChatRequest request;
  request.mutable_join()->set_room(std::string(room));
  {
    absl::MutexLock lock(&mu_);
    request.mutable_join()->set_name(name_);
  }
  return Write(request);
}

void ChatSession::Leave(absl::string_view reason) {
  absl::MutexLock write_lock(&write_mu_);
  std::shared_ptr<Call> call;
  bool connected;
  {
    absl::MutexLock lock(&mu_);
    if (leaving_ || cancelled_) return;
    leaving_ = true;
    call = call_;
    connected = connected_;
  }
  if (call == nullptr) return;
  if (!connected) {
    // Reconnecting: nothing to leave; stop the attempt in progress.
    call->context.TryCancel();
    return;
  }
  v1::ChatRequest request;
  request.mutable_leave()->set_reason(std::string(reason));
  call->stream->Write(request);
  call->stream->WritesDone();
}

void ChatSession::Cancel() {
  std::shared_ptr<Call> call;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    call = call_;
  }
  if (call != nullptr) call->context.TryCancel();
}

// Waits a slice for `*server`'s channel, or moves *server on to the next
// server when that one cannot be reached (its channel failed to connect, or
// has been connecting for longer than connect_timeout). The caller loops,
// checking for Leave, Cancel and giving up between slices.
bool ChatSession::WaitForAServer(size_t* server) {
  // The channel reconnects by itself, with its own short backoff (see
  // Dial); wait for it in slices, to notice Leave and Cancel.
  grpc::Channel* channel = channels_[*server].get();
  if (channel->WaitForConnected(
          absl::ToChronoTime(absl::Now() + absl::Milliseconds(250)))) {
    waiting_since_.reset();
    return true;
  }
  if (servers_.size() == 1) return false;  // Wait for the one server.
  const absl::Time now = absl::Now();
  if (!waiting_since_) waiting_since_ = now;
  const grpc_connectivity_state state = channel->GetState(false);
  if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
      state == GRPC_CHANNEL_SHUTDOWN ||
      now - *waiting_since_ >= options_.connect_timeout) {
    *server = (*server + 1) % servers_.size();
    waiting_since_.reset();
  }
  return false;
}

std::vector<std::string> ChatSession::skipped() const {
  absl::MutexLock lock(&mu_);
  return skipped_;
}

std::string ChatSession::server() const {
  absl::MutexLock lock(&mu_);
  return servers_[server_];
}

v1::ChatRoom::Stub* ChatSession::stub() const {
  absl::MutexLock lock(&mu_);
  return stubs_[server_].get();
}

bool ChatSession::connected() const {
  absl::MutexLock lock(&mu_);
  return connected_;
}

std::string ChatSession::name() const {
  absl::MutexLock lock(&mu_);
  return name_;
}

std::string ChatSession::room() const {
  absl::MutexLock lock(&mu_);
  return room_;
}

uint64_t ChatSession::last_seq() const {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}

std::string ChatSession::epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

v1::Limits ChatSession::limits() const {
  absl::MutexLock lock(&mu_);
  return limits_;
}

size_t ChatSession::window() const {
  absl::MutexLock lock(&mu_);
  return WindowLocked();
}

size_t ChatSession::unconfirmed() const {
  absl::MutexLock lock(&mu_);
  return unconfirmed_.size();
}

size_t ChatSession::resends() const {
  absl::MutexLock lock(&mu_);
  return resends_;
}

bool ChatSession::confirms_each_say() const {
  absl::MutexLock lock(&mu_);
  return ids_;
}

bool ChatSession::Stopping() const {
  absl::MutexLock lock(&mu_);
  return leaving_ || cancelled_;
}

std::vector<SessionEvent> ChatSession::Track(const v1::ChatResponse& event,
                                             bool rejoin_welcome) {
  absl::MutexLock lock(&mu_);
  std::vector<SessionEvent> reports;
  if (replay_until_ && event.seq() > *replay_until_) {
    replay_until_.reset();
    reports = TakeLost("the connection dropped first");
  }
  if (event.has_message() && event.message().sender() == name_) {
    const v1::Message& m = event.message();
    if (!m.client_id().empty()) {
      Settle(m.client_id(), SessionEvent::Kind::kPosted, event.seq(), "",
             &reports);
    } else if (!ids_ && event.seq() > last_seq_) {
      // A server without client_ids: an own message newer than what was
      // seen confirms the oldest Say it matches; older unconfirmed Says
      // were refused (the server answers a stream's requests in order;
      // refusals come as notices).
      auto it = std::find_if(
          unconfirmed_.begin(), unconfirmed_.end(), [&m](const Unconfirmed& u) {
            return u.clean == m.text() && u.action == m.action();
          });
      if (it != unconfirmed_.end()) {
        SessionEvent e;
        e.kind = SessionEvent::Kind::kPosted;
        e.tag = it->tag;
        e.seq = event.seq();
        reports.push_back(std::move(e));
        unconfirmed_.erase(unconfirmed_.begin(), it + 1);
      }
    }
  }
  if (event.has_duplicate()) {
    Settle(event.duplicate().client_id(), SessionEvent::Kind::kPosted,
           event.duplicate().seq(), "", &reports);
  }
  if (event.has_notice() && !event.notice().client_id().empty()) {
    Settle(event.notice().client_id(), SessionEvent::Kind::kNotSent, 0,
           event.notice().text(), &reports);
  }
  if (event.has_welcome()) {
    const v1::Welcome& w = event.welcome();
    const bool resumed = welcomed_ && room_ == w.room() && epoch_ == w.epoch();
    ids_ = !w.resume_secret().empty();
    resume_secret_ = w.resume_secret();
    if (rejoin_welcome) {
      if (resumed && ids_) {
        // Same history: what the old connection had in flight is sent
        // again; the server posts each once.
        for (Unconfirmed& u : unconfirmed_) {
          if (u.call < call_number_ && !u.resend) {
            u.resend = true;
            ++resends_;
          }
        }
      } else if (resumed) {
        replay_until_ = w.last_seq();
      } else {
        // The seqs resumed from mean nothing here: nobody can tell which
        // Says the lost history held.
        replay_until_.reset();
        std::vector<SessionEvent> lost = TakeLost(
            "the room's history was reset, so whether it was posted "
            "cannot be told");
        for (SessionEvent& e : lost) reports.push_back(std::move(e));
      }
    }
    if (!resumed) {
      // A new room, or a history that was reset (the server said so in a
      // notice): our seqs mean nothing there; count from here.
      last_seq_ = w.last_seq();
    } else if (w.last_seq() < last_seq_) {
      last_seq_ = w.last_seq();  // A server that sends no epoch restarted.
    }
    // Same room, same epoch: a resume; the replay that follows moves
    // last_seq_ on, event by event, so a drop mid-replay loses nothing.
    welcomed_ = true;
    limits_ = w.limits();
    epoch_ = w.epoch();
    room_ = w.room();
    name_ = w.name();
  }
  if (event.seq() > 0) last_seq_ = std::max(last_seq_, event.seq());
  if (event.has_member_renamed() &&
      event.member_renamed().old_name() == name_) {
    name_ = event.member_renamed().new_name();
  }
  return reports;
}

void ChatSession::Settle(const std::string& client_id, SessionEvent::Kind kind,
                         uint64_t seq, absl::string_view why,
                         std::vector<SessionEvent>* reports) {
  auto it = std::find_if(
      unconfirmed_.begin(), unconfirmed_.end(),
      [&client_id](const Unconfirmed& u) { return u.client_id == client_id; });
  if (it == unconfirmed_.end()) return;  // Another session's, or settled.
  SessionEvent e;
  e.kind = kind;
  e.tag = it->tag;
  e.seq = seq;
  if (kind == SessionEvent::Kind::kNotSent) {
    e.reason = std::string(why);
    e.text = absl::StrCat("not sent (", why, "): ", it->line);
  }
  if (it->resend) --resends_;
  unconfirmed_.erase(it);
  reports->push_back(std::move(e));
}

std::vector<SessionEvent> ChatSession::TakeLost(absl::string_view why) {
  std::vector<SessionEvent> lost;
  while (!unconfirmed_.empty() && unconfirmed_.front().call < call_number_) {
    const Unconfirmed& u = unconfirmed_.front();
    SessionEvent e;
    e.kind = SessionEvent::Kind::kNotSent;
    e.tag = u.tag;
    e.reason = std::string(why);
    e.text = absl::StrCat("not sent (", why, "): ", u.line);
    lost.push_back(std::move(e));
    if (u.resend) --resends_;
    unconfirmed_.pop_front();
  }
  return lost;
}

void ChatSession::Deliver(std::vector<SessionEvent> reports,
                          v1::ChatResponse event) {
  for (SessionEvent& report : reports) {
    listener_->OnSessionEvent(std::move(report));
  }
  // A duplicate answer is for the session alone: its report went above.
  if (event.has_duplicate()) return;
  SessionEvent e;
  e.event = std::move(event);
  listener_->OnSessionEvent(std::move(e));
}

void ChatSession::Emit(SessionEvent::Kind kind, std::string text) {
  SessionEvent e;
  e.kind = kind;
  e.text = std::move(text);
  listener_->OnSessionEvent(std::move(e));
}

void ChatSession::EmitEnded(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (leaving_ && absl::IsCancelled(status)) {
      status = absl::OkStatus();  // Left while reconnecting.
    } else if (cancelled_ && !status.ok()) {
      status = absl::CancelledError("cancelled");
    }
  }
  SessionEvent e;
  e.kind = SessionEvent::Kind::kEnded;
  e.status = std::move(status);
  listener_->OnSessionEvent(std::move(e));
}

// Reads the first response of `call`. On a welcome: marks the session
// connected on `call`, hands the welcome on (after kReconnected when
// `rejoin`, which resumed after seq `resumed_after`) and returns true.
bool ChatSession::ReadWelcome(Call* call, bool rejoin, uint64_t resumed_after) {
  v1::ChatResponse event;
  if (!call->stream->Read(&event)) return false;
  std::vector<SessionEvent> reports = Track(event, rejoin);
  {
    absl::MutexLock lock(&mu_);
    connected_ = true;
    start_state_ = StartState::kJoined;
  }
  if (rejoin) {
    const std::string& server = servers_[call->server];
    Emit(SessionEvent::Kind::kReconnected,
         resumed_after == 0
             ? absl::StrCat("reconnected to chat-service at ", server)
             : absl::StrCat("reconnected to chat-service at ", server,
                            "; resumed after seq ", resumed_after));
  }
  Deliver(std::move(reports), std::move(event));
  return true;
}

absl::Status ChatSession::EndCall(Call* call) {
  {
    // No write is in flight once write_mu_ is ours, and none starts after.
    absl::MutexLock write_lock(&write_mu_);
    absl::MutexLock lock(&mu_);
    connected_ = false;
  }
  return FromGrpc(call->stream->Finish(), servers_[call->server]);
}

void ChatSession::Run(std::shared_ptr<Call> call) {
  if (!ReadWelcome(call.get(), false, 0)) {
    absl::Status error = EndCall(call.get());
    absl::MutexLock lock(&mu_);
    start_error_ = error.ok()
                       ? absl::UnavailableError("the server ended the join")
                       : error;
    start_state_ = StartState::kFailed;
    return;
  }
  for (;;) {
    v1::ChatResponse event;
    while (call->stream->Read(&event)) {
      std::vector<SessionEvent> reports = Track(event, false);
      Deliver(std::move(reports), std::move(event));
      event = v1::ChatResponse();
    }
    absl::Status status = EndCall(call.get());
    // ABORTED: another connection of ours took the name back (with our
    // resume secret); it is the session now.
    if (status.ok() || Stopping() || !options_.reconnect ||
        absl::IsAlreadyExists(status) || absl::IsAborted(status) ||
        !Retryable(status)) {
      EmitEnded(std::move(status));
      return;
    }
    Emit(SessionEvent::Kind::kDisconnected,
         absl::StrCat(status.message(), "; reconnecting"));
    call = Reconnect(std::move(status));
    if (call == nullptr) return;
  }
}

// Rejoins with backoff. Returns the new call, welcomed, or nullptr after
// emitting kEnded (gave up, left, cancelled or refused).
std::shared_ptr<ChatSession::Call> ChatSession::Reconnect(absl::Status cause) {
  const absl::Time started = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    reconnecting_ = true;
    give_up_at_ = started + options_.give_up_after;
  }
  auto done = [this] {
    absl::MutexLock lock(&mu_);
    reconnecting_ = false;
  };
  absl::Duration backoff = options_.initial_backoff;
  absl::Status last = std::move(cause);
  // A lost connection moves on to the next server (the same one when there
  // is only one).
  size_t server;
  {
    absl::MutexLock lock(&mu_);
    server = (server_ + 1) % servers_.size();
  }
  for (;;) {
    if (Stopping()) break;
    bool give_up;
    {
      absl::MutexLock lock(&mu_);
      give_up = absl::Now() > give_up_at_;
    }
    if (give_up) {
      done();
      EmitEnded(absl::UnavailableError(
          absl::StrCat("gave up reconnecting after ",
                       absl::FormatDuration(absl::Trunc(absl::Now() - started,
                                                        absl::Seconds(1))),
                       ": ", last.message())));
      return nullptr;
    }
    if (!WaitForAServer(&server)) continue;
    v1::Join join;
    {
      absl::MutexLock lock(&mu_);
      join.set_name(name_);
      join.set_room(room_);
      join.set_resume_after_seq(last_seq_);
      join.set_resume_epoch(epoch_);
      join.set_resume_secret(resume_secret_);
    }
    std::shared_ptr<Call> call = OpenCall(join, server);
    {
      absl::MutexLock lock(&mu_);
      call_ = call;
      server_ = server;
      ++call_number_;
      if (leaving_ || cancelled_) call->context.TryCancel();
    }
    if (ReadWelcome(call.get(), true, join.resume_after_seq())) {
      done();
      return call;
    }
    last = EndCall(call.get());
    if (Stopping()) break;
    if (!Retryable(last)) {
      done();
      EmitEnded(last);
      return nullptr;
    }
    // Reachable but refused (e.g. our old member is not gone yet): back off.
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return leaving_ || cancelled_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  done();
  EmitEnded(absl::CancelledError("stopped reconnecting"));
  return nullptr;
}

}  // namespace chat

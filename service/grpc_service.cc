#include "service/grpc_service.h"

#include <grpcpp/alarm.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "chat_wire.pb.h"
#include "metrics/metrics.h"
#include "metrics/stats.h"
#include "service/chat_request.h"
#include "service/log.h"

namespace chat {
namespace {

using Bytes = grpc::ByteBuffer;

// The token a call carries (owned names, service/auth.h): its
// `authorization` metadata, "Bearer TOKEN" (the scheme in any case); "" when
// there is none, or when `hub` uses no tokens (whatever a proxy or a client
// sends then is not ours to judge); UNAUTHENTICATED for metadata of another
// form.
absl::StatusOr<std::string> BearerToken(
    const Hub& hub, const grpc::ServerContextBase& context) {
  if (hub.options().auth == nullptr) return std::string();
  constexpr absl::string_view kScheme = "bearer ";
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::string();
  const absl::string_view value(it->second.data(), it->second.size());
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError(
        "the authorization metadata is not \"Bearer TOKEN\"");
  }
  return std::string(absl::StripAsciiWhitespace(value.substr(kScheme.size())));
}

// This transport's encoding of events (service/event.h).
const EncodingKey<Bytes> kWireBytesEncoding = RegisterEncoding<Bytes>();

// The event's serialized bytes as a ByteBuffer, made once per event and
// shared by every member's write. The slice is a copy that gRPC refcounts on
// its own, so gRPC may hold it after the event is gone.
const Bytes& WireBytes(const Event& event) {
  return event.Encoded(kWireBytesEncoding, [](const Event& e) {
    grpc::Slice slice(e.wire().data(), e.wire().size());
    return Bytes(&slice, 1);
  });
}

class ChatStream;
class StreamSink;

// What every stream of one service shares.
struct StreamEnv {
  Hub* hub;
  WriteStarter* starter;
  const ChatServiceOptions* options;
  ThrottledLog* refusals;
  std::atomic<size_t>* active;
};

}  // namespace

// WriteStarter: the thread that starts writes for woken streams.
//
// A wake comes from whoever posted the event, once per member. Starting the
// write right there costs one sendmsg per event per member: the member's
// previous write has usually completed by the next post, so nothing
// accumulates. Handing the wake to this thread lets each member's events
// pile up while the thread works through the others, so a busy room writes
// several events per member per syscall, and the poster goes back to
// reading sooner. Under light load it costs one thread hand-off per event.
class WriteStarter {
 public:
  WriteStarter() : thread_([this] { Loop(); }) {
    pthread_setname_np(thread_.native_handle(), "chat-writes");
  }
  ~WriteStarter() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  // Queues `sink` to have its stream's next write started. Any thread; never
  // blocks on a stream.
  void Schedule(std::shared_ptr<StreamSink> sink) {
    absl::MutexLock lock(&mu_);
    ready_.push_back(std::move(sink));
  }

 private:
  void Loop();

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<StreamSink>> ready_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

namespace {

// The sink the core wakes; it outlives the stream, which detaches itself in
// OnDone, so a late wake finds no stream rather than a deleted one.
class StreamSink final : public MemberSink,
                         public std::enable_shared_from_this<StreamSink> {
 public:
  StreamSink(ChatStream* stream, WriteStarter* starter)
      : starter_(starter), stream_(stream) {}
  // Starts the stream's next write: right here when the stream has been
  // idle a while and this thread has not already written for many streams
  // just now (a quiet room: the hand-off would only add latency and a thread
  // hop per write); else through the WriteStarter thread, so that a busy
  // room's events pile up and leave in batches, and the poster of a big
  // room's event goes back to reading instead of writing to every member.
  void Wake() override {
    const int64_t now = NowNanos();
    // Wakes on this thread less than kBurstGapNanos apart form a burst.
    thread_local int64_t last_wake = 0;
    thread_local int burst = 0;
    if (now - last_wake > kBurstGapNanos) burst = 0;
    last_wake = now;
    if (now - idle_since_.load(std::memory_order_relaxed) < kBusyNanos ||
        ++burst > kMaxInlineWakesPerBurst) {
      starter_->Schedule(shared_from_this());
    } else {
      StartWrite();
    }
  }
  // Starts the stream's next write, if it still exists.
  void StartWrite();
  // The join timer fired: ends the stream if it has not joined.
  void JoinTimedOut();
  // The stream drained its outbox empty and waits for a wake.
  void SetIdle() { idle_since_.store(NowNanos(), std::memory_order_relaxed); }
  void Detach() {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
  }

 private:
  // A stream woken within this long of going idle counts as busy.
  static constexpr int64_t kBusyNanos = 1000 * 1000;
  // At most this many streams are written inline per burst of wakes.
  static constexpr int kMaxInlineWakesPerBurst = 128;
  static constexpr int64_t kBurstGapNanos = 200 * 1000;

  static int64_t NowNanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  WriteStarter* const starter_;
  std::atomic<int64_t> idle_since_{0};
  absl::Mutex mu_;
  ChatStream* stream_ ABSL_GUARDED_BY(mu_);
};

// The status message of a stream ended for want of a join.
std::string JoinTimeoutText(absl::Duration timeout) {
  return absl::StrCat("no join within ", absl::FormatDuration(timeout),
                      ": the first request on a Chat stream must be a join");
}

class ChatStream final : public grpc::ServerBidiReactor<Bytes, Bytes> {
 public:
  ChatStream(const StreamEnv& env, grpc::CallbackServerContext* context)
      : env_(env),
        hub_(env.hub),
        context_(context),
        peer_(env.options->peer ? env.options->peer(context->peer())
                                : ParseGrpcPeer(context->peer())),
        sink_(std::make_shared<StreamSink>(this, env.starter)) {
    env_.active->fetch_add(1);
    Metrics().grpc_streams.Add(1);
    StartRead(&request_bytes_);
    // Last: the timer may end the stream at once.
    const absl::Duration timeout = env_.options->join_timeout;
    if (timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration()) {
      // The callback holds the sink, not the stream, which may be gone.
      join_alarm_.Set(absl::ToChronoTime(absl::Now() + timeout),
                      [sink = sink_](bool fired) {
                        if (fired) sink->JoinTimedOut();
                      });
    }
  }

  // Ends the stream if it has neither joined nor started to. Called with
  // the sink's lock held (the stream cannot be done meanwhile); OnDone logs
  // it, without that lock.
  void OnJoinTimeout() {
    {
      absl::MutexLock lock(&mu_);
      if (member_ || joining_ || finished_) return;
      finished_ = true;
    }
    join_timed_out_.store(true);
    Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        JoinTimeoutText(env_.options->join_timeout)));
  }

  // Starts the next write if none is in flight. Any thread.
  void Wake() {
    std::optional<grpc::Status> finish;
    bool write = false;
    grpc::WriteOptions options;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_ || !member_) return;
      write = NextWriteLocked(&options, &finish);
    }
    Act(write, options, std::move(finish));
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (or the call broke): leave; the stream ends
      // once what is queued is written.
      std::shared_ptr<Member> member = this->member();
      if (member) {
        member->Leave(context_->IsCancelled() ? "disconnected" : "");
      } else {
        FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "the stream ended before a join request"));
      }
      return;
    }
    // Parsed as chat.wire.ChatRequest (strings as bytes): text that is not
    // valid UTF-8 reaches the core, which repairs it.
    wire::ChatRequest request;
    grpc::Status parsed =
        grpc::SerializationTraits<wire::ChatRequest>::Deserialize(
            &request_bytes_, &request);
    if (!parsed.ok()) {
      Metrics().Refused(RefusalCause::kBadInput);
      // gRPC frames each message, so one bad message spoils nothing else.
      if (std::shared_ptr<Member> member = this->member()) {
        member->Notify("request ignored: it is not a valid ChatRequest");
        StartRead(&request_bytes_);
      } else {
        RefuseBeforeJoin(
            "invalid-first",
            grpc::Status(
                grpc::StatusCode::INVALID_ARGUMENT,
                "the first request is not a valid ChatRequest with a join"));
      }
      return;
    }
    if (Handle(request)) StartRead(&request_bytes_);
  }

  void OnWriteDone(bool ok) override {
    // A failed write means the connection is gone: drop what is queued; the
    // drain below then finds the outbox closed and finishes.
    std::shared_ptr<Member> member = this->member();
    if (!ok) member->Disconnect("disconnected");
    std::optional<grpc::Status> finish;
    bool write;
    grpc::WriteOptions options;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        pending_.clear();
        next_ = 0;
      }
      write = NextWriteLocked(&options, &finish);
    }
    Act(write, options, std::move(finish));
  }

  void OnCancel() override {
    std::shared_ptr<Member> member = this->member();
    if (member) {
      member->Disconnect("disconnected");
    } else {
      FinishOnce(grpc::Status::CANCELLED);
    }
  }

  void OnDone() override {
    sink_->Detach();
    env_.active->fetch_sub(1);
    Metrics().grpc_streams.Add(-1);
    if (join_timed_out_.load()) {
      Refused("join-timeout", JoinTimeoutText(env_.options->join_timeout));
    }
    // A join that raced with a cancellation can leave a member behind.
    if (std::shared_ptr<Member> member = this->member()) {
      member->Disconnect("disconnected");
    }
    delete this;
  }

 private:
  std::shared_ptr<Member> member() {
    absl::MutexLock lock(&mu_);
    return member_;
  }

  // Acts on one request. Returns true to read the next one.
  bool Handle(const wire::ChatRequest& request) {
    std::shared_ptr<Member> member = this->member();
    if (!member) {
      if (!request.has_join()) {
        Metrics().Refused(RefusalCause::kBadInput);
        RefuseBeforeJoin("not-a-join",
                         grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "the first request must be a join"));
        return false;
      }
      {
        // From here on the join timer leaves the stream alone.
        absl::MutexLock lock(&mu_);
        if (finished_) return false;
        joining_ = true;
      }
      JoinRequest join =
          JoinRequestFrom(request.join(), v1::TRANSPORT_GRPC, peer_.ip);
      // Join.token is the WebSocket's; here the token is the call's.
      absl::StatusOr<std::string> token =
          join.token.empty()
              ? BearerToken(*hub_, *context_)
              : absl::InvalidArgumentError(
                    "send the token as \"authorization: Bearer TOKEN\" "
                    "metadata, not in the join");
      if (token.ok()) join.token = *std::move(token);
      // Hub::Join counts its own refusals; this one it never sees.
      if (!token.ok()) Metrics().Refused(token.status());
      absl::StatusOr<std::shared_ptr<Member>> joined =
          token.ok() ? hub_->Join(join, sink_) : token.status();
      if (!joined.ok()) {
        RefuseBeforeJoin(absl::StrCat("join-", absl::StatusCodeToString(
                                                   joined.status().code())),
                         ToGrpcStatus(joined.status()));
        return false;
      }
      {
        absl::MutexLock lock(&mu_);
        member_ = *joined;
      }
      join_alarm_.Cancel();
      Wake();  // The welcome is queued; no wake comes for it.
      return true;
    }
    return ApplyRequest(*member, request);
  }

  // Picks the next event to write, draining the outbox when the pending batch
  // is empty. Returns true and fills current_ when there is one to write;
  // sets *finish when the outbox is closed and fully written.
  bool NextWriteLocked(grpc::WriteOptions* options,
                       std::optional<grpc::Status>* finish)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return false;
    if (next_ == pending_.size()) {
      pending_.clear();
      next_ = 0;
      absl::Status closed;
      switch (member_->outbox().Drain(&pending_, &closed)) {
        case Outbox::DrainResult::kEvents:
          break;
        case Outbox::DrainResult::kEmpty:
          sink_->SetIdle();
          return false;
        case Outbox::DrainResult::kClosed:
          finished_ = true;
          *finish = ToGrpcStatus(closed);
          return false;
      }
    }
    // The event stays alive (in current_event_) until the write is done.
    current_event_ = std::move(pending_[next_]);
    current_ = &WireBytes(*current_event_);
    Metrics().Delivered(v1::TRANSPORT_GRPC, 1, current_event_->wire().size());
    ++next_;
    if (next_ < pending_.size() && wrote_any_) options->set_buffer_hint();
    wrote_any_ = true;
    writing_ = true;
    return true;
  }

  void Act(bool write, const grpc::WriteOptions& options,
           std::optional<grpc::Status> finish) {
    if (write) StartWrite(current_, options);
    if (finish) Finish(std::move(*finish));
  }

  // Logs a refusal (a stream refuses once), throttled per cause.
  void Refused(absl::string_view cause, absl::string_view text) {
    env_.refusals->Log(absl::StrCat("grpc ", cause),
                       {LogLevel::kInfo,
                        absl::StrCat("stream refused: ", text),
                        {{"transport", "grpc"}, {"peer", peer_.address}}});
  }

  // Ends a stream that has no member with `status`, logged as a refusal.
  void RefuseBeforeJoin(absl::string_view cause, grpc::Status status) {
    Refused(cause, status.error_message());
    FinishOnce(std::move(status));
  }

  // Ends a stream that has no member yet, so no write was ever started.
  void FinishOnce(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(std::move(status));
  }

  const StreamEnv env_;
  Hub* const hub_;
  grpc::CallbackServerContext* const context_;
  const PeerInfo peer_;
  const std::shared_ptr<StreamSink> sink_;
  Bytes request_bytes_;  // Owned by the read in flight.
  // Ends the stream if no join came in time; set in the constructor,
  // cancelled by the join (its callback holds only the sink).
  grpc::Alarm join_alarm_;
  std::atomic<bool> join_timed_out_{false};

  absl::Mutex mu_;
  std::shared_ptr<Member> member_ ABSL_GUARDED_BY(mu_);
  // A join request is being handled (the join timer no longer applies).
  bool joining_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Drained from the outbox, written in order from next_.
  std::vector<EventPtr> pending_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  bool wrote_any_ ABSL_GUARDED_BY(mu_) = false;
  // The event of the write in flight (writing_) and its bytes.
  EventPtr current_event_;
  const Bytes* current_ = nullptr;
};

void StreamSink::StartWrite() {
  absl::MutexLock lock(&mu_);
  if (stream_ != nullptr) stream_->Wake();
}

void StreamSink::JoinTimedOut() {
  absl::MutexLock lock(&mu_);
  if (stream_ != nullptr) stream_->OnJoinTimeout();
}

}  // namespace

void WriteStarter::Loop() {
  std::vector<std::shared_ptr<StreamSink>> batch;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WriteStarter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stop_ || !w->ready_.empty();
          },
          this));
      if (stop_) return;
      batch.swap(ready_);
    }
    for (const auto& sink : batch) sink->StartWrite();
    batch.clear();
  }
}

ChatRoomService::ChatRoomService(Hub* hub, ChatServiceOptions options)
    : hub_(hub),
      options_(std::move(options)),
      starter_(std::make_unique<WriteStarter>()) {}

size_t ChatRoomService::active_streams() const {
  return active_streams_.load();
}

ChatRoomService::~ChatRoomService() = default;

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

grpc::ServerBidiReactor<Bytes, Bytes>* ChatRoomService::Chat(
    grpc::CallbackServerContext* context) {
  const StreamEnv env{hub_, starter_.get(), &options_, &refusals_,
                      &active_streams_};
  return new ChatStream(env, context);
}

grpc::ServerUnaryReactor* ChatRoomService::ListMembers(
    grpc::CallbackServerContext* context, const v1::ListMembersRequest* request,
    v1::ListMembersResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::string room;
  absl::StatusOr<std::string> token = BearerToken(*hub_, *context);
  absl::StatusOr<std::vector<v1::Member>> members =
      token.ok() ? hub_->ListMembers(request->room(), &room, *token)
                 : token.status();
  if (!members.ok()) {
    reactor->Finish(ToGrpcStatus(members.status()));
    return reactor;
  }
  response->set_room(room);
  for (v1::Member& m : *members) *response->add_members() = std::move(m);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ChatRoomService::GetHistory(
    grpc::CallbackServerContext* context, const v1::GetHistoryRequest* request,
    v1::GetHistoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  HistoryQuery query;
  query.room = request->room();
  query.limit = request->limit();
  query.before_seq = request->before_seq();
  query.after_seq = request->after_seq();
  absl::StatusOr<std::string> token = BearerToken(*hub_, *context);
  if (token.ok()) query.token = *std::move(token);
  absl::StatusOr<HistoryPage> page =
      token.ok() ? hub_->History(query) : token.status();
  if (!page.ok()) {
    reactor->Finish(ToGrpcStatus(page.status()));
    return reactor;
  }
  response->set_room(page->room);
  response->set_last_seq(page->last_seq);
  response->set_first_seq(page->first_seq);
  response->set_epoch(page->epoch);
  for (const EventPtr& e : page->messages) {
    *response->add_events() = e->response();
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ChatRoomService::GetStats(
    grpc::CallbackServerContext* context, const v1::GetStatsRequest*,
    v1::GetStatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::string> token = BearerToken(*hub_, *context);
  absl::Status allowed =
      token.ok() ? AuthorizeStats(hub_->options(), *token, absl::Now())
                 : token.status();
  if (!allowed.ok()) {
    reactor->Finish(ToGrpcStatus(allowed));
    return reactor;
  }
  *response = CollectStats(*hub_);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace chat

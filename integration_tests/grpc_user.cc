#include "integration_tests/grpc_user.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "integration_tests/script.h"
#include "service/format.h"

namespace chat {

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

GrpcUser::GrpcUser(std::string alias, absl::Time epoch,
                   std::shared_ptr<grpc::Channel> channel)
    : User(std::move(alias), "grpc", epoch),
      stub_(v1::ChatRoom::NewStub(std::move(channel))) {}

GrpcUser::~GrpcUser() {
  bool started;
  {
    absl::MutexLock lock(&io_mu_);
    started = started_;
  }
  if (!started) return;
  context_.TryCancel();
  RequestRelease();
  absl::MutexLock lock(&io_mu_);
  // OnDone comes once every operation has finished; after a cancel that is
  // prompt. Leak rather than free memory gRPC may still touch.
  if (!io_mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(20))) {
    std::fprintf(stderr, "chat-scenario: gRPC user %s did not finish\n",
                 alias_.c_str());
    std::abort();
  }
}

void GrpcUser::Start(const v1::Join& join) {
  resume_ = join.resume_after_seq();
  resume_epoch_ = join.resume_epoch();
  {
    absl::MutexLock lock(&mu_);
    room_ = join.room().empty() ? "lobby" : join.room();
  }
  stub_->async()->Chat(&context_, this);
  AddHold();
  {
    absl::MutexLock lock(&io_mu_);
    started_ = true;
    reading_ = true;
  }
  StartRead(&response_);
  v1::ChatRequest request;
  *request.mutable_join() = join;
  Send(std::move(request), false).IgnoreError();
  StartCall();
}

absl::Status GrpcUser::Say(const std::string& text) {
  v1::ChatRequest r;
  r.mutable_say()->set_text(text);
  return Send(std::move(r), false);
}

absl::Status GrpcUser::Me(const std::string& text) {
  v1::ChatRequest r;
  r.mutable_say()->set_text(text);
  r.mutable_say()->set_action(true);
  return Send(std::move(r), false);
}

absl::Status GrpcUser::Nick(const std::string& name) {
  v1::ChatRequest r;
  r.mutable_rename()->set_name(name);
  return Send(std::move(r), false);
}

absl::Status GrpcUser::Join(const std::string& room, uint32_t history) {
  v1::ChatRequest r;
  r.mutable_join()->set_name(this->name());
  r.mutable_join()->set_room(room);
  r.mutable_join()->set_history(history);
  return Send(std::move(r), false);
}

absl::Status GrpcUser::Leave(const std::string& reason) {
  v1::ChatRequest r;
  r.mutable_leave()->set_reason(reason);
  return Send(std::move(r), true);
}

absl::Status GrpcUser::Kill() {
  {
    absl::MutexLock lock(&io_mu_);
    if (killed_) return absl::FailedPreconditionError("already killed");
    killed_ = true;
  }
  context_.TryCancel();
  RequestRelease();
  return absl::OkStatus();
}

absl::Status GrpcUser::Close() {
  {
    absl::MutexLock lock(&io_mu_);
    if (close_requested_) {
      return absl::FailedPreconditionError("already half-closed");
    }
    close_requested_ = true;
  }
  Pump();
  return absl::OkStatus();
}

absl::Status GrpcUser::SendRaw(const std::string&) {
  return absl::InvalidArgumentError(
      "send (raw bytes) is for TCP users; a gRPC user sends with say");
}

void GrpcUser::Pause() {
  absl::MutexLock lock(&io_mu_);
  paused_ = true;
}

void GrpcUser::Resume() {
  {
    absl::MutexLock lock(&io_mu_);
    paused_ = false;
    if (reading_ || read_closed_ || released_) return;
    reading_ = true;
    ++starting_;
  }
  StartRead(&response_);
  DoneStarting();
}

absl::Status GrpcUser::Send(v1::ChatRequest request, bool close) {
  {
    absl::MutexLock lock(&io_mu_);
    if (killed_) {
      return absl::FailedPreconditionError("the user was killed");
    }
    if (close_requested_) {
      return absl::FailedPreconditionError(
          "the stream is half-closed (leave or close came before)");
    }
    if (released_ || write_failed_) {
      return absl::FailedPreconditionError(
          "the stream has ended; nothing more can be sent");
    }
    queue_.push_back(std::move(request));
    if (close) close_requested_ = true;
  }
  Pump();
  return absl::OkStatus();
}

void GrpcUser::Pump() {
  bool write = false;
  {
    absl::MutexLock lock(&io_mu_);
    if (writing_ || released_ || write_failed_) return;
    if (!queue_.empty()) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      write = true;
    } else if (close_requested_ && !closed_) {
      closed_ = true;
    } else {
      return;
    }
    writing_ = true;
    ++starting_;
  }
  if (write) {
    StartWrite(&current_);
  } else {
    StartWritesDone();
  }
  DoneStarting();
}

void GrpcUser::DoneStarting() {
  bool release;
  {
    absl::MutexLock lock(&io_mu_);
    --starting_;
    release = TakeReleaseLocked();
  }
  if (release) RemoveHold();
}

void GrpcUser::RequestRelease() {
  bool release;
  {
    absl::MutexLock lock(&io_mu_);
    release_wanted_ = true;
    release = TakeReleaseLocked();
  }
  if (release) RemoveHold();
}

bool GrpcUser::TakeReleaseLocked() {
  if (!release_wanted_ || starting_ > 0 || released_) return false;
  released_ = true;
  return true;
}

void GrpcUser::OnReadDone(bool ok) {
  if (!ok) {
    {
      absl::MutexLock lock(&io_mu_);
      reading_ = false;
      read_closed_ = true;
    }
    RequestRelease();
    return;
  }
  std::string line = FormatEventLine(response_);
  Check(response_, line);
  AddRecord(response_.seq(), std::move(line));
  if (response_.has_welcome()) {
    // Not a line the server sent: shown in failure reports only.
    AddNote(absl::StrCat("the welcome names epoch \"",
                         EscapeForDisplay(response_.welcome().epoch()), "\""));
  }
  {
    absl::MutexLock lock(&io_mu_);
    if (paused_) {
      reading_ = false;
      return;
    }
  }
  StartRead(&response_);
}

void GrpcUser::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&io_mu_);
    writing_ = false;
    if (!ok) {
      write_failed_ = true;
      queue_.clear();
    }
  }
  if (!ok) AddNote("a write failed: the stream is broken or ended");
  Pump();
}

void GrpcUser::OnWritesDoneDone(bool ok) {
  {
    absl::MutexLock lock(&io_mu_);
    writing_ = false;
  }
  if (!ok) AddNote("the half-close failed: the stream is broken or ended");
}

void GrpcUser::OnDone(const grpc::Status& status) {
  SetEnding(StatusCodeName(status.error_code()), status.error_message());
  absl::MutexLock lock(&io_mu_);
  done_ = true;
}

void GrpcUser::Check(const v1::ChatResponse& r, const std::string& line) {
  auto violation = [&](const std::string& what) {
    AddViolation(absl::StrCat(what, " (event: seq=", r.seq(), " \"",
                              EscapeForDisplay(line), "\")"));
  };
  if (r.has_welcome()) {
    if (have_welcome_) resume_ = 0;  // A later welcome follows a move.
    have_welcome_ = true;
    base_ = r.welcome().last_seq();
    next_ = base_ + 1;
    replay_prev_ = 0;
    live_ = false;
    lost_ = false;
    own_name_ = r.welcome().name();
    const std::string& epoch = r.welcome().epoch();
    welcome_epoch_ = epoch;
    SetRoomEpoch(epoch);
    // A resume into another history than the one its seq belongs to must
    // be told so (and then is a plain join).
    reset_expected_ = resume_ > 0 && resume_epoch_ != epoch;
    reset_seen_ = false;
    if (r.seq() != 0) violation("a welcome must have seq 0");
    if (epoch.empty()) {
      violation("a welcome must name the epoch of the room's history");
    }
    return;
  }
  if (r.seq() == 0) {
    if (r.has_notice() &&
        (absl::StrContains(r.notice().text(), "no longer held") ||
         absl::StrContains(r.notice().text(), "were skipped"))) {
      lost_ = true;
    }
    if (r.has_notice() &&
        absl::StrContains(r.notice().text(), "history was reset")) {
      if (!reset_expected_ || reset_seen_) {
        violation(absl::StrCat(
            "a \"history was reset\" notice, but ",
            !have_welcome_ ? "it came before the welcome"
            : reset_seen_  ? "one came already"
            : resume_ == 0
                ? "this join did not resume"
                : absl::StrCat("the resume named the room's own epoch \"",
                               EscapeForDisplay(resume_epoch_), "\"")));
      }
      reset_seen_ = true;
      resume_ = 0;  // From here on, a join without resume.
    }
    if (!r.has_notice()) violation("only welcomes and notices have seq 0");
    return;
  }
  if (!have_welcome_) {
    violation("a room event came before the welcome");
    return;
  }
  if (reset_expected_ && !reset_seen_) {
    violation(absl::StrCat(
        "resumed after seq ", resume_, " of epoch \"",
        EscapeForDisplay(resume_epoch_), "\", but the welcome names epoch \"",
        EscapeForDisplay(welcome_epoch_), "\": expected a \"history ",
        "was reset\" notice before any room event"));
    reset_seen_ = true;
    resume_ = 0;
  }
  if (r.seq() <= base_) {
    if (live_) {
      violation(absl::StrCat("seq went backwards: seq ", r.seq(),
                             " came after live seq ", next_ - 1));
    } else if (r.seq() <= replay_prev_) {
      violation(absl::StrCat("replayed seqs out of order: seq ", r.seq(),
                             " came after seq ", replay_prev_));
    } else if (resume_ > 0 && !lost_) {
      const uint64_t want = replay_prev_ ? replay_prev_ + 1 : resume_ + 1;
      if (r.seq() != want) {
        violation(absl::StrCat("resume after seq ", resume_,
                               ": the replay skipped from seq ", want,
                               " to seq ", r.seq()));
      }
    }
    replay_prev_ = r.seq();
    return;
  }
  if (!live_) {
    live_ = true;
    if (resume_ > 0 && !lost_ && base_ > resume_ && replay_prev_ != base_) {
      violation(absl::StrCat("resume after seq ", resume_, ": the replay ended",
                             " at seq ", replay_prev_, " but the welcome said",
                             " last_seq ", base_));
    }
    if (!r.has_member_joined() ||
        r.member_joined().member().name() != own_name_) {
      violation(absl::StrCat("the first live event after the welcome must be ",
                             own_name_, "'s own member_joined"));
    }
  }
  if (r.seq() != next_) {
    if (r.seq() > next_) {
      violation(absl::StrCat(
          "seq gap: expected seq ", next_, ", got seq ", r.seq(), "; seq ",
          next_,
          r.seq() - 1 > next_ ? absl::StrCat("..", r.seq() - 1) : std::string(),
          " missing or late (out of order)"));
    } else {
      violation(absl::StrCat("seq repeated or went backwards: expected seq ",
                             next_, ", got seq ", r.seq()));
    }
  }
  next_ = r.seq() + 1;
}

}  // namespace chat

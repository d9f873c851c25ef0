#include "service/room.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/format.h"
#include "service/log.h"
#include "service/text.h"

namespace chat {
namespace {

using MemberList = std::vector<std::shared_ptr<Member>>;

void SetNow(v1::ChatResponse* r) {
  const absl::Time now = absl::Now();
  const int64_t nanos = absl::ToUnixNanos(now);
  r->mutable_time()->set_seconds(nanos / 1000000000);
  r->mutable_time()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

EventPtr MakeNotice(absl::string_view text) {
  v1::ChatResponse r;
  SetNow(&r);
  r.mutable_notice()->set_text(std::string(text));
  return std::make_shared<const Event>(std::move(r), 0);
}

using MemberListPtr = std::shared_ptr<const MemberList>;

// What one room operation leaves to do once its locks are released.
struct AfterUnlock {
  // Members to wake; the snapshots below keep them alive, so a wake costs no
  // reference count of its own.
  std::vector<Member*> wake;
  std::vector<MemberListPtr> snapshots;
  std::vector<std::string> log;

  void Run() {
    for (Member* m : wake) m->WakeTransport();
    for (const auto& line : log) LogLine(line);
  }
};

}  // namespace

// Room: one room's members, sequence and history. Internal to the core.
class Room {
 public:
  Room(std::string name, const HubOptions& options)
      : name_(std::move(name)), options_(options) {}

  const std::string& name() const { return name_; }

  // Adds `m` under `name`, queues its welcome and replay, and broadcasts its
  // member_joined. ALREADY_EXISTS when the name is taken, ABORTED when the
  // room was retired (the caller looks it up again).
  absl::Status Add(const std::shared_ptr<Member>& m, const std::string& name,
                   uint32_t history, uint64_t resume_after_seq,
                   std::shared_ptr<Room> self) {
    AfterUnlock after;
    {
      absl::MutexLock fanout(&fanout_mu_);
      EventPtr joined;
      MemberListPtr members;
      {
        absl::MutexLock lock(&mu_);
        if (retired_) return absl::AbortedError("room retired");
        if (by_name_.contains(NameKey(name))) {
          return absl::AlreadyExistsError(
              absl::StrCat("name \"", name, "\" is taken in room ", name_));
        }
        {
          absl::MutexLock member_lock(&m->mu_);
          if (m->ended_) {
            return absl::FailedPreconditionError("the member has left");
          }
          m->name_ = name;
          m->room_ = std::move(self);
        }
        by_name_[NameKey(name)] = m.get();
        auto next = std::make_shared<MemberList>(*members_);
        next->push_back(m);
        members_ = next;
        members = std::move(next);
        // A member moving in from another room may have drained its outbox
        // empty and be waiting: the welcome must wake it.
        if (QueueWelcomeLocked(m.get(), name, history, resume_after_seq)) {
          after.wake.push_back(m.get());
        }

        v1::ChatResponse r;
        v1::Member* who = r.mutable_member_joined()->mutable_member();
        who->set_name(name);
        who->set_transport(m->transport());
        joined = SequenceLocked(std::move(r), m->id());
      }
      DeliverLocked(joined, std::move(members), &after);
      after.log.push_back(absl::StrCat(name, " joined #", name_, " (",
                                       TransportName(m->transport()), ")"));
    }
    after.Run();
    return absl::OkStatus();
  }

  // Takes `m` out of the room; the others see member_left with `reason`.
  // Returns false when `m` was not here.
  bool Remove(Member* m, absl::string_view reason) {
    AfterUnlock after;
    bool removed;
    {
      absl::MutexLock fanout(&fanout_mu_);
      removed = RemoveLocked(m, reason, &after);
    }
    after.Run();
    return removed;
  }

  absl::Status Post(Member* m, std::string text, bool action) {
    AfterUnlock after;
    {
      absl::MutexLock fanout(&fanout_mu_);
      EventPtr event;
      MemberListPtr members;
      {
        absl::MutexLock lock(&mu_);
        if (!IsMemberLocked(m)) {
          return absl::FailedPreconditionError("you are not in a room");
        }
        v1::ChatResponse r;
        v1::Message* msg = r.mutable_message();
        msg->set_sender(m->name());
        msg->set_text(std::move(text));
        msg->set_action(action);
        event = SequenceLocked(std::move(r), m->id());
        members = members_;
      }
      DeliverLocked(event, std::move(members), &after);
    }
    after.Run();
    return absl::OkStatus();
  }

  absl::Status Rename(Member* m, const std::string& new_name) {
    AfterUnlock after;
    {
      absl::MutexLock fanout(&fanout_mu_);
      EventPtr event;
      MemberListPtr members;
      std::string old_name;
      {
        absl::MutexLock lock(&mu_);
        if (!IsMemberLocked(m)) {
          return absl::FailedPreconditionError("you are not in a room");
        }
        old_name = m->name();
        if (old_name == new_name) {
          return absl::InvalidArgumentError(
              absl::StrCat("you are already called ", new_name));
        }
        const std::string key = NameKey(new_name);
        auto it = by_name_.find(key);
        if (it != by_name_.end() && it->second != m) {
          return absl::AlreadyExistsError(
              absl::StrCat("name \"", new_name, "\" is taken in room ", name_));
        }
        by_name_.erase(NameKey(old_name));
        by_name_[key] = m;
        {
          absl::MutexLock member_lock(&m->mu_);
          m->name_ = new_name;
        }
        v1::ChatResponse r;
        r.mutable_member_renamed()->set_old_name(old_name);
        r.mutable_member_renamed()->set_new_name(new_name);
        event = SequenceLocked(std::move(r), m->id());
        members = members_;
      }
      DeliverLocked(event, std::move(members), &after);
      after.log.push_back(absl::StrCat(old_name, " is now known as ", new_name,
                                       " in #", name_));
    }
    after.Run();
    return absl::OkStatus();
  }

  bool IsNameFree(const std::string& name) {
    absl::MutexLock lock(&mu_);
    return !by_name_.contains(NameKey(name));
  }

  std::vector<v1::Member> Members() {
    std::shared_ptr<const MemberList> members;
    {
      absl::MutexLock lock(&mu_);
      members = members_;
    }
    std::vector<v1::Member> out;
    out.reserve(members->size());
    for (const auto& m : *members) {
      v1::Member& info = out.emplace_back();
      info.set_name(m->name());
      info.set_transport(m->transport());
    }
    return out;
  }

  void History(uint32_t limit, std::vector<EventPtr>* events,
               uint64_t* last_seq) {
    absl::MutexLock lock(&mu_);
    *last_seq = last_seq_;
    LastMessagesLocked(limit, events);
  }

  // Empties the room without any member_left (the server is shutting down).
  MemberList TakeAll() {
    absl::MutexLock fanout(&fanout_mu_);
    absl::MutexLock lock(&mu_);
    MemberList members = *members_;
    for (const auto& m : members) {
      absl::MutexLock member_lock(&m->mu_);
      m->room_.reset();
    }
    members_ = std::make_shared<MemberList>();
    by_name_.clear();
    return members;
  }

  // Retires the room if it is empty; a retired room takes no members.
  bool RetireIfEmpty() {
    absl::MutexLock lock(&mu_);
    if (!members_->empty()) return false;
    retired_ = true;
    return true;
  }

 private:
  bool IsMemberLocked(Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = by_name_.find(NameKey(m->name()));
    return it != by_name_.end() && it->second == m;
  }

  // Gives `r` the next seq and the time, and keeps it in the history.
  EventPtr SequenceLocked(v1::ChatResponse r, uint64_t origin)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    r.set_seq(++last_seq_);
    SetNow(&r);
    auto event = std::make_shared<const Event>(std::move(r), origin);
    history_.push_back(event);
    while (history_.size() > options_.history_events) history_.pop_front();
    return event;
  }

  void LastMessagesLocked(uint32_t limit, std::vector<EventPtr>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t start = history_.size();
    uint32_t found = 0;
    while (start > 0 && (limit == 0 || found < limit)) {
      --start;
      if (history_[start]->response().has_message()) ++found;
    }
    for (size_t i = start; i < history_.size(); ++i) {
      if (history_[i]->response().has_message()) out->push_back(history_[i]);
    }
  }

  // Queues the welcome, and the replay asked for, into a joining member's
  // outbox. Forced pushes: the replay is bounded by the history size.
  // Returns true when the member's transport must be woken.
  bool QueueWelcomeLocked(Member* m, const std::string& name, uint32_t history,
                          uint64_t resume_after_seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::ChatResponse r;
    SetNow(&r);
    v1::Welcome* w = r.mutable_welcome();
    w->set_room(name_);
    w->set_name(name);
    w->set_last_seq(last_seq_);
    for (const auto& other : *members_) {
      v1::Member* info = w->add_members();
      info->set_name(other.get() == m ? name : other->name());
      info->set_transport(other->transport());
    }
    Outbox& out = m->outbox();
    const bool wake = out.Push(std::make_shared<const Event>(std::move(r), 0),
                               true) == Outbox::PushResult::kQueuedWake;

    std::vector<EventPtr> replay;
    if (resume_after_seq > 0) {
      if (resume_after_seq > last_seq_) {
        out.Push(MakeNotice(absl::StrCat("cannot resume after seq ",
                                         resume_after_seq, ": room ", name_,
                                         " is only at seq ", last_seq_,
                                         " (the server may have restarted)")),
                 true);
      } else {
        const uint64_t first_held =
            history_.empty() ? last_seq_ + 1 : history_.front()->seq();
        if (resume_after_seq + 1 < first_held) {
          out.Push(MakeNotice(absl::StrCat(
                       first_held - resume_after_seq - 1, " events after seq ",
                       resume_after_seq, " are no longer held and were lost")),
                   true);
        }
        for (const auto& e : history_) {
          if (e->seq() > resume_after_seq) replay.push_back(e);
        }
      }
    } else if (history > 0) {
      LastMessagesLocked(history, &replay);
    }
    for (auto& e : replay) out.Push(std::move(e), true);
    return wake;
  }

  bool RemoveLocked(Member* m, absl::string_view reason, AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(fanout_mu_) {
    EventPtr left;
    MemberListPtr members;
    std::string name;
    {
      absl::MutexLock lock(&mu_);
      if (!IsMemberLocked(m)) return false;
      name = m->name();
      by_name_.erase(NameKey(name));
      auto next = std::make_shared<MemberList>();
      next->reserve(members_->size());
      for (const auto& other : *members_) {
        if (other.get() != m) next->push_back(other);
      }
      members_ = next;
      members = std::move(next);
      {
        absl::MutexLock member_lock(&m->mu_);
        m->room_.reset();
      }
      v1::ChatResponse r;
      v1::MemberLeft* l = r.mutable_member_left();
      l->mutable_member()->set_name(name);
      l->mutable_member()->set_transport(m->transport());
      l->set_reason(std::string(reason));
      left = SequenceLocked(std::move(r), m->id());
    }
    DeliverLocked(left, std::move(members), after);
    after->log.push_back(absl::StrCat(name, " left #", name_, " (",
                                      reason.empty() ? "left" : reason, ")"));
    return true;
  }

  // Hands `event` to every member's outbox, in the order events were
  // sequenced (the caller holds fanout_mu_). Members that overflow are
  // removed as too slow, which is itself an event delivered here.
  void DeliverLocked(const EventPtr& event, MemberListPtr members,
                     AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(fanout_mu_) {
    std::vector<Member*> too_slow;
    const size_t woken = after->wake.size();
    for (const auto& m : *members) {
      switch (m->outbox().Push(event)) {
        case Outbox::PushResult::kQueuedWake:
          after->wake.push_back(m.get());
          break;
        case Outbox::PushResult::kOverflow:
          too_slow.push_back(m.get());
          break;
        case Outbox::PushResult::kQueued:
        case Outbox::PushResult::kClosed:
          break;
      }
    }
    // The snapshot keeps the members to wake (and the too slow) alive.
    if (after->wake.size() > woken || !too_slow.empty()) {
      after->snapshots.push_back(std::move(members));
    }
    for (Member* m : too_slow) {
      RemoveLocked(m, "too slow", after);
      after->wake.push_back(m);
    }
  }

  const std::string name_;
  const HubOptions& options_;

  // Held while an event is sequenced and handed to every outbox, so that
  // outboxes receive events in seq order. Never held across I/O.
  absl::Mutex fanout_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Guards the state below; readers (ListMembers, History) need only this.
  absl::Mutex mu_;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<EventPtr> history_ ABSL_GUARDED_BY(mu_);
  // Copy-on-write, so fan-out can walk it without mu_.
  std::shared_ptr<const MemberList> members_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<MemberList>();
  absl::flat_hash_map<std::string, Member*> by_name_ ABSL_GUARDED_BY(mu_);
  bool retired_ ABSL_GUARDED_BY(mu_) = false;
};

// ---------------------------------------------------------------- Member

Member::Member(Hub* hub, uint64_t id, v1::Transport transport,
               std::shared_ptr<MemberSink> sink)
    : hub_(hub),
      id_(id),
      transport_(transport),
      sink_(std::move(sink)),
      outbox_(hub->options().outbox_events, hub->options().outbox_bytes) {}

std::string Member::name() const {
  absl::MutexLock lock(&mu_);
  return name_;
}

std::shared_ptr<Room> Member::room() const {
  absl::MutexLock lock(&mu_);
  return room_;
}

std::string Member::room_name() const {
  std::shared_ptr<Room> r = room();
  return r ? r->name() : std::string();
}

void Member::Notify(absl::string_view text) {
  if (outbox_.Push(MakeNotice(text), true) == Outbox::PushResult::kQueuedWake) {
    WakeTransport();
  }
}

absl::Status Member::Say(absl::string_view text, bool action) {
  std::string clean = SanitizeText(text);
  absl::Status status;
  const size_t limit = hub_->options().max_message_bytes;
  if (IsBlank(clean)) {
    status = absl::InvalidArgumentError("empty message not sent");
  } else if (clean.size() > limit) {
    status = absl::InvalidArgumentError(
        absl::StrCat("message not sent: it is ", clean.size(),
                     " bytes long; the limit is ", limit));
  } else if (std::shared_ptr<Room> r = room()) {
    status = r->Post(this, std::move(clean), action);
  } else {
    status = absl::FailedPreconditionError("you are not in a room");
  }
  if (!status.ok()) Notify(status.message());
  return status;
}

absl::Status Member::Rename(absl::string_view new_name) {
  absl::Status status = ValidateName(new_name);
  if (status.ok()) {
    if (std::shared_ptr<Room> r = room()) {
      status = r->Rename(this, std::string(new_name));
    } else {
      status = absl::FailedPreconditionError("you are not in a room");
    }
  }
  if (!status.ok()) Notify(status.message());
  return status;
}

absl::Status Member::Move(absl::string_view room, uint32_t history) {
  absl::Status status;
  absl::StatusOr<std::string> target = NormalizeRoom(room);
  std::shared_ptr<Room> old = this->room();
  const std::string name = this->name();
  if (!target.ok()) {
    status = target.status();
  } else if (!old) {
    status = absl::FailedPreconditionError("you are not in a room");
  } else if (*target == old->name()) {
    status = absl::InvalidArgumentError(
        absl::StrCat("you are already in room ", *target));
  } else {
    absl::StatusOr<std::shared_ptr<Room>> next = hub_->FindRoom(*target, true);
    if (!next.ok()) {
      status = next.status();
    } else if (!(*next)->IsNameFree(name)) {
      status = absl::AlreadyExistsError(
          absl::StrCat("name \"", name, "\" is taken in room ", *target));
    } else if (old->Remove(this, absl::StrCat("moved to #", *target))) {
      status = hub_->Enter(shared_from_this(), name, *target, history, 0);
      if (!status.ok()) {
        // Lost a race for the name: go back where we were.
        absl::Status back =
            hub_->Enter(shared_from_this(), name, old->name(), 0, 0);
        if (!back.ok()) {
          End("", back, /*discard=*/false);
          return status;
        }
      }
    } else {
      status = absl::FailedPreconditionError("you are not in a room");
    }
  }
  if (!status.ok()) Notify(status.message());
  return status;
}

void Member::Leave(absl::string_view reason) {
  // The reason comes from the user and is shown to everyone.
  End(TruncateUtf8(SanitizeText(reason), kMaxLeaveReasonBytes),
      absl::OkStatus(),
      /*discard=*/false);
}

void Member::Disconnect(absl::string_view reason) {
  End(reason, absl::CancelledError("disconnected"), /*discard=*/true);
}

void Member::End(absl::string_view reason, absl::Status status, bool discard) {
  std::shared_ptr<Room> r;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    r = room_;
  }
  if (r) r->Remove(this, reason);
  if (outbox_.Close(std::move(status), discard)) WakeTransport();
}

// ---------------------------------------------------------------- Hub

Hub::Hub(HubOptions options) : options_(std::move(options)) {}

Hub::~Hub() {
  // Members and rooms point at each other; empty the rooms to let both go.
  absl::MutexLock lock(&mu_);
  for (const auto& [name, room] : rooms_) room->TakeAll();
}

absl::StatusOr<std::shared_ptr<Member>> Hub::Join(
    const JoinRequest& request, std::shared_ptr<MemberSink> sink) {
  if (absl::Status s = ValidateName(request.name); !s.ok()) return s;
  absl::StatusOr<std::string> room = NormalizeRoom(request.room);
  if (!room.ok()) return room.status();
  auto member = std::make_shared<Member>(this, next_member_id_++,
                                         request.transport, std::move(sink));
  absl::Status s = Enter(member, request.name, *room, request.history,
                         request.resume_after_seq);
  if (!s.ok()) return s;
  return member;
}

absl::Status Hub::Enter(const std::shared_ptr<Member>& member,
                        const std::string& name, const std::string& room,
                        uint32_t history, uint64_t resume_after_seq) {
  // A room can be retired between FindRoom and Add; look it up again then.
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<std::shared_ptr<Room>> r = FindRoom(room, true);
    if (!r.ok()) return r.status();
    absl::Status s = (*r)->Add(member, name, history, resume_after_seq, *r);
    if (!absl::IsAborted(s)) return s;
  }
  return absl::UnavailableError("the room is busy; try again");
}

absl::StatusOr<std::shared_ptr<Room>> Hub::FindRoom(const std::string& name,
                                                    bool create) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    return absl::UnavailableError("chat-service is shutting down");
  }
  auto it = rooms_.find(name);
  if (it != rooms_.end()) return it->second;
  if (!create) return std::shared_ptr<Room>();
  if (rooms_.size() >= options_.max_rooms) {
    for (auto r = rooms_.begin(); r != rooms_.end(); ++r) {
      if (r->second->RetireIfEmpty()) {
        rooms_.erase(r);
        break;
      }
    }
    if (rooms_.size() >= options_.max_rooms) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many rooms: the server holds at most ", options_.max_rooms));
    }
  }
  auto room = std::make_shared<Room>(name, options_);
  rooms_.emplace(name, room);
  return room;
}

absl::StatusOr<std::vector<v1::Member>> Hub::ListMembers(
    absl::string_view room, std::string* normalized) {
  absl::StatusOr<std::string> name = NormalizeRoom(room);
  if (!name.ok()) return name.status();
  *normalized = *name;
  absl::StatusOr<std::shared_ptr<Room>> r = FindRoom(*name, false);
  if (!r.ok()) return r.status();
  if (!*r) return std::vector<v1::Member>();
  return (*r)->Members();
}

absl::Status Hub::History(absl::string_view room, uint32_t limit,
                          std::vector<EventPtr>* events, uint64_t* last_seq,
                          std::string* normalized) {
  absl::StatusOr<std::string> name = NormalizeRoom(room);
  if (!name.ok()) return name.status();
  *normalized = *name;
  *last_seq = 0;
  absl::StatusOr<std::shared_ptr<Room>> r = FindRoom(*name, false);
  if (!r.ok()) return r.status();
  if (*r) (*r)->History(limit, events, last_seq);
  return absl::OkStatus();
}

void Hub::Shutdown(absl::string_view text) {
  std::vector<std::shared_ptr<Room>> rooms;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (const auto& [name, room] : rooms_) rooms.push_back(room);
  }
  for (const auto& room : rooms) {
    for (const auto& m : room->TakeAll()) {
      m->Notify(text);
      m->End("", absl::UnavailableError(std::string(text)),
             /*discard=*/false);
    }
  }
}

size_t Hub::room_count() const {
  absl::MutexLock lock(&mu_);
  return rooms_.size();
}

}  // namespace chat

#include "service/room.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "metrics/metrics.h"
#include "service/format.h"
#include "service/log.h"
#include "service/memory_log.h"
#include "service/recent_ids.h"
#include "service/resume_secret.h"
#include "service/text.h"

namespace chat {
namespace {

using MemberList = std::vector<std::shared_ptr<Member>>;

// A notice; `client_id` names the Say it refuses, if that had one (repaired
// if it is not UTF-8: a chat.v1 string field must be).
EventPtr MakeNotice(absl::string_view text, absl::string_view client_id = "") {
  v1::ChatResponse r;
  SetTimeNow(&r);
  r.mutable_notice()->set_text(std::string(text));
  if (!client_id.empty())
    r.mutable_notice()->set_client_id(RepairUtf8(client_id));
  return std::make_shared<const Event>(std::move(r), 0);
}

// The answer to a Say that repeated `client_id`, posted as `seq`.
EventPtr MakeDuplicate(absl::string_view client_id, uint64_t seq) {
  v1::ChatResponse r;
  SetTimeNow(&r);
  r.mutable_duplicate()->set_client_id(std::string(client_id));
  r.mutable_duplicate()->set_seq(seq);
  return std::make_shared<const Event>(std::move(r), 0);
}

// When the log stamped `event`.
absl::Time EventTime(const Event& event) {
  const google::protobuf::Timestamp& t = event.response().time();
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// What a member taken over is told, and the status its connection ends with.
constexpr absl::string_view kReplacedNotice =
    "you connected again from elsewhere; this connection is closed";
constexpr absl::string_view kReplacedStatus =
    "you connected again from elsewhere: a new connection took this name "
    "back with this session's resume secret, and this one is closed";

// What an owner's older session is told when the owner joins again, and
// the status its connection ends with.
constexpr absl::string_view kSignedInElsewhereNotice =
    "signed in elsewhere: this session is closed";
constexpr absl::string_view kSignedInElsewhereStatus =
    "signed in elsewhere: the owner of this name joined again with a token, "
    "and this session is closed";
constexpr absl::string_view kSignedInElsewhereReason = "signed in elsewhere";

using MemberListPtr = std::shared_ptr<const MemberList>;

// What one room operation leaves to do once its locks are released.
struct AfterUnlock {
  // Members to wake; the snapshots below keep them alive, so a wake costs no
  // reference count of its own.
  std::vector<Member*> wake;
  std::vector<MemberListPtr> snapshots;
  // Members to wake that no snapshot keeps alive.
  std::vector<std::shared_ptr<Member>> wake_held;
  // Members who left, to close once their leave was delivered (Member::End).
  std::vector<std::pair<std::shared_ptr<Member>, absl::Status>> close;
  std::vector<LogRecord> log;

  void Run() {
    for (auto& [m, status] : close) {
      if (m->outbox().Close(std::move(status), /*discard_queued=*/false)) {
        m->WakeTransport();
      }
    }
    for (Member* m : wake) m->WakeTransport();
    for (const auto& m : wake_held) m->WakeTransport();
    for (const LogRecord& record : log) Log(record);
  }
};

// "5", "0.5": a rate as people write it.
std::string FormatRate(double rate) { return absl::StrCat(rate); }

}  // namespace

// RoomOpeners: how many rooms each client address holds open (rooms it
// entered empty, until they are empty again), for HubOptions::
// max_rooms_per_ip. A leaf lock, taken under a room's lock.
class RoomOpeners {
 public:
  explicit RoomOpeners(size_t limit) : limit_(limit) {}

  // Counts one more room opened by `ip`; false when it is at the limit.
  bool TryOpen(const std::string& ip) {
    if (limit_ == 0 || ip.empty()) return true;
    absl::MutexLock lock(&mu_);
    size_t& n = open_[ip];
    if (n >= limit_) return false;
    ++n;
    return true;
  }

  // A room `ip` opened is empty again.
  void Close(const std::string& ip) {
    if (limit_ == 0 || ip.empty()) return;
    absl::MutexLock lock(&mu_);
    auto it = open_.find(ip);
    if (it != open_.end() && --it->second == 0) open_.erase(it);
  }

  size_t limit() const { return limit_; }

 private:
  const size_t limit_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, size_t> open_ ABSL_GUARDED_BY(mu_);
};

// LogReplay: a member's replay, handed out in bounded batches as the
// member's transport drains (see Outbox::AddReplay).
//
// From a synchronous log (in memory, where reading costs no I/O) the replay
// takes its events when it is made, under the room's lock, so that events
// the room trims afterwards (a busy room, the joiner's own member_joined)
// are still replayed; it holds only pointers to events the history shares.
// From an asynchronous log (a store) it reads the log batch by batch as the
// transport drains, never under a core lock.
class LogReplay final : public Replay {
 public:
  // Every event in (after, until], with a notice for each run of seqs the
  // log no longer holds.
  static std::unique_ptr<LogReplay> Events(std::shared_ptr<RoomLog> log,
                                           uint64_t after, uint64_t until) {
    auto r = std::unique_ptr<LogReplay>(new LogReplay(std::move(log), until));
    r->after_ = after;
    r->TakeIfSynchronous();
    return r;
  }
  // The last `count` messages up to `until`.
  static std::unique_ptr<LogReplay> Messages(std::shared_ptr<RoomLog> log,
                                             uint32_t count, uint64_t until) {
    auto r = std::unique_ptr<LogReplay>(new LogReplay(std::move(log), until));
    r->messages_ = count;
    r->TakeIfSynchronous();
    return r;
  }

  Step Next(std::vector<EventPtr>* out) override {
    // For an asynchronous log, the start is found on the first batch: it
    // may read the store.
    if (absl::Status s = FindStart(); !s.ok()) return Fail(s, out);
    if (after_ >= until_) return Step::kDone;
    std::vector<EventPtr> batch;
    uint64_t through;
    if (taken_) {
      // A batch of what was taken; then everything up to until_ is done.
      size_t bytes = 0;
      while (next_ < held_.size() && batch.size() < kBatchEvents &&
             bytes < kBatchBytes) {
        bytes += held_[next_]->cost();
        batch.push_back(std::move(held_[next_++]));
      }
      through = next_ < held_.size() ? batch.back()->seq() : until_;
    } else {
      absl::StatusOr<uint64_t> got =
          log_->Read(Range(kBatchEvents, kBatchBytes), &batch);
      if (!got.ok()) return Fail(got.status(), out);
      through = *got;
    }
    const size_t had = out->size();
    for (EventPtr& e : batch) {
      // Notices for what is missing, in their places.
      if (!messages_only_ && e->seq() > after_ + 1) {
        Missing(after_, e->seq(), out);
      }
      after_ = e->seq();
      out->push_back(std::move(e));
    }
    if (!messages_only_ && through == until_ && after_ < until_) {
      Missing(after_, until_ + 1, out);
    }
    after_ = std::max(after_, through);
    if (after_ >= until_) return Step::kDone;
    return out->size() > had ? Step::kMore : Step::kBlocked;
  }

 private:
  static constexpr size_t kBatchEvents = 64;
  static constexpr size_t kBatchBytes = 256 * 1024;

  LogReplay(std::shared_ptr<RoomLog> log, uint64_t until)
      : log_(std::move(log)), until_(until), skipped_(log_->Skipped()) {}

  void TakeIfSynchronous() {
    if (!log_->synchronous() || after_ >= until_) return;
    if (!FindStart().ok()) return;  // Tried again at the first batch.
    constexpr size_t kAll = std::numeric_limits<size_t>::max();
    taken_ = log_->Read(Range(kAll, kAll), &held_).ok();
    if (!taken_) held_.clear();
  }

  // For the last `messages_` messages: where they start, once.
  absl::Status FindStart() {
    if (messages_ == 0) return absl::OkStatus();
    absl::StatusOr<uint64_t> start = log_->MessagesStart(messages_, until_ + 1);
    if (!start.ok()) return start.status();
    after_ = *start;
    messages_ = 0;
    messages_only_ = true;
    return absl::OkStatus();
  }

  // What is left to replay, in batches of these limits.
  LogRead Range(size_t max_events, size_t max_bytes) const {
    LogRead read;
    read.after = after_;
    read.until = until_;
    read.messages_only = messages_only_;
    read.max_events = max_events;
    read.max_bytes = max_bytes;
    return read;
  }

  // Notices for the seqs between `had` and `next`, exclusive: those lost,
  // and those skipped (never used).
  void Missing(uint64_t had, uint64_t next, std::vector<EventPtr>* out) const {
    uint64_t skipped = 0;
    for (const SeqRange& r : skipped_) {
      const uint64_t first = std::max(r.first, had + 1);
      const uint64_t last = std::min(r.last, next - 1);
      if (first <= last) skipped += last - first + 1;
    }
    const uint64_t lost = next - had - 1 - skipped;
    if (lost > 0) {
      out->push_back(
          MakeNotice(absl::StrCat(lost, " events after seq ", had,
                                  " are no longer held and were lost")));
    }
    if (skipped > 0) {
      out->push_back(MakeNotice(absl::StrCat(
          skipped, " seqs after seq ", had,
          " were skipped when chat-service restarted after an unclean stop: "
          "no event had them (unless the machine lost power first)")));
    }
  }

  Step Fail(const absl::Status& status, std::vector<EventPtr>* out) {
    out->push_back(MakeNotice(
        absl::StrCat("history could not be read: ", status.message())));
    return Step::kDone;
  }

  const std::shared_ptr<RoomLog> log_;
  const uint64_t until_;
  const std::vector<SeqRange> skipped_;
  uint64_t after_ = 0;
  uint32_t messages_ = 0;
  bool messages_only_ = false;
  // Taken from a synchronous log when made; handed out from next_.
  bool taken_ = false;
  std::vector<EventPtr> held_;
  size_t next_ = 0;
};

// Room: one room's members and its log. Internal to the core.
class Room final : public SharedListener {
 public:
  // `client_ids` counts the client ids every room of the hub holds.
  Room(std::string name, const HubOptions& options, RoomOpeners* openers,
       std::atomic<size_t>* client_ids)
      : name_(std::move(name)),
        options_(options),
        openers_(openers),
        remember_ids_(options.client_id_window > absl::ZeroDuration() &&
                      options.client_ids_per_room > 0),
        ids_(RecentIds::Limits{options.client_id_window,
                               options.client_ids_per_room,
                               options.client_ids_total},
             client_ids) {}

  // Before the room is shared: the room's log.
  void SetLog(std::unique_ptr<RoomLog> log) {
    absl::MutexLock lock(&mu_);
    log_ = std::move(log);
    synchronous_ = log_->synchronous();
    shared_ = log_->shared();
    // A shared log checks client ids itself, for every node at once.
    if (shared_) ids_loaded_ = true;
  }

  const std::string& name() const { return name_; }

  // Adds `m` under `name`, queues its welcome and replay, and broadcasts its
  // member_joined. When the name is held by a member whose resume secret is
  // `resume_secret`, `m` takes that member's place instead: one member_left
  // with `rejoined`, and the old member is closed with ABORTED; so it is,
  // with `owner_takeover`, when the holder is an owner (tokens on: the same
  // owner's older session). ALREADY_EXISTS when the name is taken (by
  // another secret), or is a guest's whose owner is here, ABORTED when the
  // room was retired (the caller looks it up again), the log's error when it
  // refuses the join. Call LoadRecentIds first.
  absl::Status Add(const std::shared_ptr<Member>& m, const std::string& name,
                   uint32_t history, uint64_t resume_after_seq,
                   const std::string& resume_epoch,
                   const std::string& resume_secret, bool owner_takeover,
                   std::shared_ptr<Room> self) {
    if (shared_) {
      return AddShared(m, name, history, resume_after_seq, resume_epoch,
                       resume_secret, owner_takeover, std::move(self));
    }
    AfterUnlock after;
    {
      absl::MutexLock fanout(&fanout_mu_);
      EventPtr event;
      MemberListPtr members;
      {
        absl::MutexLock lock(&mu_);
        if (retired_) return absl::AbortedError("room retired");
        const std::string key = NameKey(name);
        // The member whose place `m` takes, and its secret.
        std::shared_ptr<Member> replaced;
        std::string secret;
        bool resumed = false;  // Replaced by its resume secret.
        if (auto it = by_name_.find(key); it != by_name_.end()) {
          bool holder_owner;
          {
            absl::MutexLock holder_lock(&it->second->mu_);
            secret = it->second->resume_secret_;
            holder_owner = it->second->owner_;
          }
          resumed = ResumeSecretsMatch(resume_secret, secret);
          if (!resumed && !(owner_takeover && holder_owner)) {
            if (absl::Status s = OwnerHereLocked(name); !s.ok()) return s;
            return absl::AlreadyExistsError(
                absl::StrCat("name \"", name, "\" is taken in room ", name_));
          }
          replaced = it->second->shared_from_this();
        } else if (absl::Status s = OwnerHereLocked(name); !s.ok()) {
          return s;
        }
        // Taking a place back does not make the room any fuller.
        if (replaced == nullptr &&
            members_->size() >= options_.max_members_per_room) {
          return absl::ResourceExhaustedError(
              absl::StrCat("room ", name_, " is full: it has ",
                           members_->size(), " members, the most it takes"));
        }
        const bool opening = members_->empty();
        if (opening && !openers_->TryOpen(m->peer_ip_)) {
          return absl::ResourceExhaustedError(
              absl::StrCat("too many rooms opened from your address: at most ",
                           openers_->limit(),
                           " at a time; join a room that has people in it"));
        }
        const uint64_t before = log_->last_seq();
        // Planned before the member's own join is appended, which could
        // trim the history it replays.
        std::vector<EventPtr> notices;
        std::unique_ptr<Replay> replay = PlanReplayLocked(
            before, history, resume_after_seq, resume_epoch, &notices);
        {
          absl::MutexLock member_lock(&m->mu_);
          if (m->ended_) {
            if (opening) openers_->Close(m->peer_ip_);
            return absl::FailedPreconditionError("the member has left");
          }
          v1::ChatResponse r;
          if (replaced != nullptr) {
            v1::MemberLeft* l = r.mutable_member_left();
            l->mutable_member()->set_name(name);
            l->mutable_member()->set_transport(m->transport());
            l->set_reason(resumed ? "reconnected elsewhere"
                                  : std::string(kSignedInElsewhereReason));
            l->set_rejoined(true);
          } else {
            v1::Member* who = r.mutable_member_joined()->mutable_member();
            who->set_name(name);
            who->set_transport(m->transport());
          }
          absl::StatusOr<EventPtr> e =
              log_->Append(std::move(r), m->id(), /*must=*/false);
          if (!e.ok()) {
            if (opening) openers_->Close(m->peer_ip_);
            return e.status();
          }
          event = *std::move(e);
          m->name_ = name;
          m->room_ = std::move(self);
          m->joined_room_.store(this, std::memory_order_relaxed);
          if (resumed) m->resume_secret_ = secret;
        }
        by_name_[key] = m.get();
        auto next = std::make_shared<MemberList>(*members_);
        if (replaced != nullptr) {
          {
            // Ended and out of the room: its own Leave or Disconnect later
            // finds no room and emits nothing.
            absl::MutexLock old_lock(&replaced->mu_);
            replaced->ended_ = true;
            replaced->room_.reset();
          }
          std::replace(next->begin(), next->end(), replaced, m);
        } else {
          if (opening) opener_ip_ = m->peer_ip_;
          next->push_back(m);
        }
        members_ = next;
        members = std::move(next);
        // A member moving in from another room may have drained its outbox
        // empty and be waiting: the welcome must wake it.
        if (QueueWelcomeLocked(m.get(), name, before, std::move(notices),
                               std::move(replay))) {
          after.wake.push_back(m.get());
        }
        KeepLocked(event, members);
        if (replaced != nullptr) {
          // Whatever the old connection had queued, then this notice, then
          // its end (the close below keeps it alive for the wake).
          if (replaced->outbox().Push(
                  MakeNotice(resumed ? kReplacedNotice
                                     : kSignedInElsewhereNotice),
                  /*forced=*/true) == Outbox::PushResult::kQueuedWake) {
            after.wake.push_back(replaced.get());
          }
          after.close.emplace_back(
              replaced,
              absl::AbortedError(std::string(
                  resumed ? kReplacedStatus : kSignedInElsewhereStatus)));
          after.log.push_back({LogLevel::kInfo,
                               resumed ? "reconnected, replacing its old "
                                         "connection"
                                       : "signed in again, replacing its old "
                                         "connection",
                               {{"member", name},
                                {"room", name_},
                                {"transport", TransportName(m->transport())}}});
        } else {
          after.log.push_back({LogLevel::kInfo,
                               "joined",
                               {{"member", name},
                                {"room", name_},
                                {"transport", TransportName(m->transport())}}});
        }
      }
      if (synchronous_) DeliverLocked(event, std::move(members), &after);
    }
    after.Run();
    return absl::OkStatus();
  }

  // Before a member enters (Hub::Enter), once per room: remembers the client
  // ids of the log's recent messages (at most client_ids_per_room, within
  // the window), so that ids survive a restart with a store. The log is read
  // with no lock held; no member can post before this returns, since none
  // is added before. Two first joiners may both read; one records.
  void LoadRecentIds() {
    std::shared_ptr<RoomLog> log;
    {
      absl::MutexLock lock(&mu_);
      if (ids_loaded_) return;
      log = log_;
    }
    std::vector<RecentPost> found;
    absl::Status read =
        remember_ids_ ? ReadRecentIds(*log, &found) : absl::OkStatus();
    {
      absl::MutexLock lock(&mu_);
      if (ids_loaded_) return;
      ids_loaded_ = true;
      const absl::Time now = absl::Now();
      for (const RecentPost& p : found) {
        if (!ids_.Find(p.key, now)) ids_.Insert(p.key, p.seq, p.time);
      }
    }
    if (!read.ok()) {
      Log(LogLevel::kWarning,
          "cannot read the client ids of the room's recent messages: a "
          "message sent again may be posted twice",
          {{"room", name_}, {"error", read.message()}});
    }
  }

  // Forgets the client ids posted a window or more before `now`.
  void ExpireIds(absl::Time now) {
    absl::MutexLock lock(&mu_);
    ids_.Expire(now);
  }

  // Takes `m` out of the room; the others see member_left with `reason`.
  // Returns false when `m` was not here.
  // With `close`, also closes m's outbox with it once its leave is
  // delivered, so that m first gets every event appended before its leave
  // (with a store, those may still be waiting for their commit).
  bool Remove(Member* m, absl::string_view reason,
              std::optional<absl::Status> close = std::nullopt) {
    AfterUnlock after;
    bool removed;
    {
      absl::MutexLock fanout(&fanout_mu_);
      removed = RemoveLocked(m, reason, &after, std::move(close));
    }
    after.Run();
    return removed;
  }

  // Posts `m`'s message, with `client_id` ("" for none). When the room
  // remembers `client_id` for m's name, posts nothing and sets
  // *duplicate_of to the seq it was posted under. Sets *ids_full when the
  // id could not be remembered because the hub holds client_ids_total.
  absl::Status Post(Member* m, std::string text, bool action,
                    absl::string_view client_id, uint64_t* duplicate_of,
                    bool* ids_full) {
    if (shared_) return PostShared(m, std::move(text), action, client_id);
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
        // Checked and recorded in one step with the append, under the lock:
        // the same id twice, even at once, is posted once.
        std::string key;
        if (!client_id.empty() && remember_ids_) {
          key = RecentIds::Key(NameKey(msg->sender()), client_id);
          if (std::optional<uint64_t> seq = ids_.Find(key, absl::Now())) {
            *duplicate_of = *seq;
            return absl::OkStatus();
          }
        }
        msg->set_text(std::move(text));
        msg->set_action(action);
        // Set only when there is one: setting "" would still allocate a
        // string for every message.
        if (!client_id.empty()) msg->set_client_id(std::string(client_id));
        absl::StatusOr<EventPtr> e = log_->Append(std::move(r), m->id(), false);
        if (!e.ok()) return e.status();
        event = *std::move(e);
        if (!key.empty() &&
            !ids_.Insert(key, event->seq(), EventTime(*event))) {
          *ids_full = true;
        }
        members = members_;
        KeepLocked(event, members);
      }
      if (synchronous_) DeliverLocked(event, std::move(members), &after);
    }
    after.Run();
    return absl::OkStatus();
  }

  absl::Status Rename(Member* m, const std::string& new_name) {
    AfterUnlock after;
    absl::Status status;
    {
      absl::MutexLock fanout(&fanout_mu_);
      status = RenameLocked(m, new_name, nullptr, &after);
    }
    after.Run();
    return status;
  }

  // Signs guest `m` in as `who` (Member::Authenticate): an older session of
  // the owner here is closed, with a notice, and `m` is renamed.
  absl::Status SignIn(Member* m, const Identity& who) {
    AfterUnlock after;
    absl::Status status;
    {
      absl::MutexLock fanout(&fanout_mu_);
      std::shared_ptr<Member> older;
      {
        absl::MutexLock lock(&mu_);
        if (!IsMemberLocked(m)) {
          return absl::FailedPreconditionError("you are not in a room");
        }
        auto it = by_name_.find(NameKey(who.name));
        if (it != by_name_.end() && it->second != m) {
          older = it->second->shared_from_this();
        }
      }
      if (older != nullptr) {
        {
          absl::MutexLock old_lock(&older->mu_);
          older->ended_ = true;
        }
        if (older->outbox().Push(MakeNotice(kSignedInElsewhereNotice),
                                 /*forced=*/true) ==
            Outbox::PushResult::kQueuedWake) {
          after.wake.push_back(older.get());
        }
        // Keeps it alive for the wake.
        after.snapshots.push_back(
            std::make_shared<const MemberList>(MemberList{older}));
        RemoveLocked(older.get(), kSignedInElsewhereReason, &after,
                     absl::AbortedError(std::string(kSignedInElsewhereStatus)));
      }
      status = RenameLocked(m, who.name, &who, &after);
    }
    after.Run();
    return status;
  }

  // Renames `m` (to an owner's name when `who` is set: m becomes `who`).
  absl::Status RenameLocked(Member* m, const std::string& new_name,
                            const Identity* who, AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(fanout_mu_) {
    if (shared_) return RenameShared(m, new_name, who);
    {
      EventPtr event;
      MemberListPtr members;
      std::string old_name;
      {
        absl::MutexLock lock(&mu_);
        if (!IsMemberLocked(m)) {
          return absl::FailedPreconditionError("you are not in a room");
        }
        old_name = m->name();
        if (absl::Status s = MayRenameLocked(m, old_name, new_name, who);
            !s.ok()) {
          return s;
        }
        const std::string key = NameKey(new_name);
        v1::ChatResponse r;
        r.mutable_member_renamed()->set_old_name(old_name);
        r.mutable_member_renamed()->set_new_name(new_name);
        absl::StatusOr<EventPtr> e = log_->Append(std::move(r), m->id(), false);
        if (!e.ok()) return e.status();
        event = *std::move(e);
        by_name_.erase(NameKey(old_name));
        by_name_[key] = m;
        {
          absl::MutexLock member_lock(&m->mu_);
          m->name_ = new_name;
          if (who != nullptr) {
            m->owner_ = true;
            m->rooms_ = who->rooms;
          }
        }
        members = members_;
        KeepLocked(event, members);
      }
      if (synchronous_) DeliverLocked(event, std::move(members), after);
      after->log.push_back(
          {LogLevel::kInfo,
           who != nullptr ? "signed in" : "renamed",
           {{"member", old_name}, {"new_name", new_name}, {"room", name_}}});
    }
    return absl::OkStatus();
  }

  // CommitListener: delivers what the (asynchronous) log committed, in seq
  // order, to the members each event was appended for.
  void Committed(uint64_t through_seq) override {
    AfterUnlock after;
    {
      absl::MutexLock fanout(&fanout_mu_);
      for (;;) {
        Kept next;
        {
          absl::MutexLock lock(&mu_);
          stalled_ = false;
          if (kept_.empty() || kept_.front().event->seq() > through_seq) break;
          next = std::move(kept_.front());
          kept_.pop_front();
        }
        DeliverLocked(next.event, std::move(next.members), &after);
        if (next.closing != nullptr) {
          after.close.emplace_back(std::move(next.closing),
                                   std::move(next.close_status));
        }
      }
    }
    after.Run();
  }

  // CommitListener: the log cannot commit for now. Whoever posted a message
  // that waits hears why, once; it is posted when the log recovers. Members
  // whose leave waits are closed now rather than kept waiting for it.
  void Stalled(const absl::Status& why) override {
    std::vector<std::shared_ptr<Member>> posters;
    AfterUnlock after;
    {
      absl::MutexLock lock(&mu_);
      stalled_ = true;
      absl::flat_hash_set<uint64_t> told;
      for (Kept& k : kept_) {
        const uint64_t origin = k.event->origin();
        if (k.event->response().has_message() && origin != 0 &&
            told.insert(origin).second) {
          for (const auto& m : *k.members) {
            if (m->id() == origin) posters.push_back(m);
          }
        }
        if (k.closing != nullptr) {
          after.close.emplace_back(std::move(k.closing),
                                   std::move(k.close_status));
          k.closing = nullptr;
        }
      }
    }
    for (const auto& m : posters) {
      m->Notify(absl::StrCat("your message waits, not posted yet: ",
                             why.message(), ", and it is posted then"));
    }
    after.Run();
  }

  // OK when `m`, called `old_name`, may be renamed `new_name` here (with
  // `who`: signing in as its owner): not its name already, not an owner's
  // here, not another member's here.
  absl::Status MayRenameLocked(Member* m, const std::string& old_name,
                               const std::string& new_name, const Identity* who)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (old_name == new_name && who == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("you are already called ", new_name));
    }
    if (absl::Status s = OwnerHereLocked(new_name); !s.ok()) return s;
    auto it = by_name_.find(NameKey(new_name));
    if (it != by_name_.end() && it->second != m) {
      return absl::AlreadyExistsError(
          absl::StrCat("name \"", new_name, "\" is taken in room ", name_));
    }
    return absl::OkStatus();
  }

  // OK when `name` may enter: ALREADY_EXISTS when it is taken, or is a
  // guest's whose owner is here.
  absl::Status NameFree(const std::string& name) {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = OwnerHereLocked(name); !s.ok()) return s;
    if (by_name_.contains(NameKey(name))) {
      return absl::AlreadyExistsError(
          absl::StrCat("name \"", name, "\" is taken in room ", name_));
    }
    return absl::OkStatus();
  }

  // ALREADY_EXISTS when `name` is a guest's (marked) and the owner of the
  // name without the mark is here.
  absl::Status OwnerHereLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (name.empty() || name[0] != kGuestMark) return absl::OkStatus();
    const absl::string_view bare = absl::string_view(name).substr(1);
    if (!by_name_.contains(NameKey(bare))) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat(bare,
                     " is taken by its owner: sign in with a token, or pick "
                     "another name"));
  }

  std::vector<v1::Member> Members() {
    std::shared_ptr<const MemberList> members;
    {
      absl::MutexLock lock(&mu_);
      if (shared_) {
        std::vector<v1::Member> out;
        out.reserve(roster_.size());
        for (const SharedMember& sm : roster_) {
          v1::Member& info = out.emplace_back();
          info.set_name(sm.name);
          info.set_transport(sm.transport);
        }
        return out;
      }
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

  // Adds the room's members to *stats (rooms, members, by transport).
  void CountMembers(HubStats* stats) {
    std::shared_ptr<const MemberList> members;
    {
      absl::MutexLock lock(&mu_);
      members = members_;
    }
    if (members->empty()) return;
    ++stats->rooms;
    stats->members += members->size();
    for (const auto& m : *members) {
      const size_t t = static_cast<size_t>(m->transport());
      if (t < stats->members_by_transport.size()) {
        ++stats->members_by_transport[t];
      }
    }
  }

  absl::Status History(const HistoryQuery& query, HistoryPage* page) {
    if (absl::Status s = AwaitOpened(absl::Seconds(3)); !s.ok()) return s;
    std::shared_ptr<RoomLog> log = this->log();
    page->epoch = log->epoch();
    page->last_seq = log->committed_seq();
    page->first_seq = log->first_seq();
    const uint32_t limit = query.limit == 0 || query.limit > kHistoryPage
                               ? kHistoryPage
                               : query.limit;
    uint64_t until = page->last_seq;
    if (query.before_seq > 0) until = std::min(until, query.before_seq - 1);
    LogRead read;
    read.messages_only = true;
    read.until = until;
    if (query.after_seq > 0) {
      read.after = query.after_seq;
    } else {
      absl::StatusOr<uint64_t> start = log->MessagesStart(limit, until + 1);
      if (!start.ok()) return start.status();
      read.after = *start;
    }
    // In batches, until the page is full or the range read.
    while (read.after < until && page->messages.size() < limit) {
      read.max_events = limit - page->messages.size();
      absl::StatusOr<uint64_t> through = log->Read(read, &page->messages);
      if (!through.ok()) return through.status();
      if (*through <= read.after) break;
      read.after = *through;
    }
    return absl::OkStatus();
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
    if (!members.empty()) ClosedLocked();
    return members;
  }

  // Retires the room if it is empty and has nothing left to deliver; a
  // retired room takes no members.
  bool RetireIfEmpty() {
    absl::MutexLock lock(&mu_);
    if (!members_->empty() || !kept_.empty() || !pending_.empty()) {
      return false;
    }
    retired_ = true;
    return true;
  }

  bool retired() {
    absl::MutexLock lock(&mu_);
    return retired_;
  }

  // Shared logs: waits until the log has opened the room (its members on
  // every node, its history), at most `timeout`; UNAVAILABLE if it has not.
  absl::Status AwaitOpened(absl::Duration timeout) {
    if (!shared_) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (!opened_ && !retired_) {
      if (opened_cv_.WaitWithDeadline(&mu_, deadline)) break;
    }
    if (opened_) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("chat is paused: storage unreachable, retrying (room ",
                     name_, " could not be read)"));
  }

  // ------------------------------------------------ Shared logs
  //
  // With a shared log (service/room_log.h: one whose order a Redis server
  // decides for several nodes), the room submits each join, leave, rename
  // and message to the log and acts when it arrives back in the shared
  // order, with every other node's: a joiner gets its welcome when its own
  // member_joined arrives (its last_seq is the seq before it), an event
  // reaches the members the room has when it arrives, and a leaver stays
  // among them until its own member_left arrives, so it gets every event
  // before it. by_name_ holds the names this node's members hold or are
  // claiming; the log checks them against every node's in the same step as
  // it orders the event. roster_ is every node's members, kept from the
  // events themselves.

  // SharedListener.
  void Opened(const SharedState& state) override {
    std::vector<std::shared_ptr<Member>> stale;
    AfterUnlock after;
    {
      absl::MutexLock fanout(&fanout_mu_);
      {
        absl::MutexLock lock(&mu_);
        roster_ = state.members;
        roster_seq_ = state.seq;
        if (!opened_) {
          delivered_seq_ = state.seq;
          opened_ = true;
          opened_cv_.SignalAll();
        } else {
          // Opened again after the log lost touch with the storage: members
          // of ours it no longer lists were taken out by the other nodes
          // (this node looked dead to them). Their names are gone.
          absl::flat_hash_set<uint64_t> listed;
          for (const SharedMember& sm : state.members) {
            if (sm.member != 0) listed.insert(sm.member);
          }
          auto next = std::make_shared<MemberList>();
          for (const auto& m : *members_) {
            if (listed.contains(m->id())) {
              next->push_back(m);
            } else {
              stale.push_back(m);
              auto it = by_name_.find(NameKey(m->name()));
              if (it != by_name_.end() && it->second == m.get()) {
                by_name_.erase(it);
              }
            }
          }
          members_ = next;
          if (members_->empty() && !stale.empty()) ClosedLocked();
        }
      }
    }
    for (const auto& m : stale) {
      EndAfterLoss(m, absl::UnavailableError(
                          "this server lost touch with the others for too "
                          "long and your place in the room was given up: "
                          "connect again"));
    }
    after.Run();
  }

  // SharedListener.
  void Arrived(std::vector<SharedEvent>& events) override {
    AfterUnlock after;
    {
      absl::MutexLock fanout(&fanout_mu_);
      for (SharedEvent& se : events) {
        MemberListPtr members;
        std::shared_ptr<Member> closing;
        absl::Status close_status;
        {
          absl::MutexLock lock(&mu_);
          const uint64_t seq = se.event->seq();
          if (seq <= delivered_seq_) continue;
          delivered_seq_ = seq;
          if (seq > roster_seq_) {
            ApplyToRosterLocked(*se.event, se.member);
            roster_seq_ = seq;
          }
          Pending p;
          bool mine = false;
          if (se.ticket != 0) {
            auto it = pending_.find(se.ticket);
            if (it != pending_.end()) {
              p = std::move(it->second);
              pending_.erase(it);
              mine = true;
            }
          }
          const v1::ChatResponse& r = se.event->response();
          members = members_;
          if (mine && p.kind == SharedOp::Kind::kJoin) {
            members = JoinArrivedLocked(p, se, &after);
          } else if (r.has_member_left() && se.member != 0) {
            // One of ours is out: it left, was replaced from another node,
            // or was taken out as lost. It gets the leave, then is closed.
            std::shared_ptr<Member> m = FindMemberLocked(se.member);
            if (m != nullptr) {
              RemoveFromMembersLocked(m.get());
              const bool replaced = r.member_left().rejoined();
              if (mine && p.kind == SharedOp::Kind::kLeave) {
                closing = m;
                close_status = p.close.value_or(absl::OkStatus());
                if (!p.close.has_value()) closing = nullptr;
              } else {
                closing = m;
                close_status =
                    replaced ? absl::AbortedError(std::string(kReplacedStatus))
                             : absl::UnavailableError(
                                   "your place in the room was given up: " +
                                   r.member_left().reason());
                if (replaced && m->outbox().Push(MakeNotice(kReplacedNotice),
                                                 /*forced=*/true) ==
                                    Outbox::PushResult::kQueuedWake) {
                  after.wake_held.push_back(m);
                }
                absl::MutexLock member_lock(&m->mu_);
                m->ended_ = true;
                m->room_.reset();
              }
              auto it = by_name_.find(NameKey(r.member_left().member().name()));
              if (it != by_name_.end() && it->second == m.get()) {
                by_name_.erase(it);
              }
            } else if (mine && p.kind == SharedOp::Kind::kLeave &&
                       p.close.has_value()) {
              // It left before its own join arrived: nothing to deliver.
              after.close.emplace_back(p.member, *std::move(p.close));
            }
          } else if (mine && p.kind == SharedOp::Kind::kLeave &&
                     p.close.has_value()) {
            after.close.emplace_back(p.member, *std::move(p.close));
          } else if (mine && p.kind == SharedOp::Kind::kRename) {
            Member* m = p.member.get();
            const std::string old_key = NameKey(r.member_renamed().old_name());
            if (old_key != p.key) {
              auto it = by_name_.find(old_key);
              if (it != by_name_.end() && it->second == m) by_name_.erase(it);
            }
            auto submitted = renaming_.find(m);
            if (submitted != renaming_.end() &&
                submitted->second == r.member_renamed().new_name()) {
              renaming_.erase(submitted);
            }
            absl::MutexLock member_lock(&m->mu_);
            m->name_ = r.member_renamed().new_name();
            if (p.who.has_value()) {
              m->owner_ = true;
              m->rooms_ = p.who->rooms;
            }
          }
        }
        DeliverLocked(se.event, std::move(members), &after);
        if (closing != nullptr) {
          after.close.emplace_back(std::move(closing), std::move(close_status));
        }
      }
    }
    after.Run();
  }

  // SharedListener.
  void Refused(uint64_t ticket, const absl::Status& why,
               uint64_t duplicate_seq) override {
    Pending p;
    AfterUnlock after;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(ticket);
      if (it == pending_.end()) return;
      p = std::move(it->second);
      pending_.erase(it);
      Member* m = p.member.get();
      if (p.kind == SharedOp::Kind::kJoin ||
          p.kind == SharedOp::Kind::kRename) {
        // Give back the name this node held for it.
        auto held = by_name_.find(p.key);
        if (!p.key.empty() && held != by_name_.end() && held->second == m &&
            (p.kind == SharedOp::Kind::kJoin || NameKey(m->name()) != p.key)) {
          by_name_.erase(held);
        }
      }
      if (p.kind == SharedOp::Kind::kRename) renaming_.erase(m);
      if (p.kind == SharedOp::Kind::kJoin) {
        absl::MutexLock member_lock(&m->mu_);
        if (m->room_.get() == this) m->room_.reset();
        m->ended_ = true;
      }
      if (p.opening && members_->empty()) openers_->Close(p.member->peer_ip_);
    }
    switch (p.kind) {
      case SharedOp::Kind::kJoin:
        Metrics().Refused(why);
        if (p.member->outbox().Close(why, /*discard_queued=*/false)) {
          p.member->WakeTransport();
        }
        break;
      case SharedOp::Kind::kMessage:
        if (why.ok()) {
          p.member->Send(MakeDuplicate(p.client_id, duplicate_seq));
        } else {
          Metrics().Refused(why);
          p.member->Notify(absl::StrCat("message not sent: ", why.message()),
                           p.client_id);
        }
        break;
      case SharedOp::Kind::kRename:
        Metrics().Refused(why);
        p.member->Notify(why.message());
        break;
      case SharedOp::Kind::kLeave:
        if (p.close.has_value()) {
          after.close.emplace_back(p.member, *std::move(p.close));
        }
        break;
    }
    after.Run();
  }

  // SharedListener.
  void Lost(const absl::Status& why) override {
    MemberList all;
    std::vector<std::shared_ptr<Member>> joining;
    {
      absl::MutexLock fanout(&fanout_mu_);
      absl::MutexLock lock(&mu_);
      all = *members_;
      for (auto& [ticket, p] : pending_) {
        if (p.kind == SharedOp::Kind::kJoin) joining.push_back(p.member);
      }
      pending_.clear();
      members_ = std::make_shared<MemberList>();
      by_name_.clear();
      roster_.clear();
      retired_ = true;
      opened_cv_.SignalAll();
      if (!all.empty()) ClosedLocked();
    }
    for (auto& m : joining) all.push_back(std::move(m));
    for (const auto& m : all) EndAfterLoss(m, why);
  }

 private:
  // Shared logs: what this node submitted, until it arrives or is refused.
  struct Pending {
    SharedOp::Kind kind = SharedOp::Kind::kMessage;
    std::shared_ptr<Member> member;
    // kJoin: the name's key this node holds for it ("" when a member of
    // ours holds it, and the join may take its place); kRename: the new
    // name's key.
    std::string key;
    std::string name;      // kJoin.
    bool opening = false;  // kJoin: it counted as opening the room.
    uint32_t history = 0;  // kJoin: what to replay.
    uint64_t resume_after_seq = 0;
    std::string resume_epoch;
    std::string client_id;              // kMessage.
    std::optional<Identity> who;        // kRename: signing in as.
    std::optional<absl::Status> close;  // kLeave: close with it after.
  };

  // Ends `m` (taken out of the room by something else than itself) with
  // `why`: a notice, then the end of its connection.
  void EndAfterLoss(const std::shared_ptr<Member>& m, const absl::Status& why) {
    {
      absl::MutexLock member_lock(&m->mu_);
      m->ended_ = true;
      if (m->room_.get() == this) m->room_.reset();
    }
    const bool woken =
        m->outbox().Push(MakeNotice(why.message()),
                         /*forced=*/true) == Outbox::PushResult::kQueuedWake;
    if (m->outbox().Close(why, /*discard_queued=*/false) || woken) {
      m->WakeTransport();
    }
  }

  std::shared_ptr<Member> FindMemberLocked(uint64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& m : *members_) {
      if (m->id() == id) return m;
    }
    return nullptr;
  }

  void RemoveFromMembersLocked(Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto next = std::make_shared<MemberList>();
    next->reserve(members_->size());
    for (const auto& other : *members_) {
      if (other.get() != m) next->push_back(other);
    }
    members_ = next;
    if (members_->empty()) ClosedLocked();
  }

  // The name `m` goes by in what it submits: the last it asked to be
  // renamed to, before that rename arrives.
 public:
  std::string NameOf(Member* m) {
    absl::MutexLock lock(&mu_);
    return SubmittedNameLocked(m);
  }

 private:
  std::string SubmittedNameLocked(Member* m)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = renaming_.find(m);
    return it != renaming_.end() ? it->second : m->name();
  }

  bool HasPendingJoinLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [ticket, p] : pending_) {
      if (p.kind == SharedOp::Kind::kJoin) return true;
    }
    return false;
  }

  // Keeps roster_ as the events change it. `member` is the member's id when
  // it is one of ours.
  void ApplyToRosterLocked(const Event& e, uint64_t member)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const v1::ChatResponse& r = e.response();
    auto find = [&](const std::string& name) {
      const std::string key = NameKey(name);
      return std::find_if(
          roster_.begin(), roster_.end(),
          [&](const SharedMember& sm) { return NameKey(sm.name) == key; });
    };
    if (r.has_member_joined()) {
      SharedMember sm;
      sm.name = r.member_joined().member().name();
      sm.transport = r.member_joined().member().transport();
      sm.joined_seq = e.seq();
      sm.member = member;
      roster_.push_back(std::move(sm));
    } else if (r.has_member_left()) {
      auto it = find(r.member_left().member().name());
      if (it == roster_.end()) return;
      if (r.member_left().rejoined()) {
        // The taker holds the same place; which node it is on is told by
        // the event's origin (ours: the taker's id).
        it->transport = r.member_left().member().transport();
        it->member = e.origin();
      } else {
        roster_.erase(it);
      }
    } else if (r.has_member_renamed()) {
      auto it = find(r.member_renamed().old_name());
      if (it != roster_.end()) it->name = r.member_renamed().new_name();
    }
  }

  // A join of ours arrived (its member_joined, or the member_left with
  // `rejoined` of the member whose place it takes): queues its welcome and
  // replay and puts it among the members. Returns the members to deliver
  // the event to.
  MemberListPtr JoinArrivedLocked(Pending& p, const SharedEvent& se,
                                  AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::shared_ptr<Member>& m = p.member;
    const uint64_t seq = se.event->seq();
    const v1::ChatResponse& r = se.event->response();
    {
      absl::MutexLock member_lock(&m->mu_);
      // Left (or was ended) before its join arrived: its leave follows.
      if (m->ended_) return members_;
      if (!se.secret.empty()) m->resume_secret_ = se.secret;
    }
    auto next = std::make_shared<MemberList>(*members_);
    if (r.has_member_left()) {
      // It took the place of a member, maybe one of ours.
      std::shared_ptr<Member> replaced =
          se.member != 0 ? FindMemberLocked(se.member) : nullptr;
      if (replaced != nullptr) {
        {
          absl::MutexLock old_lock(&replaced->mu_);
          replaced->ended_ = true;
          replaced->room_.reset();
        }
        const bool resumed =
            r.member_left().reason() != kSignedInElsewhereReason;
        if (replaced->outbox().Push(
                MakeNotice(resumed ? kReplacedNotice
                                   : kSignedInElsewhereNotice),
                /*forced=*/true) == Outbox::PushResult::kQueuedWake) {
          after->wake.push_back(replaced.get());
        }
        after->snapshots.push_back(
            std::make_shared<const MemberList>(MemberList{replaced}));
        after->close.emplace_back(
            replaced,
            absl::AbortedError(std::string(
                resumed ? kReplacedStatus : kSignedInElsewhereStatus)));
        std::replace(next->begin(), next->end(), replaced, m);
      } else {
        next->push_back(m);
      }
      by_name_[NameKey(p.name)] = m.get();
    } else {
      next->push_back(m);
    }
    if (p.opening) opener_ip_ = m->peer_ip_;
    members_ = next;
    std::vector<EventPtr> notices;
    std::unique_ptr<Replay> replay = PlanReplayLocked(
        seq - 1, p.history, p.resume_after_seq, p.resume_epoch, &notices);
    if (QueueWelcomeLocked(m.get(), p.name, seq - 1, std::move(notices),
                           std::move(replay))) {
      after->wake.push_back(m.get());
    }
    after->log.push_back(
        {LogLevel::kInfo,
         r.has_member_left() ? "reconnected, taking its place" : "joined",
         {{"member", p.name},
          {"room", name_},
          {"transport", TransportName(m->transport())}}});
    return next;
  }

  absl::Status AddShared(const std::shared_ptr<Member>& m,
                         const std::string& name, uint32_t history,
                         uint64_t resume_after_seq,
                         const std::string& resume_epoch,
                         const std::string& resume_secret, bool owner_takeover,
                         std::shared_ptr<Room> self) {
    absl::MutexLock lock(&mu_);
    if (retired_) return absl::AbortedError("room retired");
    const std::string key = NameKey(name);
    const bool held_here = by_name_.contains(key);
    if (held_here && resume_secret.empty() && !owner_takeover) {
      if (absl::Status s = OwnerHereLocked(name); !s.ok()) return s;
      return absl::AlreadyExistsError(
          absl::StrCat("name \"", name, "\" is taken in room ", name_));
    }
    if (!held_here) {
      if (absl::Status s = OwnerHereLocked(name); !s.ok()) return s;
      if (roster_.size() >= options_.max_members_per_room) {
        return absl::ResourceExhaustedError(
            absl::StrCat("room ", name_, " is full: it has ", roster_.size(),
                         " members, the most it takes"));
      }
    }
    const bool opening = members_->empty() && !HasPendingJoinLocked();
    if (opening && !openers_->TryOpen(m->peer_ip_)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many rooms opened from your address: at most ",
          openers_->limit(), " at a time; join a room that has people in it"));
    }
    absl::MutexLock member_lock(&m->mu_);
    if (m->ended_) {
      if (opening) openers_->Close(m->peer_ip_);
      return absl::FailedPreconditionError("the member has left");
    }
    SharedOp op;
    op.kind = SharedOp::Kind::kJoin;
    op.member = m->id();
    op.name = name;
    op.transport = m->transport();
    op.owner = m->owner_;
    op.secret = m->resume_secret_;
    op.resume_secret = resume_secret;
    op.owner_takeover = owner_takeover;
    absl::StatusOr<uint64_t> ticket = log_->Submit(std::move(op));
    if (!ticket.ok()) {
      if (opening) openers_->Close(m->peer_ip_);
      return ticket.status();
    }
    m->name_ = name;
    m->room_ = std::move(self);
    m->joined_room_.store(this, std::memory_order_relaxed);
    if (!held_here) by_name_[key] = m.get();
    Pending& p = pending_[*ticket];
    p.kind = SharedOp::Kind::kJoin;
    p.member = m;
    p.key = held_here ? "" : key;
    p.name = name;
    p.opening = opening;
    p.history = history;
    p.resume_after_seq = resume_after_seq;
    p.resume_epoch = resume_epoch;
    return absl::OkStatus();
  }

  absl::Status PostShared(Member* m, std::string text, bool action,
                          absl::string_view client_id) {
    absl::MutexLock lock(&mu_);
    if (!IsMemberLocked(m)) {
      return absl::FailedPreconditionError("you are not in a room");
    }
    SharedOp op;
    op.kind = SharedOp::Kind::kMessage;
    op.member = m->id();
    op.name = SubmittedNameLocked(m);
    SetTimeNow(&op.message);
    v1::Message* msg = op.message.mutable_message();
    msg->set_sender(op.name);
    msg->set_text(std::move(text));
    msg->set_action(action);
    if (!client_id.empty()) msg->set_client_id(std::string(client_id));
    absl::StatusOr<uint64_t> ticket = log_->Submit(std::move(op));
    if (!ticket.ok()) return ticket.status();
    Pending& p = pending_[*ticket];
    p.kind = SharedOp::Kind::kMessage;
    p.member = m->shared_from_this();
    p.client_id = std::string(client_id);
    return absl::OkStatus();
  }

  absl::Status RenameShared(Member* m, const std::string& new_name,
                            const Identity* who) {
    absl::MutexLock lock(&mu_);
    if (!IsMemberLocked(m)) {
      return absl::FailedPreconditionError("you are not in a room");
    }
    const std::string old_name = SubmittedNameLocked(m);
    if (absl::Status s = MayRenameLocked(m, old_name, new_name, who); !s.ok()) {
      return s;
    }
    const std::string key = NameKey(new_name);
    SharedOp op;
    op.kind = SharedOp::Kind::kRename;
    op.member = m->id();
    op.name = new_name;
    op.old_name = old_name;
    op.transport = m->transport();
    op.owner = who != nullptr || m->owner();
    absl::StatusOr<uint64_t> ticket = log_->Submit(std::move(op));
    if (!ticket.ok()) return ticket.status();
    by_name_[key] = m;
    renaming_[m] = new_name;
    Pending& p = pending_[*ticket];
    p.kind = SharedOp::Kind::kRename;
    p.member = m->shared_from_this();
    p.key = key;
    if (who != nullptr) p.who = *who;
    return absl::OkStatus();
  }

  // Takes `m` out: its name is free here at once; it stays among the
  // members (and gets what arrives) until its member_left arrives, when it
  // is closed with `close`. A member dropped (no `close`: too slow, or its
  // connection broke) gets nothing more.
  bool RemoveShared(Member* m, absl::string_view reason, AfterUnlock* after,
                    std::optional<absl::Status> close) {
    std::string name;
    {
      absl::MutexLock lock(&mu_);
      name = SubmittedNameLocked(m);
      bool joining = false;
      for (const auto& [ticket, p] : pending_) {
        if (p.kind == SharedOp::Kind::kJoin && p.member.get() == m) {
          joining = true;
        }
      }
      if (!IsMemberLocked(m) && !joining) return false;
      // Every name it holds here: its own, and one it is being renamed to.
      for (const std::string& held : {m->name(), name}) {
        auto it = by_name_.find(NameKey(held));
        if (it != by_name_.end() && it->second == m) by_name_.erase(it);
      }
      renaming_.erase(m);
      {
        absl::MutexLock member_lock(&m->mu_);
        m->room_.reset();
      }
      SharedOp op;
      op.kind = SharedOp::Kind::kLeave;
      op.member = m->id();
      op.name = name;
      op.transport = m->transport();
      op.reason = std::string(reason);
      absl::StatusOr<uint64_t> ticket = log_->Submit(std::move(op));
      if (!close.has_value()) RemoveFromMembersLocked(m);
      if (ticket.ok()) {
        Pending& p = pending_[*ticket];
        p.kind = SharedOp::Kind::kLeave;
        p.member = m->shared_from_this();
        p.close = std::move(close);
        close.reset();
      } else {
        RemoveFromMembersLocked(m);
      }
    }
    FinishRemove(m, name, reason, std::move(close), after);
    return true;
  }

  // An appended event that waits for its commit, with the members it is for.
  struct Kept {
    EventPtr event;
    MemberListPtr members;
    // A member whose leave this is, to close once it is delivered.
    std::shared_ptr<Member> closing;
    absl::Status close_status;
  };

  std::shared_ptr<RoomLog> log() {
    absl::MutexLock lock(&mu_);
    return log_;
  }

  // A message's client id as LoadRecentIds finds it in the log.
  struct RecentPost {
    std::string key;  // RecentIds::Key
    uint64_t seq;
    absl::Time time;
  };

  // Appends to *found the client ids of the last client_ids_per_room
  // messages `log` has committed that are within the window, oldest first.
  // May read the store: call it with no lock held.
  absl::Status ReadRecentIds(RoomLog& log, std::vector<RecentPost>* found) {
    const uint64_t until = log.committed_seq();
    if (until == 0) return absl::OkStatus();
    const absl::Time cutoff = absl::Now() - options_.client_id_window;
    const uint32_t count = static_cast<uint32_t>(std::min<size_t>(
        options_.client_ids_per_room, std::numeric_limits<uint32_t>::max()));
    absl::StatusOr<uint64_t> start = log.MessagesStart(count, until + 1);
    if (!start.ok()) return start.status();
    LogRead read;
    read.after = *start;
    read.until = until;
    read.messages_only = true;
    std::vector<EventPtr> batch;
    while (read.after < until) {
      batch.clear();
      absl::StatusOr<uint64_t> through = log.Read(read, &batch);
      if (!through.ok()) return through.status();
      for (const EventPtr& e : batch) {
        const v1::Message& msg = e->response().message();
        const absl::Time time = EventTime(*e);
        if (msg.client_id().empty() || time <= cutoff) continue;
        found->push_back(
            RecentPost{RecentIds::Key(NameKey(msg.sender()), msg.client_id()),
                       e->seq(), time});
      }
      if (*through <= read.after) break;
      read.after = *through;
    }
    return absl::OkStatus();
  }

  // The room is empty again: it no longer counts against its opener.
  void ClosedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    openers_->Close(opener_ip_);
    opener_ip_.clear();
  }

  bool IsMemberLocked(Member* m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = by_name_.find(NameKey(m->name()));
    return it != by_name_.end() && it->second == m;
  }

  // An asynchronous log's event waits here until Committed.
  void KeepLocked(const EventPtr& event, const MemberListPtr& members)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!synchronous_) {
      kept_.push_back(Kept{event, members, nullptr, absl::OkStatus()});
    }
  }

  // What a joining member is replayed, given the room's last seq before its
  // own member_joined: a replay (or null), and notices to go before it.
  std::unique_ptr<Replay> PlanReplayLocked(uint64_t before, uint32_t history,
                                           uint64_t resume_after_seq,
                                           const std::string& resume_epoch,
                                           std::vector<EventPtr>* notices)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (resume_after_seq > 0 && resume_epoch != log_->epoch()) {
      notices->push_back(MakeNotice(absl::StrCat(
          "room ", name_, "'s history was reset since you saw seq ",
          resume_after_seq,
          " (a restart without --data_dir, a wiped store, or the room "
          "forgotten while empty): what was said after it is gone, and seqs "
          "started again")));
      resume_after_seq = 0;
    } else if (resume_after_seq > before) {
      notices->push_back(MakeNotice(
          absl::StrCat("cannot resume after seq ", resume_after_seq, ": room ",
                       name_, " is only at seq ", before)));
      return nullptr;
    }
    if (resume_after_seq > 0) {
      if (resume_after_seq == before) return nullptr;
      return LogReplay::Events(log_, resume_after_seq, before);
    }
    if (history > 0 && before > 0) {
      return LogReplay::Messages(log_, history, before);
    }
    return nullptr;
  }

  // Queues the welcome into a joining member's outbox, then the notices and
  // the replay planned. `before` is the room's last seq before the member's
  // own member_joined. Returns true when the member's transport must be
  // woken.
  bool QueueWelcomeLocked(Member* m, const std::string& name, uint64_t before,
                          std::vector<EventPtr> notices,
                          std::unique_ptr<Replay> replay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    v1::ChatResponse r;
    SetTimeNow(&r);
    v1::Welcome* w = r.mutable_welcome();
    w->set_room(name_);
    w->set_name(name);
    w->set_last_seq(before);
    w->set_epoch(log_->epoch());
    if (shared_) {
      // Every node's members, as the shared log has them.
      w->set_member_count(static_cast<uint32_t>(roster_.size()));
      for (const SharedMember& other : roster_) {
        if (static_cast<size_t>(w->members_size()) == kWelcomeMembers) break;
        v1::Member* info = w->add_members();
        info->set_name(other.name);
        info->set_transport(other.transport);
      }
    } else {
      w->set_member_count(static_cast<uint32_t>(members_->size()));
      for (const auto& other : *members_) {
        if (static_cast<size_t>(w->members_size()) == kWelcomeMembers) break;
        v1::Member* info = w->add_members();
        info->set_name(other.get() == m ? name : other->name());
        info->set_transport(other->transport());
      }
    }
    v1::Limits* limits = w->mutable_limits();
    limits->set_flood_rate(options_.flood_rate);
    limits->set_flood_burst(options_.flood_rate > 0 ? options_.flood_burst : 0);
    limits->set_max_message_bytes(
        static_cast<uint32_t>(options_.max_message_bytes));
    limits->set_max_outbox_events(static_cast<uint32_t>(std::min<size_t>(
        options_.outbox_events, std::numeric_limits<uint32_t>::max())));
    {
      absl::MutexLock member_lock(&m->mu_);
      w->set_resume_secret(m->resume_secret_);
    }
    Outbox& out = m->outbox();
    const bool wake = out.Push(std::make_shared<const Event>(std::move(r), 0),
                               true) == Outbox::PushResult::kQueuedWake;
    for (EventPtr& notice : notices) out.Push(std::move(notice), true);
    if (replay != nullptr) out.AddReplay(std::move(replay));
    return wake;
  }

  bool RemoveLocked(Member* m, absl::string_view reason, AfterUnlock* after,
                    std::optional<absl::Status> close = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(fanout_mu_) {
    if (shared_) return RemoveShared(m, reason, after, std::move(close));
    absl::StatusOr<EventPtr> left;
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
      if (members_->empty()) ClosedLocked();
      {
        absl::MutexLock member_lock(&m->mu_);
        m->room_.reset();
      }
      v1::ChatResponse r;
      v1::MemberLeft* l = r.mutable_member_left();
      l->mutable_member()->set_name(name);
      l->mutable_member()->set_transport(m->transport());
      l->set_reason(std::string(reason));
      left = log_->Append(std::move(r), m->id(), /*must=*/true);
      if (left.ok() && !synchronous_) {
        kept_.push_back(Kept{*left, members, nullptr, absl::OkStatus()});
        // While the log is stalled, a leaving member is not kept waiting
        // for its leave's commit.
        if (close && !stalled_) {
          kept_.back().closing = m->shared_from_this();
          kept_.back().close_status = *std::move(close);
          close.reset();
        }
      }
    }
    if (!left.ok()) {
      // A leave cannot be refused; a log that still fails one loses it.
      after->log.push_back({LogLevel::kError,
                            "leave not logged",
                            {{"member", name},
                             {"room", name_},
                             {"error", left.status().message()}}});
    } else if (synchronous_) {
      DeliverLocked(*left, std::move(members), after);
    }
    FinishRemove(m, name, reason, std::move(close), after);
    return true;
  }

  // The end of a member's removal: its close, when that is not left for its
  // leave's delivery, and the log line.
  void FinishRemove(Member* m, const std::string& name,
                    absl::string_view reason, std::optional<absl::Status> close,
                    AfterUnlock* after) {
    if (close) {
      after->close.emplace_back(m->shared_from_this(), *std::move(close));
    }
    after->log.push_back({LogLevel::kInfo,
                          "left",
                          {{"member", name},
                           {"room", name_},
                           {"reason", reason.empty() ? "left" : reason}}});
  }

  // Hands `event` to every member's outbox, in the order events were
  // committed (the caller holds fanout_mu_). Members that overflow are
  // removed as too slow, which is itself an event.
  void DeliverLocked(const EventPtr& event, MemberListPtr members,
                     AfterUnlock* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(fanout_mu_) {
    Metrics().events.Add();
    std::vector<Member*> too_slow;
    const size_t woken = after->wake.size();
    for (const auto& m : *members) {
      // With an asynchronous log, a member that moved on to another room
      // since this event was appended gets no more of this room's events:
      // its new room's welcome may already be queued.
      if (!synchronous_ &&
          m->joined_room_.load(std::memory_order_relaxed) != this) {
        continue;
      }
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
  RoomOpeners* const openers_;

  // Held while committed events are handed to every outbox, so that
  // outboxes receive events in seq order. Never held across I/O.
  absl::Mutex fanout_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Guards the state below; readers (ListMembers, History) need only this.
  absl::Mutex mu_;
  // Set once by SetLog, before the room is shared; shared with replays.
  std::shared_ptr<RoomLog> log_ ABSL_GUARDED_BY(mu_);
  bool synchronous_ = true;
  bool shared_ = false;  // Set once by SetLog too.
  // Appended, not yet committed (asynchronous logs), in seq order.
  std::deque<Kept> kept_ ABSL_GUARDED_BY(mu_);
  // Between the log's Stalled and its next commit.
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  // Copy-on-write, so fan-out can walk it without mu_.
  std::shared_ptr<const MemberList> members_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<MemberList>();
  absl::flat_hash_map<std::string, Member*> by_name_ ABSL_GUARDED_BY(mu_);
  bool retired_ ABSL_GUARDED_BY(mu_) = false;
  // The client ids of recent messages (HubOptions::client_id_window), once
  // LoadRecentIds has read the log's; remember_ids_ is constant.
  const bool remember_ids_;
  RecentIds ids_ ABSL_GUARDED_BY(mu_);
  bool ids_loaded_ ABSL_GUARDED_BY(mu_) = false;
  // The address of whoever entered the room empty, while it has members.
  std::string opener_ip_ ABSL_GUARDED_BY(mu_);

  // Shared logs only (see the shared-log part above).
  //
  // What this node submitted and has not yet seen arrive or be refused.
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  // Members with a rename on its way: the name they asked for.
  absl::flat_hash_map<Member*, std::string> renaming_ ABSL_GUARDED_BY(mu_);
  // The members on every node, in join order, as of seq roster_seq_.
  std::vector<SharedMember> roster_ ABSL_GUARDED_BY(mu_);
  uint64_t roster_seq_ ABSL_GUARDED_BY(mu_) = 0;
  // The last seq delivered; later arrivals at or below it are not again.
  uint64_t delivered_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool opened_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar opened_cv_;
};

// ---------------------------------------------------------------- Member

Member::Member(Hub* hub, uint64_t id, v1::Transport transport,
               std::string peer_ip, std::shared_ptr<MemberSink> sink)
    : hub_(hub),
      id_(id),
      transport_(transport),
      peer_ip_(std::move(peer_ip)),
      sink_(std::move(sink)),
      outbox_(hub->options().outbox_events, hub->options().outbox_bytes),
      flood_(hub->options().flood_rate, hub->options().flood_burst),
      resume_secret_(NewResumeSecret()) {}

std::string Member::name() const {
  absl::MutexLock lock(&mu_);
  return name_;
}

bool Member::owner() const {
  absl::MutexLock lock(&mu_);
  return owner_;
}

std::shared_ptr<Room> Member::room() const {
  absl::MutexLock lock(&mu_);
  return room_;
}

std::string Member::room_name() const {
  std::shared_ptr<Room> r = room();
  return r ? r->name() : std::string();
}

void Member::Notify(absl::string_view text, absl::string_view client_id) {
  Send(MakeNotice(text, client_id));
}

void Member::Send(EventPtr event) {
  switch (outbox_.Push(std::move(event))) {
    case Outbox::PushResult::kQueuedWake:
      WakeTransport();
      break;
    case Outbox::PushResult::kOverflow:
      RemoveAsTooSlow();
      break;
    case Outbox::PushResult::kQueued:
    case Outbox::PushResult::kClosed:
      break;
  }
}

void Member::RemoveAsTooSlow() {
  if (std::shared_ptr<Room> r = room()) r->Remove(this, "too slow");
  WakeTransport();
}

absl::Status Member::Admit(absl::string_view what,
                           absl::string_view client_id) {
  FloodGate::Verdict verdict;
  absl::Duration retry;
  bool log = false;
  if (hub_->options().flood_rate <= 0) return absl::OkStatus();  // No lock.
  {
    absl::MutexLock lock(&mu_);
    verdict = flood_.Take(absl::Now());
    retry = flood_.retry_after();
    if (verdict != FloodGate::Verdict::kPass && !flood_logged_) {
      flood_logged_ = log = true;
    }
  }
  if (verdict == FloodGate::Verdict::kPass) return absl::OkStatus();
  Metrics().Refused(RefusalCause::kFlood);
  if (log) {
    Log(LogLevel::kWarning,
        "over the flood limit; refusing what it sends too fast",
        {{"member", name()},
         {"peer", peer_ip_.empty() ? "unknown" : peer_ip_}});
  }
  const HubOptions& o = hub_->options();
  if (verdict == FloodGate::Verdict::kDisconnect) {
    absl::Status status = absl::ResourceExhaustedError(absl::StrCat(
        "disconnected for flooding: you kept sending far more than ",
        FormatRate(o.flood_rate), " messages a second"));
    End("flooding", status, /*discard=*/false);
    return status;
  }
  absl::Status status = absl::ResourceExhaustedError(absl::StrCat(
      what, " not sent: you are sending too fast (at most ",
      FormatRate(o.flood_rate), " a second after a burst of ", o.flood_burst,
      "); try again in ",
      absl::FormatDuration(absl::Ceil(retry, absl::Milliseconds(100)))));
  Notify(status.message(), client_id);
  return status;
}

absl::Status Member::Say(absl::string_view text, bool action,
                         absl::string_view client_id) {
  if (absl::Status s = Admit("message", client_id); !s.ok()) return s;
  std::string clean = SanitizeText(text);
  absl::Status status;
  uint64_t duplicate_of = 0;
  bool ids_full = false;
  const size_t limit = hub_->options().max_message_bytes;
  if (client_id.size() > kMaxClientIdBytes) {
    status = absl::InvalidArgumentError(
        absl::StrCat("message not sent: its client_id is ", client_id.size(),
                     " bytes long; the limit is ", kMaxClientIdBytes));
  } else if (!IsValidUtf8(client_id)) {
    status = absl::InvalidArgumentError(
        "message not sent: its client_id is not valid UTF-8");
  } else if (IsBlank(clean)) {
    status = absl::InvalidArgumentError("empty message not sent");
  } else if (clean.size() > limit) {
    status = absl::InvalidArgumentError(
        absl::StrCat("message not sent: it is ", clean.size(),
                     " bytes long; the limit is ", limit));
  } else if (std::shared_ptr<Room> r = room()) {
    status = r->Post(this, std::move(clean), action, client_id, &duplicate_of,
                     &ids_full);
  } else {
    status = absl::FailedPreconditionError("you are not in a room");
  }
  if (!status.ok()) {
    Metrics().Refused(status);
    Notify(status.message(), client_id);
    return status;
  }
  if (duplicate_of != 0) {
    Send(MakeDuplicate(client_id, duplicate_of));
  } else {
    Metrics().MessagePosted();
  }
  if (ids_full) hub_->ExpireClientIds();
  return status;
}

absl::Status Member::Rename(absl::string_view new_name) {
  if (absl::Status s = Admit("rename"); !s.ok()) return s;
  absl::Status status = ValidateName(new_name);
  std::string name(new_name);
  if (status.ok() && hub_->options().auth != nullptr) {
    if (owner()) {
      status = absl::PermissionDeniedError(
          absl::StrCat("you are signed in as ", this->name(),
                       ": a name you own cannot be changed"));
    } else {
      name.insert(name.begin(), kGuestMark);
    }
  }
  if (status.ok()) {
    if (std::shared_ptr<Room> r = room()) {
      status = r->Rename(this, name);
    } else {
      status = absl::FailedPreconditionError("you are not in a room");
    }
  }
  if (!status.ok()) {
    Metrics().Refused(status);
    Notify(status.message());
  }
  return status;
}

absl::Status Member::Move(absl::string_view room, uint32_t history) {
  if (absl::Status s = Admit("room move"); !s.ok()) return s;
  absl::Status status;
  absl::StatusOr<std::string> target = NormalizeRoom(room);
  std::shared_ptr<Room> old = this->room();
  // With a shared log, a rename still on its way counts: "/nick bob" then
  // "/join blue" moves bob.
  const std::string name = old != nullptr ? old->NameOf(this) : this->name();
  if (!target.ok()) {
    status = target.status();
  } else if (!old) {
    status = absl::FailedPreconditionError("you are not in a room");
  } else if (*target == old->name()) {
    status = absl::InvalidArgumentError(
        absl::StrCat("you are already in room ", *target));
  } else {
    std::optional<std::vector<std::string>> rooms;
    {
      absl::MutexLock lock(&mu_);
      rooms = rooms_;
    }
    absl::StatusOr<std::shared_ptr<Room>> next =
        Identity{name, true, std::move(rooms)}.MayEnter(*target)
            ? hub_->FindRoom(*target, true)
            : RoomNotAllowedError(*target);
    if (!next.ok()) {
      status = next.status();
    } else if (absl::Status free = (*next)->NameFree(name); !free.ok()) {
      status = free;
    } else if (old->Remove(this, absl::StrCat("moved to #", *target))) {
      status = hub_->Enter(shared_from_this(), name, *target, history, 0, "",
                           "", /*owner_takeover=*/false);
      if (!status.ok()) {
        // Lost a race for the name: go back where we were.
        absl::Status back = hub_->Enter(shared_from_this(), name, old->name(),
                                        0, 0, "", "", /*owner_takeover=*/false);
        if (!back.ok()) {
          End("", back, /*discard=*/false);
          return status;
        }
      }
    } else {
      status = absl::FailedPreconditionError("you are not in a room");
    }
  }
  if (!status.ok()) {
    Metrics().Refused(status);
    Notify(status.message());
  }
  return status;
}

absl::StatusOr<std::vector<v1::Member>> Member::RoomMembers(std::string* room) {
  std::shared_ptr<Room> r = this->room();
  if (r == nullptr) {
    return absl::FailedPreconditionError("you are not in a room");
  }
  *room = r->name();
  return r->Members();
}

absl::Status Member::Authenticate(absl::string_view token) {
  const std::shared_ptr<const Authenticator>& auth = hub_->options().auth;
  absl::Status status;
  if (auth == nullptr) {
    status = absl::FailedPreconditionError(
        "this server does not use tokens: your name is yours while you are "
        "connected");
  } else if (owner()) {
    status = absl::FailedPreconditionError(
        absl::StrCat("you are already signed in as ", name()));
  } else if (status = Admit("sign-in"); !status.ok()) {
    return status;
  } else if (absl::StatusOr<Identity> who = auth->Owner(token, absl::Now());
             !who.ok()) {
    status = who.status();
  } else if (std::shared_ptr<Room> r = room(); r == nullptr) {
    status = absl::FailedPreconditionError("you are not in a room");
  } else if (!who->MayEnter(r->name())) {
    status = RoomNotAllowedError(r->name());
  } else {
    status = r->SignIn(this, *who);
  }
  if (!status.ok()) Metrics().Refused(status);
  Notify(status.ok() ? absl::StrCat("signed in as ", name())
                     : absl::StrCat("token refused: ", status.message()));
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
  // Leaving cleanly: the room closes the outbox once the leave is delivered.
  if (r && !discard && r->Remove(this, reason, status)) return;
  if (r && discard) r->Remove(this, reason);
  if (outbox_.Close(std::move(status), discard)) WakeTransport();
}

// ---------------------------------------------------------------- Hub

Hub::Hub(HubOptions options, std::unique_ptr<LogBackend> logs)
    : options_(std::move(options)),
      logs_(logs != nullptr
                ? std::move(logs)
                : std::make_unique<MemoryLogBackend>(options_.history_events,
                                                     options_.history_memory)),
      logs_shared_(logs_->shared()),
      openers_(std::make_unique<RoomOpeners>(options_.max_rooms_per_ip)) {}

Hub::~Hub() {
  // Members and rooms point at each other; empty the rooms to let both go.
  absl::MutexLock lock(&mu_);
  for (const auto& [name, room] : rooms_) room->TakeAll();
}

absl::StatusOr<std::shared_ptr<Member>> Hub::Join(
    const JoinRequest& request, std::shared_ptr<MemberSink> sink) {
  absl::StatusOr<std::shared_ptr<Member>> member =
      JoinUncounted(request, std::move(sink));
  if (!member.ok()) Metrics().Refused(member.status());
  return member;
}

absl::StatusOr<std::shared_ptr<Member>> Hub::JoinUncounted(
    const JoinRequest& request, std::shared_ptr<MemberSink> sink) {
  Identity who;
  if (options_.auth == nullptr) {
    if (absl::Status s = ValidateName(request.name); !s.ok()) return s;
    who.name = request.name;
  } else {
    absl::StatusOr<Identity> identified =
        options_.auth->Identify(request.token, request.name, absl::Now());
    if (!identified.ok()) return identified.status();
    who = *std::move(identified);
  }
  absl::StatusOr<std::string> room = NormalizeRoom(request.room);
  if (!room.ok()) return room.status();
  if (!who.MayEnter(*room)) return RoomNotAllowedError(*room);
  auto member =
      std::make_shared<Member>(this, next_member_id_++, request.transport,
                               request.peer_ip, std::move(sink));
  {
    absl::MutexLock lock(&member->mu_);
    member->owner_ = who.owner;
    member->rooms_ = who.rooms;
  }
  absl::Status s =
      Enter(member, who.name, *room, request.history, request.resume_after_seq,
            request.resume_epoch, request.resume_secret, who.owner);
  if (!s.ok()) return s;
  return member;
}

absl::Status Hub::Enter(const std::shared_ptr<Member>& member,
                        const std::string& name, const std::string& room,
                        uint32_t history, uint64_t resume_after_seq,
                        const std::string& resume_epoch,
                        const std::string& resume_secret, bool owner_takeover) {
  // A room can be retired between FindRoom and Add; look it up again then.
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<std::shared_ptr<Room>> r = FindRoom(room, true);
    if (!r.ok()) return r.status();
    // No lock held: this may read the log.
    (*r)->LoadRecentIds();
    absl::Status s = (*r)->Add(member, name, history, resume_after_seq,
                               resume_epoch, resume_secret, owner_takeover, *r);
    if (!absl::IsAborted(s)) return s;
  }
  return absl::UnavailableError("the room is busy; try again");
}

void Hub::ExpireClientIds() {
  const absl::Time now = absl::Now();
  const int64_t now_nanos = absl::ToUnixNanos(now);
  int64_t last = client_ids_expired_at_.load(std::memory_order_relaxed);
  if (now_nanos - last < absl::ToInt64Nanoseconds(absl::Seconds(1)) ||
      !client_ids_expired_at_.compare_exchange_strong(
          last, now_nanos, std::memory_order_relaxed)) {
    return;
  }
  std::vector<std::shared_ptr<Room>> rooms;
  {
    absl::MutexLock lock(&mu_);
    rooms.reserve(rooms_.size());
    for (const auto& [name, room] : rooms_) rooms.push_back(room);
  }
  for (const auto& room : rooms) room->ExpireIds(now);
}

absl::StatusOr<std::shared_ptr<Room>> Hub::FindRoom(const std::string& name,
                                                    bool create) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    return absl::UnavailableError("chat-service is shutting down");
  }
  auto it = rooms_.find(name);
  if (it != rooms_.end()) {
    // A room whose shared log lost its history (Room::Lost) is retired
    // while it is held: the room starts again, with a new log.
    if (!logs_shared_ || !it->second->retired()) return it->second;
    rooms_.erase(it);
  }
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
  auto room =
      std::make_shared<Room>(name, options_, openers_.get(), &client_ids_);
  absl::StatusOr<std::unique_ptr<RoomLog>> log = logs_->Open(name, room);
  if (!log.ok()) return log.status();
  room->SetLog(*std::move(log));
  rooms_.emplace(name, room);
  return room;
}

absl::StatusOr<std::vector<v1::Member>> Hub::ListMembers(
    absl::string_view room, std::string* normalized, absl::string_view token) {
  absl::StatusOr<std::string> name = NormalizeRoom(room);
  if (!name.ok()) return name.status();
  if (options_.auth != nullptr) {
    absl::Status s = options_.auth->Authorize(token, *name, absl::Now());
    if (!s.ok()) {
      Metrics().Refused(s);
      return s;
    }
  }
  *normalized = *name;
  // With a shared log, members on other nodes count: the room is opened
  // here to read them.
  absl::StatusOr<std::shared_ptr<Room>> r = FindRoom(*name, logs_shared_);
  if (!r.ok()) return r.status();
  if (!*r) return std::vector<v1::Member>();
  if (absl::Status s = (*r)->AwaitOpened(absl::Seconds(3)); !s.ok()) return s;
  return (*r)->Members();
}

absl::StatusOr<HistoryPage> Hub::History(const HistoryQuery& query) {
  absl::StatusOr<std::string> name = NormalizeRoom(query.room);
  if (!name.ok()) return name.status();
  if (options_.auth != nullptr) {
    absl::Status s = options_.auth->Authorize(query.token, *name, absl::Now());
    if (!s.ok()) {
      Metrics().Refused(s);
      return s;
    }
  }
  HistoryPage page;
  page.room = *name;
  // A room the hub does not hold may still have stored history.
  absl::StatusOr<std::shared_ptr<Room>> r =
      FindRoom(*name, /*create=*/logs_->Holds(*name));
  if (!r.ok()) return r.status();
  if (*r == nullptr) return page;
  if (absl::Status s = (*r)->History(query, &page); !s.ok()) return s;
  return page;
}

void Hub::Shutdown(absl::string_view text) {
  // What was appended reaches the members before the shutdown notice.
  // Bounded: a store that cannot write keeps what waits for the next start
  // to miss (it was never shown to anyone). A shared log's flush takes this
  // node's members out for the other nodes (their leaves): this node's own
  // get the notice first, below, and the leaves are not theirs to see.
  if (!logs_shared_ && !logs_->FlushFor(absl::Seconds(5))) {
    Log(LogLevel::kError,
        "shutting down with events the store could not write yet");
  }
  std::vector<std::shared_ptr<Room>> rooms;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (const auto& [name, room] : rooms_) rooms.push_back(room);
  }
  for (const auto& room : rooms) {
    for (const auto& m : room->TakeAll()) {
      // Once per member, whatever its outbox holds.
      if (m->outbox().Push(MakeNotice(text), /*forced=*/true) ==
          Outbox::PushResult::kQueuedWake) {
        m->WakeTransport();
      }
      m->End("", absl::UnavailableError(std::string(text)),
             /*discard=*/false);
    }
  }
  if (logs_shared_ && !logs_->FlushFor(absl::Seconds(5))) {
    Log(LogLevel::kError,
        "shutting down without telling the other nodes: this node's members "
        "are taken out when its lease runs out");
  }
}

size_t Hub::room_count() const {
  absl::MutexLock lock(&mu_);
  return rooms_.size();
}

HubStats Hub::Stats() const {
  std::vector<std::shared_ptr<Room>> rooms;
  {
    absl::MutexLock lock(&mu_);
    rooms.reserve(rooms_.size());
    for (const auto& [name, room] : rooms_) rooms.push_back(room);
  }
  HubStats stats;
  stats.rooms_held = rooms.size();
  for (const auto& room : rooms) room->CountMembers(&stats);
  return stats;
}

}  // namespace chat

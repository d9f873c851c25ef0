#include "service/outbox.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "metrics/metrics.h"

namespace chat {

Outbox::Outbox(size_t max_events, size_t max_bytes)
    : max_events_(max_events), max_bytes_(max_bytes) {}

Outbox::PushResult Outbox::Push(EventPtr event, bool forced) {
  const size_t cost = event->cost();
  std::vector<EventPtr> dropped;  // Freed after the lock is released.
  SpinLockHolder lock(&mu_);
  if (closed_) return PushResult::kClosed;
  if (!forced && (queue_.size() >= max_events_ || bytes_ + cost > max_bytes_)) {
    // Rare (once per member at most), so formatting under the lock is fine.
    closed_ = true;
    status_ = absl::ResourceExhaustedError(
        absl::StrCat("too slow: ", queue_.size(), " events (", bytes_,
                     " bytes) were waiting to be read; the limit is ",
                     max_events_, " events or ", max_bytes_, " bytes"));
    dropped.swap(queue_);
    bytes_ = 0;
    DropReplaysLocked();
    Metrics().slow_drops.Add();  // The member is removed as too slow.
    return PushResult::kOverflow;
  }
  bytes_ += cost;
  ++pushes_;
  queue_.push_back(std::move(event));
  if (waiting_) {
    waiting_ = false;
    return PushResult::kQueuedWake;
  }
  return PushResult::kQueued;
}

bool Outbox::Close(absl::Status status, bool discard_queued) {
  SpinLockHolder lock(&mu_);
  if (closed_) return false;
  closed_ = true;
  status_ = std::move(status);
  if (discard_queued) {
    queue_.clear();
    bytes_ = 0;
    DropReplaysLocked();
  }
  const bool wake = waiting_;
  waiting_ = false;
  return wake;
}

void Outbox::AddReplay(std::unique_ptr<Replay> replay) {
  SpinLockHolder lock(&mu_);
  if (closed_) return;
  replays_.push_back(Segment{queue_.size(), std::move(replay)});
}

void Outbox::DropReplaysLocked() {
  // A replay that Drain is reading right now is dropped by Drain.
  replays_.clear();
  ++replay_drops_;
}

Outbox::DrainResult Outbox::Drain(std::vector<EventPtr>* out,
                                  absl::Status* status) {
  {
    SpinLockHolder lock(&mu_);
    if (replays_.empty()) return DrainQueueLocked(out, status);
  }
  return DrainReplay(out, status);
}

Outbox::DrainResult Outbox::DrainReplay(std::vector<EventPtr>* out,
                                        absl::Status* status) {
  for (;;) {
    std::unique_ptr<Replay> replay;
    uint64_t pushes;
    uint64_t drops;
    {
      SpinLockHolder lock(&mu_);
      if (replays_.empty()) return DrainQueueLocked(out, status);
      Segment& front = replays_.front();
      if (front.before > 0) {
        // What was queued before the replay goes first.
        const size_t n = front.before;
        for (size_t i = 0; i < n; ++i) {
          bytes_ -= queue_[i]->cost();
          out->push_back(std::move(queue_[i]));
        }
        queue_.erase(queue_.begin(), queue_.begin() + n);
        for (Segment& s : replays_) s.before -= n;
        return DrainResult::kEvents;
      }
      replay = std::move(front.replay);
      pushes = pushes_;
      drops = replay_drops_;
    }
    // The log is read without the lock: pushes go on meanwhile.
    const size_t had = out->size();
    const Replay::Step step = replay->Next(out);
    SpinLockHolder lock(&mu_);
    if (replay_drops_ != drops) {
      // Dropped as too slow or discarded while it was read.
      out->resize(had);
      continue;
    }
    if (step == Replay::Step::kDone ||
        (step == Replay::Step::kBlocked && closed_)) {
      // A closed outbox gets no wake for the commit a blocked replay waits
      // for: it ends there.
      replays_.pop_front();
    } else {
      replays_.front().replay = std::move(replay);
    }
    if (out->size() > had) return DrainResult::kEvents;
    if (step != Replay::Step::kBlocked || closed_ || pushes_ != pushes) {
      continue;
    }
    // Blocked, and nothing was pushed while it was read: the push of the
    // commit it waits for (the member's own join, queued after the replay)
    // will wake the transport.
    waiting_ = true;
    return DrainResult::kEmpty;
  }
}

Outbox::DrainResult Outbox::DrainQueueLocked(std::vector<EventPtr>* out,
                                             absl::Status* status) {
  if (!queue_.empty()) {
    Metrics().outbox_depth.Observe(static_cast<int64_t>(queue_.size()));
    if (out->empty()) {
      out->swap(queue_);
    } else {
      for (EventPtr& e : queue_) out->push_back(std::move(e));
      queue_.clear();
    }
    bytes_ = 0;
    return DrainResult::kEvents;
  }
  if (closed_) {
    *status = status_;
    return DrainResult::kClosed;
  }
  waiting_ = true;
  return DrainResult::kEmpty;
}

absl::Status Outbox::closed_status() const {
  SpinLockHolder lock(&mu_);
  return status_;
}

}  // namespace chat

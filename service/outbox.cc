#include "service/outbox.h"

#include <utility>

#include "absl/strings/str_cat.h"

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
    return PushResult::kOverflow;
  }
  bytes_ += cost;
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
  }
  const bool wake = waiting_;
  waiting_ = false;
  return wake;
}

Outbox::DrainResult Outbox::Drain(std::vector<EventPtr>* out,
                                  absl::Status* status) {
  SpinLockHolder lock(&mu_);
  if (!queue_.empty()) {
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

#include "service/history_cache.h"

#include <algorithm>
#include <utility>

namespace chat {
namespace {

// Orders caches by activity; a counter, not a clock: only the order counts.
std::atomic<int64_t> activity_clock{0};

int64_t Tick() { return activity_clock.fetch_add(1) + 1; }

bool SeqLess(const EventPtr& e, uint64_t seq) { return e->seq() < seq; }

}  // namespace

// ---------------------------------------------------------------- Budget

void HistoryBudget::Register(HistoryCache* cache) {
  absl::MutexLock lock(&mu_);
  caches_.insert(cache);
}

void HistoryBudget::Unregister(HistoryCache* cache) {
  absl::MutexLock lock(&mu_);
  caches_.erase(cache);
}

void HistoryBudget::Grew(size_t bytes) {
  const size_t used = used_.fetch_add(bytes) + bytes;
  if (max_bytes_ == 0 || used <= max_bytes_) return;
  absl::MutexLock lock(&mu_);
  // Down to 90%, so that eviction runs once per tenth of the budget appended,
  // not once per event.
  const size_t target = max_bytes_ - max_bytes_ / 10;
  std::vector<HistoryCache*> by_age(caches_.begin(), caches_.end());
  std::sort(by_age.begin(), by_age.end(),
            [](const HistoryCache* a, const HistoryCache* b) {
              return a->last_active() < b->last_active();
            });
  for (HistoryCache* cache : by_age) {
    const size_t now = used_.load();
    if (now <= target) break;
    const size_t freed = cache->EvictOldest(now - target);
    used_.fetch_sub(freed);
    if (freed > 0) ++evictions_;
  }
}

// ---------------------------------------------------------------- Cache

HistoryCache::HistoryCache(HistoryBudget* budget, size_t max_events)
    : budget_(budget), max_events_(max_events), last_active_(Tick()) {
  if (budget_ != nullptr) budget_->Register(this);
}

HistoryCache::~HistoryCache() {
  if (budget_ == nullptr) return;
  budget_->Unregister(this);
  absl::MutexLock lock(&mu_);
  budget_->Shrank(bytes_);
}

void HistoryCache::Add(EventPtr event) {
  last_active_.store(Tick(), std::memory_order_relaxed);
  const size_t cost = event->cost();
  size_t freed = 0;
  std::vector<EventPtr> dropped;  // Freed after the lock is released.
  {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
    bytes_ += cost;
    while (events_.size() > max_events_) freed += PopOldestLocked(&dropped);
  }
  if (budget_ == nullptr) return;
  if (freed > 0) budget_->Shrank(freed);
  budget_->Grew(cost);
}

uint64_t HistoryCache::Read(const LogRead& read, uint64_t limit,
                            std::vector<EventPtr>* out) const {
  const uint64_t until = std::min(read.until, limit);
  if (read.after >= until) return read.after;
  absl::MutexLock lock(&mu_);
  auto it =
      std::lower_bound(events_.begin(), events_.end(), read.after + 1, SeqLess);
  size_t count = 0;
  size_t bytes = 0;
  uint64_t through = read.after;
  for (; it != events_.end() && (*it)->seq() <= until; ++it) {
    if (count >= read.max_events || bytes >= read.max_bytes) return through;
    through = (*it)->seq();
    if (read.messages_only && !(*it)->response().has_message()) continue;
    out->push_back(*it);
    ++count;
    bytes += (*it)->cost();
  }
  // Nothing more is held up to `until`.
  return until;
}

uint64_t HistoryCache::MessagesStart(uint32_t count, uint64_t before,
                                     bool* complete) const {
  absl::MutexLock lock(&mu_);
  auto end = std::lower_bound(events_.begin(), events_.end(), before, SeqLess);
  size_t i = static_cast<size_t>(end - events_.begin());
  uint32_t found = 0;
  while (i > 0 && (count == 0 || found < count)) {
    --i;
    if (events_[i]->response().has_message()) ++found;
  }
  if (count != 0 && found == count) {
    *complete = true;
    return events_[i]->seq() - 1;
  }
  // Ran out: every message held before `before`.
  *complete = false;
  return events_.empty() ? 0 : events_.front()->seq() - 1;
}

uint64_t HistoryCache::first_seq() const {
  absl::MutexLock lock(&mu_);
  return events_.empty() ? 0 : events_.front()->seq();
}

uint64_t HistoryCache::last_seq() const {
  absl::MutexLock lock(&mu_);
  return events_.empty() ? 0 : events_.back()->seq();
}

size_t HistoryCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

size_t HistoryCache::size() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

void HistoryCache::DropBefore(uint64_t seq) {
  size_t freed = 0;
  std::vector<EventPtr> dropped;
  {
    absl::MutexLock lock(&mu_);
    while (!events_.empty() && events_.front()->seq() < seq) {
      freed += PopOldestLocked(&dropped);
    }
  }
  if (budget_ != nullptr && freed > 0) budget_->Shrank(freed);
}

size_t HistoryCache::EvictOldest(size_t bytes) {
  size_t freed = 0;
  std::vector<EventPtr> dropped;
  {
    absl::MutexLock lock(&mu_);
    while (!events_.empty() && freed < bytes) {
      freed += PopOldestLocked(&dropped);
    }
  }
  return freed;
}

size_t HistoryCache::PopOldestLocked(std::vector<EventPtr>* dropped) {
  const size_t cost = events_.front()->cost();
  dropped->push_back(std::move(events_.front()));
  events_.pop_front();
  bytes_ -= cost;
  return cost;
}

}  // namespace chat

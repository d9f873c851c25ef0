#include "service/recent_ids.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace chat {

RecentIds::RecentIds(const Limits& limits, std::atomic<size_t>* total)
    : limits_(limits), total_(total) {}

RecentIds::~RecentIds() {
  total_->fetch_sub(order_.size(), std::memory_order_relaxed);
}

std::string RecentIds::Key(absl::string_view name_key,
                           absl::string_view client_id) {
  return absl::StrCat(name_key, ":", client_id);
}

std::optional<uint64_t> RecentIds::Find(const std::string& key,
                                        absl::Time now) const {
  auto it = posted_.find(key);
  if (it == posted_.end() || now - it->second.time >= limits_.window) {
    return std::nullopt;
  }
  return it->second.seq;
}

bool RecentIds::Insert(const std::string& key, uint64_t seq, absl::Time time) {
  if (limits_.window <= absl::ZeroDuration() || limits_.per_room == 0) {
    return false;
  }
  Expire(time);
  if (auto it = posted_.find(key); it != posted_.end()) {
    // Only for ids inserted out of time order: the key moves to the end.
    order_.erase(std::find(order_.begin(), order_.end(), &*it));
    it->second = Posted{seq, time};
    order_.push_back(&*it);
    return true;
  }
  while (order_.size() >= limits_.per_room) PopOldest(/*release=*/true);
  if (!Reserve()) {
    if (order_.empty()) return false;
    PopOldest(/*release=*/false);  // Its place in the total is the new id's.
  }
  auto inserted = posted_.emplace(key, Posted{seq, time});
  order_.push_back(&*inserted.first);
  return true;
}

void RecentIds::Expire(absl::Time now) {
  while (!order_.empty() &&
         now - order_.front()->second.time >= limits_.window) {
    PopOldest(/*release=*/true);
  }
}

void RecentIds::PopOldest(bool release) {
  Map::value_type* oldest = order_.front();
  order_.pop_front();
  posted_.erase(posted_.find(oldest->first));
  if (release) total_->fetch_sub(1, std::memory_order_relaxed);
}

bool RecentIds::Reserve() {
  size_t held = total_->load(std::memory_order_relaxed);
  do {
    if (held >= limits_.total) return false;
  } while (!total_->compare_exchange_weak(held, held + 1,
                                          std::memory_order_relaxed));
  return true;
}

}  // namespace chat

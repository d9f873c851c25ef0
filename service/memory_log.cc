#include "service/memory_log.h"

#include <atomic>
#include <random>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace chat {
namespace {

class MemoryRoomLog final : public RoomLog {
 public:
  MemoryRoomLog(HistoryBudget* budget, size_t history_events)
      : epoch_(NewEpoch()), cache_(budget, history_events) {}

  const std::string& epoch() const override { return epoch_; }
  bool synchronous() const override { return true; }

  absl::StatusOr<EventPtr> Append(v1::ChatResponse response, uint64_t origin,
                                  bool) override {
    const uint64_t seq = last_seq_.load(std::memory_order_relaxed) + 1;
    response.set_seq(seq);
    SetTimeNow(&response);
    auto event = std::make_shared<const Event>(std::move(response), origin);
    cache_.Add(event);
    last_seq_.store(seq, std::memory_order_release);
    return event;
  }

  uint64_t last_seq() const override {
    return last_seq_.load(std::memory_order_acquire);
  }
  uint64_t committed_seq() const override { return last_seq(); }

  uint64_t first_seq() const override {
    // Read last first: an event appended in between only makes first_seq
    // look older than the seq after last, never newer.
    const uint64_t last = last_seq();
    const uint64_t first = cache_.first_seq();
    return first == 0 ? last + 1 : first;
  }

  absl::StatusOr<uint64_t> Read(const LogRead& read,
                                std::vector<EventPtr>* out) override {
    return cache_.Read(read, last_seq(), out);
  }

  absl::StatusOr<uint64_t> MessagesStart(uint32_t count,
                                         uint64_t before) override {
    bool complete;
    const uint64_t start = cache_.MessagesStart(count, before, &complete);
    if (complete) return start;
    // Every message held: from the oldest seq held.
    return first_seq() - 1;
  }

 private:
  const std::string epoch_;
  // Appends are serialized by the room; readers only load it.
  std::atomic<uint64_t> last_seq_{0};
  HistoryCache cache_;
};

}  // namespace

std::string NewEpoch() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64* rng ABSL_GUARDED_BY(mu) = nullptr;
  absl::MutexLock lock(&mu);
  if (rng == nullptr) {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    rng = new std::mt19937_64(seed);
  }
  return absl::StrFormat("%016x", (*rng)());
}

MemoryLogBackend::MemoryLogBackend(size_t history_events, size_t history_memory)
    : history_events_(history_events), budget_(history_memory) {}

absl::StatusOr<std::unique_ptr<RoomLog>> MemoryLogBackend::Open(
    const std::string&, std::weak_ptr<CommitListener>) {
  return std::make_unique<MemoryRoomLog>(&budget_, history_events_);
}

}  // namespace chat

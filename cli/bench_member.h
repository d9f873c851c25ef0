// What every chatctl bench member shares, whatever its transport: the
// clock, the Receiver that counts and checks what a receiving member gets,
// and the Sender the pacer hands messages to.
//
// Header-only on purpose: the transports' threads call Receiver::OnText for
// every delivery, and it must stay inlined there (Receiver is final).
#ifndef CHATROOM_CLI_BENCH_MEMBER_H_
#define CHATROOM_CLI_BENCH_MEMBER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cli/bench_stats.h"
#include "cli/bench_ws.h"

namespace chat {
namespace bench {

using Clock = std::chrono::steady_clock;

// NowNs: the bench's monotonic clock, in ns (the clock of Stamp::sent_ns).
inline uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

// Receiver: what one receiving member saw. Written only by the thread
// serving its connection; the atomics are read by the main and pacer
// threads during the run, check() and latency() only after it.
class Receiver final : public WsListener {
 public:
  Receiver(uint32_t run, uint32_t senders, uint64_t messages)
      : run_(run), check_(senders, messages) {}

  // One message text, received at `now_ns`.
  void OnText(absl::string_view text, uint64_t now_ns) override {
    Stamp stamp;
    if (ParseMessageText(text, &stamp)) {
      if (stamp.run != run_) return;
      check_.Record(stamp.sender, stamp.seq);
      // The interleaving of the senders' messages, as this receiver saw it
      // (FNV-1a over sender and seq): one room shows every member one
      // order, so receivers that got everything agree on it.
      order_digest_ = (order_digest_ ^ stamp.sender) * kFnvPrime;
      order_digest_ = (order_digest_ ^ stamp.seq) * kFnvPrime;
      latency_.Record(now_ns > stamp.sent_ns ? now_ns - stamp.sent_ns : 0);
      last_ns_.store(now_ns, std::memory_order_relaxed);
      received_.store(received_.load(std::memory_order_relaxed) + 1,
                      std::memory_order_release);
      return;
    }
    uint64_t token;
    if (ParseSyncText(text, run_, &token)) {
      synced_.store(token, std::memory_order_release);
    }
  }

  void SetJoined() override { joined_.store(true, std::memory_order_release); }
  void SetEnded(std::string why) override {
    {
      absl::MutexLock lock(&mu_);
      if (ended_why_.empty()) ended_why_ = std::move(why);
    }
    ended_.store(true, std::memory_order_release);
  }
  void SetNotice(absl::string_view text) override {
    absl::MutexLock lock(&mu_);
    last_notice_ = std::string(text);
  }

  bool joined() const { return joined_.load(std::memory_order_acquire); }
  bool ended() const { return ended_.load(std::memory_order_acquire); }
  uint64_t received() const {
    return received_.load(std::memory_order_acquire);
  }
  uint64_t synced() const { return synced_.load(std::memory_order_acquire); }
  uint64_t last_ns() const { return last_ns_.load(std::memory_order_relaxed); }
  std::string ended_why() const {
    absl::MutexLock lock(&mu_);
    return ended_why_.empty()
               ? last_notice_
               : absl::StrCat(ended_why_,
                              last_notice_.empty() ? "" : " (last notice: ",
                              last_notice_, last_notice_.empty() ? "" : ")");
  }

  // Read only after the run.
  const DeliveryCheck& check() const { return check_; }
  uint64_t order_digest() const { return order_digest_; }
  const Histogram& latency() const { return latency_; }

 private:
  static constexpr uint64_t kFnvPrime = 1099511628211ull;

  const uint32_t run_;
  DeliveryCheck check_;
  uint64_t order_digest_ = 14695981039346656037ull;  // Its reader's.
  Histogram latency_;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> synced_{0};
  std::atomic<uint64_t> last_ns_{0};
  std::atomic<bool> joined_{false};
  std::atomic<bool> ended_{false};
  mutable absl::Mutex mu_;
  std::string ended_why_ ABSL_GUARDED_BY(mu_);
  std::string last_notice_ ABSL_GUARDED_BY(mu_);
};

// A member that posts: the pacer hands it messages to send.
class Sender {
 public:
  Sender(uint32_t run, uint32_t index, size_t size)
      : run_(run), index_(index), size_(size) {}
  virtual ~Sender() = default;

  // Posts the sender's next `n` messages. Pacer thread only.
  virtual void Send(uint64_t n) = 0;
  // Posts a sync marker. Pacer or main thread, one at a time.
  virtual void SendSync(uint64_t token) = 0;

 protected:
  // Appends the next message's text. Called by one thread at a time.
  void NextText(std::string* out) {
    Stamp stamp;
    stamp.run = run_;
    stamp.sender = index_;
    stamp.seq = next_seq_++;
    stamp.sent_ns = NowNs();
    AppendMessageText(stamp, size_, out);
  }

  const uint32_t run_;
  const uint32_t index_;
  const size_t size_;

 private:
  uint64_t next_seq_ = 0;
};

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_MEMBER_H_

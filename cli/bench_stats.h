// The bookkeeping of `chatctl bench`, free of any transport so it can be
// unit-tested: the text a bench message carries, the latency histogram, and
// the per-receiver delivery check (lost, duplicated, out of order).
//
// None of these classes locks: each is written by one thread at a time (the
// thread that reads one receiver's connection) and read once the run ends.
#ifndef CHATROOM_CLI_BENCH_STATS_H_
#define CHATROOM_CLI_BENCH_STATS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace chat {
namespace bench {

// ---------------------------------------------------------------- Messages

// What a bench message says about itself.
struct Stamp {
  uint32_t run = 0;      // The run's id, so stray messages are ignored.
  uint32_t sender = 0;   // Index of the sender, 0..S-1.
  uint64_t seq = 0;      // The sender's sequence number, 0..M-1.
  uint64_t sent_ns = 0;  // Send time on the bench's monotonic clock.
};

// AppendMessageText
//
// Appends the text of one bench message, "B<run> <sender> <seq> <sent_ns> "
// padded with 'x' to `size` bytes (longer when `size` is too small to hold
// the stamp).
void AppendMessageText(const Stamp& stamp, size_t size, std::string* out);

// ParseMessageText
//
// Parses a text made by AppendMessageText. Returns false for any other text.
bool ParseMessageText(absl::string_view text, Stamp* stamp);

// The text of a sync marker, "S<run> <token>", which the bench posts until
// every receiver has seen one, so the clock starts with everyone in the room.
std::string SyncText(uint32_t run, uint64_t token);
bool ParseSyncText(absl::string_view text, uint32_t run, uint64_t* token);

// ---------------------------------------------------------------- Latency

// Histogram: a log-linear histogram of nanosecond values with 1/64 relative
// precision (HdrHistogram's layout), small enough to keep one per receiver.
class Histogram {
 public:
  Histogram();

  void Record(uint64_t value);
  void Merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const;

  // Percentile
  //
  // The value at or below which `p` percent (0-100] of the recorded values
  // fall, within the histogram's precision (never above max()). 0 when empty.
  uint64_t Percentile(double p) const;

  // Bucket layout, exposed for tests.
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);  // Inclusive.

 private:
  std::vector<uint32_t> counts_;
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  double sum_ = 0;
};

// ---------------------------------------------------------------- Checking

// DeliveryCheck: what one receiver got from every sender, checked message by
// message against the senders' sequences (0..messages-1 each).
class DeliveryCheck {
 public:
  DeliveryCheck(uint32_t senders, uint64_t messages);

  enum class Verdict { kInOrder, kDuplicate, kOutOfOrder, kUnknown };

  // Records that `seq` of `sender` arrived.
  Verdict Record(uint32_t sender, uint64_t seq);

  // Distinct messages received so far.
  uint64_t unique() const { return unique_; }
  uint64_t duplicated() const { return duplicated_; }
  uint64_t out_of_order() const { return out_of_order_; }
  // Messages of known senders with a seq out of range.
  uint64_t unknown() const { return unknown_; }
  // Expected messages not (yet) received: senders * messages - unique().
  uint64_t missing() const { return expected_ - unique_; }

 private:
  const uint32_t senders_;
  const uint64_t messages_;
  const uint64_t expected_;
  // One bit per (sender, seq): senders_ rows of `words_` 64-bit words.
  size_t words_;
  std::vector<uint64_t> seen_;
  // Per sender: one past the highest seq received (0 for none).
  std::vector<uint64_t> next_;
  uint64_t unique_ = 0;
  uint64_t duplicated_ = 0;
  uint64_t out_of_order_ = 0;
  uint64_t unknown_ = 0;
};

// ---------------------------------------------------------------- Output

// FormatRate: 1234567.8 -> "1.23M", 12345 -> "12.3k", 12 -> "12".
std::string FormatRate(double per_second);

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_STATS_H_

#include "cli/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace chat {
namespace bench {
namespace {

// Histogram layout: values below 2^kSubBits have a bucket each; above, each
// power of two is split into 2^(kSubBits-1) buckets.
constexpr int kSubBits = 7;
constexpr uint64_t kDirect = uint64_t{1} << kSubBits;  // 128
constexpr uint64_t kHalf = kDirect / 2;                // 64
constexpr int kMaxBit = 40;  // Values are clamped below 2^40 ns (18 min).
constexpr uint64_t kMaxValue = (uint64_t{1} << kMaxBit) - 1;
constexpr size_t kBuckets = kDirect + (kMaxBit - kSubBits) * kHalf;

int MostSignificantBit(uint64_t v) { return 63 - __builtin_clzll(v); }

// Reads one space-terminated unsigned decimal number from *text, and the
// space after it. Hand-rolled: the bench parses one stamp per delivery, and
// absl::SimpleAtoi was a quarter of its CPU.
bool TakeNumber(absl::string_view* text, uint64_t* value) {
  uint64_t v = 0;
  size_t i = 0;
  for (; i < text->size() && (*text)[i] != ' '; ++i) {
    const unsigned digit = static_cast<unsigned char>((*text)[i]) - '0';
    if (digit > 9 || i >= 19) return false;  // 19 digits cannot overflow.
    v = v * 10 + digit;
  }
  if (i == 0) return false;
  *value = v;
  text->remove_prefix(std::min(i + 1, text->size()));
  return true;
}

}  // namespace

void AppendMessageText(const Stamp& stamp, size_t size, std::string* out) {
  const size_t start = out->size();
  absl::StrAppend(out, "B", stamp.run, " ", stamp.sender, " ", stamp.seq, " ",
                  stamp.sent_ns, " ");
  const size_t used = out->size() - start;
  if (used < size) out->append(size - used, 'x');
}

bool ParseMessageText(absl::string_view text, Stamp* stamp) {
  if (text.size() < 2 || text[0] != 'B') return false;
  text.remove_prefix(1);
  uint64_t run, sender;
  if (!TakeNumber(&text, &run) || !TakeNumber(&text, &sender) ||
      !TakeNumber(&text, &stamp->seq) || !TakeNumber(&text, &stamp->sent_ns)) {
    return false;
  }
  if (run > UINT32_MAX || sender > UINT32_MAX) return false;
  stamp->run = static_cast<uint32_t>(run);
  stamp->sender = static_cast<uint32_t>(sender);
  return true;
}

std::string SyncText(uint32_t run, uint64_t token) {
  return absl::StrCat("S", run, " ", token);
}

bool ParseSyncText(absl::string_view text, uint32_t run, uint64_t* token) {
  if (text.size() < 2 || text[0] != 'S') return false;
  text.remove_prefix(1);
  uint64_t got;
  if (!TakeNumber(&text, &got) || got != run) return false;
  return TakeNumber(&text, token) && text.empty();
}

// ---------------------------------------------------------------- Histogram

Histogram::Histogram() : counts_(kBuckets, 0) {}

size_t Histogram::BucketOf(uint64_t value) {
  value = std::min(value, kMaxValue);
  if (value < kDirect) return static_cast<size_t>(value);
  const int shift = MostSignificantBit(value) - (kSubBits - 1);
  const uint64_t top = value >> shift;  // In [kHalf, kDirect).
  return static_cast<size_t>(kDirect + (shift - 1) * kHalf + (top - kHalf));
}

uint64_t Histogram::BucketLow(size_t bucket) {
  if (bucket < kDirect) return bucket;
  const size_t k = bucket - kDirect;
  const int shift = static_cast<int>(k / kHalf) + 1;
  const uint64_t top = k % kHalf + kHalf;
  return top << shift;
}

uint64_t Histogram::BucketHigh(size_t bucket) {
  if (bucket < kDirect) return bucket;
  const size_t k = bucket - kDirect;
  const int shift = static_cast<int>(k / kHalf) + 1;
  const uint64_t top = k % kHalf + kHalf;
  return ((top + 1) << shift) - 1;
}

void Histogram::Record(uint64_t value) {
  ++counts_[BucketOf(value)];
  ++count_;
  max_ = std::max(max_, value);
  min_ = std::min(min_, value);
  sum_ += static_cast<double>(value);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
  sum_ += other.sum_;
}

double Histogram::mean() const {
  return count_ == 0 ? 0 : sum_ / static_cast<double>(count_);
}

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(p / 100.0 * count_));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHigh(i), min(), max_);
  }
  return max_;
}

// ----------------------------------------------------------------
// DeliveryCheck

DeliveryCheck::DeliveryCheck(uint32_t senders, uint64_t messages)
    : senders_(senders),
      messages_(messages),
      expected_(senders * messages),
      words_((messages + 63) / 64),
      seen_(senders * words_, 0),
      next_(senders, 0) {}

DeliveryCheck::Verdict DeliveryCheck::Record(uint32_t sender, uint64_t seq) {
  if (sender >= senders_ || seq >= messages_) {
    ++unknown_;
    return Verdict::kUnknown;
  }
  uint64_t& word = seen_[sender * words_ + seq / 64];
  const uint64_t bit = uint64_t{1} << (seq % 64);
  if (word & bit) {
    ++duplicated_;
    return Verdict::kDuplicate;
  }
  word |= bit;
  ++unique_;
  uint64_t& next = next_[sender];
  if (seq < next) {
    // Arrived after a later message of the same sender. (A gap alone is not
    // reordering: what never arrives counts as missing.)
    ++out_of_order_;
    return Verdict::kOutOfOrder;
  }
  next = seq + 1;
  return Verdict::kInOrder;
}

// ---------------------------------------------------------------- Output

std::string FormatRate(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  }
  return buf;
}

}  // namespace bench
}  // namespace chat

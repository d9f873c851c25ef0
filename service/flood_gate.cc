#include "service/flood_gate.h"

#include <algorithm>

namespace chat {

FloodGate::FloodGate(double rate, uint32_t burst)
    : rate_(rate), burst_(std::max<uint32_t>(burst, 1)), tokens_(burst_) {}

FloodGate::Verdict FloodGate::Take(absl::Time now) {
  if (rate_ <= 0) return Verdict::kPass;
  if (last_ != absl::InfinitePast() && now > last_) {
    const double refill = absl::ToDoubleSeconds(now - last_) * rate_;
    tokens_ = std::min(burst_, tokens_ + refill);
    strikes_ = std::max(0.0, strikes_ - refill);
  }
  last_ = std::max(last_, now);
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return Verdict::kPass;
  }
  retry_after_ = absl::Seconds((1 - tokens_) / rate_);
  strikes_ += 1;
  // At least a burst's worth, so that a low rate still allows a few slips.
  const double limit = std::max(kStrikeSeconds * rate_, burst_ + 10);
  return strikes_ > limit ? Verdict::kDisconnect : Verdict::kRefuse;
}

}  // namespace chat

// FloodGate: one member's flood control, a token bucket.
//
// A member may send `burst` requests at once and then `rate` a second; a
// request over that is refused, with the time after which one more would
// pass. Refusals are counted in a second bucket that drains at `rate` a
// second: a member whose refusals outrun it by kStrikeSeconds worth of the
// rate (sending at 5x the rate for 10 s, say, or one paste of a few hundred
// lines) is told to go. Sending at 2x the rate is refused half the time and
// never disconnected.
//
// Not thread-safe: the owner serializes calls (Member does, under its lock).
// Time is passed in, so tests need no clock.
#ifndef CHATROOM_SERVICE_FLOOD_GATE_H_
#define CHATROOM_SERVICE_FLOOD_GATE_H_

#include <cstdint>

#include "absl/time/time.h"

namespace chat {

class FloodGate {
 public:
  // Refusals, net of what drains at the rate, that disconnect: this many
  // seconds of the rate.
  static constexpr double kStrikeSeconds = 30;

  // `rate` <= 0 turns the gate off: every request passes.
  FloodGate(double rate, uint32_t burst);

  enum class Verdict {
    kPass,        // Go ahead.
    kRefuse,      // Refused; retry_after() says when one would pass.
    kDisconnect,  // Refused, and the member keeps flooding: end it.
  };

  // Take
  //
  // One request at `now` (non-decreasing between calls).
  Verdict Take(absl::Time now);

  // After a refusal: how long until the next request would pass.
  absl::Duration retry_after() const { return retry_after_; }

  bool enabled() const { return rate_ > 0; }

 private:
  const double rate_;
  const double burst_;
  double tokens_;
  double strikes_ = 0;
  absl::Time last_ = absl::InfinitePast();
  absl::Duration retry_after_ = absl::ZeroDuration();
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_FLOOD_GATE_H_

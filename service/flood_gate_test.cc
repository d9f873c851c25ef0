#include "service/flood_gate.h"

#include "gtest/gtest.h"

namespace chat {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

TEST(FloodGateTest, BurstThenRate) {
  FloodGate gate(5, 10);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(gate.Take(kStart), FloodGate::Verdict::kPass) << i;
  }
  EXPECT_EQ(gate.Take(kStart), FloodGate::Verdict::kRefuse);
  EXPECT_EQ(gate.retry_after(), absl::Milliseconds(200));
  // 100 ms later, half a token: still refused, 100 ms to go.
  EXPECT_EQ(gate.Take(kStart + absl::Milliseconds(100)),
            FloodGate::Verdict::kRefuse);
  EXPECT_EQ(gate.retry_after(), absl::Milliseconds(100));
  EXPECT_EQ(gate.Take(kStart + absl::Milliseconds(200)),
            FloodGate::Verdict::kPass);
  EXPECT_EQ(gate.Take(kStart + absl::Milliseconds(200)),
            FloodGate::Verdict::kRefuse);
}

TEST(FloodGateTest, AfterAPauseTheBurstIsBack) {
  FloodGate gate(5, 10);
  for (int i = 0; i < 15; ++i) gate.Take(kStart);
  const absl::Time later = kStart + absl::Seconds(2);  // 10 tokens.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(gate.Take(later), FloodGate::Verdict::kPass) << i;
  }
  EXPECT_EQ(gate.Take(later), FloodGate::Verdict::kRefuse);
  // Never more than the burst, however long the pause.
  const absl::Time much_later = kStart + absl::Hours(1);
  for (int i = 0; i < 10; ++i) gate.Take(much_later);
  EXPECT_EQ(gate.Take(much_later), FloodGate::Verdict::kRefuse);
}

TEST(FloodGateTest, SteadyAtTheRateAlwaysPasses) {
  FloodGate gate(5, 1);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(gate.Take(kStart + i * absl::Milliseconds(200)),
              FloodGate::Verdict::kPass)
        << i;
  }
}

// Sends `per_second` requests a second for `seconds`; returns the verdicts
// counted, stopping at the first disconnect (its time in disconnected_at).
struct Tally {
  int pass = 0, refuse = 0;
  absl::Duration disconnected_at = absl::InfiniteDuration();
};
Tally Send(FloodGate& gate, double per_second, int seconds) {
  Tally run;
  const absl::Duration step = absl::Seconds(1 / per_second);
  for (absl::Duration t; t < absl::Seconds(seconds); t += step) {
    switch (gate.Take(kStart + t)) {
      case FloodGate::Verdict::kPass:
        ++run.pass;
        break;
      case FloodGate::Verdict::kRefuse:
        ++run.refuse;
        break;
      case FloodGate::Verdict::kDisconnect:
        run.disconnected_at = t;
        return run;
    }
  }
  return run;
}

TEST(FloodGateTest, FiveTimesTheRateDisconnectsInAboutTenSeconds) {
  FloodGate gate(5, 10);
  const Tally run = Send(gate, 25, 60);
  EXPECT_GT(run.disconnected_at, absl::Seconds(9));
  EXPECT_LT(run.disconnected_at, absl::Seconds(12));
  EXPECT_GT(run.refuse, 0);
}

TEST(FloodGateTest, TwiceTheRateIsRefusedButNeverDisconnected) {
  FloodGate gate(5, 10);
  const Tally run = Send(gate, 10, 600);
  EXPECT_EQ(run.disconnected_at, absl::InfiniteDuration());
  // Half pass, half are refused (the burst passes on top).
  EXPECT_NEAR(run.pass, 3000 + 10, 10);
  EXPECT_NEAR(run.refuse, 3000 - 10, 10);
}

TEST(FloodGateTest, OnePasteOfHundredsOfLinesDisconnects) {
  FloodGate gate(5, 10);
  int passed = 0;
  FloodGate::Verdict v = FloodGate::Verdict::kPass;
  int sent = 0;
  while (sent < 1100 && v != FloodGate::Verdict::kDisconnect) {
    v = gate.Take(kStart);
    passed += v == FloodGate::Verdict::kPass;
    ++sent;
  }
  EXPECT_EQ(v, FloodGate::Verdict::kDisconnect);
  EXPECT_EQ(passed, 10);
  EXPECT_EQ(sent, 10 + 150 + 1);
}

TEST(FloodGateTest, ZeroRateIsOff) {
  FloodGate gate(0, 10);
  EXPECT_FALSE(gate.enabled());
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(gate.Take(kStart), FloodGate::Verdict::kPass);
  }
}

TEST(FloodGateTest, LowRateAllowsABurstOfSlips) {
  // At 0.1/s the strike limit would be 3 refusals; a burst's worth more.
  FloodGate gate(0.1, 2);
  gate.Take(kStart);
  gate.Take(kStart);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(gate.Take(kStart), FloodGate::Verdict::kRefuse) << i;
  }
  EXPECT_EQ(gate.Take(kStart), FloodGate::Verdict::kDisconnect);
}

}  // namespace
}  // namespace chat

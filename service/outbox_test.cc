#include "service/outbox.h"

#include "gtest/gtest.h"

namespace chat {
namespace {

EventPtr Msg(uint64_t seq, size_t text_size = 1) {
  v1::ChatResponse r;
  r.set_seq(seq);
  r.mutable_message()->set_text(std::string(text_size, 'x'));
  return std::make_shared<const Event>(std::move(r), 0);
}

// A replay of seqs [first, last], two per batch, that blocks (as if not yet
// committed) past `available`.
class FakeReplay : public Replay {
 public:
  FakeReplay(uint64_t first, uint64_t last, uint64_t* available)
      : next_(first), last_(last), available_(available) {}
  Step Next(std::vector<EventPtr>* out) override {
    for (int i = 0; i < 2 && next_ <= last_ && next_ <= *available_; ++i) {
      out->push_back(Msg(next_++, 100));
    }
    if (next_ > last_) return Step::kDone;
    return next_ <= *available_ ? Step::kMore : Step::kBlocked;
  }

 private:
  uint64_t next_;
  const uint64_t last_;
  const uint64_t* available_;
};

std::vector<uint64_t> DrainSeqs(Outbox* box, Outbox::DrainResult* last) {
  std::vector<uint64_t> seqs;
  absl::Status status;
  for (;;) {
    std::vector<EventPtr> out;
    *last = box->Drain(&out, &status);
    for (const auto& e : out) seqs.push_back(e->seq());
    if (*last != Outbox::DrainResult::kEvents) return seqs;
  }
}

TEST(OutboxTest, ReplayGoesBetweenWhatCameBeforeAndAfterInBatches) {
  Outbox box(3, 1 << 20);  // Room for 3 live events only.
  uint64_t available = 100;
  box.Push(Msg(1), true);  // The welcome, say.
  box.AddReplay(std::make_unique<FakeReplay>(10, 19, &available));
  box.Push(Msg(20));
  box.Push(Msg(21));
  std::vector<EventPtr> out;
  absl::Status status;
  ASSERT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kEvents);
  ASSERT_EQ(out.size(), 1u);  // Only what came before the replay.
  out.clear();
  ASSERT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kEvents);
  ASSERT_EQ(out.size(), 2u);  // One batch of the replay.
  EXPECT_EQ(out[0]->seq(), 10u);
  // Ten replayed events never counted against the limit of 3.
  Outbox::DrainResult last;
  std::vector<uint64_t> rest = DrainSeqs(&box, &last);
  EXPECT_EQ(last, Outbox::DrainResult::kEmpty);
  EXPECT_EQ(rest,
            (std::vector<uint64_t>{12, 13, 14, 15, 16, 17, 18, 19, 20, 21}));
}

TEST(OutboxTest, BlockedReplayWaitsForTheNextPush) {
  Outbox box(10, 1 << 20);
  uint64_t available = 11;
  box.AddReplay(std::make_unique<FakeReplay>(10, 13, &available));
  Outbox::DrainResult last;
  EXPECT_EQ(DrainSeqs(&box, &last), (std::vector<uint64_t>{10, 11}));
  EXPECT_EQ(last, Outbox::DrainResult::kEmpty);
  // The commit the replay waited for comes with the next push, which wakes.
  available = 13;
  EXPECT_EQ(box.Push(Msg(14)), Outbox::PushResult::kQueuedWake);
  EXPECT_EQ(DrainSeqs(&box, &last), (std::vector<uint64_t>{12, 13, 14}));
}

TEST(OutboxTest, ClosingEndsABlockedReplayAndOverflowDropsIt) {
  Outbox closing(10, 1 << 20);
  uint64_t available = 0;
  closing.AddReplay(std::make_unique<FakeReplay>(1, 5, &available));
  Outbox::DrainResult last;
  EXPECT_TRUE(DrainSeqs(&closing, &last).empty());
  EXPECT_EQ(last, Outbox::DrainResult::kEmpty);
  EXPECT_TRUE(closing.Close(absl::OkStatus(), false));
  DrainSeqs(&closing, &last);
  EXPECT_EQ(last, Outbox::DrainResult::kClosed);

  Outbox slow(1, 1 << 20);
  available = 100;
  slow.AddReplay(std::make_unique<FakeReplay>(1, 5, &available));
  slow.Push(Msg(6));
  EXPECT_EQ(slow.Push(Msg(7)), Outbox::PushResult::kOverflow);
  EXPECT_TRUE(DrainSeqs(&slow, &last).empty());
  EXPECT_EQ(last, Outbox::DrainResult::kClosed);
}

TEST(OutboxTest, DrainsInOrderAndAsksForAWakeOnlyWhenIdle) {
  Outbox box(10, 1 << 20);
  std::vector<EventPtr> out;
  absl::Status status;
  // Not yet drained: the transport is busy, no wake needed.
  EXPECT_EQ(box.Push(Msg(1)), Outbox::PushResult::kQueued);
  EXPECT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kEvents);
  EXPECT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kEmpty);
  EXPECT_EQ(box.Push(Msg(2)), Outbox::PushResult::kQueuedWake);
  EXPECT_EQ(box.Push(Msg(3)), Outbox::PushResult::kQueued);
  EXPECT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kEvents);
  ASSERT_EQ(out.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) EXPECT_EQ(out[i]->seq(), i + 1);
}

TEST(OutboxTest, OverflowByCountClosesAsTooSlow) {
  Outbox box(2, 1 << 20);
  EXPECT_EQ(box.Push(Msg(1)), Outbox::PushResult::kQueued);
  EXPECT_EQ(box.Push(Msg(2)), Outbox::PushResult::kQueued);
  EXPECT_EQ(box.Push(Msg(3)), Outbox::PushResult::kOverflow);
  EXPECT_EQ(box.Push(Msg(4)), Outbox::PushResult::kClosed);
  std::vector<EventPtr> out;
  absl::Status status;
  EXPECT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kClosed);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(status.message().find("too slow"), absl::string_view::npos);
}

TEST(OutboxTest, OverflowByBytes) {
  Outbox box(1000, 3000);
  EXPECT_EQ(box.Push(Msg(1, 1000)), Outbox::PushResult::kQueued);
  EXPECT_EQ(box.Push(Msg(2, 1000)), Outbox::PushResult::kQueued);
  EXPECT_EQ(box.Push(Msg(3, 1000)), Outbox::PushResult::kOverflow);
}

TEST(OutboxTest, ForcedPushIgnoresLimits) {
  Outbox box(1, 1 << 20);
  EXPECT_EQ(box.Push(Msg(1)), Outbox::PushResult::kQueued);
  EXPECT_EQ(box.Push(Msg(2), /*forced=*/true), Outbox::PushResult::kQueued);
}

TEST(OutboxTest, CloseKeepsQueuedEventsUnlessDiscarded) {
  Outbox box(10, 1 << 20);
  std::vector<EventPtr> out;
  absl::Status status;
  EXPECT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kEmpty);
  box.Push(Msg(1));
  EXPECT_FALSE(box.Close(absl::UnavailableError("bye"), false));
  EXPECT_FALSE(box.Close(absl::OkStatus(), true));  // The first close wins.
  EXPECT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kEvents);
  EXPECT_EQ(box.Drain(&out, &status), Outbox::DrainResult::kClosed);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(out.size(), 1u);

  Outbox idle(10, 1 << 20);
  EXPECT_EQ(idle.Drain(&out, &status), Outbox::DrainResult::kEmpty);
  EXPECT_TRUE(idle.Close(absl::OkStatus(), true));  // Idle: wake it.
}

}  // namespace
}  // namespace chat

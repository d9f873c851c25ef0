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

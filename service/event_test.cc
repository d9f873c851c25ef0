#include "service/event.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

// Two transports' keys, as two transports would declare them.
const EncodingKey<std::string> kLineKey = RegisterEncoding<std::string>();
const EncodingKey<std::unique_ptr<int>> kBoxKey =
    RegisterEncoding<std::unique_ptr<int>>();

EventPtr MessageEvent(const std::string& text) {
  v1::ChatResponse response;
  response.set_seq(7);
  response.mutable_message()->set_sender("alice");
  response.mutable_message()->set_text(text);
  return std::make_shared<const Event>(std::move(response), /*origin=*/1);
}

TEST(EventTest, KeysHaveTheirOwnSlots) {
  EXPECT_NE(kLineKey.index(), kBoxKey.index());
  EXPECT_LT(kLineKey.index(), kMaxEncodings);
  EXPECT_LT(kBoxKey.index(), kMaxEncodings);
}

TEST(EventTest, EachKeyGetsItsOwnValueMadeOnce) {
  const EventPtr event_ptr = MessageEvent("hello");
  const Event& event = *event_ptr;
  int line_calls = 0, box_calls = 0;
  auto line = [&](const Event& e) {
    ++line_calls;
    return "<" + e.response().message().sender() + "> " +
           e.response().message().text();
  };
  auto box = [&](const Event& e) {
    ++box_calls;
    return std::make_unique<int>(static_cast<int>(e.seq()));
  };
  const std::string& first = event.Encoded(kLineKey, line);
  EXPECT_EQ(first, "<alice> hello");
  EXPECT_EQ(*event.Encoded(kBoxKey, box), 7);
  // Asked again: the same objects, not made again.
  EXPECT_EQ(&event.Encoded(kLineKey, line), &first);
  EXPECT_EQ(*event.Encoded(kBoxKey, box), 7);
  EXPECT_EQ(line_calls, 1);
  EXPECT_EQ(box_calls, 1);
  // Another event has its own.
  const EventPtr other = MessageEvent("bye");
  EXPECT_EQ(other->Encoded(kLineKey, line), "<alice> bye");
  EXPECT_EQ(line_calls, 2);
}

// Under ASan, the event's destructor must free what the encodings hold (a
// string longer than the small-string buffer, a heap int).
TEST(EventTest, EncodingsDieWithTheEvent) {
  EventPtr event = MessageEvent("hi");
  EXPECT_EQ(event
                ->Encoded(kLineKey,
                          [](const Event&) { return std::string(100, 'x'); })
                .size(),
            100u);
  EXPECT_EQ(*event->Encoded(
                kBoxKey, [](const Event&) { return std::make_unique<int>(5); }),
            5);
  event.reset();
}

TEST(EventTest, RacingThreadsMakeEachEncodingOnce) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 50; ++round) {
    const EventPtr event = MessageEvent("race");
    std::atomic<int> line_calls{0}, box_calls{0};
    std::vector<const std::string*> lines(kThreads);
    std::vector<const int*> boxes(kThreads);
    absl::Barrier* start = new absl::Barrier(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        if (start->Block()) delete start;
        // Half the threads ask for the line first, half for the box.
        auto line = [&] {
          lines[t] = &event->Encoded(kLineKey, [&](const Event& e) {
            line_calls.fetch_add(1);
            return std::string(64, 'a') + e.response().message().text();
          });
        };
        auto box = [&] {
          boxes[t] = event
                         ->Encoded(kBoxKey,
                                   [&](const Event&) {
                                     box_calls.fetch_add(1);
                                     return std::make_unique<int>(42);
                                   })
                         .get();
        };
        if (t % 2 == 0) {
          line();
          box();
        } else {
          box();
          line();
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(line_calls.load(), 1);
    EXPECT_EQ(box_calls.load(), 1);
    for (int t = 0; t < kThreads; ++t) {
      EXPECT_EQ(lines[t], lines[0]);
      EXPECT_EQ(boxes[t], boxes[0]);
    }
    EXPECT_EQ(*lines[0], std::string(64, 'a') + "race");
    EXPECT_EQ(*boxes[0], 42);
  }
}

TEST(EventDeathTest, TooManyEncodingsAbortSayingWhich) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        for (int i = 0; i <= kMaxEncodings; ++i) RegisterEncoding<int>();
      },
      "raise kMaxEncodings in service/event.h");
}

}  // namespace
}  // namespace chat

#include "service/recent_ids.h"

#include <atomic>
#include <string>

#include "gtest/gtest.h"

namespace chat {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

RecentIds::Limits Limits(absl::Duration window, size_t per_room, size_t total) {
  RecentIds::Limits limits;
  limits.window = window;
  limits.per_room = per_room;
  limits.total = total;
  return limits;
}

TEST(RecentIdsTest, FindsAnIdUnderItsSendersNameOnly) {
  std::atomic<size_t> total{0};
  RecentIds ids(Limits(absl::Minutes(10), 100, 1000), &total);
  ASSERT_TRUE(ids.Insert(RecentIds::Key("alice", "c1"), 7, kStart));
  EXPECT_EQ(ids.Find(RecentIds::Key("alice", "c1"), kStart), 7u);
  EXPECT_FALSE(ids.Find(RecentIds::Key("bob", "c1"), kStart).has_value());
  EXPECT_FALSE(ids.Find(RecentIds::Key("alice", "c2"), kStart).has_value());
  // Where the name ends is part of the key (names have no ':').
  EXPECT_NE(RecentIds::Key("al", "ice"), RecentIds::Key("ali", "ce"));
  EXPECT_EQ(total.load(), 1u);
}

TEST(RecentIdsTest, AnIdIsForgottenOnceItsWindowHasPassed) {
  std::atomic<size_t> total{0};
  RecentIds ids(Limits(absl::Minutes(10), 100, 1000), &total);
  const std::string key = RecentIds::Key("alice", "c1");
  ASSERT_TRUE(ids.Insert(key, 1, kStart));
  EXPECT_EQ(ids.Find(key, kStart + absl::Minutes(10) - absl::Seconds(1)), 1u);
  // Not found once expired, even before anything removed it.
  EXPECT_FALSE(ids.Find(key, kStart + absl::Minutes(10)).has_value());
  EXPECT_EQ(ids.size(), 1u);
  // An insert expires by its own time.
  ASSERT_TRUE(
      ids.Insert(RecentIds::Key("alice", "c2"), 2, kStart + absl::Minutes(10)));
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(total.load(), 1u);
  ids.Expire(kStart + absl::Minutes(20));
  EXPECT_EQ(ids.size(), 0u);
  EXPECT_EQ(total.load(), 0u);
}

TEST(RecentIdsTest, ARoomKeepsItsNewestIdsUpToItsLimit) {
  std::atomic<size_t> total{0};
  RecentIds ids(Limits(absl::Minutes(10), 3, 1000), &total);
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    ASSERT_TRUE(ids.Insert(RecentIds::Key("alice", std::to_string(seq)), seq,
                           kStart + absl::Seconds(seq)));
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(total.load(), 3u);
  const absl::Time now = kStart + absl::Seconds(10);
  EXPECT_FALSE(ids.Find(RecentIds::Key("alice", "1"), now).has_value());
  EXPECT_FALSE(ids.Find(RecentIds::Key("alice", "2"), now).has_value());
  EXPECT_EQ(ids.Find(RecentIds::Key("alice", "3"), now), 3u);
  EXPECT_EQ(ids.Find(RecentIds::Key("alice", "5"), now), 5u);
}

TEST(RecentIdsTest, TheHubTotalBoundsEveryRoomTogether) {
  std::atomic<size_t> total{0};
  const RecentIds::Limits limits = Limits(absl::Minutes(10), 100, 3);
  RecentIds busy(limits, &total);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    ASSERT_TRUE(
        busy.Insert(RecentIds::Key("a", std::to_string(seq)), seq, kStart));
  }
  {
    RecentIds other(limits, &total);
    // Full: a room that holds none remembers nothing.
    EXPECT_FALSE(other.Insert(RecentIds::Key("b", "x"), 1, kStart));
    EXPECT_EQ(other.size(), 0u);
    // A room that holds some makes way with its own oldest.
    EXPECT_TRUE(busy.Insert(RecentIds::Key("a", "4"), 4, kStart));
    EXPECT_EQ(busy.size(), 3u);
    EXPECT_EQ(total.load(), 3u);
    EXPECT_FALSE(busy.Find(RecentIds::Key("a", "1"), kStart).has_value());
    // Once the busy room's ids expire, the other room has room.
    busy.Expire(kStart + absl::Minutes(10));
    EXPECT_EQ(total.load(), 0u);
    EXPECT_TRUE(
        other.Insert(RecentIds::Key("b", "x"), 1, kStart + absl::Minutes(10)));
    EXPECT_EQ(total.load(), 1u);
  }
  // A room that goes gives its places back.
  EXPECT_EQ(total.load(), 0u);
}

TEST(RecentIdsTest, AKeyInsertedAgainMovesToTheNewestPlace) {
  std::atomic<size_t> total{0};
  RecentIds ids(Limits(absl::Minutes(10), 2, 1000), &total);
  const std::string a = RecentIds::Key("alice", "a");
  const std::string b = RecentIds::Key("alice", "b");
  ASSERT_TRUE(ids.Insert(a, 1, kStart));
  ASSERT_TRUE(ids.Insert(b, 2, kStart + absl::Seconds(1)));
  ASSERT_TRUE(ids.Insert(a, 3, kStart + absl::Seconds(2)));
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(total.load(), 2u);
  EXPECT_EQ(ids.Find(a, kStart + absl::Seconds(2)), 3u);
  // b is now the oldest, and goes first.
  ASSERT_TRUE(
      ids.Insert(RecentIds::Key("alice", "c"), 4, kStart + absl::Seconds(3)));
  EXPECT_FALSE(ids.Find(b, kStart + absl::Seconds(3)).has_value());
  EXPECT_EQ(ids.Find(a, kStart + absl::Seconds(3)), 3u);
}

TEST(RecentIdsTest, AZeroWindowRemembersNothing) {
  std::atomic<size_t> total{0};
  RecentIds ids(Limits(absl::ZeroDuration(), 100, 1000), &total);
  EXPECT_FALSE(ids.Insert(RecentIds::Key("alice", "c1"), 1, kStart));
  EXPECT_FALSE(ids.Find(RecentIds::Key("alice", "c1"), kStart).has_value());
  EXPECT_EQ(total.load(), 0u);
}

}  // namespace
}  // namespace chat

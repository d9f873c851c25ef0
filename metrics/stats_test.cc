#include "metrics/stats.h"

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics.h"
#include "metrics/test_members.h"
#include "service/auth.h"
#include "service/auth_token.h"
#include "service/room.h"

namespace chat {
namespace {

uint64_t MembersOf(const v1::GetStatsResponse& r, v1::Transport t) {
  for (const v1::TransportMembers& by : r.members_by_transport()) {
    if (by.transport() == t) return by.members();
  }
  return 999;
}

TEST(CollectStatsTest, MembersRoomsAndMessages) {
  Hub hub(HubOptions{});
  const v1::GetStatsResponse before = CollectStats(hub);
  auto a = JoinAs(&hub, "alice", "one", v1::TRANSPORT_GRPC);
  auto b = JoinAs(&hub, "bob", "two", v1::TRANSPORT_TCP);
  auto c = JoinAs(&hub, "carol", "two", v1::TRANSPORT_WEB);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->Say("hi", false).ok());
  const v1::GetStatsResponse r = CollectStats(hub);
  EXPECT_EQ(r.members(), 3u);
  ASSERT_EQ(r.members_by_transport_size(), 3);
  EXPECT_EQ(MembersOf(r, v1::TRANSPORT_GRPC), 1u);
  EXPECT_EQ(MembersOf(r, v1::TRANSPORT_TCP), 1u);
  EXPECT_EQ(MembersOf(r, v1::TRANSPORT_WEB), 1u);
  EXPECT_EQ(r.rooms(), 2u);
  EXPECT_EQ(r.messages_total() - before.messages_total(), 3u);
  // Three joins and three messages.
  EXPECT_EQ(r.events_total() - before.events_total(), 6u);
  EXPECT_EQ(r.rate_window().seconds(), kStatsRateWindowSeconds);
  EXPECT_GE(r.messages_per_second(), 0);
  EXPECT_GT(r.uptime().seconds() * 1'000'000'000LL + r.uptime().nanos(), 0);
  EXPECT_GT(r.start_time().seconds(), 0);
  EXPECT_LE(r.start_time().seconds(), absl::ToUnixSeconds(absl::Now()));
}

TEST(CollectStatsTest, MessagesPerSecondCountsTheLastWholeSeconds) {
  // The rate is the process's: what this test posts is at least a part.
  Metrics().message_rate.Add(MonotonicSeconds() - 1,
                             10 * kStatsRateWindowSeconds);
  Hub hub(HubOptions{});
  EXPECT_GE(CollectStats(hub).messages_per_second(), 10);
}

TEST(AuthorizeStatsTest, AnyoneWithTokensOff) {
  HubOptions options;
  EXPECT_TRUE(AuthorizeStats(options, "", absl::Now()).ok());
  // A token is not ours to judge then.
  EXPECT_TRUE(AuthorizeStats(options, "garbage", absl::Now()).ok());
}

TEST(AuthorizeStatsTest, WithGuestsNoTokenIsEnoughButABadOneIsRefused) {
  const std::string secret(32, 's');
  HubOptions options;
  options.auth = std::make_shared<Authenticator>(secret, /*guests=*/true);
  EXPECT_TRUE(AuthorizeStats(options, "", absl::Now()).ok());
  EXPECT_EQ(AuthorizeStats(options, "garbage", absl::Now()).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(AuthorizeStatsTest, WithoutGuestsAnyValidTokenIsNeeded) {
  const std::string secret(32, 's');
  HubOptions options;
  options.auth = std::make_shared<Authenticator>(secret, /*guests=*/false);
  const uint64_t refused_before =
      Metrics().refusals[static_cast<size_t>(RefusalCause::kAuth)].Value();
  EXPECT_EQ(AuthorizeStats(options, "", absl::Now()).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      Metrics().refusals[static_cast<size_t>(RefusalCause::kAuth)].Value(),
      refused_before + 1);
  TokenClaims claims;
  claims.name = "alice";
  claims.expires = absl::Now() + absl::Hours(1);
  claims.rooms = std::vector<std::string>{"elsewhere"};  // Any room will do.
  EXPECT_TRUE(
      AuthorizeStats(options, SignToken(claims, secret), absl::Now()).ok());
  claims.expires = absl::Now() - absl::Hours(1);
  EXPECT_EQ(
      AuthorizeStats(options, SignToken(claims, secret), absl::Now()).code(),
      absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace chat

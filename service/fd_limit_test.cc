#include "service/fd_limit.h"

#include <sys/resource.h>

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(FitConnectionCapsTest, CapsThatFitAreKept) {
  auto caps = FitConnectionCaps({100, 200, 300}, 1024, 64);
  ASSERT_TRUE(caps.ok());
  EXPECT_THAT(*caps, ElementsAre(100, 200, 300));
}

TEST(FitConnectionCapsTest, CapsOverTheLimitShareWhatIsLeft) {
  // 256 less 64: 192 for three ports of 10000 each.
  auto caps = FitConnectionCaps({10000, 10000, 10000}, 256, 64);
  ASSERT_TRUE(caps.ok());
  EXPECT_THAT(*caps, ElementsAre(64, 64, 64));
  // A small cap is kept whole; the large ones split the rest.
  auto uneven = FitConnectionCaps({1000, 300, 3000}, 1064, 64);
  ASSERT_TRUE(uneven.ok());
  EXPECT_THAT(*uneven, ElementsAre(350, 300, 350));
  // The case that broke a scenario: --max_connections=3 beside two ports
  // of 10000 under a 20000 limit stays 3.
  auto small = FitConnectionCaps({10000, 3, 10000}, 20000, 64);
  ASSERT_TRUE(small.ok());
  EXPECT_THAT(*small, ElementsAre(9966, 3, 9967));
}

TEST(FitConnectionCapsTest, EveryPortKeepsOneAndTheSumFits) {
  auto caps = FitConnectionCaps({1, 1000000, 0}, 70, 64);
  ASSERT_TRUE(caps.ok());
  EXPECT_THAT(*caps, ElementsAre(1, 5, 0));  // 6 for two ports.
}

TEST(FitConnectionCapsTest, ATlsConnectionCountsItsThreeDescriptors) {
  // Caps that fit one descriptor each do not fit three.
  auto fits = FitConnectionCaps({5000, 5000}, 20064, 64, {3, 1});
  ASSERT_TRUE(fits.ok());
  EXPECT_THAT(*fits, ElementsAre(5000, 5000));
  auto over = FitConnectionCaps({5000, 5000}, 15064, 64, {3, 1});
  ASSERT_TRUE(over.ok());
  EXPECT_THAT(*over, ElementsAre(3333, 5000));
  // gRPC over TLS, the line port, the TLS line port: each gets an equal
  // share of the descriptors, not of the connections.
  auto shared = FitConnectionCaps({10000, 10000, 10000}, 20064, 64, {3, 1, 3});
  ASSERT_TRUE(shared.ok());
  EXPECT_THAT(*shared, ElementsAre(2222, 6666, 2222));
  // One connection of each must fit: 3 + 1 descriptors.
  EXPECT_FALSE(FitConnectionCaps({10, 10}, 67, 64, {3, 1}).ok());
}

TEST(FitConnectionCapsTest, NoRoomAtAllIsAnError) {
  auto caps = FitConnectionCaps({10, 10}, 65, 64);
  EXPECT_EQ(caps.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(caps.status().message(), HasSubstr("limit 65"));
}

TEST(RaiseFdLimitTest, SoftLimitEndsAtTheHardLimit) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit lowered = before;
  if (lowered.rlim_cur > 512) lowered.rlim_cur = 512;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  absl::StatusOr<FdLimit> limit = RaiseFdLimit();
  ASSERT_TRUE(limit.ok());
  EXPECT_EQ(limit->before, lowered.rlim_cur);
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(limit->soft, after.rlim_cur);
  if (before.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(after.rlim_cur, before.rlim_max);
  }
  setrlimit(RLIMIT_NOFILE, &before);
}

TEST(OpenFdCountTest, CountsOpenDescriptors) {
  EXPECT_GE(OpenFdCount(), 3u);  // At least stdin, stdout and stderr.
}

}  // namespace
}  // namespace chat

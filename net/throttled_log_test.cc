#include "net/throttled_log.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class ThrottledLogTest : public ::testing::Test {
 protected:
  ThrottledLog::Options Options() {
    ThrottledLog::Options options;
    options.burst = 2;
    options.window = absl::Seconds(10);
    options.clock = [this] { return now_; };
    options.sink = [this](absl::string_view line) {
      lines_.emplace_back(line);
    };
    return options;
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::vector<std::string> lines_;
};

TEST_F(ThrottledLogTest, WritesABurstPerCauseThenCountsAndSumsUp) {
  ThrottledLog log(Options());
  for (int i = 0; i < 5; ++i) log.Log("idle", "idle " + std::to_string(i));
  log.Log("per-ip", "per-ip 0");  // Another cause has its own burst.
  EXPECT_THAT(lines_, ElementsAre("idle 0", "idle 1", "per-ip 0"));

  lines_.clear();
  now_ += absl::Seconds(9);
  log.Log("idle", "idle 5");  // Still the same window.
  EXPECT_THAT(lines_, IsEmpty());
  now_ += absl::Seconds(1);
  log.Log("idle", "idle 6");  // A new window: the summary first.
  EXPECT_THAT(lines_, ElementsAre("... and 4 more like it (idle) not logged",
                                  "idle 6"));

  lines_.clear();
  log.Log("idle", "idle 7");
  log.Log("idle", "idle 8");
  log.Flush();
  EXPECT_THAT(lines_, ElementsAre("idle 7",
                                  "... and 1 more like it (idle) not logged"));
  lines_.clear();
  log.Flush();  // Nothing left out since.
  EXPECT_THAT(lines_, IsEmpty());
}

}  // namespace
}  // namespace chat

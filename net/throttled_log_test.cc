#include "net/throttled_log.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/log.h"

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
    // Each line as written, without its time.
    options.sink = [this](const LogRecord& r) {
      lines_.push_back(
          FormatLogLine(absl::UnixEpoch(), r.level, r.msg, r.fields)
              .substr(kTimeWidth));
    };
    return options;
  }

  static constexpr size_t kTimeWidth = sizeof("1970-01-01T00:00:00.000Z");
  absl::Time now_ = absl::FromUnixSeconds(1000);
  std::vector<std::string> lines_;
};

LogRecord Line(absl::string_view msg, LogLevel level = LogLevel::kInfo) {
  return LogRecord{level, std::string(msg), {{"transport", "legacy"}}};
}

TEST_F(ThrottledLogTest, WritesABurstPerCauseThenCountsAndSumsUp) {
  ThrottledLog log(Options());
  for (int i = 0; i < 5; ++i) log.Log("idle", Line(absl::StrCat("idle ", i)));
  log.Log("per-ip", Line("per-ip 0"));  // Another cause has its own burst.
  EXPECT_THAT(
      lines_,
      ElementsAre("level=info msg=\"idle 0\" transport=legacy cause=idle",
                  "level=info msg=\"idle 1\" transport=legacy cause=idle",
                  "level=info msg=\"per-ip 0\" transport=legacy "
                  "cause=per-ip"));

  lines_.clear();
  now_ += absl::Seconds(9);
  log.Log("idle", Line("idle 5"));  // Still the same window.
  EXPECT_THAT(lines_, IsEmpty());
  now_ += absl::Seconds(1);
  log.Log("idle", Line("idle 6"));  // A new window: the summary first.
  EXPECT_THAT(lines_, ElementsAre("level=info msg=\"not logged: more like it\" "
                                  "count=4 cause=idle",
                                  "level=info msg=\"idle 6\" transport=legacy "
                                  "cause=idle"));

  lines_.clear();
  log.Log("idle", Line("idle 7"));
  log.Log("idle", Line("idle 8", LogLevel::kWarning));
  log.Flush();
  // The summary has the level of the most severe line it stands for.
  EXPECT_THAT(lines_, ElementsAre("level=info msg=\"idle 7\" transport=legacy "
                                  "cause=idle",
                                  "level=warning msg=\"not logged: more like "
                                  "it\" count=1 cause=idle"));
  lines_.clear();
  log.Flush();  // Nothing left out since.
  EXPECT_THAT(lines_, IsEmpty());
}

}  // namespace
}  // namespace chat

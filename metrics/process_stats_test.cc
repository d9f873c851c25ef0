#include "metrics/process_stats.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

// A /proc/PID/stat line (fields 1-24 and a few more), whose name holds
// spaces and parentheses.
std::string StatLine(absl::string_view name) {
  // pid (name) state ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice threads itrealvalue
  // starttime vsize rss ...
  return absl::StrCat("1234 (", name,
                      ") S 1 1234 1234 0 -1 4194560 100 0 0 0 "
                      "250 150 0 0 20 0 5 0 "
                      "3000 123456789 2048 18446744073709551615 1 1\n");
}

TEST(ParseProcStatTest, ReadsCpuMemoryAndStart) {
  ProcessStats stats;
  ASSERT_TRUE(
      ParseProcStat(StatLine("chat-service"), 100, 4096, 1700000000, &stats)
          .ok());
  EXPECT_DOUBLE_EQ(stats.cpu_seconds, 4.0);  // (250 + 150) / 100.
  EXPECT_EQ(stats.virtual_bytes, 123456789u);
  EXPECT_EQ(stats.resident_bytes, 2048u * 4096u);
  EXPECT_DOUBLE_EQ(stats.start_time_seconds, 1700000000 + 30.0);
}

TEST(ParseProcStatTest, NameWithSpacesAndParentheses) {
  ProcessStats stats;
  ASSERT_TRUE(ParseProcStat(StatLine("a) (b c) 9"), 100, 4096, 0, &stats).ok());
  EXPECT_DOUBLE_EQ(stats.cpu_seconds, 4.0);
}

TEST(ParseProcStatTest, RefusesWhatIsNotAStatLine) {
  ProcessStats stats;
  EXPECT_FALSE(ParseProcStat("", 100, 4096, 0, &stats).ok());
  EXPECT_FALSE(ParseProcStat("1 (x) S 1 2", 100, 4096, 0, &stats).ok());
  EXPECT_FALSE(ParseProcStat("no parenthesis", 100, 4096, 0, &stats).ok());
  EXPECT_FALSE(ParseProcStat(StatLine("x"), 0, 4096, 0, &stats).ok());
}

TEST(ParseBootTimeTest, FindsTheBtimeLine) {
  EXPECT_EQ(*ParseBootTime("cpu  1 2 3\ncpu0 1 2 3\nbtime 1700000000\n"
                           "processes 99\n"),
            1700000000);
  EXPECT_FALSE(ParseBootTime("cpu 1 2 3\n").ok());
}

TEST(ReadProcessStatsTest, ThisProcess) {
  absl::StatusOr<ProcessStats> stats = ReadProcessStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_GT(stats->resident_bytes, 0u);
  EXPECT_GE(stats->virtual_bytes, stats->resident_bytes);
  EXPECT_GE(stats->cpu_seconds, 0);
  EXPECT_GE(stats->open_fds, 3u);  // stdin, stdout, stderr at least.
  // Started before now, and not before the test binary was built (a day
  // is plenty).
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(stats->start_time_seconds, now + 1);
  EXPECT_GT(stats->start_time_seconds, now - 86400);
}

TEST(ReadProcessStatsTest, OpenFdsFollowsOpenAndClose) {
  absl::StatusOr<ProcessStats> before = ReadProcessStats();
  ASSERT_TRUE(before.ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  absl::StatusOr<ProcessStats> during = ReadProcessStats();
  close(fds[0]);
  close(fds[1]);
  ASSERT_TRUE(during.ok());
  EXPECT_EQ(during->open_fds, before->open_fds + 2);
}

}  // namespace
}  // namespace chat

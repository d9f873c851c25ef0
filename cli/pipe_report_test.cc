#include "cli/pipe_report.h"

#include "gtest/gtest.h"

namespace chat {
namespace {

TEST(PipeReportTest, EveryLinePostedIsNoSummary) {
  PipeReport report;
  for (uint64_t n = 1; n <= 3; ++n) report.Sent(n);
  for (uint64_t n = 1; n <= 3; ++n) report.Posted(n);
  report.Finish("the session ended");
  EXPECT_EQ(report.Summary(), "");
  EXPECT_EQ(report.lines(), 3u);
}

TEST(PipeReportTest, GroupsLinesByReasonAsRuns) {
  PipeReport report;
  for (uint64_t n = 1; n <= 2000; ++n) report.Sent(n);
  report.NotSent(5, "message not sent: it is 70000 bytes long");
  for (uint64_t n : {17, 18, 19, 40})
    report.NotSent(n, "the connection dropped");
  for (uint64_t n = 1; n <= 2000; ++n) report.Posted(n);
  EXPECT_EQ(report.Summary(),
            "5 of 2000 lines were not sent: line 5 (message not sent: it is "
            "70000 bytes long); lines 17-19, 40 (the connection dropped)");
}

TEST(PipeReportTest, ALineRefusedBeforeSendingCounts) {
  PipeReport report;
  report.Sent(1);
  report.Posted(1);
  report.NotSent(2, "longer than the server's limit");
  EXPECT_EQ(report.Summary(),
            "1 of 2 lines were not sent: line 2 (longer than the server's "
            "limit)");
}

TEST(PipeReportTest, FinishClosesWhatIsOutstanding) {
  PipeReport report;
  for (uint64_t n = 1; n <= 4; ++n) report.Sent(n);
  report.Posted(1);
  report.Finish("not confirmed before chatctl gave up");
  EXPECT_EQ(report.Summary(),
            "3 of 4 lines were not sent: lines 2-4 (not confirmed before "
            "chatctl gave up)");
}

TEST(PipeReportTest, LongListsAreCut) {
  PipeReport report;
  for (uint64_t n = 1; n <= 40; n += 2) report.NotSent(n, "why");
  EXPECT_EQ(report.Summary(),
            "20 of 20 lines were not sent: lines 1, 3, 5, 7, 9, 11, 13, 15 "
            "and 12 more (why)");
}

TEST(PipeReportTest, OneLine) {
  PipeReport report;
  report.NotSent(1, "why");
  EXPECT_EQ(report.Summary(), "1 of 1 line was not sent: line 1 (why)");
}

}  // namespace
}  // namespace chat

#include "integration_tests/user.h"

#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

// A user whose "transport" is the test: it feeds lines in by hand.
class FakeUser final : public User {
 public:
  FakeUser() : User("fake", "tcp", absl::Now()) {}

  void Receive(const std::string& line) { AddRecord(0, line); }
  void Break(const std::string& what) { AddViolation(what); }
  void End() { SetEnding("closed", ""); }

  absl::Status Say(const std::string&) override { return absl::OkStatus(); }
  absl::Status Me(const std::string&) override { return absl::OkStatus(); }
  absl::Status Nick(const std::string&) override { return absl::OkStatus(); }
  absl::Status Join(const std::string&, uint32_t) override {
    return absl::OkStatus();
  }
  absl::Status Leave(const std::string&) override { return absl::OkStatus(); }
  absl::Status Kill() override { return absl::OkStatus(); }
  absl::Status Close() override { return absl::OkStatus(); }
  absl::Status SendRaw(const std::string&) override { return absl::OkStatus(); }
  void Pause() override {}
  void Resume() override {}
};

auto Equals(const std::string& want) {
  return [want](const std::string& line) { return line == want; };
}

absl::Time Soon() { return absl::Now() + absl::Seconds(5); }

TEST(UserTest, ExpectSkipsToTheMatchAndMovesTheCursor) {
  FakeUser u;
  u.Receive("one");
  u.Receive("two");
  u.Receive("three");
  EXPECT_EQ(u.WaitForMatch(Equals("two"), false, true, Soon()), 1);
  // "two" is consumed: it is not found again, "three" is next.
  EXPECT_EQ(u.WaitForMatch(Equals("two"), false, true, absl::Now()), -1);
  EXPECT_EQ(u.WaitForMatch(Equals("three"), true, true, Soon()), 2);
}

TEST(UserTest, NextOnlyFailsOnAnotherLine) {
  FakeUser u;
  u.Receive("one");
  u.Receive("two");
  EXPECT_EQ(u.WaitForMatch(Equals("two"), true, true, Soon()), -1);
  EXPECT_EQ(u.WaitForMatch(Equals("one"), true, true, Soon()), 0);
}

TEST(UserTest, WithoutConsumeTheCursorStays) {
  FakeUser u;
  u.Receive("one");
  EXPECT_EQ(u.WaitForMatch(Equals("one"), false, false, Soon()), 0);
  EXPECT_EQ(u.WaitForMatch(Equals("one"), true, true, Soon()), 0);
}

TEST(UserTest, WaitWakesOnALineFromAnotherThread) {
  FakeUser u;
  std::thread feeder([&] {
    absl::SleepFor(absl::Milliseconds(20));
    u.Receive("noise");
    u.Receive("late");
  });
  const absl::Time start = absl::Now();
  EXPECT_EQ(u.WaitForMatch(Equals("late"), false, true, Soon()), 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  feeder.join();
}

TEST(UserTest, TimesOutWithoutAMatch) {
  FakeUser u;
  u.Receive("one");
  const absl::Time start = absl::Now();
  EXPECT_EQ(u.WaitForMatch(Equals("two"), false, true,
                           start + absl::Milliseconds(50)),
            -1);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
}

TEST(UserTest, AnEndedConnectionStopsTheWaitEarly) {
  FakeUser u;
  u.Receive("one");
  u.End();
  const absl::Time start = absl::Now();
  EXPECT_EQ(u.WaitForMatch(Equals("two"), false, true, Soon()), -1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(u.ending().ended);
  EXPECT_EQ(u.ending().code, "closed");
}

TEST(UserTest, AViolationStopsTheWaitAndIsShownWhereItHappened) {
  FakeUser u;
  u.Receive("before");
  u.Break("seq gap");
  u.Receive("culprit");
  EXPECT_EQ(u.WaitForMatch(Equals("never"), false, true, Soon()), -1);
  EXPECT_EQ(u.violations().size(), 1u);
  const std::string d = u.Describe(10);
  EXPECT_THAT(d, HasSubstr("around the broken rule"));
  EXPECT_THAT(d, HasSubstr("  !    "));
  EXPECT_THAT(d, HasSubstr("culprit"));
  EXPECT_THAT(d, HasSubstr("VIOLATION: seq gap"));
}

TEST(UserTest, FindInLooksOnlyBetweenTwoRecords) {
  // What expect-none does: the marker's index bounds the search.
  FakeUser u;
  u.Receive("one");
  u.Receive("unwanted");
  u.Receive("marker");
  u.Receive("unwanted");
  ASSERT_EQ(u.WaitForMatch(Equals("one"), false, true, Soon()), 0);
  const size_t from = u.cursor();
  EXPECT_EQ(from, 1u);
  const int marker = u.WaitForMatch(Equals("marker"), false, true, Soon());
  ASSERT_EQ(marker, 2);
  EXPECT_EQ(u.FindIn(from, marker, Equals("unwanted")), 1);
  EXPECT_EQ(u.FindIn(marker + 1, 100, Equals("unwanted")), 3);
  EXPECT_EQ(u.FindIn(0, 1, Equals("unwanted")), -1);
  EXPECT_EQ(u.cursor(), 3u);
}

TEST(UserTest, TracksGuestNameWelcomeAndRenames) {
  FakeUser u;
  u.Receive("-- welcome to chatroom; type /help for the commands");
  u.Receive("-- you are guest-123 in room lobby with 1 other: alice");
  EXPECT_EQ(u.name(), "guest-123");
  EXPECT_EQ(u.room(), "lobby");
  u.Receive("-- alice is now known as alicia");
  EXPECT_EQ(u.name(), "guest-123");
  u.Receive("-- guest-123 is now known as bob");
  EXPECT_EQ(u.name(), "bob");
  u.Receive("-- you are bob in room dev, alone so far");
  EXPECT_EQ(u.room(), "dev");
}

TEST(UserTest, CountsBurstMessages) {
  FakeUser u;
  u.Receive("<u1> " + FormatBurstText(1, "u1", 1, 0));
  u.Receive("<u2> " + FormatBurstText(1, "u2", 1, 50));
  u.Receive("<u2> hello");
  u.Receive("<u2> " + FormatBurstText(2, "u2", 1, 0));
  EXPECT_EQ(u.burst_count(), 3u);
  EXPECT_TRUE(u.WaitUntil(
      [](const User::View& v) {
        return v.burst_counts.at(1) == 2 && v.burst_counts.at(2) == 1;
      },
      Soon()));
}

TEST(UserTest, DescribeMarksTheCursorAndEscapesBytes) {
  FakeUser u;
  u.Receive("seen");
  u.Receive("bad \x1b[31m\xff");
  ASSERT_EQ(u.WaitForMatch(Equals("seen"), false, true, Soon()), 0);
  const std::string d = u.Describe(10);
  EXPECT_THAT(d, HasSubstr("  > "));
  EXPECT_THAT(d, HasSubstr("bad \\x1b[31m\\xff"));
  EXPECT_THAT(d, HasSubstr("(connection still open)"));
}

}  // namespace
}  // namespace chat

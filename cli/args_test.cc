#include "cli/args.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, args_test_count, 3, "a number");
ABSL_FLAG(bool, args_test_loud, false, "a switch");
ABSL_FLAG(std::string, args_test_other, "", "a flag the command does not take");

namespace chat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

const Command& TestCommand() {
  static const auto* command = new Command{
      "test",
      "chatctl test [--args_test_count N] [--[no]args_test_loud] [--room R]",
      "a command for tests",
      "Details.",
      {"args_test_count", "args_test_loud", "room"}};
  return *command;
}

TEST(ChatctlArgsTest, TakesEveryFormOfAFlag) {
  absl::FlagSaver saver;
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(TestCommand(), {"--args_test_count=5", "one", "-args_test_loud",
                                "--room", "a,b", "--room=c", "two"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->help);
  EXPECT_EQ(absl::GetFlag(FLAGS_args_test_count), 5);
  EXPECT_TRUE(absl::GetFlag(FLAGS_args_test_loud));
  EXPECT_EQ(absl::GetFlag(FLAGS_room), "c");
  EXPECT_THAT(parsed->positional, ElementsAre("one", "two"));
  EXPECT_THAT(
      parsed->given,
      ElementsAre(Pair("args_test_count", "5"), Pair("args_test_loud", "true"),
                  Pair("room", "a,b"), Pair("room", "c")));
  EXPECT_TRUE(Given(*parsed, "room"));
  EXPECT_FALSE(Given(*parsed, "json"));

  parsed = ParseArgs(TestCommand(), {"--noargs_test_loud", "--", "--room=x"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(absl::GetFlag(FLAGS_args_test_loud));
  EXPECT_THAT(parsed->given, ElementsAre(Pair("args_test_loud", "false")));
  EXPECT_THAT(parsed->positional, ElementsAre("--room=x"));
  EXPECT_EQ(absl::GetFlag(FLAGS_room), "c");
}

TEST(ChatctlArgsTest, HelpStopsTheParse) {
  absl::FlagSaver saver;
  for (const char* help : {"--help", "-help", "-h", "--h"}) {
    absl::StatusOr<ParsedArgs> parsed =
        ParseArgs(TestCommand(), {help, "--no_such_flag"});
    ASSERT_TRUE(parsed.ok()) << help << ": " << parsed.status();
    EXPECT_TRUE(parsed->help) << help;
  }
}

TEST(ChatctlArgsTest, SaysWhatIsWrong) {
  absl::FlagSaver saver;
  struct Case {
    std::vector<std::string> args;
    const char* problem;
  };
  for (const Case& c : std::vector<Case>{
           {{"--no_such_flag"}, "unknown flag --no_such_flag"},
           // Defined, but not this command's.
           {{"--args_test_other=x"}, "unknown flag --args_test_other"},
           {{"--json"}, "unknown flag --json"},
           // --no only for booleans, and without a value.
           {{"--noargs_test_count"}, "unknown flag --noargs_test_count"},
           {{"--noargs_test_loud=true"}, "unknown flag --noargs_test_loud"},
           {{"--args_test_count"}, "--args_test_count needs a value"},
           {{"--args_test_count", "lots"}, "--args_test_count: "},
           {{"--args_test_loud=maybe"}, "--args_test_loud: "}}) {
    absl::StatusOr<ParsedArgs> parsed = ParseArgs(TestCommand(), c.args);
    ASSERT_FALSE(parsed.ok()) << c.args[0];
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.problem));
  }
}

TEST(ChatctlArgsTest, UsageErrorNamesTheCommandAndItsUsage) {
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(UsageError(TestCommand(), "unknown flag --x"), 2);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(),
            "chatctl test: unknown flag --x\nusage: chatctl test "
            "[--args_test_count N] [--[no]args_test_loud] [--room R]\n");
}

}  // namespace
}  // namespace chat

#include "cli/input.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/format.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

// The grammar is tested with ParseTypedLine (service/format_test.cc); here,
// that chatctl's help names every command it understands.
TEST(InputHelpTest, NamesEveryCommand) {
  const std::string help = InputHelp();
  for (const char* command : {"/me ACTION", "/nick NAME", "/who", "/join ROOM",
                              "/quit [REASON]", "/exit", "/help", "//TEXT"}) {
    EXPECT_THAT(help, HasSubstr(command));
  }
  EXPECT_EQ(help.back(), '\'') << "no final newline";
  // Each command it names is one ParseTypedLine knows.
  for (const char* line :
       {"/me x", "/nick x", "/who", "/join x", "/quit", "/exit", "/help"}) {
    const TypedLine::Kind kind = ParseTypedLine(line).kind;
    EXPECT_NE(kind, TypedLine::Kind::kUnknown) << line;
    EXPECT_NE(kind, TypedLine::Kind::kBadUsage) << line;
  }
}

}  // namespace
}  // namespace chat

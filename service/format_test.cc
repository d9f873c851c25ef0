#include "service/format.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

TEST(FormatEventLineTest, EveryEventKind) {
  v1::ChatResponse r;
  r.mutable_message()->set_sender("alice");
  r.mutable_message()->set_text("hello");
  EXPECT_EQ(FormatEventLine(r), "<alice> hello");
  r.mutable_message()->set_action(true);
  r.mutable_message()->set_text("waves");
  EXPECT_EQ(FormatEventLine(r), "* alice waves");
  r.mutable_member_joined()->mutable_member()->set_name("bob");
  EXPECT_EQ(FormatEventLine(r), "-- bob joined");
  r.mutable_member_left()->mutable_member()->set_name("bob");
  EXPECT_EQ(FormatEventLine(r), "-- bob left");
  r.mutable_member_left()->set_reason("bye");
  EXPECT_EQ(FormatEventLine(r), "-- bob left (bye)");
  r.mutable_member_renamed()->set_old_name("bob");
  r.mutable_member_renamed()->set_new_name("robert");
  EXPECT_EQ(FormatEventLine(r), "-- bob is now known as robert");
  r.mutable_notice()->set_text("name taken");
  EXPECT_EQ(FormatEventLine(r), "!! name taken");
}

TEST(FormatEventLineTest, WelcomeCountsTheOthers) {
  v1::ChatResponse r;
  v1::Welcome* w = r.mutable_welcome();
  w->set_name("alice");
  w->set_room("lobby");
  w->add_members()->set_name("alice");
  EXPECT_EQ(FormatEventLine(r), "-- you are alice in room lobby, alone so far");
  w->add_members()->set_name("bob");
  EXPECT_EQ(FormatEventLine(r),
            "-- you are alice in room lobby with 1 other: bob");
  w->add_members()->set_name("carol");
  EXPECT_EQ(FormatEventLine(r),
            "-- you are alice in room lobby with 2 others: bob, carol");
  w->set_member_count(3);
  EXPECT_EQ(FormatEventLine(r),
            "-- you are alice in room lobby with 2 others: bob, carol");
}

TEST(FormatEventLineTest, WelcomeOfABigRoomSaysHowManyItDoesNotList) {
  v1::ChatResponse r;
  v1::Welcome* w = r.mutable_welcome();
  w->set_name("zed");
  w->set_room("lobby");
  w->add_members()->set_name("bob");
  w->add_members()->set_name("carol");
  w->set_member_count(5000);  // zed is not among those listed.
  EXPECT_EQ(FormatEventLine(r),
            "-- you are zed in room lobby with 4999 others: bob, carol and "
            "4997 more (/who lists everyone)");
}

// ---------------------------------------------------------------- Commands

using Kind = TypedLine::Kind;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The kind and argument (or error) of ParseTypedLine(line).
void ExpectLine(const std::string& line, Kind kind,
                const std::string& argument) {
  const TypedLine c = ParseTypedLine(line);
  EXPECT_EQ(c.kind, kind) << line;
  EXPECT_EQ(c.argument, argument) << line;
  EXPECT_EQ(c.error, "") << line;
}

void ExpectError(const std::string& line, Kind kind, const std::string& error) {
  const TypedLine c = ParseTypedLine(line);
  EXPECT_EQ(c.kind, kind) << line;
  EXPECT_EQ(c.argument, "") << line;
  EXPECT_EQ(c.error, error) << line;
}

TEST(ParseTypedLineTest, PlainLinesAreMessagesAsTyped) {
  ExpectLine("hello there", Kind::kSay, "hello there");
  ExpectLine("  indented, trailing  ", Kind::kSay, "  indented, trailing  ");
  ExpectLine("a/b", Kind::kSay, "a/b");
  ExpectLine("\x01 control bytes are the core's", Kind::kSay,
             "\x01 control bytes are the core's");
  ExpectLine("crlf\r", Kind::kSay, "crlf");
  // Only the first byte makes a command: a blank before it makes a message.
  ExpectLine(" /nick bob", Kind::kSay, " /nick bob");
  ExpectLine("\t/who", Kind::kSay, "\t/who");
}

TEST(ParseTypedLineTest, BlankLinesAreEmpty) {
  ExpectLine("", Kind::kEmpty, "");
  ExpectLine("   \t", Kind::kEmpty, "");
  ExpectLine("\r", Kind::kEmpty, "");
  ExpectLine("  \r", Kind::kEmpty, "");
}

TEST(ParseTypedLineTest, DoubleSlashSaysASlash) {
  ExpectLine("//not a command", Kind::kSay, "/not a command");
  ExpectLine("//me waves", Kind::kSay, "/me waves");
  ExpectLine("//", Kind::kSay, "/");
  ExpectLine("///", Kind::kSay, "//");
}

TEST(ParseTypedLineTest, EveryCommand) {
  ExpectLine("/me waves hello", Kind::kAction, "waves hello");
  ExpectLine("/nick robert", Kind::kNick, "robert");
  ExpectLine("/who", Kind::kWho, "");
  ExpectLine("/join #dev", Kind::kJoin, "#dev");
  ExpectLine("/quit", Kind::kQuit, "");
  ExpectLine("/quit see you later", Kind::kQuit, "see you later");
  ExpectLine("/help", Kind::kHelp, "");
}

TEST(ParseTypedLineTest, ExitIsQuit) {
  ExpectLine("/exit", Kind::kQuit, "");
  ExpectLine("/exit gone fishing", Kind::kQuit, "gone fishing");
  ExpectLine("/EXIT", Kind::kQuit, "");
}

TEST(ParseTypedLineTest, QuestionMarkIsHelp) {
  ExpectLine("/?", Kind::kHelp, "");
}

TEST(ParseTypedLineTest, CommandWordsIgnoreCase) {
  ExpectLine("/NICK bob", Kind::kNick, "bob");
  ExpectLine("/Me bows", Kind::kAction, "bows");
  ExpectLine("/WHO", Kind::kWho, "");
  ExpectLine("/JoIn dev", Kind::kJoin, "dev");
  ExpectLine("/QUIT", Kind::kQuit, "");
  ExpectLine("/HELP", Kind::kHelp, "");
  // The argument keeps its case: names and rooms are the core's business.
  ExpectLine("/nick Robert", Kind::kNick, "Robert");
}

TEST(ParseTypedLineTest, ArgumentsAreTrimmedOfBlanks) {
  ExpectLine("/ME   stretches  ", Kind::kAction, "stretches");
  ExpectLine("/me\twaves\t", Kind::kAction, "waves");
  ExpectLine("/nick  bob \r", Kind::kNick, "bob");
  ExpectLine("/join\t dev ", Kind::kJoin, "dev");
  ExpectLine("/quit   bye  now  ", Kind::kQuit, "bye  now");
  ExpectLine("/who   ", Kind::kWho, "");
  ExpectLine("/quit   ", Kind::kQuit, "");
  ExpectLine("/help   ", Kind::kHelp, "");
}

TEST(ParseTypedLineTest, NamesAndRoomsAreTheRestOfTheLine) {
  // The room core judges them (and says "may only have letters, ...").
  ExpectLine("/nick two words", Kind::kNick, "two words");
  ExpectLine("/join #bad room!", Kind::kJoin, "#bad room!");
}

TEST(ParseTypedLineTest, MissingArgumentsAreUsageErrors) {
  ExpectError("/me", Kind::kBadUsage, "usage: /me ACTION");
  ExpectError("/me   ", Kind::kBadUsage, "usage: /me ACTION");
  ExpectError("/nick", Kind::kBadUsage, "usage: /nick NAME");
  ExpectError("/nick \t ", Kind::kBadUsage, "usage: /nick NAME");
  ExpectError("/join", Kind::kBadUsage, "usage: /join ROOM");
  ExpectError("/JOIN\r", Kind::kBadUsage, "usage: /join ROOM");
}

TEST(ParseTypedLineTest, WhoTakesNoArgumentHelpIgnoresOne) {
  ExpectError("/who bob", Kind::kBadUsage,
              "usage: /who (it lists everyone in the room)");
  ExpectLine("/help nick", Kind::kHelp, "");
}

TEST(ParseTypedLineTest, UnknownCommandsListTheCommands) {
  const std::string list =
      "the commands are /nick NAME, /who, /me ACTION, /join ROOM, "
      "/quit [REASON], /help";
  ExpectError("/dance now", Kind::kUnknown, "unknown command /dance; " + list);
  ExpectError("/Dance", Kind::kUnknown, "unknown command /Dance; " + list);
  ExpectError("/", Kind::kUnknown, "unknown command /; " + list);
  ExpectError("/ who", Kind::kUnknown, "unknown command /; " + list);
  // Prefixes and near misses are not commands.
  EXPECT_EQ(ParseTypedLine("/ni bob").kind, Kind::kUnknown);
  EXPECT_EQ(ParseTypedLine("/nickname bob").kind, Kind::kUnknown);
  EXPECT_EQ(ParseTypedLine("/whois").kind, Kind::kUnknown);
  EXPECT_EQ(ParseTypedLine("/q").kind, Kind::kUnknown);
  EXPECT_THAT(ParseTypedLine("/frob").error, HasSubstr("/help"));
}

TEST(ParseTypedLineTest, UnknownCommandsAreQuotedSafely) {
  // Only printable ASCII is echoed, and at most 32 bytes of the word.
  EXPECT_THAT(ParseTypedLine("/x\x1b[2Jy").error,
              StartsWith("unknown command /x?[2Jy; "));
  EXPECT_THAT(ParseTypedLine("/caf\xc3\xa9").error,
              StartsWith("unknown command /caf??; "));
  EXPECT_THAT(ParseTypedLine("/" + std::string(100, 'a')).error,
              StartsWith("unknown command /" + std::string(32, 'a') + "; "));
}

TEST(ParseTypedLineTest, ArgumentPointsIntoTheLine) {
  const std::string line = "/nick bob";
  const TypedLine c = ParseTypedLine(line);
  EXPECT_EQ(c.argument.data(), line.data() + 6);
}

}  // namespace
}  // namespace chat

#include "cli/input.h"

#include "gtest/gtest.h"

namespace chat {
namespace {

using Kind = Input::Kind;

void ExpectInput(const std::string& line, Kind kind, const std::string& text) {
  Input in = ParseInput(line);
  EXPECT_EQ(in.kind, kind) << line;
  EXPECT_EQ(in.text, text) << line;
}

TEST(ParseInputTest, PlainLinesAreMessages) {
  ExpectInput("hello there", Kind::kSay, "hello there");
  ExpectInput("  indented", Kind::kSay, "  indented");
  ExpectInput("crlf\r", Kind::kSay, "crlf");
  ExpectInput("a/b", Kind::kSay, "a/b");
}

TEST(ParseInputTest, BlankLinesAreIgnored) {
  ExpectInput("", Kind::kEmpty, "");
  ExpectInput("   \t", Kind::kEmpty, "");
  ExpectInput("\r", Kind::kEmpty, "");
}

TEST(ParseInputTest, Commands) {
  ExpectInput("/me waves hello", Kind::kAction, "waves hello");
  ExpectInput("/ME  waves ", Kind::kAction, "waves");
  ExpectInput("/nick robert", Kind::kNick, "robert");
  ExpectInput("/who", Kind::kWho, "");
  ExpectInput("/join #dev", Kind::kJoin, "#dev");
  ExpectInput("/quit", Kind::kQuit, "");
  ExpectInput("/quit see you later", Kind::kQuit, "see you later");
  ExpectInput("/help", Kind::kHelp, "");
}

TEST(ParseInputTest, DoubleSlashSendsASlash) {
  ExpectInput("//me is not a command", Kind::kSay, "/me is not a command");
}

TEST(ParseInputTest, BadCommandsSayWhy) {
  ExpectInput("/me", Kind::kError, "usage: /me ACTION");
  ExpectInput("/nick", Kind::kError, "usage: /nick NAME");
  ExpectInput("/nick two words", Kind::kError, "usage: /nick NAME");
  ExpectInput("/join", Kind::kError, "usage: /join ROOM");
  ExpectInput("/who bob", Kind::kError, "usage: /who");
  ExpectInput("/frob x", Kind::kError,
              "unknown command /frob; /help lists the commands");
}

}  // namespace
}  // namespace chat

#include "service/log.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Value(absl::string_view value) {
  std::string out;
  AppendLogValue(value, &out);
  return out;
}

TEST(LogTest, PlainWordsAreBareEverythingElseIsQuoted) {
  EXPECT_EQ(Value("lobby"), "lobby");
  EXPECT_EQ(Value("127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(Value("/var/lib/chatroom"), "/var/lib/chatroom");
  EXPECT_EQ(Value(""), "\"\"");
  EXPECT_EQ(Value("two words"), "\"two words\"");
  EXPECT_EQ(Value("a=b"), "\"a=b\"");
  EXPECT_EQ(Value("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(Value("C:\\dir"), "\"C:\\\\dir\"");
}

TEST(LogTest, ControlBytesAndInvalidUtf8AreEscapedValidUtf8Kept) {
  EXPECT_EQ(Value("one\ntwo"), "\"one\\ntwo\"");
  EXPECT_EQ(Value("a\r\tb"), "\"a\\r\\tb\"");
  EXPECT_EQ(Value("\x1b[31mred"), "\"\\x1b[31mred\"");
  EXPECT_EQ(Value(std::string("nul\0byte", 8)), "\"nul\\x00byte\"");
  EXPECT_EQ(Value("del\x7f"), "\"del\\x7f\"");
  EXPECT_EQ(Value("caf\xc3\xa9"), "\"caf\xc3\xa9\"");            // é
  EXPECT_EQ(Value("\xf0\x9f\x92\xac"), "\"\xf0\x9f\x92\xac\"");  // U+1F4AC
  EXPECT_EQ(Value("bad\xff"), "\"bad\\xff\"");
  EXPECT_EQ(Value("cut\xc3"), "\"cut\\xc3\"");              // Truncated.
  EXPECT_EQ(Value("\xc0\xaf"), "\"\\xc0\\xaf\"");           // Overlong.
  EXPECT_EQ(Value("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"");  // Surrogate.
}

TEST(LogTest, EveryByteStaysOnOneLine) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string line =
      FormatLogLine(absl::UnixEpoch(), LogLevel::kError, all, {{"value", all}});
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  EXPECT_THAT(line, Not(HasSubstr("\r")));
}

TEST(LogTest, ALineHasTimeLevelMsgAndFieldsInOrder) {
  const absl::Time t = absl::FromUnixMillis(1795978800123);  // 2026-11-29.
  EXPECT_EQ(FormatLogLine(t, LogLevel::kInfo, "joined",
                          {{"member", "alice"},
                           {"room", "lobby"},
                           {"transport", "grpc"},
                           {"count", 3}}),
            "2026-11-29T19:00:00.123Z level=info msg=\"joined\" member=alice "
            "room=lobby transport=grpc count=3");
  EXPECT_EQ(FormatLogLine(t, LogLevel::kWarning, "refused: the server is full",
                          {{"peer", "10.0.0.7:51234"}}),
            "2026-11-29T19:00:00.123Z level=warning msg=\"refused: the server "
            "is full\" peer=10.0.0.7:51234");
  EXPECT_EQ(FormatLogLine(t, LogLevel::kError, "say \"no\"\n", {}),
            "2026-11-29T19:00:00.123Z level=error msg=\"say \\\"no\\\"\\n\"");
}

TEST(LogTest, TheJournalGetsItsPriorityInsteadOfTheTime) {
  const absl::Time t = absl::UnixEpoch();
  EXPECT_EQ(FormatLogLine(t, LogLevel::kDebug, "a", {}, /*journal=*/true),
            "<7>level=debug msg=\"a\"");
  EXPECT_EQ(FormatLogLine(t, LogLevel::kInfo, "a", {}, true),
            "<6>level=info msg=\"a\"");
  EXPECT_EQ(FormatLogLine(t, LogLevel::kWarning, "a", {}, true),
            "<4>level=warning msg=\"a\"");
  EXPECT_EQ(FormatLogLine(t, LogLevel::kError, "a", {}, true),
            "<3>level=error msg=\"a\"");
}

TEST(LogTest, LevelFlagParsesNamesAnyCase) {
  LogLevel level = LogLevel::kInfo;
  std::string error;
  EXPECT_TRUE(AbslParseFlag("debug", &level, &error));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(AbslParseFlag("WARN", &level, &error));
  EXPECT_EQ(level, LogLevel::kWarning);
  EXPECT_TRUE(AbslParseFlag("Error", &level, &error));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(AbslParseFlag("loud", &level, &error));
  EXPECT_THAT(error, HasSubstr("debug, info, warning or error"));
  EXPECT_EQ(AbslUnparseFlag(LogLevel::kWarning), "warning");
}

TEST(LogTest, LinesUnderTheLevelAreNotWritten) {
  testing::internal::CaptureStderr();
  Log(LogLevel::kDebug, "hidden at info");
  Log(LogLevel::kInfo, "shown", {{"room", "lobby"}});
  SetLogLevel(LogLevel::kDebug);
  Log(LogLevel::kDebug, "shown at debug");
  Log("free text ", 42);  // The older form: info.
  SetLogLevel(LogLevel::kError);
  EXPECT_FALSE(LogEnabled(LogLevel::kWarning));
  Log(LogLevel::kWarning, "hidden at error");
  Log(LogRecord{LogLevel::kError, "record", {{"n", 1}}});
  SetLogLevel(LogLevel::kInfo);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, Not(HasSubstr("hidden")));
  EXPECT_THAT(err, HasSubstr(" level=info msg=\"shown\" room=lobby\n"));
  EXPECT_THAT(err, HasSubstr(" level=debug msg=\"shown at debug\"\n"));
  EXPECT_THAT(err, HasSubstr(" level=error msg=\"record\" n=1\n"));
  EXPECT_THAT(err, HasSubstr(" level=info msg=\"free text 42\"\n"));
}

}  // namespace
}  // namespace chat

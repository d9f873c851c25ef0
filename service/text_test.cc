#include "service/text.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

TEST(ValidateNameTest, AcceptsLettersDigitsUnderscoreDash) {
  EXPECT_TRUE(ValidateName("alice").ok());
  EXPECT_TRUE(ValidateName("Bob_2-x").ok());
  EXPECT_TRUE(ValidateName(std::string(32, 'a')).ok());
}

TEST(ValidateNameTest, RefusesEmptyLongAndOtherCharacters) {
  EXPECT_EQ(ValidateName("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateName(std::string(33, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
  for (const char* bad : {"a b", "al!ce", "é", "a\n", "a.b", "#room"}) {
    absl::Status s = ValidateName(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("letters, digits"), absl::string_view::npos)
        << s.message();
  }
}

TEST(NameKeyTest, IgnoresCase) {
  EXPECT_EQ(NameKey("AliCe"), NameKey("alice"));
}

TEST(NormalizeRoomTest, DefaultsHashAndCase) {
  EXPECT_EQ(*NormalizeRoom(""), "lobby");
  EXPECT_EQ(*NormalizeRoom("#Dev"), "dev");
  EXPECT_EQ(*NormalizeRoom("dev"), "dev");
  EXPECT_EQ(NormalizeRoom("a room").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(NormalizeRoom("a room").status().message().find("room name"),
            absl::string_view::npos);
}

TEST(SanitizeTextTest, KeepsPlainTextTabsAndUnicode) {
  EXPECT_EQ(SanitizeText("hello\tworld"), "hello\tworld");
  EXPECT_EQ(SanitizeText("héllo wörld ☃ 😀"), "héllo wörld ☃ 😀");
}

TEST(SanitizeTextTest, RemovesControlCharacters) {
  EXPECT_EQ(SanitizeText(std::string("a\0b\x01\x7f\r\nc", 9)), "abc");
  EXPECT_EQ(SanitizeText("a\xc2\x85"
                         "b"),
            "ab");  // U+0085 (C1 NEL)
}

TEST(SanitizeTextTest, RemovesLineSeparatorsAndBidiControls) {
  // U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR: one message must not
  // show as two lines, the second passing for another sender's.
  EXPECT_EQ(SanitizeText("hi\u2028<bob> send me your password"),
            "hi<bob> send me your password");
  EXPECT_EQ(SanitizeText("a\u2029b"), "ab");
  // U+202E RIGHT-TO-LEFT OVERRIDE makes "exe.txt" read "txt.exe".
  EXPECT_EQ(SanitizeText("invoice\u202Etxt.exe"), "invoicetxt.exe");
  for (const char* bidi : {"\u202A", "\u202B", "\u202C", "\u202D", "\u202E",
                           "\u2066", "\u2067", "\u2068", "\u2069"}) {
    EXPECT_EQ(SanitizeText(absl::StrCat("x", bidi, "y")), "xy") << bidi;
  }
  // Their neighbours are ordinary text and stay: U+2027 HYPHENATION POINT,
  // U+2030 PER MILLE SIGN, U+2065 (unassigned), U+206A.
  EXPECT_EQ(SanitizeText("\u2027\u2030\u2065\u206A"),
            "\u2027\u2030\u2065\u206A");
  // Right-to-left text itself is fine.
  EXPECT_EQ(SanitizeText("שלום مرحبا"), "שלום مرحبا");
}

TEST(SanitizeTextTest, RemovesEscapeSequencesWhole) {
  EXPECT_EQ(SanitizeText("\x1b[31mred\x1b[0m"), "red");
  EXPECT_EQ(SanitizeText("a\x1b[2J\x1b[Hb"), "ab");
  EXPECT_EQ(SanitizeText("\x1b]0;title\x07text"), "text");
  EXPECT_EQ(SanitizeText("\x1b]8;;http://x\x1b\\link"), "link");
  EXPECT_EQ(SanitizeText("x\x1b"
                         "cy"),
            "xy");
  EXPECT_EQ(SanitizeText("trailing\x1b"), "trailing");
  EXPECT_EQ(SanitizeText("a\xc2\x9b"
                         "1mb"),
            "ab");  // C1 CSI
}

TEST(SanitizeTextTest, RepairsInvalidUtf8) {
  EXPECT_EQ(SanitizeText("a\xff"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeText("\xc3"), "\xEF\xBF\xBD");                  // truncated
  EXPECT_EQ(SanitizeText("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(SanitizeText("\xed\xa0\x80"),  // a surrogate
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(TruncateUtf8Test, NeverCutsACharacter) {
  EXPECT_EQ(TruncateUtf8("hello", 10), "hello");
  EXPECT_EQ(TruncateUtf8("hello", 3), "hel");
  EXPECT_EQ(TruncateUtf8("h\xC3\xA9llo", 2), "h");  // "é" is 2 bytes
  EXPECT_EQ(TruncateUtf8("h\xC3\xA9llo", 3), "h\xC3\xA9");
  EXPECT_EQ(TruncateUtf8("\xF0\x9F\x98\x80", 3), "");
}

TEST(Utf8Test, ValidityAndRepair) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80 \x01"));
  EXPECT_FALSE(IsValidUtf8("a\xff"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));      // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xC3"));          // cut short
  // Repair keeps valid text as it is, control characters too.
  EXPECT_EQ(RepairUtf8("caf\xC3\xA9\x01"), "caf\xC3\xA9\x01");
  EXPECT_EQ(RepairUtf8("a\xff!"), "a\xEF\xBF\xBD!");
}

TEST(IsBlankTest, SpacesAndTabsOnly) {
  EXPECT_TRUE(IsBlank(""));
  EXPECT_TRUE(IsBlank(" \t "));
  EXPECT_FALSE(IsBlank(" x "));
}

}  // namespace
}  // namespace chat

#include "legacy_tcp/line_decoder.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::ElementsAre;
using Result = LineDecoder::Result;
using std::string_literals::operator""s;

// Feeds `chunks` one after the other and records what the decoder reports:
// lines as themselves, everything else as "<TOO LONG>", "<INTERRUPT>" and
// "<OVERFLOW>". With `finish`, ends with Finish().
std::vector<std::string> Decode(LineDecoder& decoder,
                                const std::vector<std::string>& chunks,
                                bool finish = false) {
  std::vector<std::string> out;
  for (const std::string& chunk : chunks) {
    absl::string_view input = chunk, line;
    for (;;) {
      Result r = decoder.Next(&input, &line);
      if (r == Result::kNeedMore) {
        EXPECT_TRUE(input.empty());
        break;
      }
      switch (r) {
        case Result::kLine:
          out.emplace_back(line);
          break;
        case Result::kLineTooLong:
          out.push_back("<TOO LONG>");
          break;
        case Result::kInterrupt:
          out.push_back("<INTERRUPT>");
          break;
        case Result::kOverflow:
          out.push_back("<OVERFLOW>");
          break;
        case Result::kNeedMore:
          break;
      }
    }
  }
  if (finish) {
    absl::string_view line;
    if (decoder.Finish(&line) == Result::kLine) out.emplace_back(line);
  }
  return out;
}

std::vector<std::string> Decode(const std::vector<std::string>& chunks,
                                LineDecoder::Limits limits = {}) {
  LineDecoder decoder(limits);
  return Decode(decoder, chunks);
}

// Every way of splitting `bytes` into two chunks decodes the same.
void ExpectSameForEverySplit(const std::string& bytes,
                             const std::vector<std::string>& expected) {
  for (size_t i = 0; i <= bytes.size(); ++i) {
    EXPECT_EQ(Decode({bytes.substr(0, i), bytes.substr(i)}), expected)
        << "split at " << i;
  }
  std::vector<std::string> bytewise;
  for (char c : bytes) bytewise.emplace_back(1, c);
  EXPECT_EQ(Decode(bytewise), expected) << "byte by byte";
}

TEST(LineDecoderTest, FramesOnNewlineCrLfAndCrNul) {
  EXPECT_THAT(Decode({"one\ntwo\r\nthree\r"}),
              ElementsAre("one", "two", "three"));
  ExpectSameForEverySplit("a\nb\r\nc\r\0d\re\n"s, {"a", "b", "c", "d", "e"});
}

TEST(LineDecoderTest, EmptyLinesAreLines) {
  EXPECT_THAT(Decode({"\n\r\n\r\0x\n"s}), ElementsAre("", "", "", "x"));
  EXPECT_THAT(Decode({"\r\0\r\0"s}), ElementsAre("", ""));
}

TEST(LineDecoderTest, CrLfSplitAcrossReadsIsOneLineEnd) {
  EXPECT_THAT(Decode({"hi\r", "\nthere\r", "\0"s, "x\n"}),
              ElementsAre("hi", "there", "x"));
}

TEST(LineDecoderTest, PartialLineWaitsForItsEnd) {
  LineDecoder decoder(LineDecoder::Limits{});
  EXPECT_THAT(Decode(decoder, {"hel", "lo"}), ElementsAre());
  EXPECT_THAT(Decode(decoder, {" world\nnext"}), ElementsAre("hello world"));
  EXPECT_THAT(Decode(decoder, {}, /*finish=*/true), ElementsAre("next"));
  absl::string_view line;
  EXPECT_EQ(decoder.Finish(&line), Result::kNeedMore);
}

TEST(LineDecoderTest, NextStopsAfterEachLine) {
  LineDecoder decoder(LineDecoder::Limits{});
  absl::string_view input = "a\nb\n", line;
  ASSERT_EQ(decoder.Next(&input, &line), Result::kLine);
  EXPECT_EQ(line, "a");
  EXPECT_EQ(input, "b\n");
  ASSERT_EQ(decoder.Next(&input, &line), Result::kLine);
  EXPECT_EQ(line, "b");
  EXPECT_EQ(decoder.Next(&input, &line), Result::kNeedMore);
}

TEST(LineDecoderTest, TelnetNegotiationIsRemoved) {
  // IAC DO ECHO, IAC WILL SGA, IAC WONT LINEMODE, IAC DONT 200.
  const std::string bytes =
      "\xff\xfd\x01he\xff\xfb\x03l\xff\xfc\x22lo\xff\xfe\xc8\r\n";
  ExpectSameForEverySplit(bytes, {"hello"});
}

TEST(LineDecoderTest, NegotiationOptionMayLookLikeALineEnd) {
  // IAC DO 10 and IAC WILL 13: option bytes are never text.
  EXPECT_THAT(Decode({"a\xff\xfd\nb\xff\xfb\rc\n"}), ElementsAre("abc"));
}

TEST(LineDecoderTest, SubnegotiationIsRemovedWhole) {
  // IAC SB TERMINAL-TYPE IS "xterm" IAC SE, with an escaped 0xFF and a CR LF
  // inside, neither of which means anything there.
  ExpectSameForEverySplit("hi\xff\xfa\x18\0xt\xff\xff\r\nerm\xff\xf0 there\n"s,
                          {"hi there"});
  // An IAC followed by something other than SE or IAC inside SB stays in SB.
  EXPECT_THAT(Decode({"a\xff\xfa\x01\xff\x01z\xff\xf0"
                      "b\n"}),
              ElementsAre("ab"));
}

TEST(LineDecoderTest, IacIacIsALiteralFfByte) {
  ExpectSameForEverySplit(
      "a\xff\xff"
      "b\n",
      {"a\xff"
       "b"});
}

TEST(LineDecoderTest, OtherCommandsAreDropped) {
  // NOP, DM, AYT, AO, GA, EOR.
  EXPECT_THAT(Decode({"a\xff\xf1"
                      "b\xff\xf2"
                      "c\xff\xf6"
                      "d\xff\xf5"
                      "e\xff\xf9"
                      "f\xff\xef"
                      "g\n"}),
              ElementsAre("abcdefg"));
}

TEST(LineDecoderTest, InterruptBreakAndAbortAreReported) {
  EXPECT_THAT(Decode({"typing\xff\xf4more\n"}),
              ElementsAre("<INTERRUPT>", "typingmore"));
  EXPECT_THAT(Decode({"\xff\xf3", "\xff\xee"}),
              ElementsAre("<INTERRUPT>", "<INTERRUPT>"));
  // As telnet sends ^C: IAC IP, IAC DO TIMING-MARK.
  EXPECT_THAT(Decode({"\xff\xf4\xff\xfd\x06"}), ElementsAre("<INTERRUPT>"));
}

TEST(LineDecoderTest, BackspaceAndDeleteEditTheLine) {
  EXPECT_THAT(Decode({"helx\blo\n",
                      "abcd\x7f\x7f"
                      "cd\n"}),
              ElementsAre("hello", "abcd"));
  // Erasing past the start of the line does nothing.
  EXPECT_THAT(Decode({"\b\b\x7fok\n"}), ElementsAre("ok"));
  // Editing does not reach back into the previous line.
  EXPECT_THAT(Decode({"one\n\bx\n"}), ElementsAre("one", "x"));
}

TEST(LineDecoderTest, BackspaceErasesAWholeUtf8Character) {
  // "é" (2 bytes), "€" (3 bytes), "😀" (4 bytes).
  EXPECT_THAT(Decode({"a\xc3\xa9\b\n"}), ElementsAre("a"));
  EXPECT_THAT(Decode({"a\xe2\x82\xac\b\n"}), ElementsAre("a"));
  EXPECT_THAT(Decode({"a\xf0\x9f\x98\x80\b\n"}), ElementsAre("a"));
  // Stray continuation bytes: at most four bytes go per erase.
  EXPECT_THAT(Decode({"ab\x80\x80\x80\x80\x80\b\n"}), ElementsAre("ab\x80"));
}

TEST(LineDecoderTest, TelnetEraseCharacterAndEraseLine) {
  EXPECT_THAT(Decode({"abx\xff\xf7"
                      "c\n"}),
              ElementsAre("abc"));
  EXPECT_THAT(Decode({"wrong\xff\xf8right\n"}), ElementsAre("right"));
}

TEST(LineDecoderTest, ControlBytesAndInvalidUtf8PassThrough) {
  // Sanitizing is the room core's job; the decoder keeps the bytes.
  EXPECT_THAT(Decode({"\x1b[31mred\x07\0\xc3(\n"s}),
              ElementsAre("\x1b[31mred\x07\0\xc3("s));
}

TEST(LineDecoderTest, LineAtTheLimitIsAccepted) {
  LineDecoder::Limits limits{.max_line_bytes = 8, .max_unterminated_bytes = 64};
  EXPECT_THAT(Decode({"12345678\n"}, limits), ElementsAre("12345678"));
  // Editing keeps a line under the limit.
  EXPECT_THAT(Decode({"12345678\b9\n"}, limits), ElementsAre("12345679"));
}

TEST(LineDecoderTest, LongLineIsRefusedAndTheRestOfItDiscarded) {
  LineDecoder::Limits limits{.max_line_bytes = 8, .max_unterminated_bytes = 64};
  EXPECT_THAT(Decode({"123456789abc", "def\b\xff\xff\nnext\n"}, limits),
              ElementsAre("<TOO LONG>", "next"));
  // Reported once per line, even across many reads.
  LineDecoder decoder(limits);
  EXPECT_THAT(Decode(decoder, {"1234567890", "abcdef", "ghij"}),
              ElementsAre("<TOO LONG>"));
  EXPECT_THAT(Decode(decoder, {"klm\r\nok\n"}), ElementsAre("ok"));
  // An interrupt still comes through while discarding.
  EXPECT_THAT(Decode({"1234567890\xff\xf4"}, limits),
              ElementsAre("<TOO LONG>", "<INTERRUPT>"));
  // The unterminated rest of a refused line is not a line at the end.
  LineDecoder cut(limits);
  EXPECT_THAT(Decode(cut, {"1234567890"}, /*finish=*/true),
              ElementsAre("<TOO LONG>"));
}

TEST(LineDecoderTest, TooManyBytesWithoutALineEndOverflow) {
  LineDecoder::Limits limits{.max_line_bytes = 8, .max_unterminated_bytes = 32};
  LineDecoder decoder(limits);
  EXPECT_THAT(Decode(decoder, {std::string(20, 'x'), std::string(12, 'y')}),
              ElementsAre("<TOO LONG>"));
  EXPECT_THAT(Decode(decoder, {"z", "more\nlines\n"}),
              ElementsAre("<OVERFLOW>"));
  // After an overflow everything is discarded.
  EXPECT_THAT(Decode(decoder, {"after\n"}, /*finish=*/true), ElementsAre());
}

TEST(LineDecoderTest, OverflowCountsTelnetAndErasedBytes) {
  LineDecoder::Limits limits{.max_line_bytes = 8, .max_unterminated_bytes = 32};
  std::string editing;
  for (int i = 0; i < 20; ++i) editing += "a\b";
  EXPECT_THAT(Decode({editing}, limits), ElementsAre("<OVERFLOW>"));
  std::string negotiation = "\xff\xfa";
  negotiation += std::string(40, 'x');
  EXPECT_THAT(Decode({negotiation}, limits), ElementsAre("<OVERFLOW>"));
}

TEST(LineDecoderTest, LineEndAtTheUnterminatedLimitIsALineEnd) {
  LineDecoder::Limits limits{.max_line_bytes = 40,
                             .max_unterminated_bytes = 32};
  // 31 bytes and "\n": 32 bytes without passing the limit.
  EXPECT_THAT(
      Decode({std::string(31, 'x') + "\n" + std::string(31, 'y') + "\r\n"},
             limits),
      ElementsAre(std::string(31, 'x'), std::string(31, 'y')));
  EXPECT_THAT(Decode({std::string(32, 'x') + "\n"}, limits),
              ElementsAre(std::string(32, 'x')));
  EXPECT_THAT(Decode({std::string(33, 'x') + "\n"}, limits),
              ElementsAre("<OVERFLOW>"));
}

TEST(LineDecoderTest, FinishResetsTelnetState) {
  LineDecoder decoder(LineDecoder::Limits{});
  EXPECT_THAT(Decode(decoder, {"a\xff\xfa"}, /*finish=*/true),
              ElementsAre("a"));
  EXPECT_THAT(Decode(decoder, {"b\n"}), ElementsAre("b"));
}

// MidLine drives the server's --line_timeout: text without its line end
// counts, and so does an unfinished telnet command; negotiation alone does
// not, as telnet sends it on connecting and then waits for the user.
TEST(LineDecoderTest, MidLineIsTextOrACommandWithoutALineEnd) {
  auto mid_line_after = [](const std::vector<std::string>& chunks,
                           LineDecoder::Limits limits = {}) {
    LineDecoder decoder(limits);
    Decode(decoder, chunks);
    return decoder.MidLine();
  };
  EXPECT_FALSE(mid_line_after({}));
  EXPECT_TRUE(mid_line_after({"h"}));
  EXPECT_TRUE(mid_line_after({"hello\nwor"}));
  EXPECT_FALSE(mid_line_after({"hello\n"}));
  EXPECT_FALSE(mid_line_after({"hello\r"}));
  EXPECT_FALSE(mid_line_after({"hello\r\n"}));
  EXPECT_FALSE(mid_line_after({"ab\b\b"}));  // Erased back to nothing.
  EXPECT_FALSE(mid_line_after({"\xff\xfd\x01\xff\xfb\x03"}));  // Negotiation.
  EXPECT_TRUE(mid_line_after({"\xff"}));                       // IAC ...
  EXPECT_TRUE(mid_line_after({"\xff\xfd"}));                   // IAC DO ...
  EXPECT_TRUE(mid_line_after({"\xff\xfa\x18"}));               // IAC SB ...
  EXPECT_FALSE(mid_line_after({"\xff\xfa\x18\xff\xf0"}));      // ... IAC SE.
  LineDecoder::Limits limits;
  limits.max_line_bytes = 4;
  EXPECT_TRUE(mid_line_after({"123456"}, limits));  // Being discarded.
  EXPECT_FALSE(mid_line_after({"123456\n"}, limits));
}

TEST(LineDecoderTest, RandomInputKeepsTheBounds) {
  // Bytes biased towards the interesting ones, in random chunks.
  const std::string alphabet = "ab\r\n\0\b\x7f\xff\xfa\xf0\xfb\xf4\xf7\xf8"s;
  std::mt19937 random(42);
  LineDecoder::Limits limits{.max_line_bytes = 16,
                             .max_unterminated_bytes = 64};
  for (int round = 0; round < 200; ++round) {
    LineDecoder decoder(limits);
    std::string input;
    for (int i = 0; i < 2000; ++i)
      input += alphabet[random() % alphabet.size()];
    absl::string_view rest = input, line;
    bool overflowed = false;
    while (!rest.empty()) {
      absl::string_view chunk = rest.substr(0, 1 + random() % 64);
      rest.remove_prefix(chunk.size());
      for (;;) {
        Result r = decoder.Next(&chunk, &line);
        if (r == Result::kNeedMore) break;
        EXPECT_FALSE(overflowed) << "nothing after an overflow";
        if (r == Result::kOverflow) overflowed = true;
        if (r != Result::kLine) continue;
        EXPECT_LE(line.size(), limits.max_line_bytes);
        EXPECT_EQ(line.find_first_of("\r\n"), absl::string_view::npos);
      }
      EXPECT_TRUE(chunk.empty());
    }
  }
}

}  // namespace
}  // namespace chat

#include "service/http2_refusal.h"

#include <cstdint>
#include <string>

#include "gtest/gtest.h"

namespace chat {
namespace {

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream,
                  const std::string& payload) {
  std::string out;
  out.push_back(static_cast<char>(payload.size() >> 16));
  out.push_back(static_cast<char>(payload.size() >> 8));
  out.push_back(static_cast<char>(payload.size()));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(stream >> shift));
  }
  return out + payload;
}

uint32_t Uint32At(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

TEST(Http2RefusalTest, ServerPrefaceIsAnEmptySettingsFrame) {
  EXPECT_EQ(Http2Refusal::ServerPreface(), Frame(0x4, 0, 0, ""));
}

TEST(Http2RefusalTest, AcksSettingsThenAnswersTheFirstCall) {
  Http2Refusal refusal(8, "full");
  // Split anywhere, the input gives the same answer.
  const std::string input = kPreface + Frame(0x4, 0, 0, std::string(6, 'x')) +
                            Frame(0x8, 0, 0, "wind") +
                            Frame(0x1, 0x4, 3, "header block");
  std::string out;
  for (char c : input) out += refusal.Feed(std::string(1, c));
  EXPECT_TRUE(refusal.done());
  const std::string ack = Frame(0x4, 0x1, 0, "");
  ASSERT_EQ(out.substr(0, 9), ack);
  std::string block;
  block.push_back(static_cast<char>(0x88));
  AppendHpackLiteral(&block, "content-type", "application/grpc");
  AppendHpackLiteral(&block, "grpc-status", "8");
  AppendHpackLiteral(&block, "grpc-message", "full");
  const std::string headers = Frame(0x1, 0x5, 3, block);
  ASSERT_EQ(out.substr(9, headers.size()), headers);
  const std::string goaway = out.substr(9 + headers.size());
  ASSERT_EQ(goaway.size(), 9u + 8u + 4u);
  EXPECT_EQ(goaway[3], 0x7);
  EXPECT_EQ(Uint32At(goaway, 9), 3u);  // Last stream.
  EXPECT_EQ(goaway.substr(17), "full");
  EXPECT_EQ(refusal.Feed(Frame(0x1, 0x4, 5, "more")), "");
}

TEST(Http2RefusalTest, MessagesArePercentEncoded) {
  Http2Refusal refusal(14, "50% \xe2\x9c\x93");
  const std::string out = refusal.Feed(kPreface + Frame(0x1, 0x4, 1, "h"));
  EXPECT_NE(out.find("50%25 %E2%9C%93"), std::string::npos);
}

TEST(Http2RefusalTest, NotHttp2EndsAtOnce) {
  Http2Refusal refusal(8, "full");
  EXPECT_EQ(refusal.Feed("GET / HTTP/1.1\r\n"), "");
  EXPECT_TRUE(refusal.done());
}

TEST(Http2RefusalTest, OversizedFramesEndIt) {
  Http2Refusal refusal(8, "full");
  std::string header = Frame(0x0, 0, 1, "");
  header[0] = 0x7f;  // Length far over 16384.
  EXPECT_EQ(refusal.Feed(kPreface + header), "");
  EXPECT_TRUE(refusal.done());
}

TEST(Http2RefusalTest, HpackLengthsPastTheirPrefix) {
  std::string out;
  AppendHpackLiteral(&out, "n", std::string(200, 'v'));
  // 0x00, 1, 'n', then 200 as 0x7f + 73.
  ASSERT_GE(out.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(out[3]), 0x7f);
  EXPECT_EQ(static_cast<uint8_t>(out[4]), 73);
  EXPECT_EQ(out.size(), 5u + 200u);
}

}  // namespace
}  // namespace chat

#include "web/web_protocol.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

TEST(ParseChatRequestJsonTest, TakesProtoAndCamelCaseNames) {
  v1::ChatRequest request;
  ASSERT_TRUE(ParseChatRequestJson(
                  R"({"join":{"name":"ann","resume_after_seq":"41",
                      "resume_epoch":"e1"}})",
                  &request)
                  .ok());
  EXPECT_EQ(request.join().name(), "ann");
  EXPECT_EQ(request.join().resume_after_seq(), 41u);
  EXPECT_EQ(request.join().resume_epoch(), "e1");

  ASSERT_TRUE(
      ParseChatRequestJson(R"({"join":{"resumeAfterSeq":7}})", &request).ok());
  EXPECT_EQ(request.join().resume_after_seq(), 7u);

  ASSERT_TRUE(ParseChatRequestJson(R"({"say":{"text":"waves","action":true}})",
                                   &request)
                  .ok());
  EXPECT_EQ(request.say().text(), "waves");
  EXPECT_TRUE(request.say().action());
}

TEST(ParseChatRequestJsonTest, RefusesWhatIsNotARequest) {
  v1::ChatRequest request;
  absl::Status bad = ParseChatRequestJson("{\"say\":", &request);
  EXPECT_TRUE(absl::IsInvalidArgument(bad));
  EXPECT_THAT(bad.message(), HasSubstr("not a chat.v1.ChatRequest in JSON"));
  EXPECT_THAT(std::string(bad.message()), ::testing::Not(HasSubstr("\n")));
  // A typo is an error, not silently nothing.
  EXPECT_FALSE(ParseChatRequestJson(R"({"sya":{"text":"hi"}})", &request).ok());
  EXPECT_FALSE(ParseChatRequestJson(R"([1,2])", &request).ok());
  EXPECT_FALSE(
      ParseChatRequestJson(R"({"join":{"history":"many"}})", &request).ok());
}

TEST(ChatResponseJsonTest, PrintsProtoNamesAndLeavesDefaultsOut) {
  v1::ChatResponse response;
  response.set_seq(12);
  response.mutable_message()->set_sender("bob");
  response.mutable_message()->set_text("<b>hi</b> \"there\"");
  EXPECT_EQ(ChatResponseJson(response),
            R"({"seq":"12","message":{"sender":"bob",)"
            R"("text":"\u003cb\u003ehi\u003c/b\u003e \"there\""}})");

  v1::ChatResponse joined;
  joined.set_seq(3);
  joined.mutable_member_joined()->mutable_member()->set_name("ann");
  joined.mutable_member_joined()->mutable_member()->set_transport(
      v1::TRANSPORT_WEB);
  EXPECT_EQ(ChatResponseJson(joined),
            R"({"seq":"3","member_joined":{"member":{"name":"ann",)"
            R"("transport":"TRANSPORT_WEB"}}})");
}

TEST(CloseForTest, OkIsNormalAndErrorsCarryTheirCode) {
  EXPECT_EQ(CloseFor(absl::OkStatus()).code, 1000);
  CloseFrame taken = CloseFor(absl::AlreadyExistsError("name ann is taken"));
  EXPECT_EQ(taken.code, 4006);
  EXPECT_EQ(taken.reason, "name ann is taken");
  EXPECT_EQ(CloseFor(absl::UnavailableError("bye")).code, 4014);
  EXPECT_EQ(CloseFor(absl::ResourceExhaustedError("too slow")).code, 4008);
}

TEST(CloseForTest, CutsLongReasonsAtACharacterBoundary) {
  // 61 two-byte characters (122 bytes), then one more: byte 123 would split
  // it.
  std::string text;
  for (int i = 0; i < 70; ++i) text += "\xc3\xa9";  // é
  CloseFrame frame = CloseFor(absl::InvalidArgumentError(text));
  EXPECT_EQ(frame.reason.size(), 122u);
  EXPECT_EQ(frame.reason, text.substr(0, 122));
  CloseFrame ascii =
      CloseFor(absl::InvalidArgumentError(std::string(500, 'x')));
  EXPECT_EQ(ascii.reason.size(), 123u);
}

TEST(OriginAllowedTest, DefaultIsThePagesOwnOrigin) {
  EXPECT_TRUE(OriginAllowed("http://127.0.0.1:8080", "127.0.0.1:8080", {}));
  EXPECT_TRUE(OriginAllowed("HTTP://Chat.Example:80", "chat.example:80", {}));
  EXPECT_TRUE(OriginAllowed("https://chat.example", "chat.example", {}));
  EXPECT_FALSE(OriginAllowed("http://evil.example", "127.0.0.1:8080", {}));
  EXPECT_FALSE(OriginAllowed("http://127.0.0.1:9999", "127.0.0.1:8080", {}));
  EXPECT_FALSE(OriginAllowed("null", "127.0.0.1:8080", {}));
  EXPECT_FALSE(OriginAllowed("http://127.0.0.1:8080", "", {}));
  // No Origin: not a browser, so no visitor's name to take.
  EXPECT_TRUE(OriginAllowed("", "127.0.0.1:8080", {}));
}

TEST(OriginAllowedTest, AListAddsToThePagesOwn) {
  const std::vector<std::string> allowed = {"https://chat.example.com"};
  EXPECT_TRUE(
      OriginAllowed("https://chat.example.com", "10.0.0.1:8080", allowed));
  EXPECT_TRUE(OriginAllowed("http://10.0.0.1:8080", "10.0.0.1:8080", allowed));
  EXPECT_FALSE(
      OriginAllowed("https://other.example", "10.0.0.1:8080", allowed));
  EXPECT_TRUE(OriginAllowed("http://anything", "h", {"*"}));
}

}  // namespace
}  // namespace chat

#include "cli/render.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/format.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::ChatResponse Message(const std::string& sender, const std::string& text,
                         bool action = false) {
  v1::ChatResponse e;
  e.set_seq(7);
  // 2026-11-25 14:03:07 UTC
  e.mutable_time()->set_seconds(1795615387);
  e.mutable_message()->set_sender(sender);
  e.mutable_message()->set_text(text);
  e.mutable_message()->set_action(action);
  return e;
}

RenderOptions Utc() {
  RenderOptions o;
  o.zone = absl::UTCTimeZone();
  return o;
}

TEST(RenderEventTest, DefaultIsExactlyTheLegacyLine) {
  v1::ChatResponse e = Message("alice", "hi");
  EXPECT_EQ(RenderEvent(e, Utc()), "<alice> hi");
  EXPECT_EQ(RenderEvent(e, Utc()), FormatEventLine(e));

  v1::ChatResponse renamed;
  renamed.mutable_member_renamed()->set_old_name("bob");
  renamed.mutable_member_renamed()->set_new_name("robert");
  EXPECT_EQ(RenderEvent(renamed, Utc()), "-- bob is now known as robert");
}

TEST(RenderEventTest, TimestampsShowTheEventTime) {
  RenderOptions o = Utc();
  o.timestamps = true;
  EXPECT_EQ(RenderEvent(Message("alice", "hi"), o), "[14:03:07] <alice> hi");

  v1::ChatResponse no_time;
  no_time.mutable_notice()->set_text("careful");
  EXPECT_EQ(RenderEvent(no_time, o), "[--:--:--] !! careful");
}

TEST(RenderEventTest, ColorPaintsTheNameOnly) {
  RenderOptions o = Utc();
  o.color = true;
  const int c = NameColor("alice");
  EXPECT_EQ(RenderEvent(Message("alice", "hi"), o),
            absl::StrCat("<\x1b[", c, "malice\x1b[0m> hi"));
  EXPECT_EQ(RenderEvent(Message("alice", "waves", true), o),
            absl::StrCat("* \x1b[", c, "malice\x1b[0m waves"));

  v1::ChatResponse joined;
  joined.mutable_member_joined()->mutable_member()->set_name("alice");
  EXPECT_EQ(RenderEvent(joined, o),
            absl::StrCat("-- \x1b[", c, "malice\x1b[0m joined"));

  v1::ChatResponse renamed;
  renamed.mutable_member_renamed()->set_old_name("alice");
  renamed.mutable_member_renamed()->set_new_name("al");
  EXPECT_EQ(RenderEvent(renamed, o),
            absl::StrCat("-- \x1b[", c, "malice\x1b[0m is now known as \x1b[",
                         NameColor("al"), "mal\x1b[0m"));
}

TEST(RenderEventTest, ColorAndTimestampsTogether) {
  RenderOptions o = Utc();
  o.color = true;
  o.timestamps = true;
  EXPECT_THAT(RenderEvent(Message("bob", "yo"), o),
              StartsWith("\x1b[2m[14:03:07]\x1b[0m <\x1b["));
}

TEST(NameColorTest, StableAndCaseInsensitive) {
  EXPECT_EQ(NameColor("alice"), NameColor("ALICE"));
  EXPECT_EQ(NameColor("alice"), NameColor("Alice"));
  // Fixed by the hash: a change would recolor everyone's names.
  EXPECT_EQ(NameColor("alice"), NameColor("alice"));
  int distinct = 0;
  const int first = NameColor("a");
  for (const char* n : {"b", "c", "d", "e", "f", "g"}) {
    if (NameColor(n) != first) ++distinct;
  }
  EXPECT_GT(distinct, 0);
}

TEST(RenderEventTest, JsonIsOneObjectWithProtoFieldNames) {
  RenderOptions o = Utc();
  o.json = true;
  o.color = true;  // Ignored for JSON.
  const std::string json = RenderEvent(Message("alice", "hi \"there\""), o);
  EXPECT_THAT(json, StartsWith("{"));
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_THAT(json, HasSubstr(R"("seq":"7")"));
  EXPECT_THAT(json, HasSubstr(R"("sender":"alice")"));
  EXPECT_THAT(json, HasSubstr(R"("text":"hi \"there\"")"));
  EXPECT_THAT(json, HasSubstr(R"("time":"2026-11-25T14:03:07Z")"));

  v1::ChatResponse joined;
  joined.mutable_member_joined()->mutable_member()->set_name("bob");
  EXPECT_THAT(RenderEvent(joined, o), HasSubstr(R"("member_joined")"));
}

TEST(RenderMembersTest, ListsNamesAndMarksTcp) {
  v1::ListMembersResponse r;
  r.set_room("lobby");
  EXPECT_EQ(RenderMembers(r, {}), "-- nobody in room lobby");
  r.add_members()->set_name("alice");
  v1::Member* bob = r.add_members();
  bob->set_name("bob");
  bob->set_transport(v1::TRANSPORT_TCP);
  EXPECT_EQ(RenderMembers(r, {}), "-- 2 in room lobby: alice, bob (tcp)");
  v1::Member* carol = r.add_members();
  carol->set_name("carol");
  carol->set_transport(v1::TRANSPORT_WEB);
  EXPECT_EQ(RenderMembers(r, {}),
            "-- 3 in room lobby: alice, bob (tcp), carol (web)");
}

TEST(ColorModeTest, ParsesTheFlag) {
  EXPECT_EQ(*ParseColorMode("auto"), ColorMode::kAuto);
  EXPECT_EQ(*ParseColorMode("always"), ColorMode::kAlways);
  EXPECT_EQ(*ParseColorMode("never"), ColorMode::kNever);
  EXPECT_FALSE(ParseColorMode("sometimes").ok());
  EXPECT_TRUE(UseColor(ColorMode::kAlways, -1));
  EXPECT_FALSE(UseColor(ColorMode::kNever, -1));
  EXPECT_FALSE(UseColor(ColorMode::kAuto, -1));  // Not a terminal.
}

}  // namespace
}  // namespace chat

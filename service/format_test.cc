#include "service/format.h"

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
}

}  // namespace
}  // namespace chat

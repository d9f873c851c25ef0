#include "cli/stats.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

v1::GetStatsResponse Sample() {
  v1::GetStatsResponse r;
  r.set_members(4);
  for (auto [t, n] :
       {std::pair{v1::TRANSPORT_GRPC, 2}, std::pair{v1::TRANSPORT_TCP, 1},
        std::pair{v1::TRANSPORT_WEB, 1}}) {
    v1::TransportMembers* by = r.add_members_by_transport();
    by->set_transport(t);
    by->set_members(n);
  }
  r.set_rooms(2);
  r.set_messages_per_second(3.25);
  r.mutable_rate_window()->set_seconds(10);
  r.set_messages_total(1200);
  r.set_events_total(1300);
  r.set_deliveries_total(5000);
  r.set_slow_drops_total(0);
  r.mutable_start_time()->set_seconds(1700000000);  // 2023-11-14T22:13:20Z
  r.mutable_uptime()->set_seconds(3725);
  r.mutable_uptime()->set_nanos(900'000'000);
  return r;
}

TEST(FormatStatsTest, OneLabelledLineEach) {
  EXPECT_EQ(FormatStats(Sample()),
            "members      4 (grpc 2, tcp 1, web 1)\n"
            "rooms        2\n"
            "messages/s   3.2 (last 10s)\n"
            "messages     1200 since the start\n"
            "events       1300\n"
            "deliveries   5000\n"
            "slow drops   0 (members dropped for reading too slowly)\n"
            "uptime       1h2m5s (since 2023-11-14T22:13:20Z)\n");
}

TEST(FormatStatsTest, AnEmptyServer) {
  const std::string text = FormatStats(v1::GetStatsResponse());
  EXPECT_THAT(text, HasSubstr("members      0\n"));
  EXPECT_THAT(text, HasSubstr("messages/s   0.0 (last 0)\n"));
}

TEST(StatsJsonTest, EveryFieldWithTheProtosNames) {
  v1::GetStatsResponse r = Sample();
  const std::string json = StatsJson(r);
  EXPECT_THAT(json, HasSubstr("\"members\":\"4\""));
  EXPECT_THAT(json, HasSubstr("\"transport\":\"TRANSPORT_GRPC\""));
  EXPECT_THAT(json, HasSubstr("\"messages_per_second\":3.25"));
  EXPECT_THAT(json, HasSubstr("\"rate_window\":\"10s\""));
  EXPECT_THAT(json, HasSubstr("\"uptime\":\"3725.900s\""));
  EXPECT_THAT(json, HasSubstr("\"start_time\":\"2023-11-14T22:13:20Z\""));
  // Zeros are figures too: shown, not left out.
  EXPECT_THAT(json, HasSubstr("\"slow_drops_total\":\"0\""));
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace chat

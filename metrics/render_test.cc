#include "metrics/render.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/metrics.h"
#include "metrics/test_members.h"
#include "metrics/text_format.h"
#include "service/room.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

// The value of the sample written exactly as `series` (NAME or
// NAME{labels}); -1 when there is none.
double SampleValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double value = 0;
      if (absl::SimpleAtod(line, &value)) return value;
    }
  }
  return -1;
}

// The family a sample belongs to: its name less a histogram's suffix.
std::string FamilyOf(absl::string_view sample_name,
                     const std::map<std::string, std::string>& types) {
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    absl::string_view base = sample_name;
    if (absl::ConsumeSuffix(&base, suffix)) {
      auto it = types.find(std::string(base));
      if (it != types.end() && it->second == "histogram") {
        return std::string(base);
      }
    }
  }
  return std::string(sample_name);
}

TEST(RenderMetricsTest, EveryFamilyIsWellFormed) {
  Hub hub(HubOptions{});
  auto a = JoinAs(&hub, "alice", "", v1::TRANSPORT_GRPC);
  ASSERT_TRUE(a->Say("hello", false).ok());
  const std::string text = RenderMetrics(hub);
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');

  std::map<std::string, std::string> types;  // Family -> type.
  std::set<std::string> helped;
  std::string current;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "# HELP ")) {
      const std::string name(line.substr(0, line.find(' ')));
      EXPECT_TRUE(ValidMetricName(name)) << name;
      EXPECT_TRUE(helped.insert(name).second) << "HELP twice: " << name;
      EXPECT_TRUE(absl::StartsWith(name, "chat_") ||
                  absl::StartsWith(name, "process_"))
          << name;
      continue;
    }
    if (absl::ConsumePrefix(&line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      ASSERT_EQ(parts.size(), 2u) << line;
      EXPECT_EQ(helped.count(parts[0]), 1u) << "TYPE before HELP: " << line;
      EXPECT_TRUE(types.emplace(parts[0], parts[1]).second) << line;
      if (parts[1] == "counter") {
        EXPECT_TRUE(absl::EndsWith(parts[0], "_total")) << parts[0];
      } else {
        EXPECT_FALSE(absl::EndsWith(parts[0], "_total")) << parts[0];
      }
      current = parts[0];
      continue;
    }
    // A sample: NAME[{labels}] VALUE, of the family just declared.
    const size_t end = line.find_first_of("{ ");
    ASSERT_NE(end, absl::string_view::npos) << line;
    const std::string name(line.substr(0, end));
    EXPECT_EQ(FamilyOf(name, types), current) << line;
    double value;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value) ||
                absl::EndsWith(line, "+Inf"))
        << line;
    if (line[end] == '{') {
      const absl::string_view labels =
          line.substr(end + 1, line.find('}') - end - 1);
      for (absl::string_view label : absl::StrSplit(labels, ',')) {
        EXPECT_TRUE(ValidLabelName(label.substr(0, label.find('=')))) << line;
      }
    }
  }
  for (const char* family :
       {"chat_members", "chat_rooms", "chat_rooms_held", "chat_events_total",
        "chat_messages_total", "chat_deliveries_total",
        "chat_delivered_bytes_total", "chat_outbox_depth_events",
        "chat_members_dropped_too_slow_total", "chat_refusals_total",
        "chat_connections_opened_total", "chat_connections_closed_total",
        "chat_grpc_streams", "chat_store_write_duration_seconds",
        "chat_store_sync_duration_seconds", "process_cpu_seconds_total",
        "process_resident_memory_bytes", "process_open_fds",
        "process_start_time_seconds"}) {
    EXPECT_EQ(types.count(family), 1u) << family;
  }
}

TEST(RenderMetricsTest, MembersAndRoomsAreTheHubsNow) {
  Hub hub(HubOptions{});
  auto a = JoinAs(&hub, "alice", "one", v1::TRANSPORT_GRPC);
  auto b = JoinAs(&hub, "bob", "one", v1::TRANSPORT_GRPC);
  auto c = JoinAs(&hub, "carol", "two", v1::TRANSPORT_TCP);
  auto d = JoinAs(&hub, "dave", "two", v1::TRANSPORT_WEB);
  std::string text = RenderMetrics(hub);
  EXPECT_EQ(SampleValue(text, "chat_members{transport=\"grpc\"}"), 2);
  EXPECT_EQ(SampleValue(text, "chat_members{transport=\"tcp\"}"), 1);
  EXPECT_EQ(SampleValue(text, "chat_members{transport=\"websocket\"}"), 1);
  EXPECT_EQ(SampleValue(text, "chat_rooms"), 2);
  EXPECT_EQ(SampleValue(text, "chat_rooms_held"), 2);

  c->Leave("");
  d->Leave("");
  text = RenderMetrics(hub);
  EXPECT_EQ(SampleValue(text, "chat_members{transport=\"tcp\"}"), 0);
  EXPECT_EQ(SampleValue(text, "chat_members{transport=\"websocket\"}"), 0);
  EXPECT_EQ(SampleValue(text, "chat_rooms"), 1);
  // Room two is empty, and held until its place is needed.
  EXPECT_EQ(SampleValue(text, "chat_rooms_held"), 2);
}

TEST(RenderMetricsTest, CountersMoveWithWhatTheHubDoes) {
  Hub hub(HubOptions{});
  auto a = JoinAs(&hub, "alice", "", v1::TRANSPORT_GRPC);
  const std::string before = RenderMetrics(hub);
  ASSERT_TRUE(a->Say("one", false).ok());
  ASSERT_TRUE(a->Say("two", false).ok());
  EXPECT_FALSE(a->Say("", false).ok());  // Refused: empty.
  const std::string after = RenderMetrics(hub);
  EXPECT_EQ(SampleValue(after, "chat_messages_total") -
                SampleValue(before, "chat_messages_total"),
            2);
  EXPECT_EQ(SampleValue(after, "chat_events_total") -
                SampleValue(before, "chat_events_total"),
            2);
  EXPECT_EQ(SampleValue(after, "chat_refusals_total{cause=\"bad_input\"}") -
                SampleValue(before, "chat_refusals_total{cause=\"bad_input\"}"),
            1);
}

TEST(RenderMetricsTest, ShowsEveryLabelValueFromTheStart) {
  Hub hub(HubOptions{});
  const std::string text = RenderMetrics(hub);
  for (const char* cause : {"flood", "caps", "auth", "bad_input", "name_taken",
                            "unavailable", "other"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("chat_refusals_total{cause=\"",
                                             cause, "\"}")));
  }
  for (const char* port : {"grpc", "legacy", "legacy_tls", "http", "metrics"}) {
    EXPECT_THAT(text,
                HasSubstr(absl::StrCat("chat_connections_opened_total{port=\"",
                                       port, "\"}")));
  }
  for (const char* t : {"grpc", "tcp", "websocket"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat(
                          "chat_deliveries_total{transport=\"", t, "\"}")));
  }
}

}  // namespace
}  // namespace chat

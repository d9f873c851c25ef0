// chatctl bench's report: the --json line is valid JSON whatever its texts
// hold, with the keys, order and precision the scripts read. No server.
#include "cli/bench_report.h"

#include <string>
#include <vector>

#include "cli/bench_member.h"
#include "cli/bench_options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace chat {
namespace bench {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

LoadReport SomeRun() {
  LoadReport r;
  r.join_s = 0.12345;
  r.channels = 2;
  r.expected = 2000;
  r.deliveries = 2000;
  r.sent = 400;
  r.elapsed_s = 0.5;
  for (uint64_t ns = 1000; ns <= 100000; ns += 1000) r.latency.Record(ns);
  r.server_cpu_s = 0.25;
  r.client_cpu_s = 0.125;
  r.server_pid = 1234;
  return r;
}

std::vector<std::string> Keys(const nlohmann::ordered_json& j) {
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  return keys;
}

// Before: printf("...\"failure\":\"%s\"}") put the text in as it was.
TEST(BenchReportTest, AnyFailureTextMakesValidJson) {
  Options o;
  LoadReport r = SomeRun();
  const std::string failure =
      "the server said \"no\" \\ twice\nthen\tclosed \x01 the \xff stream";
  r.failure = failure;
  const std::string line = LoadJson(o, r);
  EXPECT_THAT(line, Not(HasSubstr("\n")));
  const nlohmann::json j = nlohmann::json::parse(line);  // Throws if invalid.
  EXPECT_EQ(
      j["failure"],
      "the server said \"no\" \\ twice\nthen\tclosed \x01 the \xEF\xBF\xBD"
      " stream")
      << "escaped, and the invalid UTF-8 byte replaced";
  EXPECT_EQ(j["ok"], false);

  // A transport is checked by ParseOptions, but the JSON does not rely on it.
  o.transport = "tcp\"}";
  EXPECT_EQ(nlohmann::json::parse(LoadJson(o, r))["transport"], "tcp\"}");
}

// With several servers, three keys follow "failure"; with one, none do.
TEST(BenchReportTest, SeveralServersAddTheirSharesAndTheOrderCheck) {
  Options o;
  LoadReport r = SomeRun();
  ServerShare share;
  share.transport = "grpc";
  share.address = "127.0.0.1:1";
  share.members = 3;
  share.pid = 1234;
  r.servers = {share, share};
  r.server_pids = {1234};
  r.order_mismatch = 1;
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(LoadJson(o, r),
              HasSubstr(",\"ok\":false,\"failure\":\"\",\"servers\":[{"
                        "\"transport\":\"grpc\",\"address\":\"127.0.0.1:1\","
                        "\"members\":3,\"pid\":1234},{\"transport\":\"grpc\","
                        "\"address\":\"127.0.0.1:1\",\"members\":3,\"pid\":"
                        "1234}],\"server_pids\":[1234],\"order_mismatch\":1}"));
  r.order_mismatch = 0;
  EXPECT_TRUE(r.ok());
}

// What the one-order check compares: receivers that saw the senders'
// messages interleaved alike have one digest; another interleaving of the
// same messages, each sender's still in order, gives another.
TEST(BenchReportTest, ReceiversDigestTheInterleavingTheySaw) {
  auto text = [](uint32_t sender, uint64_t seq) {
    Stamp stamp;
    stamp.run = 7;
    stamp.sender = sender;
    stamp.seq = seq;
    std::string out;
    AppendMessageText(stamp, 64, &out);
    return out;
  };
  Receiver a(7, 2, 2), b(7, 2, 2), c(7, 2, 2);
  for (Receiver* r : {&a, &b}) {
    for (auto [sender, seq] :
         {std::pair<uint32_t, uint64_t>{0, 0}, {1, 0}, {0, 1}, {1, 1}}) {
      r->OnText(text(sender, seq), 1);
    }
  }
  for (auto [sender, seq] :
       {std::pair<uint32_t, uint64_t>{0, 0}, {0, 1}, {1, 0}, {1, 1}}) {
    c.OnText(text(sender, seq), 1);
  }
  EXPECT_EQ(c.check().out_of_order(), 0u);
  EXPECT_EQ(a.order_digest(), b.order_digest());
  EXPECT_NE(a.order_digest(), c.order_digest());
}

TEST(BenchReportTest, LoadJsonKeepsTheKeysTheirOrderAndPrecision) {
  Options o;
  o.receivers = 5;
  o.senders = 2;
  o.messages = 200;
  o.rate = 200;
  const std::string line = LoadJson(o, SomeRun());
  EXPECT_THAT(line, StartsWith("{\"transport\":\"grpc\",\"receivers\":5,"
                               "\"senders\":2,\"messages\":200,\"size\":64,"
                               "\"rate\":200,\"window\":500,\"channels\":2,"
                               "\"join_s\":0.123,\"sent\":400,"
                               "\"expected\":2000,\"deliveries\":2000,"
                               "\"elapsed_s\":0.5,\"deliveries_per_s\":4000,"
                               "\"latency_us\":{\"p50\":"));
  EXPECT_THAT(line, HasSubstr(",\"lost\":0,\"duplicated\":0,"
                              "\"out_of_order\":0,\"unknown\":0,"
                              "\"server_pid\":1234,\"server_cpu_s\":0.25,"
                              "\"server_cpu_us_per_delivery\":125.0,"
                              "\"server_cpu_s_per_million\":125.0,"
                              "\"client_cpu_s\":0.125,"
                              "\"client_cpu_us_per_delivery\":62.5,"
                              "\"ok\":true,\"failure\":\"\"}"));
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(line);
  EXPECT_THAT(Keys(j), ElementsAreArray({"transport",
                                         "receivers",
                                         "senders",
                                         "messages",
                                         "size",
                                         "rate",
                                         "window",
                                         "channels",
                                         "join_s",
                                         "sent",
                                         "expected",
                                         "deliveries",
                                         "elapsed_s",
                                         "deliveries_per_s",
                                         "latency_us",
                                         "lost",
                                         "duplicated",
                                         "out_of_order",
                                         "unknown",
                                         "server_pid",
                                         "server_cpu_s",
                                         "server_cpu_us_per_delivery",
                                         "server_cpu_s_per_million",
                                         "client_cpu_s",
                                         "client_cpu_us_per_delivery",
                                         "ok",
                                         "failure"}));
  EXPECT_THAT(Keys(j["latency_us"]),
              ElementsAreArray({"p50", "p90", "p99", "p999", "max", "mean"}));
  EXPECT_EQ(j["latency_us"]["max"], 100.0);
  EXPECT_TRUE(j["deliveries_per_s"].is_number_integer());
  EXPECT_TRUE(j["join_s"].is_number_float());

  // An unknown server CPU stays -1; a rate that is not whole stays a number.
  LoadReport r = SomeRun();
  r.server_cpu_s = -1;
  o.rate = 0.5;
  const nlohmann::json k = nlohmann::json::parse(LoadJson(o, r));
  EXPECT_EQ(k["server_cpu_s"], -1.0);
  EXPECT_EQ(k["rate"], 0.5);
}

TEST(BenchReportTest, IdleJsonKeepsTheKeysAndTheirOrder) {
  Options o;
  o.idle = true;
  o.connections = 20;
  o.rooms = 2;
  IdleReport r;
  r.connect_s = 0.01;
  r.join_s = 0.04;
  r.server_pid = 77;
  r.server_known = true;
  r.server_rss_before_kib = 10240;
  r.server_rss_after_kib = 10400;
  r.server_kib_per_member = 8;
  r.server_cpu_s = 0.0125;
  r.client_cpu_s = 0.02;
  r.client_kib_per_member = 1.234;
  EXPECT_EQ(IdleJson(o, r),
            "{\"transport\":\"grpc\",\"connections\":20,\"rooms\":2,"
            "\"connect_s\":0.01,\"join_s\":0.04,\"joins_per_s\":500,"
            "\"server_pid\":77,\"server_rss_before_kib\":10240,"
            "\"server_rss_after_kib\":10400,\"server_kib_per_member\":8.0,"
            "\"server_cpu_s\":0.013,\"client_cpu_s\":0.02,"
            "\"client_kib_per_member\":1.23,\"ok\":true}");
}

}  // namespace
}  // namespace bench
}  // namespace chat

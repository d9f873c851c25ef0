// End to end: the real chat-service binary with --metrics_addr, scraped over
// HTTP as Prometheus would. promtool (Debian's prometheus package, which
// ./dev test installs) checks the real output; the counters are checked
// against the traffic the test sends. Every wait is on an event a client
// reads, never a sleep: a delivery is counted before it is written, so once
// a client has read an event, its delivery shows in the next scrape.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/grpc_test_client.h"
#include "testing/metrics_scrape.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(20);

// GET /metrics from `addr`: the body, or "" with a test failure unless the
// answer is a 200 in the text format.
std::string Scrape(const std::string& addr) {
  absl::StatusOr<HttpAnswer> answer = HttpGet(addr, "/metrics", kTimeout);
  if (!answer.ok()) {
    ADD_FAILURE() << answer.status();
    return "";
  }
  EXPECT_EQ(answer->status, 200) << answer->head << answer->body;
  EXPECT_THAT(answer->head,
              HasSubstr("Content-Type: text/plain; version=0.0.4"));
  return answer->body;
}

// The value of the sample `series` (as the exposition spells it); a test
// failure and -1 when there is none.
double Value(const std::string& body, const std::string& series) {
  absl::StatusOr<MetricSamples> samples = ParseMetricSamples(body);
  if (!samples.ok()) {
    ADD_FAILURE() << samples.status();
    return -1;
  }
  auto it = samples->find(series);
  if (it == samples->end()) {
    ADD_FAILURE() << "no sample " << series << " in:\n" << body;
    return -1;
  }
  return it->second;
}

// A chat-service with every port on 127.0.0.1:0 and the metrics port on.
class MetricsE2eTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags) {
    server_ = ChatServiceProcess::WithTempLog(
        ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
    flags.insert(flags.begin(), "--metrics_addr=127.0.0.1:0");
    const absl::Status started = server_->Start(flags, kTimeout);
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_FALSE(server_->metrics_addr().empty()) << server_->ready_line();
    channel_ = grpc::CreateChannel(server_->grpc_addr(),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_ == nullptr || !server_->running()) return;
    int code = -1;
    EXPECT_TRUE(server_->Stop(kTimeout, &code).ok());
    EXPECT_EQ(code, 0) << server_->LogTail(20);
  }

  std::string Scrape() { return chat::Scrape(server_->metrics_addr()); }

  std::unique_ptr<ChatServiceProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(MetricsE2eTest, ReadyLineListsTheMetricsPortLast) {
  Start({});
  // The fields before it are unchanged, in their order.
  EXPECT_THAT(server_->ready_line(),
              MatchesRegex("chat-service ready grpc=127\\.0\\.0\\.1:[0-9]+ "
                           "legacy=127\\.0\\.0\\.1:[0-9]+ legacy_tls=off "
                           "http=127\\.0\\.0\\.1:[0-9]+ "
                           "metrics=127\\.0\\.0\\.1:[0-9]+"));
  EXPECT_THAT(server_->ready_line(),
              EndsWith(absl::StrCat(" metrics=", server_->metrics_addr())));
  EXPECT_NE(ChatServiceProcess::PortOf(server_->metrics_addr()), 0);
}

TEST_F(MetricsE2eTest, OffByDefault) {
  auto server = ChatServiceProcess::WithTempLog(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  ASSERT_TRUE(server->Start({}, kTimeout).ok());
  EXPECT_THAT(server->ready_line(), Not(HasSubstr("metrics")));
  EXPECT_EQ(server->metrics_addr(), "");
  int code = -1;
  EXPECT_TRUE(server->Stop(kTimeout, &code).ok());
  EXPECT_EQ(code, 0);
}

TEST_F(MetricsE2eTest, PromtoolAcceptsTheRealOutput) {
  if (access(PROMTOOL_BIN, X_OK) != 0) {
    GTEST_SKIP() << PROMTOOL_BIN << " is missing: apt-get install prometheus "
                 << "(./dev test does)";
  }
  char dir_template[] = "/tmp/chat-metrics-e2e.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  // With the store, so that its histograms hold observations too.
  Start({"--data_dir=" + dir, "--sync=every"});
  {
    TcpTestClient bob(ChatServiceProcess::PortOf(server_->legacy_addr()));
    bob.Welcome();
    GrpcTestClient alice = GrpcTestClient::Join(channel_, "alice");
    alice.Say("hello");
    alice.ReadUntil("<alice> hello");
    bob.ReadUntil("<alice> hello");
    const std::string body = Scrape();
    EXPECT_GT(Value(body, "chat_store_write_duration_seconds_count"), 0);
    std::string out, err;
    const int code = RunProgram({PROMTOOL_BIN, "check", "metrics"}, body, &out,
                                &err, kTimeout);
    EXPECT_EQ(code, 0) << out << err << "\n" << body;
    // Lint findings are printed even when the exit code is 0.
    EXPECT_EQ(out + err, "") << body;
    alice.Finish();
  }
  TearDown();
  std::filesystem::remove_all(dir);
}

TEST_F(MetricsE2eTest, CountersMoveWithTheTraffic) {
  // A burst of 40 and then one message every 1000 s: the flood limit is
  // exact whatever the machine's speed.
  Start({"--flood_rate=0.001", "--flood_burst=40"});
  constexpr int kMessages = 20;
  constexpr int kGrpcMembers = 3;

  // bob on the line port, then three gRPC members; everyone reads up to the
  // last join, so that every delivery so far is counted.
  TcpTestClient bob(ChatServiceProcess::PortOf(server_->legacy_addr()));
  bob.Welcome();
  bob.Send("/nick bob\r\n");
  bob.ReadUntil("is now known as bob");
  std::vector<GrpcTestClient> grpc;
  for (int i = 1; i <= kGrpcMembers; ++i) {
    grpc.push_back(GrpcTestClient::Join(channel_, absl::StrCat("g", i)));
  }
  // g3 read its own join when it joined.
  for (int i = 0; i < kGrpcMembers - 1; ++i) grpc[i].ReadUntil("-- g3 joined");
  bob.ReadUntil("-- g3 joined");

  const std::string before = Scrape();
  EXPECT_EQ(Value(before, "chat_members{transport=\"grpc\"}"), kGrpcMembers);
  EXPECT_EQ(Value(before, "chat_members{transport=\"tcp\"}"), 1);
  EXPECT_EQ(Value(before, "chat_members{transport=\"websocket\"}"), 0);
  EXPECT_EQ(Value(before, "chat_rooms"), 1);
  EXPECT_EQ(Value(before, "chat_grpc_streams"), kGrpcMembers);
  EXPECT_GE(Value(before, "chat_connections_opened_total{port=\"legacy\"}"), 1);
  EXPECT_GE(Value(before, "chat_connections_opened_total{port=\"grpc\"}"), 1);

  // N messages to M + 1 members: N * M gRPC deliveries (gRPC members get
  // their own back), N line-port ones of known bytes.
  uint64_t line_bytes = 0;
  for (int k = 0; k < kMessages; ++k) {
    const std::string text = absl::StrCat("m", k);
    grpc[0].Say(text);
    line_bytes += absl::StrCat("<g1> ", text, "\r\n").size();
  }
  const std::string last = absl::StrCat("<g1> m", kMessages - 1);
  for (GrpcTestClient& g : grpc) g.ReadUntil(last);
  bob.ReadUntil(last);

  const std::string after = Scrape();
  auto delta = [&](const std::string& series) {
    return Value(after, series) - Value(before, series);
  };
  EXPECT_EQ(delta("chat_deliveries_total{transport=\"grpc\"}"),
            kMessages * kGrpcMembers);
  EXPECT_EQ(delta("chat_deliveries_total{transport=\"tcp\"}"), kMessages);
  EXPECT_EQ(delta("chat_deliveries_total{transport=\"websocket\"}"), 0);
  EXPECT_EQ(delta("chat_delivered_bytes_total{transport=\"tcp\"}"), line_bytes);
  EXPECT_GT(delta("chat_delivered_bytes_total{transport=\"grpc\"}"),
            kMessages * kGrpcMembers * 4);
  EXPECT_EQ(delta("chat_events_total"), kMessages);
  EXPECT_EQ(delta("chat_messages_total"), kMessages);
  EXPECT_GE(delta("chat_outbox_depth_events_count"), kGrpcMembers + 1);
  EXPECT_EQ(delta("chat_members_dropped_too_slow_total"), 0);

  // g2 sends 42 at once: 40 pass, 2 are refused as a flood. An empty
  // message is refused as bad input.
  for (int k = 0; k < 42; ++k) grpc[1].Say(absl::StrCat("f", k));
  grpc[1].ReadUntil("!! message not sent: you are sending too fast");
  grpc[1].ReadUntil("!! message not sent: you are sending too fast");
  grpc[0].Say("");
  grpc[0].ReadUntil("!! empty message not sent");
  // g3 leaves; the others see it.
  EXPECT_TRUE(grpc[2].Finish().ok());
  grpc[0].ReadUntil("-- g3 left");

  const std::string later = Scrape();
  auto delta2 = [&](const std::string& series) {
    return Value(later, series) - Value(after, series);
  };
  EXPECT_EQ(delta2("chat_refusals_total{cause=\"flood\"}"), 2);
  EXPECT_EQ(delta2("chat_refusals_total{cause=\"bad_input\"}"), 1);
  EXPECT_EQ(delta2("chat_messages_total"), 40);
  EXPECT_EQ(Value(later, "chat_members{transport=\"grpc\"}"), kGrpcMembers - 1);
  EXPECT_GE(Value(later, "chat_connections_opened_total{port=\"metrics\"}"), 3);
  EXPECT_GT(Value(later, "process_resident_memory_bytes"), 0);
  EXPECT_GT(Value(later, "process_open_fds"), 0);
  EXPECT_GT(Value(later, "process_start_time_seconds"), 0);
}

}  // namespace
}  // namespace chat

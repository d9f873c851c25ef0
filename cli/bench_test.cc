// chatctl bench against a real chat-service on 127.0.0.1:0: tiny workloads
// over each transport must report every delivery, and bad runs must fail.
#include "cli/bench.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "chat/v1/chat.pb.h"
#include "cli/bench_ws.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/test_certs.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

// A chat-service child process on 127.0.0.1:0 for each test; addresses from
// its ready line (testing/chat_service_process.h). Its log (one line per
// join) goes to /dev/null.
class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Flood control and the per-address cap are off: a bench measures the
    // server, not the limiters.
    const absl::Status started =
        service_.Start({"--flood_rate=0", "--max_connections_per_ip=0"});
    ASSERT_TRUE(started.ok()) << "chat-service did not start: " << started;
  }

  // SIGTERM, and SIGKILL after 5 s; how it exits is not what these test.
  void TearDown() override {
    int code;
    service_.Stop(absl::Seconds(5), &code).IgnoreError();
  }

  ChatServiceProcess service_{CHAT_SERVICE_BIN};
};

// Runs "chatctl bench ARGS..." in this process; returns its exit code and
// sets *out to what it printed on stdout.
int Bench(std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), "bench");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStdout();
  const int code = RunBench(static_cast<int>(args.size()), argv.data());
  *out = ::testing::internal::GetCapturedStdout();
  return code;
}

class BenchTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_FALSE(service_.legacy_addr().empty()) << "no legacy port";
  }

  std::vector<std::string> Args(const std::string& transport) {
    return {"--transport=" + transport,
            "--server=" + service_.grpc_addr(),
            "--legacy_server=" + service_.legacy_addr(),
            absl::StrCat("--server_pid=", service_.pid()),
            "--timeout=30",
            "--noprogress",
            "--json"};
  }
};

TEST_F(BenchTest, GrpcRunDeliversEverything) {
  std::vector<std::string> args = Args("grpc");
  args.insert(args.end(), {"--receivers=5", "--senders=2", "--messages=200",
                           "--channels=2", "--room=bt-grpc"});
  std::string out;
  EXPECT_EQ(Bench(args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"deliveries\":2000,"));
  EXPECT_THAT(out, HasSubstr("\"lost\":0,"));
  EXPECT_THAT(out, HasSubstr("\"ok\":true"));
}

TEST_F(BenchTest, TcpRunDeliversEverything) {
  std::vector<std::string> args = Args("tcp");
  args.insert(args.end(), {"--receivers=5", "--senders=2", "--messages=500",
                           "--room=bt-tcp"});
  std::string out;
  EXPECT_EQ(Bench(args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"deliveries\":5000,"));
  EXPECT_THAT(out, HasSubstr("\"ok\":true"));
}

TEST_F(BenchTest, MixedRunAtARateDeliversEverything) {
  std::vector<std::string> args = Args("mixed");
  args.insert(args.end(), {"--receivers=4", "--senders=2", "--rate=200",
                           "--duration=1", "--room=bt-mixed"});
  std::string out;
  EXPECT_EQ(Bench(args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"deliveries\":800,"));
  EXPECT_THAT(out, HasSubstr("\"ok\":true"));
}

TEST_F(BenchTest, IdleMembersJoinOverBothTransports) {
  for (const char* transport : {"tcp", "grpc"}) {
    std::vector<std::string> args = Args(transport);
    args.insert(args.end(), {"--idle", "--connections=20", "--rooms=2",
                             "--hold=0", "--channels=4", "--room=bt-idle"});
    std::string out;
    EXPECT_EQ(Bench(args, &out), 0) << transport << ": " << out;
    EXPECT_THAT(out, HasSubstr("\"connections\":20,")) << transport;
  }
}

// One server listed twice (two listings, one room): members, receivers then
// senders, go round-robin over each transport's list, the report says how
// many went to each listing, and every check holds as with one address.
// Mixed: members 0, 2, ... are TCP, 1, 3, ... gRPC, so each list gets
// receivers r0/r2 (tcp) or r1/r3 (grpc), then one sender.
TEST_F(BenchTest, ServerListedTwiceSpreadsMembersAndReportsEach) {
  const std::string grpc = service_.grpc_addr();
  const std::string tcp = service_.legacy_addr();
  std::string out;
  EXPECT_EQ(Bench({"--transport=mixed", "--server=" + grpc + "," + grpc,
                   "--legacy_server=" + tcp + "," + tcp, "--receivers=4",
                   "--senders=2", "--messages=300", "--timeout=30",
                   "--room=bt-list", "--noprogress", "--json"},
                  &out),
            0)
      << out;
  const std::string pid = absl::StrCat(service_.pid());
  EXPECT_THAT(out, HasSubstr("\"deliveries\":2400,"));
  EXPECT_THAT(out, HasSubstr("\"ok\":true"));
  EXPECT_THAT(out, HasSubstr(absl::StrCat(
                       "\"servers\":[{\"transport\":\"grpc\",\"address\":\"",
                       grpc, "\",\"members\":2,\"pid\":", pid,
                       "},{\"transport\":\"grpc\",\"address\":\"", grpc,
                       "\",\"members\":1,\"pid\":", pid,
                       "},{\"transport\":\"tcp\",\"address\":\"", tcp,
                       "\",\"members\":2,\"pid\":", pid,
                       "},{\"transport\":\"tcp\",\"address\":\"", tcp,
                       "\",\"members\":1,\"pid\":", pid, "}],\"server_pids\":[",
                       pid, "],\"order_mismatch\":0}")));
  // Sampled once: the listings are one process.
  EXPECT_THAT(out, HasSubstr(absl::StrCat("\"server_pid\":", pid, ",")));

  // The summary says it too.
  EXPECT_EQ(Bench({"--server=" + grpc + "," + grpc, "--receivers=3",
                   "--senders=1", "--messages=100", "--timeout=30",
                   "--room=bt-list2", "--noprogress"},
                  &out),
            0)
      << out;
  // r0, r2 to the first listing; r1, then the sender, to the second.
  const std::string line = absl::StrCat("  server       grpc ", grpc,
                                        ": 2 members, pid ", pid, "\n");
  const size_t first = out.find(line);
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_NE(out.find(line, first + line.size()), std::string::npos) << out;
  EXPECT_THAT(out, HasSubstr("  one order    0 receivers saw another "
                             "interleaving of the senders\n"));
}

// Two independent servers share no room: the receivers on the second never
// see the first's sender. The bench says so and fails; it does not relax
// its checks for a list.
TEST_F(BenchTest, IndependentServersListedFailTheRun) {
  ChatServiceProcess other(CHAT_SERVICE_BIN);
  ASSERT_TRUE(other.Start({"--flood_rate=0"}).ok());
  ::testing::internal::CaptureStderr();
  std::string out;
  const int code =
      Bench({"--server=" + service_.grpc_addr() + "," + other.grpc_addr(),
             "--receivers=2", "--messages=10", "--timeout=2", "--room=bt-apart",
             "--noprogress", "--json"},
            &out);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(err, HasSubstr("FAILED: only 1 of 2 receivers joined"));
  EXPECT_THAT(err, HasSubstr("only if the servers share rooms"));
  int exit_code;
  other.Stop(absl::Seconds(5), &exit_code).IgnoreError();
}

// TCP members over TLS, against chat-service's TLS line port
// (--legacy_tls_addr) serving a certificate from a CA made at test time.
TEST(TlsBenchTest, TcpRunOverTheTlsLinePortDeliversEverything) {
  absl::StatusOr<std::unique_ptr<TestCerts>> certs = TestCerts::Make();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ChatServiceProcess service(CHAT_SERVICE_BIN);
  const absl::Status started = service.Start(
      {"--flood_rate=0", "--max_connections_per_ip=0",
       "--tls_cert=" + (*certs)->cert(), "--tls_key=" + (*certs)->key(),
       "--legacy_tls_addr=127.0.0.1:0"});
  ASSERT_TRUE(started.ok()) << "chat-service did not start: " << started;
  std::string legacy_tls;
  for (absl::string_view word : absl::StrSplit(service.ready_line(), ' ')) {
    if (absl::ConsumePrefix(&word, "legacy_tls=")) {
      legacy_tls = std::string(word);
    }
  }
  ASSERT_FALSE(legacy_tls.empty()) << service.ready_line();

  std::string out;
  EXPECT_EQ(Bench({"--transport=tcp", "--legacy_server=" + legacy_tls,
                   "--tls_ca=" + (*certs)->ca(), "--receivers=10",
                   "--senders=1", "--messages=500", "--room=bt-tls",
                   absl::StrCat("--server_pid=", service.pid()), "--timeout=30",
                   "--noprogress", "--json"},
                  &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("\"deliveries\":5000,"));
  EXPECT_THAT(out,
              HasSubstr("\"lost\":0,\"duplicated\":0,\"out_of_order\":0,"));
  EXPECT_THAT(out, HasSubstr("\"ok\":true"));

  // The same port without the test CA: the handshake fails, and says why.
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(Bench({"--transport=tcp", "--legacy_server=" + legacy_tls, "--tls",
                   "--receivers=2", "--messages=10", "--room=bt-tls-untrusted",
                   "--timeout=10", "--noprogress"},
                  &out),
            1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("TLS handshake failed: the server's certificate is "
                        "not trusted"));
  int code;
  service.Stop(absl::Seconds(5), &code).IgnoreError();
}

// WebSocket members, against a chat-service with an HTTP port.
class WsBenchTest : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_FALSE(service_.http_addr().empty())
        << "no HTTP port in the ready line";
  }

  std::vector<std::string> Args() {
    return {"--transport=ws",
            "--http_server=" + service_.http_addr(),
            absl::StrCat("--server_pid=", service_.pid()),
            "--timeout=30",
            "--noprogress",
            "--json"};
  }
};

TEST_F(WsBenchTest, WsRunDeliversEverything) {
  std::vector<std::string> args = Args();
  args.insert(args.end(), {"--receivers=5", "--senders=2", "--messages=500",
                           "--ws_threads=2", "--room=bt-ws"});
  std::string out;
  EXPECT_EQ(Bench(args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"deliveries\":5000,"));
  EXPECT_THAT(out, HasSubstr("\"ok\":true"));
}

TEST_F(WsBenchTest, WsRunAtARateDeliversEverything) {
  std::vector<std::string> args = Args();
  args.insert(args.end(), {"--receivers=4", "--senders=2", "--rate=200",
                           "--duration=1", "--room=bt-ws-rate"});
  std::string out;
  EXPECT_EQ(Bench(args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"deliveries\":800,"));
  EXPECT_THAT(out, HasSubstr("\"ok\":true"));
}

TEST_F(WsBenchTest, IdleWsMembersJoin) {
  std::vector<std::string> args = Args();
  args.insert(args.end(), {"--idle", "--connections=20", "--rooms=2",
                           "--hold=0", "--room=bt-ws-idle"});
  std::string out;
  EXPECT_EQ(Bench(args, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"connections\":20,"));
}

// The frames as chat-service prints them: protobuf's JSON, snake_case names,
// defaults left out, 64-bit integers as strings.
TEST(ParseWsEventTest, MessagesTakeTheScan) {
  v1::ChatResponse scratch;
  absl::string_view text;
  EXPECT_EQ(bench::ParseWsEvent(
                R"({"seq":"12","time":"2026-11-29T07:00:00.123Z",)"
                R"("message":{"sender":"b1s0","text":"B1 0 5 99 xx"}})",
                &scratch, &text),
            bench::WsEvent::kMessage);
  EXPECT_EQ(text, "B1 0 5 99 xx");
  EXPECT_EQ(scratch.event_case(), v1::ChatResponse::EVENT_NOT_SET)
      << "the scan should not have parsed";
  // An action, and an empty sender.
  EXPECT_EQ(bench::ParseWsEvent(
                R"({"seq":"1","message":{"text":"waves","action":true}})",
                &scratch, &text),
            bench::WsEvent::kMessage);
  EXPECT_EQ(text, "waves");
}

TEST(ParseWsEventTest, EscapesAndOtherEventsTakeTheParser) {
  v1::ChatResponse scratch;
  absl::string_view text;
  EXPECT_EQ(bench::ParseWsEvent(
                R"({"seq":"3","message":{"sender":"a","text":"say \"hi\"\n"}})",
                &scratch, &text),
            bench::WsEvent::kMessage);
  EXPECT_EQ(text, "say \"hi\"\n");
  // camelCase, and a field this bench does not know.
  EXPECT_EQ(bench::ParseWsEvent(R"({"welcome":{"room":"bench","name":"r1",)"
                                R"("lastSeq":"7","epoch":"e1"},"future":1})",
                                &scratch, &text),
            bench::WsEvent::kWelcome);
  EXPECT_EQ(scratch.welcome().last_seq(), 7u);
  EXPECT_EQ(
      bench::ParseWsEvent(R"({"notice":{"text":"too long"}})", &scratch, &text),
      bench::WsEvent::kNotice);
  EXPECT_EQ(text, "too long");
  EXPECT_EQ(
      bench::ParseWsEvent(R"({"seq":"4","member_joined":{"member":{"name":"x",)"
                          R"("transport":"TRANSPORT_WEB"}}})",
                          &scratch, &text),
      bench::WsEvent::kOther);
  EXPECT_EQ(bench::ParseWsEvent("not json", &scratch, &text),
            bench::WsEvent::kUnreadable);
}

TEST(AppendSayFrameTest, EscapesWhatJsonNeeds) {
  std::string frame;
  bench::AppendSayFrame("B1 0 0 5 xx", &frame);
  EXPECT_EQ(frame, R"({"say":{"text":"B1 0 0 5 xx"}})");
  frame.clear();
  bench::AppendSayFrame("a\"b\\c\td\x01", &frame);
  EXPECT_EQ(frame, R"({"say":{"text":"a\"b\\c\u0009d\u0001"}})");
  v1::ChatRequest request;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(frame, &request).ok());
  EXPECT_EQ(request.say().text(), "a\"b\\c\td\x01");
}

TEST(BenchUsageTest, BadFlagsExitTwo) {
  std::string out;
  EXPECT_EQ(Bench({"--receivers=lots"}, &out), 2);
  EXPECT_EQ(Bench({"--no_such_flag=1"}, &out), 2);
  EXPECT_EQ(Bench({"--transport=carrier-pigeon"}, &out), 2);
  EXPECT_EQ(Bench({"--transport=ws", "--ws_threads=0"}, &out), 2);
  EXPECT_EQ(Bench({"--idle"}, &out), 2);
}

TEST(BenchUsageTest, UnreachableServerFailsFast) {
  // Port 1: nobody listens there.
  const auto start = std::chrono::steady_clock::now();
  std::string out;
  EXPECT_EQ(Bench({"--transport=tcp", "--legacy_server=127.0.0.1:1",
                   "--noprogress", "--timeout=10"},
                  &out),
            1);
  EXPECT_EQ(Bench({"--transport=grpc", "--server=127.0.0.1:1", "--noprogress",
                   "--timeout=10"},
                  &out),
            1);
  EXPECT_EQ(Bench({"--transport=ws", "--http_server=127.0.0.1:1",
                   "--noprogress", "--timeout=10"},
                  &out),
            1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace chat

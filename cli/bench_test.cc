// chatctl bench against a real chat-service on 127.0.0.1:0: tiny workloads
// over each transport must report every delivery, and bad runs must fail.
#include "cli/bench.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

// A chat-service child process; addresses from its ready line.
class Service {
 public:
  Service() {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      const int null = open("/dev/null", O_WRONLY);
      if (null >= 0) dup2(null, 2);  // Its log: one line per join.
      execl(CHAT_SERVICE_BIN, CHAT_SERVICE_BIN, "--grpc_addr=127.0.0.1:0",
            "--legacy_addr=127.0.0.1:0", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::string line;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    char c;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      if (read(out[0], &c, 1) != 1) break;
      if (c == '\n') break;
      line.push_back(c);
    }
    close(out[0]);
    for (absl::string_view word : absl::StrSplit(line, ' ')) {
      if (absl::ConsumePrefix(&word, "grpc=")) grpc_ = std::string(word);
      if (absl::ConsumePrefix(&word, "legacy=")) legacy_ = std::string(word);
    }
  }

  ~Service() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  int pid() const { return pid_; }
  const std::string& grpc() const { return grpc_; }
  const std::string& legacy() const { return legacy_; }

 private:
  int pid_ = -1;
  std::string grpc_;
  std::string legacy_;
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

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(service_.grpc().empty()) << "chat-service did not start";
    ASSERT_FALSE(service_.legacy().empty()) << "no legacy port";
  }

  std::vector<std::string> Args(const std::string& transport) {
    return {"--transport=" + transport,
            "--server=" + service_.grpc(),
            "--legacy_server=" + service_.legacy(),
            absl::StrCat("--server_pid=", service_.pid()),
            "--timeout=30",
            "--noprogress",
            "--json"};
  }

  Service service_;
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

TEST(BenchUsageTest, BadFlagsExitTwo) {
  std::string out;
  EXPECT_EQ(Bench({"--receivers=lots"}, &out), 2);
  EXPECT_EQ(Bench({"--no_such_flag=1"}, &out), 2);
  EXPECT_EQ(Bench({"--transport=carrier-pigeon"}, &out), 2);
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
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace chat

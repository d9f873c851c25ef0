// chatctl bench's flags, parsed by ParseArgs (cli/args.h) like every
// command's, into checked Options. No server.
#include "cli/bench_options.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "cli/args.h"
#include "cli/bench.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace bench {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

absl::Status Parse(std::vector<std::string> args, Options* o) {
  bool help = false;
  absl::Status s = ParseOptions(args, o, &help);
  EXPECT_FALSE(help);
  return s;
}

// Runs "chatctl bench ARGS..." in this process; returns its exit code and
// sets *err to what it printed on stderr.
int Bench(std::vector<std::string> args, std::string* err) {
  args.insert(args.begin(), "bench");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::testing::internal::CaptureStderr();
  const int code = RunBench(static_cast<int>(args.size()), argv.data());
  *err = ::testing::internal::GetCapturedStderr();
  return code;
}

TEST(BenchOptionsTest, Defaults) {
  unsetenv("CHATCTL_SERVER");
  Options o;
  o.room = "changed";
  ASSERT_TRUE(Parse({}, &o).ok());
  const Options defaults;
  EXPECT_EQ(o.transport, "grpc");
  EXPECT_EQ(o.receivers, defaults.receivers);
  EXPECT_EQ(o.senders, 1);
  EXPECT_EQ(o.messages, 1000u);
  EXPECT_EQ(o.size, 64u);
  EXPECT_EQ(o.rate, 0);
  EXPECT_EQ(o.timeout, 120);
  EXPECT_EQ(o.window, 500);
  EXPECT_EQ(o.server, "127.0.0.1:50051");
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.legacy_server, "127.0.0.1:5000");
  EXPECT_EQ(o.http_server, "127.0.0.1:8080");
  EXPECT_TRUE(o.progress);
  EXPECT_FALSE(o.json);
  EXPECT_FALSE(o.idle);
  EXPECT_EQ(o.hold, 1);
  EXPECT_EQ(o.room, "bench");

  setenv("CHATCTL_SERVER", "10.0.0.1:1234", 1);
  ASSERT_TRUE(Parse({}, &o).ok());
  EXPECT_EQ(o.server, "10.0.0.1:1234");
  ASSERT_TRUE(Parse({"--server=10.0.0.2:1"}, &o).ok());
  EXPECT_EQ(o.server, "10.0.0.2:1");
  unsetenv("CHATCTL_SERVER");
}

TEST(BenchOptionsTest, ServerListsAreSplitAndEachEntryChecked) {
  unsetenv("CHATCTL_SERVER");
  Options o;
  ASSERT_TRUE(Parse({"--server=10.0.0.1:1,10.0.0.2:2,10.0.0.1:1",
                     "--legacy_server=h:5,h:6", "--transport=mixed"},
                    &o)
                  .ok());
  EXPECT_EQ(o.servers, (std::vector<std::string>{"10.0.0.1:1", "10.0.0.2:2",
                                                 "10.0.0.1:1"}));
  EXPECT_EQ(o.legacy_servers, (std::vector<std::string>{"h:5", "h:6"}));
  EXPECT_EQ(o.http_servers, (std::vector<std::string>{"127.0.0.1:8080"}));
  EXPECT_TRUE(SeveralServers(o));
  EXPECT_EQ(&ServersOf(o, Transport::kTcp), &o.legacy_servers);
  // The WebSocket list is not used by a mixed run.
  ASSERT_TRUE(Parse({"--http_server=a:1,b:2", "--transport=mixed"}, &o).ok());
  EXPECT_FALSE(SeveralServers(o));

  EXPECT_EQ(Parse({"--server=10.0.0.1:1,nope"}, &o).message(),
            "--server entry 2 \"nope\" has no port: give HOST:PORT, e.g. "
            "127.0.0.1:50051 or chat.example.org:50051");
  EXPECT_THAT(Parse({"--legacy_server=h:1,"}, &o).message(),
              HasSubstr("--legacy_server \"h:1,\" has an empty entry (2)"));
  EXPECT_THAT(Parse({"--http_server=h"}, &o).message(),
              HasSubstr("--http_server \"h\" has no port"));
  setenv("CHATCTL_SERVER", "10.0.0.1:1,x", 1);
  EXPECT_THAT(Parse({}, &o).message(),
              HasSubstr("$CHATCTL_SERVER entry 2 \"x\" has no port"));
  unsetenv("CHATCTL_SERVER");
}

TEST(BenchOptionsTest, ReadsEveryFlagAndLeavesThemAsTheyWere) {
  Options o;
  ASSERT_TRUE(Parse({"--transport=mixed",
                     "--receivers",
                     "7",
                     "--senders=3",
                     "--size=100",
                     "--rate=250.5",
                     "--duration=2s",
                     "--timeout=30",
                     "--window=64",
                     "--channels=4",
                     "--tcp_threads=2",
                     "--ws_threads=3",
                     "--join_window=10",
                     "--room=r1",
                     "--server_pid=42",
                     "--json",
                     "--noprogress",
                     "-legacy_server",
                     "h:1",
                     "--http_server=h:2"},
                    &o)
                  .ok());
  EXPECT_EQ(o.transport, "mixed");
  EXPECT_EQ(o.receivers, 7);
  EXPECT_EQ(o.senders, 3);
  EXPECT_EQ(o.size, 100u);
  EXPECT_EQ(o.rate, 250.5);
  EXPECT_EQ(o.duration, 2);
  EXPECT_EQ(o.messages, 167u) << "--rate x --duration / --senders, rounded";
  EXPECT_EQ(o.timeout, 30);
  EXPECT_EQ(o.window, 64);
  EXPECT_EQ(o.channels, 4);
  EXPECT_EQ(o.tcp_threads, 2);
  EXPECT_EQ(o.ws_threads, 3);
  EXPECT_EQ(o.join_window, 10);
  EXPECT_EQ(o.room, "r1");
  EXPECT_EQ(o.server_pid, 42);
  EXPECT_TRUE(o.json);
  EXPECT_FALSE(o.progress);
  EXPECT_EQ(o.legacy_server, "h:1");
  EXPECT_EQ(o.http_server, "h:2");
  // The next run starts from the defaults (a test runs many in a process).
  EXPECT_FALSE(absl::GetFlag(FLAGS_json));
  EXPECT_EQ(absl::GetFlag(FLAGS_room), "");
  ASSERT_TRUE(Parse({}, &o).ok());
  EXPECT_EQ(o.transport, "grpc");
  EXPECT_TRUE(o.progress);

  ASSERT_TRUE(
      Parse({"--idle", "--connections=20", "--rooms=2", "--hold=0"}, &o).ok());
  EXPECT_TRUE(o.idle);
  EXPECT_EQ(o.connections, 20);
  EXPECT_EQ(o.rooms, 2);
  EXPECT_EQ(o.hold, 0);
}

TEST(BenchOptionsTest, HelpLeavesTheOptions) {
  Options o;
  o.receivers = 99;
  bool help = false;
  ASSERT_TRUE(ParseOptions({"--receivers=1", "--help"}, &o, &help).ok());
  EXPECT_TRUE(help);
  EXPECT_EQ(o.receivers, 99);
}

TEST(BenchOptionsTest, SaysWhatIsWrong) {
  struct Case {
    std::vector<std::string> args;
    const char* problem;
  };
  for (const Case& c : std::vector<Case>{
           {{"--receivers=lots"}, "--receivers: "},
           {{"--no_such_flag=1"}, "unknown flag --no_such_flag"},
           {{"--name=x"}, "unknown flag --name"},
           {{"extra"}, "unexpected argument \"extra\""},
           {{"--transport=carrier-pigeon"}, "--transport must be"},
           {{"--transport=ws", "--ws_threads=0"}, "--ws_threads must be"},
           {{"--tcp_threads=65"}, "--tcp_threads must be"},
           {{"--senders=0"}, "--senders must be"},
           {{"--messages=0"}, "--messages must be"},
           {{"--size=0"}, "--size must be"},
           {{"--rate=-1"}, "--rate must be"},
           {{"--duration=0"}, "--duration must be"},
           {{"--duration=1"}, "--duration needs --rate"},
           {{"--timeout=0s"}, "--timeout must be"},
           {{"--timeout=soon"}, "--timeout: "},
           {{"--window=0"}, "--window must be"},
           {{"--room="}, "--room must not be empty"},
           {{"--idle"}, "--idle needs --connections=N"},
           {{"--connections=0"}, "--connections must be"},
           {{"--receivers=0"}, "--receivers must be at least 1"},
           {{"--tls_ca=/no/such/ca.pem"}, "--tls_ca /no/such/ca.pem"},
           {{"--window"}, "--window needs a value"}}) {
    Options o;
    const absl::Status s = Parse(c.args, &o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.args[0];
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.problem)) << c.args[0];
  }
}

// Bad usage reads as it does for every other command: the problem, then the
// usage line; exit 2.
TEST(BenchOptionsTest, BadUsageHasTheFormOfEveryCommand) {
  std::string err;
  EXPECT_EQ(Bench({"--no_such_flag=1"}, &err), 2);
  EXPECT_THAT(err, StartsWith("chatctl bench: unknown flag --no_such_flag\n"
                              "usage: chatctl bench [--transport="));
  EXPECT_THAT(err, Not(HasSubstr("Simulates"))) << "the usage, not the help";
  EXPECT_EQ(Bench({"--receivers=lots"}, &err), 2);
  EXPECT_THAT(err, StartsWith("chatctl bench: --receivers: "));
}

TEST(BenchOptionsTest, HelpIsTheSynopsisAndTheFlags) {
  ::testing::internal::CaptureStdout();
  std::string err;
  EXPECT_EQ(Bench({"--help"}, &err), 0);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_THAT(out, StartsWith("usage: chatctl bench [--transport=grpc|tcp|ws|"
                              "mixed] [--receivers=N]\n"));
  EXPECT_THAT(out, HasSubstr("         [--http_server=...]\nSimulates a room"));
  EXPECT_THAT(out, HasSubstr("\nExit status: 0 every delivery checked"));
  // Every flag the help names is one bench takes.
  for (const std::string flag : BenchCommand().flags) {
    EXPECT_THAT(out, AnyOf(HasSubstr("--" + flag), HasSubstr("--no" + flag)))
        << flag;
  }
}

}  // namespace
}  // namespace bench
}  // namespace chat

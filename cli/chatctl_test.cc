// End-to-end tests: the real chatctl binary against a real chat-service, in
// pipe mode, and in a real terminal (tmux). Binaries come from CMake
// (CHATCTL_BIN, CHAT_SERVICE_BIN). Every wait polls a condition with a
// timeout.
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/redis_server.h"
#include "testing/tcp_proxy.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::ContainerEq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr absl::Duration kTimeout = absl::Seconds(15);

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// The seq of an event printed by --json ("seq":"12"), 0 if none.
uint64_t SeqOf(const std::string& json) {
  const std::string key = R"("seq":")";
  const size_t at = json.find(key);
  uint64_t seq = 0;
  if (at == std::string::npos) return 0;
  const size_t start = at + key.size();
  if (!absl::SimpleAtoi(json.substr(start, json.find('"', start) - start),
                        &seq)) {
    return 0;
  }
  return seq;
}

// Flood control is off unless a test turns it on (`extra` comes last, and
// the last value of a flag wins): most tests pipe hundreds of lines, which
// chatctl would pace to the default 5 a second.
std::vector<std::string> ServerFlags(const std::string& addr,
                                     const std::vector<std::string>& extra) {
  std::vector<std::string> flags = {"--grpc_addr=" + addr, "--legacy_addr=",
                                    "--http_addr=", "--flood_rate=0"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return flags;
}

// chat-service run to its end with ServerFlags (for a start that fails).
std::vector<std::string> ServerArgs(const std::string& addr,
                                    const std::vector<std::string>& extra) {
  std::vector<std::string> args = ServerFlags(addr, extra);
  args.insert(args.begin(), CHAT_SERVICE_BIN);
  return args;
}

// A chat-service on a free port, legacy port off
// (testing/chat_service_process.h); its stderr in a temporary log.
class Server {
 public:
  // `addr`: "127.0.0.1:0" for a free port, or a port to reuse. `extra`:
  // more chat-service flags.
  explicit Server(const std::string& addr = "127.0.0.1:0",
                  const std::vector<std::string>& extra = {})
      : process_(ChatServiceProcess::WithTempLog(CHAT_SERVICE_BIN)) {
    const absl::Status started =
        process_->Start(ServerFlags(addr, extra), kTimeout);
    EXPECT_TRUE(started.ok()) << "chat-service did not get ready: " << started;
    // "chat-service ready grpc=127.0.0.1:PORT legacy=off http=off"
    address_ = process_->grpc_addr();
    EXPECT_FALSE(address_.empty()) << process_->ready_line();
  }
  ~Server() { Stop(); }

  const std::string& address() const { return address_; }
  const std::string& legacy_address() const { return process_->legacy_addr(); }

  void Stop() {
    if (!process_->running()) return;
    int code = -1;
    const absl::Status stopped = process_->Stop(kTimeout, &code);
    EXPECT_EQ(code, 0) << stopped << "\n" << process_->LogTail(20);
  }

  // A crash: SIGKILL, no shutdown of any kind.
  void Kill() {
    if (!process_->running()) return;
    EXPECT_EQ(process_->Kill(), 128 + SIGKILL);
  }

 private:
  std::unique_ptr<ChatServiceProcess> process_;
  std::string address_;
};

class ChatctlTest : public ::testing::Test {
 protected:
  // Runs chatctl with `args` and `input` to completion.
  int Chatctl(std::vector<std::string> args, const std::string& input = "",
              std::string* out = nullptr, std::string* err = nullptr,
              const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), CHATCTL_BIN);
    std::string o, e;
    const int code = RunProgram(args, input, &o, &e, kTimeout, env);
    if (out != nullptr) *out = o;
    if (err != nullptr) *err = e;
    return code;
  }

  // Appends to *texts the text of every message `server` holds in the lobby
  // after seq `after`, oldest first, read a page of 1000 at a time.
  void ReadHistory(const std::string& server, uint64_t after,
                   std::vector<std::string>* texts) {
    for (;;) {
      std::string out, err;
      std::vector<std::string> args = {"history", "--server", server,
                                       "--json",  "--last",   "1000"};
      args.push_back(absl::StrCat("--after=", after));
      ASSERT_EQ(Chatctl(args, "", &out, &err), 0) << err;
      const std::vector<std::string> page = Lines(out);
      if (page.empty()) return;
      for (const std::string& json : page) {
        const std::string key = R"("text":")";
        const size_t at = json.find(key) + key.size();
        texts->push_back(json.substr(at, json.find('"', at) - at));
        after = SeqOf(json);
      }
    }
  }

  std::string ServerFlag() const { return "--server=" + server_.address(); }

  // Starts `chatctl join` in pipe mode and waits for its own join.
  std::unique_ptr<Subprocess> Join(const std::string& name,
                                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {CHATCTL_BIN, "join", "--name", name,
                                     ServerFlag()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto p = std::make_unique<Subprocess>(args);
    EXPECT_TRUE(p->WaitForOutput(
        [&name](const std::string& out, const std::string&) {
          return out.find("-- " + name + " joined") != std::string::npos ||
                 out.find(R"("member_joined")") != std::string::npos;
        },
        kTimeout))
        << p->err();
    return p;
  }

  Server server_;
};

TEST_F(ChatctlTest, PipeJoinPostsEveryLineAndExitsZero) {
  std::string out, err;
  EXPECT_EQ(
      Chatctl({"join", "--name", "p", ServerFlag()}, "a\nb\n", &out, &err), 0)
      << err;
  EXPECT_THAT(Lines(out), ContainerEq(std::vector<std::string>{
                              "-- you are p in room lobby, alone so far",
                              "-- p joined", "<p> a", "<p> b"}));
  EXPECT_THAT(err, IsEmpty());

  // Both were sequenced before chatctl left.
  EXPECT_EQ(Chatctl({"history", ServerFlag()}, "", &out), 0);
  EXPECT_THAT(Lines(out),
              ContainerEq(std::vector<std::string>{"<p> a", "<p> b"}));
}

// With the server's default flood control (5 a second after a burst of 10),
// a pipe faster than that is paced by chatctl from the limits in the
// welcome: every line is posted, none is refused, nobody is disconnected.
TEST_F(ChatctlTest, PipeModeKeepsUnderTheServersFloodLimits) {
  Server server("127.0.0.1:0", {"--flood_rate=5", "--flood_burst=10"});
  std::string input;
  for (int i = 0; i < 25; ++i) absl::StrAppend(&input, "paced ", i, "\n");
  std::string out, err;
  const absl::Time start = absl::Now();
  EXPECT_EQ(Chatctl({"join", "--name", "paced",
                     absl::StrCat("--server=", server.address())},
                    input, &out, &err),
            0)
      << err;
  // 25 lines at 5 a second after a burst: at least 2 s (an upper bound would
  // measure the machine).
  EXPECT_GE(absl::Now() - start, absl::Seconds(2));
  EXPECT_THAT(err, IsEmpty());
  EXPECT_THAT(out, ::testing::Not(HasSubstr("!!")));
  EXPECT_EQ(Chatctl({"history", "--last=100",
                     absl::StrCat("--server=", server.address())},
                    "", &out),
            0);
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i)
    expected.push_back(absl::StrCat("<paced> paced ", i));
  EXPECT_THAT(Lines(out), ContainerEq(expected));
}

TEST_F(ChatctlTest, PipeJoinWithoutFinalNewlineAndManyLines) {
  std::string input;
  for (int i = 0; i < 300; ++i) absl::StrAppend(&input, "line ", i, "\n");
  input += "last without newline";
  std::string out, err;
  EXPECT_EQ(
      Chatctl({"join", "--name", "many", ServerFlag()}, input, &out, &err), 0)
      << err;
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 2u + 301u) << out;
  EXPECT_EQ(lines[2], "<many> line 0");
  EXPECT_EQ(lines[301], "<many> line 299");
  EXPECT_EQ(lines[302], "<many> last without newline");
}

TEST_F(ChatctlTest, PipeJoinSeesOthersAndRunsCommands) {
  std::unique_ptr<Subprocess> watcher = Join("watcher");
  std::string err;
  EXPECT_EQ(Chatctl({"send", "--name", "bob", ServerFlag(), "hi", "watcher"},
                    "", nullptr, &err),
            0)
      << err;
  EXPECT_TRUE(watcher->WaitForStdout("<bob> hi watcher\n", kTimeout))
      << watcher->out();

  watcher->Write("/me waves\n/nick w2\n");
  EXPECT_TRUE(
      watcher->WaitForStdout("-- watcher is now known as w2\n", kTimeout))
      << watcher->out();
  watcher->Write("/who\nafter rename\n");
  EXPECT_TRUE(watcher->WaitForStdout("<w2> after rename\n", kTimeout))
      << watcher->out();
  watcher->CloseStdin();
  EXPECT_EQ(watcher->Wait(kTimeout), 0) << watcher->err();
  EXPECT_THAT(watcher->out(),
              HasSubstr("-- bob joined\n<bob> hi watcher\n-- bob left\n"
                        "* watcher waves\n"
                        "-- watcher is now known as w2\n"
                        "-- 1 in room lobby: w2\n"
                        "<w2> after rename\n"));
}

TEST_F(ChatctlTest, SlashJoinMovesToAnotherRoom) {
  std::string out, err;
  EXPECT_EQ(Chatctl({"join", "--name", "mover", ServerFlag()},
                    "/join #Dev\nin dev\n", &out, &err),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("-- you are mover in room dev, alone so far\n"
                             "-- mover joined\n"
                             "<mover> in dev\n"));
  EXPECT_EQ(Chatctl({"history", "--room", "dev", ServerFlag()}, "", &out), 0);
  EXPECT_EQ(out, "<mover> in dev\n");
  EXPECT_EQ(Chatctl({"history", ServerFlag()}, "", &out), 0);
  EXPECT_EQ(out, "");
}

TEST_F(ChatctlTest, PipeJoinBadCommandSaysWhyOnStderrAndGoesOn) {
  std::string out, err;
  EXPECT_EQ(Chatctl({"join", "--name", "c", ServerFlag()}, "/frob\n/nick\nok\n",
                    &out, &err),
            0);
  EXPECT_THAT(err, HasSubstr("chatctl: unknown command /frob"));
  EXPECT_THAT(err, HasSubstr("chatctl: usage: /nick NAME"));
  EXPECT_THAT(out, HasSubstr("<c> ok\n"));
}

TEST_F(ChatctlTest, JsonPrintsOneObjectPerEvent) {
  std::string out, err;
  EXPECT_EQ(Chatctl({"join", "--name", "j", "--json", ServerFlag()}, "x\n",
                    &out, &err),
            0)
      << err;
  std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 3u) << out;
  for (const std::string& line : lines) {
    EXPECT_THAT(line, StartsWith("{"));
    EXPECT_EQ(line.back(), '}');
  }
  EXPECT_THAT(lines[0], HasSubstr(R"("welcome":{"room":"lobby","name":"j")"));
  // With the client_id chatctl gave it, which the server echoes.
  EXPECT_THAT(lines[2],
              HasSubstr(R"("message":{"sender":"j","text":"x","client_id":")"));
}

TEST_F(ChatctlTest, HistoryReplaysBeforeLiveEvents) {
  ASSERT_EQ(Chatctl({"send", "--name", "old", ServerFlag(), "one"}), 0);
  ASSERT_EQ(Chatctl({"send", "--name", "old", ServerFlag(), "two"}), 0);
  std::string out;
  EXPECT_EQ(Chatctl({"join", "--name", "h", "--history", "1", ServerFlag()}, "",
                    &out),
            0);
  EXPECT_THAT(Lines(out), ContainerEq(std::vector<std::string>{
                              "-- you are h in room lobby, alone so far",
                              "<old> two", "-- h joined"}));
}

TEST_F(ChatctlTest, SendWhoHistory) {
  std::unique_ptr<Subprocess> alice = Join("alice", {"--room", "dev"});
  std::string out, err;
  EXPECT_EQ(Chatctl({"send", "--name", "bob", "--room", "#dev", ServerFlag(),
                     "hello", "dev"},
                    "", &out, &err),
            0)
      << err;
  EXPECT_THAT(out, IsEmpty());
  EXPECT_TRUE(alice->WaitForStdout("<bob> hello dev\n", kTimeout));

  EXPECT_EQ(Chatctl({"who", "--room", "dev", ServerFlag()}, "", &out), 0);
  EXPECT_EQ(out, "alice grpc\n");
  EXPECT_EQ(Chatctl({"who", ServerFlag()}, "", &out), 0);
  EXPECT_EQ(out, "");  // Nobody in the lobby.
  EXPECT_EQ(Chatctl({"who", "--room", "dev", "--json", ServerFlag()}, "", &out),
            0);
  EXPECT_THAT(out, HasSubstr(R"("members":[{"name":"alice")"));

  EXPECT_EQ(Chatctl({"history", "--room", "dev", "--last", "1", ServerFlag()},
                    "", &out),
            0);
  EXPECT_EQ(out, "<bob> hello dev\n");
  EXPECT_EQ(Chatctl({"history", "--room", "dev", "--timestamps",
                     "--color=never", ServerFlag()},
                    "", &out),
            0);
  EXPECT_THAT(out, testing::MatchesRegex(
                       R"(\[[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\] <bob> hello dev
)"));
  alice->CloseStdin();
  EXPECT_EQ(alice->Wait(kTimeout), 0);
}

TEST_F(ChatctlTest, ServerFromEnvironment) {
  std::string out;
  EXPECT_EQ(Chatctl({"send", "--name", "env", "hi"}, "", nullptr, nullptr,
                    {"CHATCTL_SERVER=" + server_.address()}),
            0);
  EXPECT_EQ(Chatctl({"history"}, "", &out, nullptr,
                    {"CHATCTL_SERVER=" + server_.address()}),
            0);
  EXPECT_EQ(out, "<env> hi\n");
}

TEST_F(ChatctlTest, TakenNameIsAClearError) {
  std::unique_ptr<Subprocess> bob = Join("bob");
  std::string err;
  EXPECT_EQ(
      Chatctl({"send", "--name", "Bob", ServerFlag(), "x"}, "", nullptr, &err),
      1);
  EXPECT_EQ(err, "chatctl: name \"Bob\" is taken in room lobby\n");
  EXPECT_EQ(Chatctl({"join", "--name", "bob", ServerFlag()}, "", nullptr, &err),
            1);
  EXPECT_EQ(err, "chatctl: name \"bob\" is taken in room lobby\n");
}

TEST_F(ChatctlTest, RefusedMessageFailsSend) {
  std::string err;
  EXPECT_EQ(
      Chatctl({"send", "--name", "long", ServerFlag(), std::string(5000, 'x')},
              "", nullptr, &err),
      1);
  EXPECT_THAT(err, HasSubstr("4096"));
}

TEST_F(ChatctlTest, UnreachableServerFailsFastWithExitOne) {
  // A port nobody listens on: take a free one from a server, then stop it.
  Server gone;
  const std::string address = gone.address();
  gone.Stop();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"join", "--name", "x", "--server", address},
           {"send", "--name", "x", "--server", address, "hi"},
           {"who", "--server", address},
           {"history", "--server", address}}) {
    std::string err;
    const absl::Time start = absl::Now();
    EXPECT_EQ(Chatctl(args, "", nullptr, &err), 1) << args[0];
    EXPECT_LT(absl::Now() - start, absl::Seconds(7)) << args[0];
    EXPECT_EQ(err, absl::StrCat("chatctl: cannot reach chat-service at ",
                                address, " (connection refused)\n"))
        << args[0];
  }
}

TEST_F(ChatctlTest, BadUsageExitsTwoWithTheUsageLine) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {},
           {"frob"},
           {"join"},
           {"join", "--name", "x", "--bogus"},
           {"join", "--name", "x", "--color=pink"},
           {"join", "--name", "x", "--history=lots"},
           {"join", "--name", "x", "extra"},
           {"send", "--name", "x"},
           {"send", "hi"},
           {"who", "--last", "3"},
           {"history", "--name"},
           {"history", "--before", "abc"},
           {"history", "--after", "-1"},
           {"history", "--before", "0"},
           {"history", "--before", "5", "--after", "3"},
           {"bench", "--bogus"},
           {"bench", "--receivers=lots"},
           {"bench", "--name", "x"},
           {"bench", "extra"}}) {
    std::string out, err;
    EXPECT_EQ(Chatctl(args, "", &out, &err), 2) << absl::StrJoin(args, " ");
    EXPECT_THAT(err, HasSubstr("usage: chatctl")) << absl::StrJoin(args, " ");
  }
}

TEST_F(ChatctlTest, HelpExplainsEachCommand) {
  std::string out;
  EXPECT_EQ(Chatctl({"--help"}, "", &out), 0);
  for (const char* c : {"join", "send", "who", "history", "bench"}) {
    EXPECT_THAT(out, HasSubstr(c));
  }
  for (const char* c : {"join", "send", "who", "history"}) {
    EXPECT_EQ(Chatctl({"help", c}, "", &out), 0);
    EXPECT_THAT(out, StartsWith(absl::StrCat("usage: chatctl ", c)));
    EXPECT_EQ(Chatctl({c, "--help"}, "", &out), 0);
    EXPECT_THAT(out, StartsWith(absl::StrCat("usage: chatctl ", c)));
  }
  EXPECT_EQ(Chatctl({"help", "join"}, "", &out), 0);
  EXPECT_THAT(out, HasSubstr("--timestamps"));
  EXPECT_EQ(Chatctl({"help", "history"}, "", &out), 0);
  EXPECT_THAT(out, HasSubstr("[--before SEQ | --after SEQ]"));
  EXPECT_THAT(out, HasSubstr("--after"));
}

TEST_F(ChatctlTest, BadHistoryPageSaysWhy) {
  std::string err;
  EXPECT_EQ(
      Chatctl({"history", "--before", "5", "--after", "3"}, "", nullptr, &err),
      2);
  EXPECT_THAT(err, StartsWith("chatctl history: give --before or --after, "
                              "not both\n"));
  EXPECT_EQ(Chatctl({"history", "--before", "abc"}, "", nullptr, &err), 2);
  EXPECT_THAT(err, StartsWith("chatctl history: --before: "));
}

// Texts (and seqs, from --json) of a history page.
struct Page {
  std::vector<std::string> texts;
  std::vector<uint64_t> seqs;
  std::string err;
};

TEST_F(ChatctlTest, HistoryPagesThroughEverythingHeld) {
  std::string input;
  for (int i = 1; i <= 30; ++i) absl::StrAppend(&input, "m", i, "\n");
  std::string out, err;
  ASSERT_EQ(
      Chatctl({"join", "--name", "pager", ServerFlag()}, input, &out, &err), 0)
      << err;
  // One page: plain text on stdout, the same page's seqs from --json.
  auto page = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "history");
    args.push_back(ServerFlag());
    Page p;
    std::string text;
    EXPECT_EQ(Chatctl(args, "", &text, &p.err), 0) << p.err;
    for (const std::string& line : Lines(text)) {
      p.texts.push_back(std::string(absl::StripPrefix(line, "<pager> ")));
    }
    args.push_back("--json");
    std::string json, json_err;
    EXPECT_EQ(Chatctl(args, "", &json, &json_err), 0) << json_err;
    EXPECT_EQ(json_err, p.err);  // The hint does not depend on the format.
    for (const std::string& line : Lines(json)) p.seqs.push_back(SeqOf(line));
    EXPECT_EQ(p.seqs.size(), p.texts.size()) << json;
    return p;
  };
  auto texts = [](int from, int to) {
    std::vector<std::string> t;
    for (int i = from; i <= to; ++i) t.push_back(absl::StrCat("m", i));
    return t;
  };
  const std::string hint_prefix =
      absl::StrCat("chatctl history --server ", server_.address());

  // The last ten, and a hint on stderr where the older ones are.
  const Page last = page({"--last", "10"});
  ASSERT_THAT(last.texts, ContainerEq(texts(21, 30)));
  for (size_t i = 1; i < last.seqs.size(); ++i) {
    EXPECT_LT(last.seqs[i - 1], last.seqs[i]);
  }
  EXPECT_EQ(last.err, absl::StrCat("(older messages: ", hint_prefix,
                                   " --before ", last.seqs[0], ")\n"));

  // The page before it, as the hint says.
  const Page older =
      page({"--last", "10", "--before", absl::StrCat(last.seqs[0])});
  ASSERT_THAT(older.texts, ContainerEq(texts(11, 20)));
  EXPECT_LT(older.seqs.back(), last.seqs[0]);
  EXPECT_EQ(older.err, absl::StrCat("(older messages: ", hint_prefix,
                                    " --before ", older.seqs[0], ")\n"));

  // The first page: older events are held (pager's join), older messages
  // are not, so no hint.
  const Page first =
      page({"--last", "0", "--before", absl::StrCat(older.seqs[0])});
  EXPECT_THAT(first.texts, ContainerEq(texts(1, 10)));
  EXPECT_EQ(first.err, "");
  const Page none = page({"--before", absl::StrCat(first.seqs[0])});
  EXPECT_THAT(none.texts, IsEmpty());
  EXPECT_EQ(none.err, "");

  // Forwards: the oldest N after a seq, and a hint where the newer ones are.
  const Page after =
      page({"--last", "5", "--after", absl::StrCat(older.seqs.back())});
  ASSERT_THAT(after.texts, ContainerEq(texts(21, 25)));
  EXPECT_EQ(after.err, absl::StrCat("(newer messages: ", hint_prefix,
                                    " --after ", after.seqs.back(), ")\n"));
  const Page rest = page({"--after", absl::StrCat(after.seqs.back())});
  EXPECT_THAT(rest.texts, ContainerEq(texts(26, 30)));
  EXPECT_EQ(rest.err, "");
  const Page beyond = page({"--after", absl::StrCat(rest.seqs.back())});
  EXPECT_THAT(beyond.texts, IsEmpty());

  // Everything, in one page.
  const Page all = page({"--last", "0"});
  EXPECT_THAT(all.texts, ContainerEq(texts(1, 30)));
  EXPECT_EQ(all.err, "");
}

TEST_F(ChatctlTest, ReconnectsAfterTheServerRestarts) {
  // A server of our own, to restart on the same port.
  auto server = std::make_unique<Server>();
  const std::string address = server->address();
  auto p = std::make_unique<Subprocess>(std::vector<std::string>{
      CHATCTL_BIN, "join", "--name", "r", "--server", address});
  ASSERT_TRUE(p->WaitForStdout("-- r joined\n", kTimeout)) << p->err();
  p->Write("before\n");
  ASSERT_TRUE(p->WaitForStdout("<r> before\n", kTimeout));

  server->Stop();
  EXPECT_TRUE(p->WaitForStderr(
      "chatctl: chat-service is shutting down; reconnecting\n", kTimeout))
      << p->err();
  server = std::make_unique<Server>(address);
  EXPECT_TRUE(
      p->WaitForStderr("chatctl: reconnected to chat-service at ", kTimeout))
      << p->err();
  p->Write("after\n");
  EXPECT_TRUE(p->WaitForStdout("<r> after\n", kTimeout)) << p->out();
  // The new server has no history (a new epoch): chatctl is told so.
  EXPECT_THAT(p->out(), HasSubstr("history was reset"));
  p->CloseStdin();
  EXPECT_EQ(p->Wait(kTimeout), 0) << p->err();
}

// The number N of each "<p> line N" in `text`, in order.
std::vector<int> LineNumbers(const std::string& text) {
  std::vector<int> numbers;
  for (const std::string& line : Lines(text)) {
    int n;
    if (absl::StartsWith(line, "<p> line ") &&
        absl::SimpleAtoi(absl::StripPrefix(line, "<p> line "), &n)) {
      numbers.push_back(n);
    }
  }
  return numbers;
}

// chat-service --data_dir keeps history and seqs (and the epoch, and the
// client_ids of recent messages) across a crash. chatctl, piping lines while
// the server is killed and restarted on the same port, keeps its promise
// (session.h): every line is posted exactly once, in order, and it exits 0.
TEST_F(ChatctlTest, PipeJoinAcrossAKilledServerWithDataDir) {
  std::string dir = absl::StrCat(::testing::TempDir(), "chatctl-data-XXXXXX");
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string data_flag = "--data_dir=" + dir;
  auto server = std::make_unique<Server>("127.0.0.1:0",
                                         std::vector<std::string>{data_flag});
  const std::string address = server->address();
  ASSERT_FALSE(address.empty())
      << "chat-service " << data_flag << " did not start (no --data_dir?)";

  Subprocess p({CHATCTL_BIN, "join", "--name", "p", "--server", address});
  ASSERT_TRUE(p.WaitForStdout("-- p joined\n", kTimeout)) << p.err();
  // Lines 0-19 one at a time, each seen back: sequenced and stored.
  for (int i = 0; i < 20; ++i) {
    p.Write(absl::StrCat("line ", i, "\n"));
    ASSERT_TRUE(p.WaitForStdout(absl::StrCat("<p> line ", i, "\n"), kTimeout))
        << p.err();
  }
  // Lines 20-39 in one go, and the server dies while they are in flight.
  std::string burst;
  for (int i = 20; i < 40; ++i) absl::StrAppend(&burst, "line ", i, "\n");
  p.Write(burst);
  server->Kill();
  server =
      std::make_unique<Server>(address, std::vector<std::string>{data_flag});
  ASSERT_EQ(server->address(), address);
  ASSERT_TRUE(
      p.WaitForStderr("chatctl: reconnected to chat-service at ", kTimeout))
      << p.err();
  for (int i = 40; i < 60; ++i) {
    p.Write(absl::StrCat("line ", i, "\n"));
  }
  p.CloseStdin();
  ASSERT_EQ(p.Wait(kTimeout), 0) << p.err();
  EXPECT_THAT(p.err(), testing::Not(HasSubstr("not sent")));

  std::string out, err;
  ASSERT_EQ(
      Chatctl({"history", "--last", "0", "--server", address}, "", &out, &err),
      0)
      << err;
  // The same history: the restarted server did not reset it.
  EXPECT_THAT(p.out(), testing::Not(HasSubstr("history was reset")));
  // p saw exactly what the server holds: nothing twice, nothing missed.
  EXPECT_THAT(LineNumbers(p.out()), ContainerEq(LineNumbers(out))) << p.out();
  // Every line, once, in order.
  std::vector<int> all(60);
  for (int i = 0; i < 60; ++i) all[i] = i;
  EXPECT_THAT(LineNumbers(out), ContainerEq(all))
      << "held: " << out << "\nstderr: " << p.err();
  server.reset();
  RunProgram({"/bin/rm", "-rf", dir}, "", nullptr, nullptr);
}

// What a TCP user (nc) sees of the room, read on a thread of its own so
// that it keeps up while the test waits for something else.
class TcpObserver {
 public:
  explicit TcpObserver(int port) : client_(port) {
    client_.Welcome();
    reader_ = std::thread([this] {
      while (std::optional<std::string> line =
                 client_.ReadLine(absl::Seconds(120))) {
        absl::MutexLock lock(&mu_);
        lines_.push_back(*std::move(line));
      }
      absl::MutexLock lock(&mu_);
      closed_ = true;
    });
  }
  ~TcpObserver() {
    client_.ShutdownWrite();  // The server closes; the reader ends.
    reader_.join();
  }

  // Waits until a line equal to `line` arrives; returns every line so far.
  bool WaitFor(const std::string& line,
               absl::Duration timeout = absl::Seconds(60)) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed_ ||
             std::find(lines_.begin(), lines_.end(), line) != lines_.end();
    };
    mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
    return std::find(lines_.begin(), lines_.end(), line) != lines_.end();
  }

  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  TcpTestClient client_;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// The texts `name` posted, in the order seen, from a TCP user's lines.
std::vector<std::string> PostedBy(const std::vector<std::string>& lines,
                                  const std::string& name) {
  std::vector<std::string> texts;
  const std::string prefix = "<" + name + "> ";
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, prefix))
      texts.push_back(line.substr(prefix.size()));
  }
  return texts;
}

std::vector<std::string> Numbers(int first, int last) {
  std::vector<std::string> out;
  for (int i = first; i <= last; ++i) out.push_back(absl::StrCat(i));
  return out;
}

// `seq 1 COUNT | chatctl join ARGS`, run on a thread (it prints every
// line, which must be read while the test reads elsewhere).
class PipeRun {
 public:
  PipeRun(int count, const std::vector<std::string>& args) {
    std::string command =
        absl::StrCat("seq 1 ", count, " | exec ", CHATCTL_BIN);
    for (const std::string& a : args) absl::StrAppend(&command, " '", a, "'");
    thread_ = std::thread([this, command] {
      code_ = RunProgram({"/bin/sh", "-c", command}, "", &out_, &err_,
                         absl::Seconds(120));
    });
  }
  // The exit code; the run's output in *out and *err.
  int Wait(std::string* out = nullptr, std::string* err = nullptr) {
    if (thread_.joinable()) thread_.join();
    if (out != nullptr) *out = out_;
    if (err != nullptr) *err = err_;
    return code_;
  }
  ~PipeRun() { Wait(); }

 private:
  std::thread thread_;
  int code_ = -1;
  std::string out_, err_;
};

// The issue's first finding: 20000 lines piped in as fast as they come. Each
// lands once, in order; chatctl is not dropped as too slow by its own
// echoes, and a TCP user in the room is not disturbed.
TEST_F(ChatctlTest, PipeOfTwentyThousandLinesLandsEachOnceInOrder) {
  Server server("127.0.0.1:0", {"--legacy_addr=127.0.0.1:0"});
  TcpObserver observer(ChatServiceProcess::PortOf(server.legacy_address()));
  PipeRun run(20000, {"join", "--name", "x", "--server", server.address()});
  ASSERT_TRUE(observer.WaitFor("-- x left")) << observer.lines().size();
  std::string err;
  EXPECT_EQ(run.Wait(nullptr, &err), 0) << err;
  EXPECT_THAT(err, IsEmpty());
  EXPECT_THAT(PostedBy(observer.lines(), "x"), ContainerEq(Numbers(1, 20000)));
  for (const std::string& line : observer.lines()) {
    EXPECT_THAT(line, testing::Not(HasSubstr("too slow")));
  }
}

// The same through a network path that breaks every 2 s: chatctl
// reconnects, resumes and sends again what was in flight; the server posts
// each line once. Flood control paces the pipe (2000 a second) so that it
// outlives several cuts.
TEST_F(ChatctlTest, PipeThroughAPathCutEveryTwoSecondsLandsEachOnce) {
  Server server("127.0.0.1:0", {"--legacy_addr=127.0.0.1:0",
                                "--flood_rate=2000", "--flood_burst=200"});
  TcpProxy proxy(server.address());
  TcpObserver observer(ChatServiceProcess::PortOf(server.legacy_address()));
  PipeRun run(20000, {"join", "--name", "x", "--server", proxy.address()});
  // Once chatctl is in (a cut before its first welcome fails its start).
  ASSERT_TRUE(observer.WaitFor("-- x joined"));
  proxy.CutEvery(absl::Seconds(2));
  ASSERT_TRUE(observer.WaitFor("<x> 20000", absl::Seconds(100)))
      << observer.lines().size();
  std::string err;
  EXPECT_EQ(run.Wait(nullptr, &err), 0) << err;
  proxy.CutEvery(absl::ZeroDuration());
  EXPECT_GE(proxy.cuts(), 2) << "the pipe outran the cuts";
  EXPECT_THAT(err, HasSubstr("reconnected to chat-service"));
  EXPECT_THAT(err, testing::Not(HasSubstr("not sent")));
  EXPECT_THAT(PostedBy(observer.lines(), "x"), ContainerEq(Numbers(1, 20000)));
}

// A network path that goes silent without closing (a laptop that slept, a
// NAT that forgot): chatctl notices by its keepalive, reconnects by another
// path, takes its name back at once although the server still holds it
// (resume secret), and posts the lines typed meanwhile, each once. The room
// sees one "reconnected", not a leave and a join.
TEST_F(ChatctlTest, SilentPathEndsWithTheNameTakenBackAndEveryLinePosted) {
  Server server("127.0.0.1:0", {"--legacy_addr=127.0.0.1:0",
                                "--grpc_min_ping_interval=500ms"});
  TcpProxy proxy(server.address());
  TcpObserver observer(ChatServiceProcess::PortOf(server.legacy_address()));
  Subprocess p({CHATCTL_BIN, "join", "--name", "carol", "--server",
                proxy.address(), "--keepalive=1s"});
  ASSERT_TRUE(observer.WaitFor("-- carol joined")) << p.err();
  p.Write("one\n");
  ASSERT_TRUE(observer.WaitFor("<carol> one")) << p.err();

  proxy.Silence();
  p.Write("two\n");
  p.Write("three\n");
  ASSERT_TRUE(p.WaitForStderr("reconnected to chat-service", kTimeout))
      << p.err();
  ASSERT_TRUE(observer.WaitFor("<carol> three")) << p.err();
  p.Write("four\n");
  p.CloseStdin();
  EXPECT_EQ(p.Wait(kTimeout), 0) << p.err();
  ASSERT_TRUE(observer.WaitFor("-- carol left"));

  EXPECT_THAT(
      PostedBy(observer.lines(), "carol"),
      ContainerEq(std::vector<std::string>{"one", "two", "three", "four"}));
  // Joined once, reconnected once, left once (at the end of input).
  std::vector<std::string> membership;
  for (const std::string& line : observer.lines()) {
    if (absl::StartsWith(line, "-- carol")) membership.push_back(line);
  }
  EXPECT_THAT(membership,
              ContainerEq(std::vector<std::string>{
                  "-- carol joined", "-- carol reconnected", "-- carol left"}));
  EXPECT_THAT(p.err(), testing::Not(HasSubstr("not sent")));
  EXPECT_THAT(p.err(), testing::Not(HasSubstr("is taken")));
}

// A server that restarts without its history (no --data_dir) cannot say
// whether the lines in flight were posted: chatctl says which, in one line,
// and exits 1.
TEST_F(ChatctlTest, LinesInFlightWhenHistoryIsLostAreReportedAndExitOne) {
  // Pings every second are allowed: chatctl --keepalive=1s.
  const std::vector<std::string> pings = {"--grpc_min_ping_interval=500ms"};
  auto server = std::make_unique<Server>("127.0.0.1:0", pings);
  TcpProxy proxy(server->address());
  Subprocess p({CHATCTL_BIN, "join", "--name", "q", "--server", proxy.address(),
                "--keepalive=1s"});
  ASSERT_TRUE(p.WaitForStdout("-- q joined\n", kTimeout)) << p.err();
  p.Write("posted\n");
  ASSERT_TRUE(p.WaitForStdout("<q> posted\n", kTimeout)) << p.err();
  // In flight, never answered: the path is silent, then the server dies.
  proxy.Silence();
  p.Write("lost 1\nlost 2\n");
  server->Kill();
  server = std::make_unique<Server>("127.0.0.1:0", pings);
  proxy.SetBackend(server->address());
  ASSERT_TRUE(p.WaitForStderr("reconnected to chat-service", kTimeout))
      << p.err();
  p.Write("after\n");
  ASSERT_TRUE(p.WaitForStdout("<q> after\n", kTimeout)) << p.out();
  p.CloseStdin();
  EXPECT_EQ(p.Wait(kTimeout), 1) << p.err();
  EXPECT_THAT(p.err(),
              HasSubstr("chatctl: 2 of 4 lines were not sent: lines 2-3 (the "
                        "room's history was reset, so whether it was posted "
                        "cannot be told)\n"));
}

// While the server cannot be reached, chatctl keeps trying for as long as
// lines keep coming (each starts --give_up_after again), sends them once it
// is back, and gives up only after --give_up_after without input.
TEST_F(ChatctlTest, ReconnectingGoesOnWhileLinesComeAndGivesUpAfterSilence) {
  Server server("127.0.0.1:0", {"--legacy_addr=127.0.0.1:0"});
  TcpProxy proxy(server.address());
  TcpObserver observer(ChatServiceProcess::PortOf(server.legacy_address()));
  Subprocess p({CHATCTL_BIN, "join", "--name", "typist", "--server",
                proxy.address(), "--give_up_after=2s"});
  // chatctl has its welcome (the room may see the join first).
  ASSERT_TRUE(p.WaitForStdout("-- typist joined\n", kTimeout)) << p.err();

  // Unreachable: connections through the proxy are refused from now on.
  proxy.SetBackend("127.0.0.1:1");
  proxy.CutAll();
  ASSERT_TRUE(p.WaitForStderr("reconnecting", kTimeout)) << p.err();
  // A line every half second for 4 s, twice the give-up time, while the
  // server cannot be reached; then it can, and the typing goes on until the
  // lines come through (the channel retries every 2 s at most).
  int typed = 0;
  auto type = [&] {
    p.Write(absl::StrCat("typed ", ++typed, "\n"));
    absl::SleepFor(absl::Milliseconds(500));  // A person typing, not a wait.
  };
  while (typed < 8) type();
  proxy.SetBackend(server.address());
  while (typed < 40 &&
         !observer.WaitFor("<typist> typed 1", absl::ZeroDuration())) {
    type();
  }
  ASSERT_TRUE(observer.WaitFor(absl::StrCat("<typist> typed ", typed)))
      << p.err();
  std::vector<std::string> expected;
  for (int i = 1; i <= typed; ++i) {
    expected.push_back(absl::StrCat("typed ", i));
  }
  EXPECT_THAT(PostedBy(observer.lines(), "typist"), ContainerEq(expected));

  // Unreachable again, and nothing typed: it gives up.
  proxy.SetBackend("127.0.0.1:1");
  proxy.CutAll();
  EXPECT_EQ(p.Wait(kTimeout), 1) << p.err();
  EXPECT_THAT(p.err(), HasSubstr("chatctl: gave up reconnecting after "));
}

// A stopped chatctl (SIGSTOP, a laptop lid) no longer holds its name: the
// server's keepalive ping goes unanswered and the member leaves, within
// --grpc_keepalive and its timeout (80 s by default; 1 s here). The
// connection is left idle first, past two keepalive times, so that the
// pings between are pings without data.
TEST_F(ChatctlTest, AStoppedChatctlLosesItsNameToTheServersKeepalive) {
  Server server("127.0.0.1:0",
                {"--legacy_addr=127.0.0.1:0", "--grpc_keepalive=1s"});
  TcpObserver observer(ChatServiceProcess::PortOf(server.legacy_address()));
  Subprocess p(
      {CHATCTL_BIN, "join", "--name", "sleeper", "--server", server.address()});
  ASSERT_TRUE(p.WaitForStdout("-- sleeper joined\n", kTimeout)) << p.err();
  absl::SleepFor(absl::Milliseconds(2500));  // Idle, not a wait for an event.
  p.Signal(SIGSTOP);
  EXPECT_TRUE(observer.WaitFor("-- sleeper left (disconnected)", kTimeout));
  std::string err;
  EXPECT_EQ(Chatctl({"send", "--name", "sleeper", "--server", server.address(),
                     "mine now"},
                    "", nullptr, &err),
            0)
      << err;
  p.Signal(SIGCONT);
}

// stdin closed at start (`<&-`): chatctl must not take a descriptor that
// gRPC opens for its input. It joins, sees the end of input, leaves, exits 0.
TEST_F(ChatctlTest, ClosedStdinExitsZeroAtOnce) {
  std::string out, err;
  EXPECT_EQ(RunProgram({"/bin/sh", "-c",
                        absl::StrCat("exec ", CHATCTL_BIN,
                                     " join --name closed --server ",
                                     server_.address(), " <&-")},
                       "", &out, &err, kTimeout),
            0)
      << err;
  EXPECT_THAT(out, HasSubstr("-- closed joined\n"));
}

// Lines longer than the server takes are not sent, not cut into pieces:
// one summary names them, and chatctl exits 1.
TEST_F(ChatctlTest, LinesOverTheLimitAreRefusedByNumber) {
  const std::string input = "first\n" + std::string(70000, 'b') + "\nthird\n" +
                            std::string(5000, 'd') + "\nfifth\n";
  std::string out, err;
  EXPECT_EQ(
      Chatctl({"join", "--name", "long", ServerFlag()}, input, &out, &err), 1);
  EXPECT_EQ(err,
            "chatctl: 2 of 5 lines were not sent: line 2 (longer than the "
            "server's limit of 4096 bytes: 70000 bytes); line 4 (longer than "
            "the server's limit of 4096 bytes: 5000 bytes)\n");
  EXPECT_EQ(Chatctl({"history", ServerFlag()}, "", &out), 0);
  EXPECT_THAT(Lines(out), ContainerEq(std::vector<std::string>{
                              "<long> first", "<long> third", "<long> fifth"}));
}

TEST_F(ChatctlTest, ServerMustBeHostAndPort) {
  std::string err;
  EXPECT_EQ(
      Chatctl({"who", "--server", "http://127.0.0.1:50051"}, "", nullptr, &err),
      2);
  EXPECT_THAT(err, HasSubstr("--server \"http://127.0.0.1:50051\" is a URL: "
                             "give HOST:PORT, e.g. 127.0.0.1:50051"));
  EXPECT_EQ(Chatctl({"join", "--name", "n"}, "", nullptr, &err,
                    {"CHATCTL_SERVER=127.0.0.1:50051 "}),
            2);
  EXPECT_THAT(err, HasSubstr("$CHATCTL_SERVER \"127.0.0.1:50051 \" has "
                             "spaces in it: give HOST:PORT"));
  EXPECT_EQ(Chatctl({"history", "--server", "localhost"}, "", nullptr, &err),
            2);
  EXPECT_THAT(err, HasSubstr("--server \"localhost\" has no port"));
}

// --server HOST:PORT,HOST:PORT,...: every entry is checked, and the
// sentence names the bad one; exit 2 for every command.
TEST_F(ChatctlTest, BadServerListEntriesAreUsageErrors) {
  const std::string live = server_.address();
  const std::vector<std::pair<std::string, std::string>> lists = {
      {live + ",localhost",
       "--server entry 2 \"localhost\" has no port: give HOST:PORT"},
      {"http://" + live + "," + live,
       absl::StrCat("--server entry 1 \"http://", live, "\" is a URL")},
      {live + ",," + live, "has an empty entry (2)"},
      {live + ",", "has an empty entry (2)"},
      {live + ", " + live,
       "--server entry 2 \" " + live + "\" has spaces in it"}};
  for (const auto& [list, why] : lists) {
    for (std::vector<std::string> args :
         std::vector<std::vector<std::string>>{{"join", "--name", "x"},
                                               {"send", "--name", "x", "hi"},
                                               {"who"},
                                               {"history"},
                                               {"stats"},
                                               {"bench", "--noprogress"}}) {
      const std::string command = args[0];
      args.push_back("--server=" + list);
      std::string err;
      EXPECT_EQ(Chatctl(args, "", nullptr, &err), 2) << command << " " << list;
      EXPECT_THAT(err, HasSubstr(why)) << command << " " << list;
      EXPECT_THAT(err, HasSubstr("usage: chatctl " + command)) << command;
    }
  }
  std::string err;
  EXPECT_EQ(
      Chatctl({"who"}, "", nullptr, &err, {"CHATCTL_SERVER=" + live + ",nope"}),
      2);
  EXPECT_THAT(err, HasSubstr("$CHATCTL_SERVER entry 2 \"nope\" has no port"));
}

// A list whose first server refuses connections: each command goes on to
// the second, and chat says which server it is on.
TEST_F(ChatctlTest, ServerListSkipsAServerThatRefuses) {
  Server gone;
  const std::string dead = gone.address();
  gone.Stop();
  const std::string list = "--server=" + dead + "," + server_.address();
  std::string out, err;
  EXPECT_EQ(Chatctl({"send", "--name", "s", list, "via", "the", "second"}, "",
                    &out, &err),
            0)
      << err;
  EXPECT_EQ(Chatctl({"join", "--name", "p", list}, "piped\n", &out, &err), 0)
      << err;
  EXPECT_THAT(out, HasSubstr("<p> piped\n"));
  EXPECT_EQ(err, absl::StrCat("chatctl: cannot reach chat-service at ", dead,
                              " (connection refused); trying the next "
                              "server\nchatctl: connected to chat-service at ",
                              server_.address(), "\n"));
  EXPECT_EQ(Chatctl({"history", list}, "", &out, &err), 0) << err;
  EXPECT_EQ(out, "<s> via the second\n<p> piped\n");
  EXPECT_EQ(Chatctl({"who", list}, "", &out, &err), 0) << err;
  EXPECT_EQ(Chatctl({"stats", list}, "", &out, &err), 0) << err;
  // None answers: each server's sentence, exit 1.
  EXPECT_EQ(
      Chatctl({"history", "--server=" + dead + "," + dead}, "", &out, &err), 1);
  const std::string refused = absl::StrCat("cannot reach chat-service at ",
                                           dead, " (connection refused)");
  EXPECT_EQ(err, absl::StrCat("chatctl: ", refused, "; ", refused, "\n"));
}

// A server that answers with an error is the answer: the next one is not
// tried (it would be another node, where the same error holds).
TEST_F(ChatctlTest, ServerListTakesAnErrorAnswerAsTheAnswer) {
  Server second;
  std::unique_ptr<Subprocess> bob = Join("bob");
  const std::string list =
      "--server=" + server_.address() + "," + second.address();
  std::string out, err;
  EXPECT_EQ(Chatctl({"send", "--name", "bob", list, "x"}, "", nullptr, &err),
            1);
  EXPECT_EQ(err, "chatctl: name \"bob\" is taken in room lobby\n");
  EXPECT_EQ(Chatctl({"history", "--server=" + second.address()}, "", &out), 0);
  EXPECT_THAT(out, IsEmpty());
  EXPECT_EQ(Chatctl({"who", list}, "", &out), 0);
  EXPECT_EQ(out, "bob grpc\n");  // The first's room.
}

// Pipe mode across killed servers, with independent servers listed: A, a
// dead address, B. When A dies, chatctl moves on to the next in the list,
// past the dead one, to B; when B dies, round-robin, to A again (restarted
// on its port). Independent servers share no rooms: the lines after each
// failover land on the new server, and chatctl shows the server's notice
// that the history was reset. (Nothing is in flight at a kill here: that
// nothing is lost across nodes is for nodes that share rooms.)
TEST_F(ChatctlTest, PipeContinuesOnTheNextServerOfTheList) {
  auto first = std::make_unique<Server>();
  auto second = std::make_unique<Server>();
  Server gone;
  const std::string dead = gone.address();
  gone.Stop();
  const std::string a = first->address();
  const std::string b = second->address();
  Subprocess p({CHATCTL_BIN, "join", "--name", "rr", "--server",
                a + "," + dead + "," + b});
  ASSERT_TRUE(p.WaitForStdout("-- rr joined\n", kTimeout)) << p.err();
  ASSERT_TRUE(
      p.WaitForStderr("chatctl: connected to chat-service at " + a, kTimeout))
      << p.err();
  p.Write("one\n");
  ASSERT_TRUE(p.WaitForStdout("<rr> one\n", kTimeout)) << p.err();

  first->Kill();
  ASSERT_TRUE(
      p.WaitForStderr("chatctl: reconnected to chat-service at " + b, kTimeout))
      << p.err();
  EXPECT_THAT(p.err(),
              HasSubstr("lost the connection to chat-service at " + a));
  p.Write("two\n");
  ASSERT_TRUE(p.WaitForStdout("<rr> two\n", kTimeout)) << p.err();
  std::string out;
  EXPECT_EQ(Chatctl({"history", "--server=" + b}, "", &out), 0);
  EXPECT_EQ(out, "<rr> two\n");
  EXPECT_THAT(p.out(), HasSubstr("history was reset"));

  // The first again, on its old port, once the second dies.
  first = std::make_unique<Server>(a);
  second->Kill();
  ASSERT_TRUE(p.WaitForOutput(
      [&a](const std::string&, const std::string& err) {
        return err.find("reconnected to chat-service at " + a) !=
               std::string::npos;
      },
      kTimeout))
      << p.err();
  p.Write("three\n");
  ASSERT_TRUE(p.WaitForStdout("<rr> three\n", kTimeout)) << p.err();
  p.CloseStdin();
  EXPECT_EQ(p.Wait(kTimeout), 0) << p.err();
  EXPECT_EQ(Chatctl({"history", "--server=" + a}, "", &out), 0);
  EXPECT_EQ(out, "<rr> three\n");
}

// A lost connection goes to the next server even when the one it was on
// still takes connections (here a proxy in front of it cuts the stream and
// stays open): round-robin, not back to the same one.
TEST_F(ChatctlTest, ALostConnectionMovesOnToTheNextServer) {
  Server second;
  TcpProxy proxy(server_.address());
  Subprocess p({CHATCTL_BIN, "join", "--name", "mover", "--server",
                proxy.address() + "," + second.address()});
  ASSERT_TRUE(p.WaitForStdout("-- mover joined\n", kTimeout)) << p.err();
  proxy.CutAll();
  ASSERT_TRUE(p.WaitForStderr(
      "chatctl: reconnected to chat-service at " + second.address(), kTimeout))
      << p.err();
  p.Write("moved\n");
  ASSERT_TRUE(p.WaitForStdout("<mover> moved\n", kTimeout)) << p.err();
  p.CloseStdin();
  EXPECT_EQ(p.Wait(kTimeout), 0) << p.err();
  std::string out;
  EXPECT_EQ(Chatctl({"history", "--server=" + second.address()}, "", &out), 0);
  EXPECT_EQ(out, "<mover> moved\n");
}

TEST_F(ChatctlTest, HelpShowsTheServerList) {
  std::string out;
  for (const char* c : {"join", "send", "who", "history", "stats"}) {
    EXPECT_EQ(Chatctl({"help", c}, "", &out), 0);
    EXPECT_THAT(out, HasSubstr("HOST:PORT[,...]")) << c;
  }
  EXPECT_EQ(Chatctl({"help", "join"}, "", &out), 0);
  EXPECT_THAT(out, HasSubstr("reconnects to the next in the list"));
  EXPECT_EQ(Chatctl({"help", "bench"}, "", &out), 0);
  EXPECT_THAT(out, HasSubstr("--server=HOST:PORT[,...]"));
}

// The same 20000 lines across a crash: chat-service --data_dir is SIGKILLed
// with lines in flight and restarted on the same port. chatctl resumes and
// sends again what was not answered; the store kept the ids of what was
// posted, so each line is held once, in order, and chatctl exits 0. Flood
// control (5000 a second) paces the pipe so that the kill lands mid-way.
TEST_F(ChatctlTest, PipeOfTwentyThousandLinesAcrossAKilledServerLandsEachOnce) {
  std::string dir = absl::StrCat(::testing::TempDir(), "chatctl-kill-XXXXXX");
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::vector<std::string> flags = {
      "--data_dir=" + dir, "--history_events=30000", "--flood_rate=5000",
      "--flood_burst=500", "--legacy_addr=127.0.0.1:0"};
  auto server = std::make_unique<Server>("127.0.0.1:0", flags);
  const std::string address = server->address();
  int killed_at = 0;
  {
    TcpObserver observer(ChatServiceProcess::PortOf(server->legacy_address()));
    PipeRun run(20000, {"join", "--name", "k", "--server", address});
    ASSERT_TRUE(observer.WaitFor("<k> 5000")) << observer.lines().size();
    server->Kill();
    killed_at = static_cast<int>(PostedBy(observer.lines(), "k").size());
    server = std::make_unique<Server>(address, flags);
    ASSERT_EQ(server->address(), address);
    std::string err;
    EXPECT_EQ(run.Wait(nullptr, &err), 0) << err;
    EXPECT_THAT(err, HasSubstr("reconnected to chat-service"));
    EXPECT_THAT(err, testing::Not(HasSubstr("not sent")));
  }
  EXPECT_LT(killed_at, 20000) << "the pipe was over before the kill";
  // Seq 1 is the observer's join, so the messages are all after it.
  std::vector<std::string> held;
  ASSERT_NO_FATAL_FAILURE(ReadHistory(address, 1, &held));
  EXPECT_THAT(held, ContainerEq(Numbers(1, 20000)));
  server.reset();
  std::filesystem::remove_all(dir);
}

// Three nodes sharing the room through Redis: the node the pipe is on is
// killed, the pipe goes on at the next node of its --server list, and every
// line is in the room's history once, as any node tells it.
TEST_F(ChatctlTest, PipeAcrossAKilledNodeLandsEachOnceThroughTheOthers) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  const std::vector<std::string> flags = {
      "--redis=" + (*redis)->address(), "--history_events=10000",
      "--flood_rate=5000", "--flood_burst=500", "--legacy_addr=127.0.0.1:0"};
  auto first = std::make_unique<Server>("127.0.0.1:0", flags);
  Server second("127.0.0.1:0", flags);
  Server third("127.0.0.1:0", flags);
  const std::string list = absl::StrCat(first->address(), ",", second.address(),
                                        ",", third.address());
  constexpr int kLines = 5000;
  int killed_at = 0;
  {
    // Watches from the third node.
    TcpObserver observer(ChatServiceProcess::PortOf(third.legacy_address()));
    PipeRun run(kLines, {"join", "--name", "k", "--server", list});
    ASSERT_TRUE(observer.WaitFor("<k> 1000")) << observer.lines().size();
    first->Kill();
    killed_at = static_cast<int>(PostedBy(observer.lines(), "k").size());
    std::string err;
    EXPECT_EQ(run.Wait(nullptr, &err), 0) << err;
    EXPECT_THAT(
        err, HasSubstr("reconnected to chat-service at " + second.address()));
    EXPECT_THAT(err, testing::Not(HasSubstr("not sent")));
    EXPECT_THAT(err, testing::Not(HasSubstr("history was reset")));
  }
  EXPECT_LT(killed_at, kLines) << "the pipe was over before the kill";
  // Everything, once, in order, as the second node's history has it.
  std::vector<std::string> held;
  ASSERT_NO_FATAL_FAILURE(ReadHistory(second.address(), 1, &held));
  EXPECT_THAT(held, ContainerEq(Numbers(1, kLines)));
}

TEST_F(ChatctlTest, StoreInUseOrCorruptStopsTheStartWithASentence) {
  std::string dir = absl::StrCat(::testing::TempDir(), "chatctl-data-XXXXXX");
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  const std::string data_flag = "--data_dir=" + dir;
  std::string out, err;
  {
    Server first("127.0.0.1:0", {data_flag});
    ASSERT_FALSE(first.address().empty());
    EXPECT_EQ(RunProgram(ServerArgs("127.0.0.1:0", {data_flag}), "", &out, &err,
                         kTimeout),
              1);
    EXPECT_THAT(err, HasSubstr(dir));
    EXPECT_THAT(err, HasSubstr("in use by another chat-service"));
    EXPECT_THAT(out, testing::Not(HasSubstr("ready")));
  }
  // Not a store at all.
  for (const char* f : {"chat.db", "chat.db-wal", "chat.db-shm"}) {
    std::filesystem::remove(dir + "/" + f);
  }
  {
    std::ofstream junk(dir + "/chat.db", std::ios::binary);
    junk << std::string(8192, 'j');
  }
  EXPECT_EQ(RunProgram(ServerArgs("127.0.0.1:0", {data_flag}), "", &out, &err,
                       kTimeout),
            1);
  EXPECT_THAT(err, HasSubstr(dir + "/chat.db"));
  EXPECT_THAT(err, HasSubstr("restore a backup"));
  EXPECT_EQ(RunProgram(ServerArgs("127.0.0.1:0", {data_flag, "--sync=often"}),
                       "", &out, &err, kTimeout),
            1);
  EXPECT_THAT(err, HasSubstr("every"));
  std::filesystem::remove_all(dir);
}

TEST_F(ChatctlTest, FullDiskRefusesPostsWithANoticeAndKeepsTheHistory) {
  // A real full disk: a 2 MiB tmpfs (mounting needs root, as CI has).
  std::string mnt = absl::StrCat(::testing::TempDir(), "chatctl-full-XXXXXX");
  ASSERT_NE(mkdtemp(mnt.data()), nullptr);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2097152") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs (" << strerror(errno) << ")";
  }
  struct Unmount {
    std::string dir;
    ~Unmount() {
      umount2(dir.c_str(), MNT_DETACH);
      rmdir(dir.c_str());
    }
  } unmount{mnt};
  Server server("127.0.0.1:0", {"--data_dir=" + mnt + "/data"});
  const std::string at = "--server=" + server.address();
  std::string out, err;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Chatctl({"send", "--name", "w", at, absl::StrCat("before ", i)},
                      "", nullptr, &err),
              0)
        << err;
  }
  const std::string filler = mnt + "/filler";
  {
    std::ofstream fill(filler, std::ios::binary);
    const std::string block(64 * 1024, 'f');
    while (fill.write(block.data(), block.size())) {
    }
  }
  // Writes may still fit in pages the store already has: post until the
  // store refuses, which it must within a few hundred KiB. The post that
  // meets the full disk is either refused at once or held (accepted before
  // the failing write, it waits for it): both say why.
  std::vector<std::string> accepted;
  std::string held;
  for (int i = 0; i < 200 && held.empty(); ++i) {
    const std::string text =
        absl::StrCat("full ", i, " ", std::string(3000, 'x'));
    if (Chatctl({"send", "--name", "w", at, text}, "", nullptr, &err) == 0) {
      accepted.push_back(text);
    } else {
      held = text;
    }
  }
  ASSERT_FALSE(held.empty()) << "the store never refused a post on a full disk";
  EXPECT_THAT(err, HasSubstr("cannot write its history to " + mnt + "/data"));
  EXPECT_THAT(err, HasSubstr("No space left on device"));
  // Now every post is refused at once, with the same reason.
  EXPECT_EQ(Chatctl({"send", "--name", "w", at, "refused"}, "", nullptr, &err),
            1);
  EXPECT_THAT(err, HasSubstr("No space left on device"));
  // The server keeps serving: who and history still answer.
  ASSERT_EQ(Chatctl({"history", "--last", "0", at}, "", &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("<w> before 4"));

  std::filesystem::remove(filler);
  // Writes resume once there is room (the store retries within a second).
  ASSERT_TRUE(PollUntil(
      [&] {
        return Chatctl({"send", "--name", "w", at, "after"}, "", nullptr,
                       &err) == 0;
      },
      kTimeout))
      << err;
  ASSERT_EQ(Chatctl({"history", "--last", "0", at}, "", &out, &err), 0) << err;
  // Nothing stored earlier was lost, nothing refused was stored.
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT(out, HasSubstr(absl::StrCat("<w> before ", i, "\n")));
  }
  for (const std::string& text : accepted) {
    EXPECT_THAT(out, HasSubstr("<w> " + text + "\n"));
  }
  EXPECT_THAT(out, HasSubstr("<w> after\n"));
  EXPECT_THAT(out, testing::Not(HasSubstr("<w> refused")));
  // The held one was posted once the disk had room, or was never taken.
  const size_t held_count = absl::StrContains(out, "<w> " + held + "\n");
  EXPECT_EQ(Lines(out).size(), 5 + accepted.size() + held_count + 1) << out;
}

TEST_F(ChatctlTest, InterruptLeavesCleanly) {
  std::unique_ptr<Subprocess> watcher = Join("watcher");
  std::unique_ptr<Subprocess> p = Join("leaver");
  p->Signal(SIGINT);
  EXPECT_EQ(p->Wait(kTimeout), 0) << p->err();
  // A leave, not a dropped connection.
  EXPECT_TRUE(watcher->WaitForStdout("-- leaver left\n", kTimeout))
      << watcher->out();
}

// ------------------------------------------------------------- In a terminal

// A private tmux server (its own socket), killed at the end.
class Tmux {
 public:
  Tmux() : socket_(absl::StrCat("chatctl-test-", getpid())) {}
  ~Tmux() {
    std::string path;
    Run({"display-message", "-p", "#{socket_path}"}, &path);
    Run({"kill-server"});
    // tmux leaves its socket file behind.
    path = std::string(absl::StripAsciiWhitespace(path));
    if (!path.empty()) unlink(path.c_str());
  }

  int Run(std::vector<std::string> args, std::string* out = nullptr) {
    args.insert(args.begin(),
                {"/usr/bin/env", "tmux", "-L", socket_, "-f", "/dev/null"});
    return RunProgram(args, "", out, nullptr, kTimeout);
  }

  std::string Screen() {
    std::string out;
    Run({"capture-pane", "-p", "-t", "chat"}, &out);
    return out;
  }

  // {x, y} of the cursor.
  std::pair<int, int> Cursor() {
    std::string out;
    Run({"display-message", "-p", "-t", "chat", "#{cursor_x} #{cursor_y}"},
        &out);
    std::vector<std::string> parts =
        absl::StrSplit(absl::StripAsciiWhitespace(out), ' ');
    int x = -1, y = -1;
    if (parts.size() == 2) {
      (void)absl::SimpleAtoi(parts[0], &x);
      (void)absl::SimpleAtoi(parts[1], &y);
    }
    return {x, y};
  }

  bool ScreenHas(const std::string& text) {
    return Screen().find(text) != std::string::npos;
  }

 private:
  const std::string socket_;
};

TEST_F(ChatctlTest, TerminalKeepsTheHalfTypedLineIntact) {
  if (RunProgram({"/bin/sh", "-c", "command -v tmux"}, "", nullptr, nullptr) !=
      0) {
    GTEST_SKIP() << "tmux is not installed";
  }
  std::unique_ptr<Subprocess> carol = Join("carol");
  Tmux tmux;
  ASSERT_EQ(tmux.Run({"new-session", "-d", "-s", "chat", "-x", "80", "-y", "20",
                      // The shell reports chatctl's exit code on the screen
                      // (tmux's pane_dead_status is sometimes left empty).
                      absl::StrCat(CHATCTL_BIN, " join --name alice ",
                                   ServerFlag(), "; echo chatctl exited $?")}),
            0);
  ASSERT_EQ(tmux.Run({"set-option", "-t", "chat", "remain-on-exit", "on"}), 0);
  // capture-pane drops trailing blanks: the prompt shows without its space.
  const std::string prompt = "[lobby] alice> ";
  ASSERT_TRUE(
      PollUntil([&] { return tmux.ScreenHas("\n[lobby] alice>"); }, kTimeout))
      << tmux.Screen();

  // Alice half-types a line and moves the cursor back into it.
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "-l", "hello bo"}), 0);
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "Left", "Left"}), 0);
  ASSERT_TRUE(PollUntil(
      [&] {
        return tmux.ScreenHas(prompt + "hello bo") &&
               tmux.Cursor().first == static_cast<int>(prompt.size()) + 6;
      },
      kTimeout))
      << tmux.Screen();

  // Bob posts.
  std::string err;
  ASSERT_EQ(Chatctl({"send", "--name", "bob", ServerFlag(), "hi alice"}, "",
                    nullptr, &err),
            0)
      << err;
  ASSERT_TRUE(
      PollUntil([&] { return tmux.ScreenHas("-- bob left"); }, kTimeout))
      << tmux.Screen();

  // Bob's message is above; the half line, its cursor and the prompt are
  // intact on the last line.
  std::vector<std::string> rows = Lines(tmux.Screen());
  while (!rows.empty() && absl::StripAsciiWhitespace(rows.back()).empty()) {
    rows.pop_back();
  }
  ASSERT_GE(rows.size(), 5u);
  const int last = static_cast<int>(rows.size()) - 1;
  EXPECT_EQ(rows[last], prompt + "hello bo");
  EXPECT_EQ(rows[last - 1], "-- bob left");
  EXPECT_EQ(rows[last - 2], "<bob> hi alice");
  EXPECT_EQ(rows[last - 3], "-- bob joined");
  EXPECT_EQ(tmux.Cursor(),
            std::make_pair(static_cast<int>(prompt.size()) + 6, last));

  // She finishes the line; it arrives, and her screen shows it once.
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "End", "b", "Enter"}), 0);
  EXPECT_TRUE(carol->WaitForStdout("<alice> hello bob\n", kTimeout))
      << carol->out();
  ASSERT_TRUE(
      PollUntil([&] { return tmux.ScreenHas("<alice> hello bob"); }, kTimeout));
  std::string screen = tmux.Screen();
  EXPECT_EQ(screen.find("hello bob"), screen.rfind("hello bob")) << screen;
  EXPECT_THAT(Lines(screen), testing::Contains("[lobby] alice>")) << screen;

  // Up arrow recalls it; /quit leaves cleanly.
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "Up"}), 0);
  EXPECT_TRUE(
      PollUntil([&] { return tmux.ScreenHas(prompt + "hello bob"); }, kTimeout))
      << tmux.Screen();
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "C-u", "/quit", "Enter"}), 0);
  EXPECT_TRUE(
      PollUntil([&] { return tmux.ScreenHas("chatctl exited "); }, kTimeout))
      << tmux.Screen();
  EXPECT_TRUE(tmux.ScreenHas("chatctl exited 0\n")) << tmux.Screen();
  EXPECT_TRUE(carol->WaitForStdout("-- alice left\n", kTimeout));
}

TEST_F(ChatctlTest, TerminalKeepsAWrappedHalfLineIntact) {
  if (RunProgram({"/bin/sh", "-c", "command -v tmux"}, "", nullptr, nullptr) !=
      0) {
    GTEST_SKIP() << "tmux is not installed";
  }
  Tmux tmux;
  ASSERT_EQ(tmux.Run({"new-session", "-d", "-s", "chat", "-x", "40", "-y", "20",
                      absl::StrCat(CHATCTL_BIN, " join --name alice ",
                                   ServerFlag())}),
            0);
  ASSERT_TRUE(
      PollUntil([&] { return tmux.ScreenHas("\n[lobby] alice>"); }, kTimeout))
      << tmux.Screen();
  // 15 + 50 columns: two rows. The cursor goes back to the first row.
  const std::string typed(50, 'x');
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "-l", typed}), 0);
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "Home", "Right"}), 0);
  ASSERT_TRUE(PollUntil([&] { return tmux.Cursor().first == 16; }, kTimeout))
      << tmux.Screen();

  ASSERT_EQ(Chatctl({"send", "--name", "bob", ServerFlag(), "hi"}), 0);
  ASSERT_TRUE(
      PollUntil([&] { return tmux.ScreenHas("-- bob left"); }, kTimeout));
  std::vector<std::string> rows = Lines(tmux.Screen());
  while (!rows.empty() && rows.back().empty()) rows.pop_back();
  ASSERT_GE(rows.size(), 4u);
  const int last = static_cast<int>(rows.size()) - 1;
  EXPECT_EQ(rows[last - 1] + rows[last], "[lobby] alice> " + typed);
  EXPECT_EQ(rows[last - 2], "-- bob left");
  EXPECT_EQ(rows[last - 3], "<bob> hi");
  EXPECT_EQ(tmux.Cursor(), std::make_pair(16, last - 1));

  // Sent: the wrapped input rows are erased, nothing else is.
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "chat", "Enter"}), 0);
  ASSERT_TRUE(PollUntil([&] { return tmux.ScreenHas("<alice> x"); }, kTimeout));
  rows = Lines(tmux.Screen());
  while (!rows.empty() && rows.back().empty()) rows.pop_back();
  ASSERT_GE(rows.size(), 4u);
  const int end = static_cast<int>(rows.size()) - 1;
  EXPECT_EQ(rows[end], "[lobby] alice>");
  EXPECT_EQ(rows[end - 2] + rows[end - 1], "<alice> " + typed);
  EXPECT_EQ(rows[end - 3], "-- bob left");
}

// Owned names: chatctl token makes a token from the server's secret file,
// join/send/who/history carry it (--token, $CHATCTL_TOKEN), guests show
// marked, and a refused token exits 1 with the server's sentence.
TEST_F(ChatctlTest, OwnedNamesWithTokens) {
  char dir_template[] = "/tmp/chatctl-auth.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string secret = dir + "/secret";
  const std::string other_secret = dir + "/other";
  std::ofstream(secret) << "a secret of thirty-two bytes, or more\n";
  std::ofstream(other_secret) << "another secret, also long enough\n";
  Server server("127.0.0.1:0", {"--auth_secret_file=" + secret});
  const std::string at = "--server=" + server.address();

  std::string token, err;
  ASSERT_EQ(Chatctl({"token", "--name", "alice", "--secret_file", secret}, "",
                    &token, &err),
            0)
      << err;
  token = std::string(absl::StripTrailingAsciiWhitespace(token));
  ASSERT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;

  // A guest, marked; the owner, named by the token.
  Subprocess bob({CHATCTL_BIN, "join", "--name", "bob", at});
  ASSERT_TRUE(bob.WaitForStdout("-- ~bob joined", kTimeout)) << bob.err();
  Subprocess alice({CHATCTL_BIN, "join", "--token", token, at});
  ASSERT_TRUE(alice.WaitForStdout("-- alice joined", kTimeout)) << alice.err();
  std::string out;
  ASSERT_EQ(Chatctl({"who", at}, "", &out, &err, {"CHATCTL_TOKEN=" + token}), 0)
      << err;
  EXPECT_THAT(Lines(out),
              ContainerEq(std::vector<std::string>{"~bob grpc", "alice grpc"}));
  ASSERT_EQ(Chatctl({"send", "--token", token, at, "hello"}, "", &out, &err), 0)
      << err;
  EXPECT_TRUE(bob.WaitForStdout("<alice> hello", kTimeout)) << bob.out();
  // The owner's own send took the name over from its join, which says so.
  EXPECT_TRUE(alice.WaitForStderr("signed in elsewhere", kTimeout))
      << alice.err();

  // Refused: another secret's token, another name's, a guest for the owner.
  std::string forged;
  ASSERT_EQ(Chatctl({"token", "--name", "alice", "--secret_file", other_secret},
                    "", &forged),
            0);
  EXPECT_EQ(
      Chatctl({"send", at, "x"}, "", &out, &err, {"CHATCTL_TOKEN=" + forged}),
      1);
  EXPECT_EQ(err,
            "chatctl: the token's signature does not match this server's "
            "secret\n");
  EXPECT_EQ(
      Chatctl({"join", "--name", "bob", "--token", token, at}, "", &out, &err),
      1);
  EXPECT_EQ(err, "chatctl: the token is for alice, not bob\n");
  EXPECT_EQ(Chatctl({"history", "--token", "x.y.z", at}, "", &out, &err), 1);
  EXPECT_THAT(err, StartsWith("chatctl: the token is not a JWT"));

  bob.CloseStdin();
  EXPECT_EQ(bob.Wait(kTimeout), 0) << bob.err();
  alice.CloseStdin();
  alice.Wait(kTimeout);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chat

// End to end: chatctl stats, the real binary against a real chat-service
// (CHATCTL_BIN, CHAT_SERVICE_BIN), as chatctl_test.cc runs the other
// commands. Every wait is for something a client reads.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/grpc_test_client.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr absl::Duration kTimeout = absl::Seconds(15);

class ChatctlStatsTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> flags) {
    server_ = ChatServiceProcess::WithTempLog(
        ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
    flags.insert(flags.begin(), "--flood_rate=0");
    const absl::Status started = server_->Start(flags, kTimeout);
    ASSERT_TRUE(started.ok()) << started;
    at_ = "--server=" + server_->grpc_addr();
    channel_ = grpc::CreateChannel(server_->grpc_addr(),
                                   grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_ == nullptr || !server_->running()) return;
    int code = -1;
    EXPECT_TRUE(server_->Stop(kTimeout, &code).ok());
    EXPECT_EQ(code, 0) << server_->LogTail(20);
  }

  // Runs chatctl with `args`; returns its exit code.
  int Chatctl(std::vector<std::string> args, std::string* out, std::string* err,
              const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), CHATCTL_BIN);
    return RunProgram(args, "", out, err, kTimeout, env);
  }

  std::unique_ptr<ChatServiceProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string at_;
};

TEST_F(ChatctlStatsTest, ShowsWhoIsConnectedAndWhatWasSent) {
  Start({});
  TcpTestClient bob(ChatServiceProcess::PortOf(server_->legacy_addr()));
  bob.Welcome();
  GrpcTestClient alice = GrpcTestClient::Join(channel_, "alice");
  GrpcTestClient carol = GrpcTestClient::Join(channel_, "carol", "elsewhere");
  for (int i = 0; i < 5; ++i) alice.Say(absl::StrCat("hi ", i));
  alice.ReadUntil("<alice> hi 4");
  bob.ReadUntil("<alice> hi 4");

  std::string out, err;
  ASSERT_EQ(Chatctl({"stats", at_}, &out, &err), 0) << err;
  EXPECT_EQ(err, "");
  EXPECT_THAT(out, HasSubstr("members      3 (grpc 2, tcp 1, web 0)\n"));
  EXPECT_THAT(out, HasSubstr("rooms        2\n"));
  EXPECT_THAT(out, HasSubstr("messages     5 since the start\n"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*messages/s   [0-9]+\\.[0-9] \\(last "
                                "10s\\)\n(.|\n)*"));
  EXPECT_THAT(out, HasSubstr("slow drops   0 "));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*uptime       [0-9hms]+ \\(since "
                                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\\)\n"));
  // Figures only: nobody's name.
  EXPECT_THAT(out, ::testing::Not(HasSubstr("alice")));

  ASSERT_EQ(Chatctl({"stats", "--json", at_}, &out, &err), 0) << err;
  EXPECT_THAT(out, StartsWith("{"));
  EXPECT_THAT(out, HasSubstr("\"members\":\"3\""));
  EXPECT_THAT(out, HasSubstr("\"rooms\":\"2\""));
  EXPECT_THAT(out, HasSubstr("\"messages_total\":\"5\""));
  EXPECT_THAT(out, HasSubstr("\"slow_drops_total\":\"0\""));
  EXPECT_THAT(out,
              HasSubstr("\"transport\":\"TRANSPORT_TCP\",\"members\":\"1\""));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;

  // Carol leaves: the next stats no longer count her or her room.
  EXPECT_TRUE(carol.Finish().ok());
  ASSERT_TRUE(PollUntil(
      [&] {
        Chatctl({"stats", at_}, &out, &err);
        return absl::StrContains(out, "members      2 ");
      },
      kTimeout))
      << out;
  EXPECT_THAT(out, HasSubstr("rooms        1\n"));
  alice.Finish();
}

TEST_F(ChatctlStatsTest, BadUsageAndNoServer) {
  std::string out, err;
  EXPECT_EQ(Chatctl({"stats", "extra"}, &out, &err), 2);
  EXPECT_THAT(err, StartsWith("chatctl stats: unexpected argument \"extra\""));
  EXPECT_EQ(Chatctl({"stats", "--name", "x"}, &out, &err), 2);
  EXPECT_THAT(err, HasSubstr("unknown flag --name"));
  EXPECT_EQ(Chatctl({"stats", "--server=http://127.0.0.1:1"}, &out, &err), 2);
  // Port 1 on the loopback: nothing listens there.
  EXPECT_EQ(Chatctl({"stats", "--server=127.0.0.1:1"}, &out, &err), 1);
  EXPECT_THAT(err, StartsWith("chatctl: cannot reach chat-service at "
                              "127.0.0.1:1"));
  ASSERT_EQ(Chatctl({"help", "stats"}, &out, &err), 0);
  EXPECT_THAT(out, StartsWith("usage: chatctl stats"));
}

// With tokens on and no guests, stats wants a token: any valid one, for any
// name. With guests, anyone may look.
TEST_F(ChatctlStatsTest, TokensWhenTheServerAdmitsNoGuests) {
  char dir_template[] = "/tmp/chatctl-stats.XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string secret = dir + "/secret";
  std::ofstream(secret) << "a secret of thirty-two bytes, or more\n";
  Start({"--auth_secret_file=" + secret, "--guests=false"});

  std::string out, err;
  EXPECT_EQ(Chatctl({"stats", at_}, &out, &err), 1);
  EXPECT_THAT(err, StartsWith("chatctl: "));
  std::string token;
  ASSERT_EQ(Chatctl({"token", "--name", "anyone", "--secret_file", secret,
                     "--room", "somewhere"},
                    &token, &err),
            0)
      << err;
  token = std::string(absl::StripTrailingAsciiWhitespace(token));
  ASSERT_EQ(Chatctl({"stats", "--token", token, at_}, &out, &err), 0) << err;
  EXPECT_THAT(out, HasSubstr("members      0"));
  ASSERT_EQ(Chatctl({"stats", at_}, &out, &err, {"CHATCTL_TOKEN=" + token}), 0)
      << err;
  EXPECT_EQ(Chatctl({"stats", "--token", "x.y.z", at_}, &out, &err), 1);
  EXPECT_THAT(err, StartsWith("chatctl: the token is not a JWT"));
  TearDown();

  Start({"--auth_secret_file=" + secret});  // Guests welcome.
  EXPECT_EQ(Chatctl({"stats", at_}, &out, &err), 0) << err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chat

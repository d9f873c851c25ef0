// The test-support library against the real thing: an in-process server
// with gRPC clients, and the chat-service binary with a TCP and a gRPC
// client on the ports it reports.
#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/grpc_test_client.h"
#include "testing/in_process_server.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(InProcessServerTest, TwoClientsChat) {
  InProcessServer server;
  ASSERT_NE(server.port(), 0);
  GrpcTestClient alice = GrpcTestClient::Join(server.channel(), "alice");
  GrpcTestClient bob = GrpcTestClient::Join(server.channel(), "bob");
  alice.ReadUntil("-- bob joined");
  bob.Say("hi");
  alice.ReadUntil("<bob> hi");
  EXPECT_EQ(bob.NextLine(), "<bob> hi");
  server.hub()->Shutdown("bye");
  for (GrpcTestClient* c : {&alice, &bob}) {
    c->ReadUntil("!! bye");
    EXPECT_EQ(c->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
}

TEST(ChatServiceProcessTest, PortsFromTheReadyLineAndACleanStop) {
  ChatServiceProcess server(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  ASSERT_TRUE(server.Start({"--flood_rate=0"}).ok()) << server.LogTail(10);
  EXPECT_THAT(server.ready_line(), StartsWith("chat-service ready grpc="));
  ASSERT_NE(ChatServiceProcess::PortOf(server.grpc_addr()), 0);
  ASSERT_NE(ChatServiceProcess::PortOf(server.legacy_addr()), 0);
  EXPECT_NE(ChatServiceProcess::PortOf(server.http_addr()), 0);

  GrpcTestClient alice = GrpcTestClient::Join(
      grpc::CreateChannel(server.grpc_addr(),
                          grpc::InsecureChannelCredentials()),
      "alice");
  TcpTestClient bob(ChatServiceProcess::PortOf(server.legacy_addr()));
  const std::string guest = bob.Welcome();
  alice.ReadUntil(absl::StrCat("-- ", guest, " joined"));
  bob.Send("hello\r\n");
  alice.ReadUntil(absl::StrCat("<", guest, "> hello"));
  alice.Say("hi guest");
  EXPECT_EQ(bob.ReadUntil("<alice>"), "<alice> hi guest");

  int code = -1;
  ASSERT_TRUE(server.Stop(absl::Seconds(10), &code).ok());
  EXPECT_EQ(code, 0);
  EXPECT_THAT(bob.ReadUntil("!!"), HasSubstr("shutting down"));
  EXPECT_TRUE(bob.ReadsEof());
}

TEST(ChatServiceProcessTest, APortTurnedOffAndAFailedStart) {
  ChatServiceProcess server(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  ASSERT_TRUE(server.Start({"--legacy_addr=", "--http_addr="}).ok());
  EXPECT_TRUE(server.legacy_addr().empty()) << server.ready_line();
  EXPECT_TRUE(server.http_addr().empty()) << server.ready_line();
  server.Kill();
  EXPECT_FALSE(server.running());

  ChatServiceProcess bad(ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  const absl::Status s = bad.Start({"--no_such_flag=1"});
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(bad.running());
}

}  // namespace
}  // namespace chat

// chat-service at its file descriptor limit, end to end: the real binary,
// started with RLIMIT_NOFILE 256 (soft and hard, as `prlimit --nofile=256`
// does), gets 300 idle connections on its gRPC port. gRPC 1.51's own
// listener stopped accepting for good at the first EMFILE; chat-service's
// gRPC port must refuse what is over its cap with a sentence, and serve
// again once the connections are gone.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ListMembers on a fresh connection; waits for the server up to 20 s when
// `wait`, else fails at the first refusal.
grpc::Status Probe(const std::string& addr, bool wait) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  auto channel =
      grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  context.set_wait_for_ready(wait);
  v1::ListMembersRequest request;
  v1::ListMembersResponse response;
  return v1::ChatRoom::NewStub(channel)->ListMembers(&context, request,
                                                     &response);
}

TEST(GrpcFdLimitTest, PortRefusesOverItsCapAndServesAgainAfterwards) {
  // chat-service in a child process with a descriptor limit of 256.
  std::unique_ptr<ChatServiceProcess> server = ChatServiceProcess::WithTempLog(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  server->set_nofile_limit(256);
  const absl::Status started = server->Start({});
  ASSERT_TRUE(started.ok()) << started << "\n" << server->Log();
  const int grpc_port = ChatServiceProcess::PortOf(server->grpc_addr());
  ASSERT_NE(grpc_port, 0) << server->ready_line() << "\n" << server->Log();
  EXPECT_THAT(server->Log(),
              HasSubstr("msg=\"connection caps scaled down to fit the file "
                        "descriptor limit, less what is kept for files and "
                        "internals\" limit=256 "));

  // From ten addresses (127.0.0.2 to .11), 30 each: under the cap per
  // address (32), over the port's. Idle: they send nothing.
  std::vector<std::unique_ptr<TcpTestClient>> idle;
  for (int i = 0; i < 300; ++i) {
    idle.push_back(std::make_unique<TcpTestClient>(
        absl::StrCat("127.0.0.", 2 + i % 10), grpc_port));
    ASSERT_TRUE(idle.back()->connected()) << "connection " << i;
  }
  // The port is full (the idle ones came first): a client is told so.
  grpc::Status full = Probe(server->grpc_addr(), /*wait=*/false);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(), HasSubstr("chat-service is full"))
      << server->Log();

  // Once gRPC has closed its side of them, the port serves again (until
  // then it is rightly full: retry as a client told so would).
  idle.clear();
  grpc::Status after;
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    after = Probe(server->grpc_addr(), /*wait=*/true);
  } while (after.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
           std::chrono::steady_clock::now() < give_up);
  EXPECT_TRUE(after.ok()) << after.error_message() << "\n" << server->Log();

  int code = -1;
  const absl::Status stopped = server->Stop(absl::Seconds(60), &code);
  EXPECT_EQ(code, 0) << stopped;
  const std::string log = server->Log();
  EXPECT_THAT(log, Not(HasSubstr("Too many open files"))) << log;
  EXPECT_THAT(log, HasSubstr("refused: chat-service is full")) << log;
}

}  // namespace
}  // namespace chat

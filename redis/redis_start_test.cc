// chat-service --redis at start: an unreachable Redis is waited for (and
// said so in the log), a bad address or a server that is not Redis stops
// the start with a sentence.
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/chat_service_process.h"
#include "testing/redis_server.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(20);

// Runs chat-service with `flags`, which must stop it before it is ready;
// how it ended, and its log.
std::string FailedStart(const std::vector<std::string>& flags,
                        std::string* log) {
  auto server = ChatServiceProcess::WithTempLog(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  absl::Status started = server->Start(flags, kTimeout);
  EXPECT_FALSE(started.ok()) << server->ready_line();
  *log = server->Log();
  return std::string(started.message());
}

TEST(RedisStartTest, ABadAddressOrAServerThatIsNotRedisStopsTheStart) {
  std::string log;
  EXPECT_THAT(FailedStart({"--redis=localhost"}, &log),
              HasSubstr("exited (code 1)"));
  EXPECT_THAT(log, HasSubstr("--redis"));
  // An HTTP port answers PING with a 400.
  auto other = ChatServiceProcess::WithTempLog(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  ASSERT_TRUE(other->Start({}, kTimeout).ok());
  EXPECT_THAT(FailedStart({"--redis=" + other->http_addr()}, &log),
              HasSubstr("exited (code 1)"));
  EXPECT_THAT(log, HasSubstr("is not a Redis server"));
  EXPECT_THAT(log, HasSubstr(other->http_addr()));
  // --data_dir too.
  EXPECT_THAT(FailedStart({"--redis=127.0.0.1:1", "--data_dir=/tmp"}, &log),
              HasSubstr("exited (code 1)"));
  EXPECT_THAT(log, HasSubstr("--redis and --data_dir"));
}

TEST(RedisStartTest, AnUnreachableRedisIsWaitedForAndSaidSo) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  ASSERT_TRUE((*redis)->Stop().ok());  // Its port is free now.
  auto server = ChatServiceProcess::WithTempLog(
      ChatServiceProcess::DefaultBinary(CHAT_SERVICE_BIN));
  // A child dies with the thread that started it (PR_SET_PDEATHSIG): this
  // thread starts chat-service and stops it; the test's thread brings Redis.
  absl::Status started;
  int code = -1;
  absl::Notification ready, stop;
  std::thread node([&] {
    started = server->Start({"--redis=" + (*redis)->address()}, kTimeout);
    ready.Notify();
    stop.WaitForNotification();
    if (started.ok()) {
      EXPECT_TRUE(server->Stop(kTimeout, &code).ok());
    }
  });
  // The log says it waits, before any Redis is there.
  const absl::Time deadline = absl::Now() + kTimeout;
  while (!absl::StrContains(server->Log(), "cannot reach it yet, retrying") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // Polls the log file.
  }
  EXPECT_THAT(server->Log(), HasSubstr("cannot reach it yet, retrying"));
  EXPECT_THAT(server->Log(), HasSubstr((*redis)->address()));
  EXPECT_FALSE(ready.HasBeenNotified());
  ASSERT_TRUE((*redis)->Restart().ok());
  ready.WaitForNotification();
  EXPECT_TRUE(started.ok()) << started << server->LogTail(10);
  EXPECT_FALSE(server->grpc_addr().empty());
  stop.Notify();
  node.join();
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace chat

// RedisServer against Debian's redis-server: ports, restarts with and
// without persistence, pause, the log, redis-cli's output.
#include "testing/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

// The process state letter from /proc/PID/stat ('T': stopped).
char ProcessState(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  std::getline(in, stat);
  const size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2]
                                                               : '?';
}

TEST(RedisServerTest, StartsOnAFreePortAndAnswersCli) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisServer& r = **redis;
  EXPECT_TRUE(r.running());
  EXPECT_GT(r.port(), 0);
  EXPECT_EQ(r.address(), absl::StrCat("127.0.0.1:", r.port()));
  EXPECT_EQ(r.Cli({"PING"}).value(), "PONG");
  EXPECT_EQ(r.Cli({"RPUSH", "l", "a", "b", "c"}).value(), "3");
  EXPECT_EQ(r.Cli({"LRANGE", "l", "0", "-1"}).value(), "a\nb\nc");
  EXPECT_EQ(r.Cli({"GET", "missing"}).value(), "");
  // Persistence is off unless asked for.
  EXPECT_EQ(r.Cli({"CONFIG", "GET", "appendonly"}).value(), "appendonly\nno");
  EXPECT_EQ(r.Cli({"CONFIG", "GET", "save"}).value(), "save\n");
}

TEST(RedisServerTest, CliReportsAnErrorReplyAsAnError) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  absl::StatusOr<std::string> out = (*redis)->Cli({"NOSUCHCOMMAND", "x"});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("unknown command"));
}

TEST(RedisServerTest, TwoServersTwoPortsTwoDirectories) {
  absl::StatusOr<std::unique_ptr<RedisServer>> a = RedisServer::Start();
  absl::StatusOr<std::unique_ptr<RedisServer>> b = RedisServer::Start();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->port(), (*b)->port());
  EXPECT_NE((*a)->dir(), (*b)->dir());
  ASSERT_EQ((*a)->Cli({"SET", "k", "a"}).value(), "OK");
  EXPECT_EQ((*b)->Cli({"GET", "k"}).value(), "");
}

TEST(RedisServerTest, RestartWithoutPersistLosesTheData) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisServer& r = **redis;
  const int port = r.port();
  ASSERT_EQ(r.Cli({"SET", "k", "v"}).value(), "OK");
  ASSERT_TRUE(r.Stop().ok());
  EXPECT_FALSE(r.running());
  ASSERT_TRUE(r.Restart().ok()) << r.LogTail(10);
  EXPECT_EQ(r.port(), port);
  EXPECT_EQ(r.Cli({"GET", "k"}).value(), "");
}

TEST(RedisServerTest, RestartWithPersistKeepsEveryAcknowledgedWrite) {
  RedisServer::Options options;
  options.persist = true;
  absl::StatusOr<std::unique_ptr<RedisServer>> redis =
      RedisServer::Start(options);
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisServer& r = **redis;
  ASSERT_EQ(r.Cli({"SET", "k", "v"}).value(), "OK");
  // A crash, not a clean stop: appendfsync always wrote it already.
  r.Kill();
  ASSERT_TRUE(r.Restart().ok()) << r.LogTail(10);
  EXPECT_EQ(r.Cli({"GET", "k"}).value(), "v");
  // And a clean stop, which Restart also survives.
  ASSERT_EQ(r.Cli({"SET", "k2", "v2"}).value(), "OK");
  ASSERT_TRUE(r.Stop().ok());
  ASSERT_TRUE(r.Restart().ok()) << r.LogTail(10);
  EXPECT_EQ(r.Cli({"MGET", "k", "k2"}).value(), "v\nv2");
}

TEST(RedisServerTest, RestartFailsWhenThePortWasTaken) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisServer& r = **redis;
  r.Kill();
  // Someone else listens on the port now.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(r.port()));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  const absl::Status restarted = r.Restart();
  close(fd);
  EXPECT_EQ(restarted.code(), absl::StatusCode::kUnavailable) << restarted;
  EXPECT_THAT(restarted.message(), HasSubstr("Address already in use"));
  EXPECT_FALSE(r.running());
}

TEST(RedisServerTest, PauseStopsTheProcessAndResumeContinuesIt) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisServer& r = **redis;
  r.Pause();
  EXPECT_EQ(ProcessState(r.pid()), 'T');
  r.Resume();
  EXPECT_EQ(r.Cli({"PING"}).value(), "PONG");
  // A paused server still stops on SIGTERM.
  r.Pause();
  EXPECT_TRUE(r.Stop().ok());
}

TEST(RedisServerTest, LogPathIsAppendedAcrossRestartsAndTheDirIsRemoved) {
  const std::string log =
      absl::StrCat(testing::TempDir(), "/redis_server_test_", getpid(), ".log");
  std::filesystem::remove(log);
  std::string dir;
  {
    RedisServer::Options options;
    options.log_path = log;
    absl::StatusOr<std::unique_ptr<RedisServer>> redis =
        RedisServer::Start(options);
    ASSERT_TRUE(redis.ok()) << redis.status();
    dir = (*redis)->dir();
    EXPECT_TRUE(std::filesystem::is_directory(dir));
    ASSERT_TRUE((*redis)->Restart().ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
  std::ifstream in(log);
  std::string line;
  int ready = 0;
  while (std::getline(in, line)) {
    if (absl::StrContains(line, "Ready to accept connections")) ++ready;
  }
  EXPECT_EQ(ready, 2);
  std::filesystem::remove(log);
}

}  // namespace
}  // namespace chat

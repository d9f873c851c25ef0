#include "net/wake_sink.h"

#include <boost/asio/io_context.hpp>
#include <memory>

#include "gtest/gtest.h"

namespace chat {
namespace {

// A session as WakeSink sees one: an executor and a method to wake.
class FakeSession {
 public:
  explicit FakeSession(asio::io_context& io) : executor_(io.get_executor()) {}
  const Connection::Executor& executor() const { return executor_; }
  void OnWake() { ++wakes; }
  int wakes = 0;

 private:
  const Connection::Executor executor_;
};

using Sink = WakeSink<FakeSession, &FakeSession::OnWake>;

TEST(WakeSinkTest, WithoutABatchAWakeIsPostedAtOnce) {
  asio::io_context io;
  auto session = std::make_shared<FakeSession>(io);
  Sink sink(session);
  sink.Wake();
  EXPECT_EQ(io.poll(), 1u);
  EXPECT_EQ(session->wakes, 1);
}

TEST(WakeSinkTest, ABatchPostsOncePerThreadWhenItEnds) {
  asio::io_context a;
  asio::io_context b;
  std::vector<std::shared_ptr<FakeSession>> sessions;
  std::vector<std::unique_ptr<Sink>> sinks;
  for (int i = 0; i < 5; ++i) {
    sessions.push_back(std::make_shared<FakeSession>(i < 3 ? a : b));
    sinks.push_back(std::make_unique<Sink>(sessions.back()));
  }
  {
    WakeBatch batch;
    for (auto& sink : sinks) sink->Wake();
    // Held until the batch ends.
    EXPECT_EQ(a.poll(), 0u);
    EXPECT_EQ(b.poll(), 0u);
    a.restart();
    b.restart();
  }
  EXPECT_EQ(a.poll(), 1u);
  EXPECT_EQ(b.poll(), 1u);
  for (const auto& session : sessions) EXPECT_EQ(session->wakes, 1);
}

TEST(WakeSinkTest, ANestedBatchLeavesThePostToTheOuterOne) {
  asio::io_context io;
  auto session = std::make_shared<FakeSession>(io);
  Sink sink(session);
  {
    WakeBatch outer;
    {
      WakeBatch inner;
      EXPECT_EQ(WakeBatch::Current(), &outer);
      sink.Wake();
    }
    EXPECT_EQ(io.poll(), 0u);
    io.restart();
  }
  EXPECT_EQ(WakeBatch::Current(), nullptr);
  EXPECT_EQ(io.poll(), 1u);
  EXPECT_EQ(session->wakes, 1);
}

TEST(WakeSinkTest, ASessionGoneBeforeItsWakeIsSkipped) {
  asio::io_context io;
  auto session = std::make_shared<FakeSession>(io);
  Sink sink(session);
  session.reset();
  {
    WakeBatch batch;
    sink.Wake();
  }
  EXPECT_EQ(io.poll(), 0u);
}

TEST(WakeSinkTest, ABatchKeepsItsSessionsAliveUntilTheyRun) {
  asio::io_context io;
  auto session = std::make_shared<FakeSession>(io);
  std::weak_ptr<FakeSession> weak = session;
  Sink sink(session);
  {
    WakeBatch batch;
    sink.Wake();
    session.reset();
  }
  ASSERT_FALSE(weak.expired());
  EXPECT_EQ(io.poll(), 1u);
  EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace chat

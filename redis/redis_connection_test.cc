// redis::Connection against a real redis-server (testing/redis_server.h),
// and against fake servers on 127.0.0.1:0 for the answers Redis does not
// give. Everything runs on the test's thread: the test runs the io_context
// until a condition holds or a deadline passes (no sleeps).
#include "redis/redis_connection.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/redis_server.h"

namespace chat::redis {
namespace {

namespace asio = boost::asio;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Events that count what happened.
struct Recorder {
  int ups = 0;
  std::vector<absl::Status> downs;
  // Called after a down is recorded (to Stop, say).
  std::function<void()> after_down;

  Connection::Events events() {
    Connection::Events e;
    e.on_up = [this] { ++ups; };
    e.on_down = [this](const absl::Status& why) {
      downs.push_back(why);
      if (after_down) after_down();
    };
    return e;
  }
};

// One command's outcome.
struct Result {
  bool called = false;
  absl::StatusOr<Reply> reply = absl::UnknownError("no reply yet");
};

Connection::Done Into(Result* result) {
  return [result](absl::StatusOr<Reply> reply) {
    result->called = true;
    result->reply = std::move(reply);
  };
}

Connection::Options OptionsFor(const std::string& host, int port) {
  Connection::Options options;
  options.address = {host, port};
  // Fast retries: the tests wait for several.
  options.backoff_min = absl::Milliseconds(10);
  options.backoff_max = absl::Milliseconds(50);
  return options;
}

Connection::Options OptionsFor(int port) {
  return OptionsFor("127.0.0.1", port);
}

// A TCP server that answers whatever comes first with `answer` and closes:
// a web server, or a Redis that answers PING with something else.
class FakeServer {
 public:
  FakeServer(asio::io_context& io, std::string answer)
      : acceptor_(io, {asio::ip::address_v4::loopback(), 0}),
        answer_(std::move(answer)) {
    Accept();
  }

  int port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_; }
  // Accepts no more (connections are refused).
  void Close() { acceptor_.close(); }

 private:
  void Accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec,
                                  asio::ip::tcp::socket socket) {
      if (ec) return;
      ++connections_;
      auto peer = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
      auto buf = std::make_shared<std::array<char, 256>>();
      // Read the request first, as a real server would, so that closing
      // sends a FIN after the answer and not a reset.
      peer->async_read_some(
          asio::buffer(*buf),
          [this, peer, buf](const boost::system::error_code&, size_t) {
            asio::async_write(
                *peer, asio::buffer(answer_),
                [peer](const boost::system::error_code&, size_t) {
                  boost::system::error_code ignored;
                  peer->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                  peer->close(ignored);
                });
          });
      Accept();
    });
  }

  asio::ip::tcp::acceptor acceptor_;
  const std::string answer_;
  int connections_ = 0;
};

class RedisConnectionTest : public ::testing::Test {
 protected:
  void StartRedis() {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = std::move(*redis);
  }

  // Runs io_ until `done()` holds. False when `timeout` passes first, or
  // when nothing is left to run that could make it hold.
  bool RunUntil(const std::function<bool()>& done,
                absl::Duration timeout = absl::Seconds(10)) {
    const auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (io_.stopped()) io_.restart();  // Ran out of work before.
      if (io_.run_one_until(deadline) == 0 && io_.stopped()) {
        io_.restart();
        return done();
      }
    }
    return true;
  }

  // Runs io_ until it has nothing left to do; false if that takes longer
  // than `timeout` (something keeps retrying).
  bool RunUntilIdle(absl::Duration timeout = absl::Seconds(10)) {
    io_.restart();
    const auto deadline =
        std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    while (!io_.stopped()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io_.run_one_until(deadline);
    }
    io_.restart();
    return true;
  }

  // Runs one command and waits for its outcome.
  absl::StatusOr<Reply> Run(Connection& c, std::vector<std::string> argv) {
    Result result;
    c.Command(std::move(argv), Into(&result));
    if (!RunUntil([&] { return result.called; })) {
      return absl::DeadlineExceededError("no reply within 10 s");
    }
    return result.reply;
  }

  // Waits until the server reports `n` clients blocked in a command,
  // asking through redis-cli (a condition, not a sleep).
  bool WaitBlockedClients(int n) {
    const std::string want = absl::StrCat("blocked_clients:", n, "\r");
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      io_.poll();  // Lets the connection write what it owes.
      io_.restart();
      absl::StatusOr<std::string> info = redis_->Cli({"INFO", "clients"});
      if (info.ok() && absl::StrContains(*info, want)) return true;
    }
    return false;
  }

  asio::io_context io_;
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(RedisConnectionTest, RoundTripsAndReplyTypes) {
  StartRedis();
  Recorder rec;
  Connection c(io_, OptionsFor(redis_->port()), rec.events());
  EXPECT_FALSE(c.up());
  EXPECT_EQ(c.address().ToString(), redis_->address());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  EXPECT_TRUE(c.up());
  EXPECT_TRUE(rec.downs.empty());

  Result set, get, incr, missing, push, range;
  c.Command({"SET", "k", "v"}, Into(&set));
  c.Command({"GET", "k"}, Into(&get));
  c.Command({"INCRBY", "n", "42"}, Into(&incr));
  c.Command({"GET", "missing"}, Into(&missing));
  c.Command({"RPUSH", "l", "a", "b"}, Into(&push));
  c.Command({"LRANGE", "l", "0", "-1"}, Into(&range));
  ASSERT_TRUE(RunUntil([&] { return range.called; }));
  for (Result* r : {&set, &get, &incr, &missing, &push, &range}) {
    ASSERT_TRUE(r->called);
    ASSERT_TRUE(r->reply.ok()) << r->reply.status();
  }
  EXPECT_EQ(set.reply->type, Reply::Type::kStatus);
  EXPECT_EQ(set.reply->str, "OK");
  EXPECT_EQ(get.reply->type, Reply::Type::kString);
  EXPECT_EQ(get.reply->str, "v");
  EXPECT_EQ(incr.reply->type, Reply::Type::kInteger);
  EXPECT_EQ(incr.reply->integer, 42);
  EXPECT_TRUE(missing.reply->is_nil());
  EXPECT_EQ(push.reply->integer, 2);
  ASSERT_EQ(range.reply->type, Reply::Type::kArray);
  ASSERT_EQ(range.reply->elements.size(), 2u);
  EXPECT_EQ(range.reply->elements[0].str, "a");
  EXPECT_EQ(range.reply->elements[1].str, "b");
  // The server holds what the connection wrote.
  EXPECT_EQ(redis_->Cli({"GET", "k"}).value(), "v");
}

TEST_F(RedisConnectionTest, AThousandPipelinedCommandsAnswerInOrder) {
  StartRedis();
  Recorder rec;
  Connection c(io_, OptionsFor(redis_->port()), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  // All are sent before any reply is read: one pipeline.
  std::vector<int64_t> got;
  for (int i = 0; i < 1000; ++i) {
    c.Command({"INCR", "counter"}, [&got](absl::StatusOr<Reply> r) {
      got.push_back(r.ok() && r->type == Reply::Type::kInteger ? r->integer
                                                               : -1);
    });
  }
  ASSERT_TRUE(RunUntil([&] { return got.size() == 1000; }));
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(got[i], i + 1) << "reply " << i;
}

TEST_F(RedisConnectionTest, KeysAndValuesAreBinarySafe) {
  StartRedis();
  Recorder rec;
  Connection c(io_, OptionsFor(redis_->port()), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  const std::string key("k\0e\r\ny", 6);
  std::string value("a\0b\r\n$3\r\n\0", 10);
  value += std::string(100000, '\0');
  absl::StatusOr<Reply> set = Run(c, {"SET", key, value});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->str, "OK");
  absl::StatusOr<Reply> len = Run(c, {"STRLEN", key});
  ASSERT_TRUE(len.ok()) << len.status();
  EXPECT_EQ(len->integer, static_cast<int64_t>(value.size()));
  absl::StatusOr<Reply> get = Run(c, {"GET", key});
  ASSERT_TRUE(get.ok()) << get.status();
  // Not EXPECT_EQ: a failure would print 100 KB of escapes.
  EXPECT_EQ(get->str.size(), value.size());
  EXPECT_TRUE(get->str == value)
      << "first 16 bytes: \"" << absl::CHexEscape(get->str.substr(0, 16))
      << "\"";
  absl::StatusOr<Reply> other = Run(c, {"GET", std::string("k\0e", 3)});
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->is_nil());
}

TEST_F(RedisConnectionTest, AnErrorReplyIsAReplyNotAFailure) {
  StartRedis();
  Recorder rec;
  Connection c(io_, OptionsFor(redis_->port()), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  absl::StatusOr<Reply> unknown = Run(c, {"NOSUCHCOMMAND", "x"});
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_TRUE(unknown->is_error());
  EXPECT_THAT(unknown->str, HasSubstr("unknown command"));
  ASSERT_TRUE(Run(c, {"RPUSH", "l", "a"}).ok());
  absl::StatusOr<Reply> wrong = Run(c, {"INCR", "l"});
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_EQ(wrong->type, Reply::Type::kError);
  EXPECT_THAT(wrong->str, HasSubstr("WRONGTYPE"));
  // The connection is as it was.
  absl::StatusOr<Reply> ping = Run(c, {"PING"});
  ASSERT_TRUE(ping.ok()) << ping.status();
  EXPECT_EQ(ping->str, "PONG");
  EXPECT_TRUE(c.up());
  EXPECT_TRUE(rec.downs.empty());
}

TEST_F(RedisConnectionTest, RefusalsArePostedNeverInline) {
  StartRedis();
  Recorder rec;
  Connection c(io_, OptionsFor(redis_->port()), rec.events());
  Result early;
  c.Command({"PING"}, Into(&early));  // Not started.
  EXPECT_FALSE(early.called);
  ASSERT_TRUE(RunUntil([&] { return early.called; }));
  EXPECT_EQ(early.reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(early.reply.status().message(), HasSubstr(redis_->address()));

  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  Result empty, subscribe, monitor;
  c.Command({}, Into(&empty));
  c.Command({"subscribe", "channel"}, Into(&subscribe));
  c.Command({"MONITOR"}, Into(&monitor));
  EXPECT_FALSE(empty.called || subscribe.called || monitor.called);
  ASSERT_TRUE(RunUntil([&] { return empty.called && monitor.called; }));
  EXPECT_EQ(empty.reply.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(subscribe.reply.status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(monitor.reply.status().code(), absl::StatusCode::kInvalidArgument);
  // Nothing reached the server: the next reply is the next command's.
  absl::StatusOr<Reply> echo = Run(c, {"ECHO", "after"});
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(echo->str, "after");
}

TEST_F(RedisConnectionTest, ServerKilledFailsOwedRepliesAndRestartBringsItUp) {
  StartRedis();
  Recorder rec;
  Connection c(io_, OptionsFor(redis_->port()), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  // A reply owed for good: BLPOP on a list nobody fills.
  Result owed;
  bool up_when_failed = true;
  c.Command({"BLPOP", "nolist", "0"}, [&](absl::StatusOr<Reply> r) {
    up_when_failed = c.up();
    Into (&owed)(std::move(r));
  });
  ASSERT_TRUE(WaitBlockedClients(1));

  redis_->Kill();
  ASSERT_TRUE(RunUntil([&] { return owed.called && !rec.downs.empty(); }));
  EXPECT_EQ(owed.reply.status().code(), absl::StatusCode::kUnavailable)
      << owed.reply.status();
  EXPECT_FALSE(up_when_failed);  // on_down came first.
  EXPECT_FALSE(c.up());
  EXPECT_EQ(rec.downs[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(rec.downs[0].message(),
              AllOf(HasSubstr(redis_->address()), HasSubstr("lost")));
  // While it is down, commands are refused.
  absl::StatusOr<Reply> refused = Run(c, {"PING"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);

  ASSERT_TRUE(redis_->Restart().ok()) << redis_->LogTail(10);
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 2; }));
  EXPECT_TRUE(c.up());
  for (const absl::Status& down : rec.downs) {
    EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  }
  ASSERT_TRUE(Run(c, {"SET", "k", "again"}).ok());
  absl::StatusOr<Reply> get = Run(c, {"GET", "k"});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->str, "again");
}

TEST_F(RedisConnectionTest, BlockingReadIsAnsweredWhenAnotherConnectionAdds) {
  StartRedis();
  Recorder rec_a, rec_b;
  Connection a(io_, OptionsFor(redis_->port()), rec_a.events());
  Connection b(io_, OptionsFor(redis_->port()), rec_b.events());
  a.Start();
  b.Start();
  ASSERT_TRUE(RunUntil([&] { return rec_a.ups == 1 && rec_b.ups == 1; }));
  Result read;
  a.Command({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}, Into(&read));
  ASSERT_TRUE(WaitBlockedClients(1));
  EXPECT_FALSE(read.called);
  // The other connection goes on meanwhile.
  absl::StatusOr<Reply> id = Run(b, {"XADD", "s", "*", "f", "v"});
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_EQ(id->type, Reply::Type::kString);
  ASSERT_TRUE(RunUntil([&] { return read.called; }));
  ASSERT_TRUE(read.reply.ok()) << read.reply.status();
  // [[s, [[ID, [f, v]]]]]
  const Reply& streams = *read.reply;
  ASSERT_EQ(streams.elements.size(), 1u);
  ASSERT_EQ(streams.elements[0].elements.size(), 2u);
  EXPECT_EQ(streams.elements[0].elements[0].str, "s");
  const Reply& entries = streams.elements[0].elements[1];
  ASSERT_EQ(entries.elements.size(), 1u);
  ASSERT_EQ(entries.elements[0].elements.size(), 2u);
  EXPECT_EQ(entries.elements[0].elements[0].str, id->str);
  const Reply& fields = entries.elements[0].elements[1];
  ASSERT_EQ(fields.elements.size(), 2u);
  EXPECT_EQ(fields.elements[0].str, "f");
  EXPECT_EQ(fields.elements[1].str, "v");
}

TEST_F(RedisConnectionTest, NothingListeningIsUnavailableAndRetried) {
  int port;
  {
    asio::ip::tcp::acceptor probe(io_, {asio::ip::address_v4::loopback(), 0});
    port = probe.local_endpoint().port();
  }  // Closed: connections to it are refused.
  Recorder rec;
  Connection c(io_, OptionsFor(port), rec.events());
  rec.after_down = [&] {
    if (rec.downs.size() == 3) c.Stop();
  };
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.downs.size() >= 3; }));
  for (const absl::Status& down : rec.downs) {
    EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
    EXPECT_THAT(down.message(),
                AllOf(HasSubstr(absl::StrCat("127.0.0.1:", port)),
                      HasSubstr("refused")));
  }
  EXPECT_EQ(rec.ups, 0);
  // Stopped: no retry is left pending.
  EXPECT_TRUE(RunUntilIdle());
  EXPECT_EQ(rec.downs.size(), 3u);
}

TEST_F(RedisConnectionTest, AServerThatIsNotRedisStopsItForGood) {
  FakeServer web(io_, "HTTP/1.1 400 Bad Request\r\n\r\n");
  Recorder rec;
  Connection c(io_, OptionsFor(web.port()), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return !rec.downs.empty(); }));
  const absl::Status& down = rec.downs[0];
  EXPECT_EQ(down.code(), absl::StatusCode::kFailedPrecondition) << down;
  EXPECT_THAT(down.message(),
              AllOf(HasSubstr(absl::StrCat("127.0.0.1:", web.port(),
                                           " is not a Redis server")),
                    HasSubstr("HTTP/1.1 400 Bad Request")));
  EXPECT_EQ(rec.ups, 0);
  EXPECT_FALSE(c.up());
  // It does not come back: with the server refusing from now on, a retry
  // would show as another down and keep the io_context busy.
  web.Close();
  EXPECT_TRUE(RunUntilIdle());
  EXPECT_EQ(rec.downs.size(), 1u);
  EXPECT_EQ(web.connections(), 1);
}

TEST_F(RedisConnectionTest, OtherAnswersToPing) {
  {
    FakeServer wrong(io_, "+OK\r\n");
    Recorder rec;
    Connection c(io_, OptionsFor(wrong.port()), rec.events());
    c.Start();
    ASSERT_TRUE(RunUntil([&] { return !rec.downs.empty(); }));
    EXPECT_EQ(rec.downs[0].code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(rec.downs[0].message(),
                AllOf(HasSubstr("is not a Redis server"), HasSubstr("\"OK\"")));
  }
  {
    // A Redis that wants AUTH: a Redis, but not one this connection can use.
    FakeServer auth(io_, "-NOAUTH Authentication required.\r\n");
    Recorder rec;
    Connection c(io_, OptionsFor(auth.port()), rec.events());
    c.Start();
    ASSERT_TRUE(RunUntil([&] { return !rec.downs.empty(); }));
    EXPECT_EQ(rec.downs[0].code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(rec.downs[0].message(),
                AllOf(HasSubstr("refused PING"), HasSubstr("NOAUTH")));
  }
  {
    // A Redis still loading its data will answer later: retry.
    FakeServer loading(io_, "-LOADING Redis is loading the dataset\r\n");
    Recorder rec;
    Connection c(io_, OptionsFor(loading.port()), rec.events());
    c.Start();
    ASSERT_TRUE(RunUntil([&] { return rec.downs.size() >= 2; }));
    for (const absl::Status& down : rec.downs) {
      EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
      EXPECT_THAT(down.message(), HasSubstr("LOADING"));
    }
    EXPECT_GE(loading.connections(), 2);
  }
  EXPECT_TRUE(RunUntilIdle());
}

TEST_F(RedisConnectionTest, AnUnknownHostIsInvalidArgumentAndStops) {
  const char kHost[] = "no-such-host.invalid";
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(kHost, nullptr, nullptr, &found);
  if (found != nullptr) freeaddrinfo(found);
  if (rc != EAI_NONAME) {
    GTEST_SKIP() << "this machine's resolver does not say " << kHost
                 << " does not exist (it says: "
                 << (rc == 0 ? "it does" : gai_strerror(rc)) << ")";
  }
  Recorder rec;
  Connection c(io_, OptionsFor(kHost, 6379), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return !rec.downs.empty(); }));
  EXPECT_EQ(rec.downs[0].code(), absl::StatusCode::kInvalidArgument)
      << rec.downs[0];
  EXPECT_THAT(rec.downs[0].message(), HasSubstr(kHost));
  EXPECT_TRUE(RunUntilIdle());
  EXPECT_EQ(rec.downs.size(), 1u);
}

TEST_F(RedisConnectionTest, AHostNameIsResolved) {
  StartRedis();
  Recorder rec;
  // localhost may resolve to ::1 first, where nothing listens: the
  // connection tries each address.
  Connection c(io_, OptionsFor("localhost", redis_->port()), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  EXPECT_TRUE(rec.downs.empty()) << rec.downs[0];
  absl::StatusOr<Reply> ping = Run(c, {"PING"});
  ASSERT_TRUE(ping.ok()) << ping.status();
}

TEST_F(RedisConnectionTest, APausedServerTimesOutThenComesUp) {
  StartRedis();
  Connection::Options options = OptionsFor(redis_->port());
  options.connect_timeout = absl::Milliseconds(200);
  Recorder rec;
  Connection c(io_, options, rec.events());
  redis_->Pause();  // The kernel accepts; nobody answers PING.
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return !rec.downs.empty(); }));
  EXPECT_EQ(rec.downs[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(rec.downs[0].message(),
              AllOf(HasSubstr("no answer to PING"), HasSubstr("200ms")));
  redis_->Resume();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  absl::StatusOr<Reply> ping = Run(c, {"PING"});
  ASSERT_TRUE(ping.ok()) << ping.status();
}

TEST_F(RedisConnectionTest, StopFailsOwedRepliesAndLeavesNothingRunning) {
  StartRedis();
  Recorder rec;
  Connection c(io_, OptionsFor(redis_->port()), rec.events());
  c.Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  Result owed;
  c.Command({"BLPOP", "nolist", "0"}, Into(&owed));
  ASSERT_TRUE(WaitBlockedClients(1));
  c.Stop();
  EXPECT_TRUE(owed.called);  // Inside Stop.
  EXPECT_EQ(owed.reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(c.up());
  c.Stop();  // Idempotent.
  Result after;
  c.Command({"PING"}, Into(&after));
  EXPECT_TRUE(RunUntilIdle());
  EXPECT_TRUE(after.called);
  EXPECT_EQ(after.reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(rec.downs.empty());  // Stop is not a failure.
  EXPECT_TRUE(WaitBlockedClients(0));
}

TEST_F(RedisConnectionTest, DestroyedInsideItsOwnCallbacks) {
  StartRedis();
  // In a reply's callback.
  std::unique_ptr<Connection> c;
  bool replied = false;
  Connection::Events events;
  events.on_up = [&] {
    c->Command({"PING"}, [&](absl::StatusOr<Reply> r) {
      replied = r.ok();
      c.reset();
    });
  };
  c = std::make_unique<Connection>(io_, OptionsFor(redis_->port()), events);
  c->Start();
  ASSERT_TRUE(RunUntil([&] { return c == nullptr; }));
  EXPECT_TRUE(replied);
  EXPECT_TRUE(RunUntilIdle());

  // In on_down, while hiredis fails the replies owed.
  Result owed;
  Recorder rec;
  rec.after_down = [&] { c.reset(); };
  c = std::make_unique<Connection>(io_, OptionsFor(redis_->port()),
                                   rec.events());
  c->Start();
  ASSERT_TRUE(RunUntil([&] { return rec.ups == 1; }));
  c->Command({"BLPOP", "nolist", "0"}, Into(&owed));
  ASSERT_TRUE(WaitBlockedClients(1));
  redis_->Kill();
  ASSERT_TRUE(RunUntil([&] { return c == nullptr && owed.called; }));
  EXPECT_EQ(owed.reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(RunUntilIdle());
  EXPECT_EQ(rec.downs.size(), 1u);
}

TEST(ParseAddressesTest, ValidLists) {
  absl::StatusOr<std::vector<Address>> one = ParseAddresses("127.0.0.1:6379");
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].host, "127.0.0.1");
  EXPECT_EQ((*one)[0].port, 6379);

  absl::StatusOr<std::vector<Address>> three =
      ParseAddresses(" redis-a:6379 , [::1]:6380,redis.example.com:1");
  ASSERT_TRUE(three.ok()) << three.status();
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[0].ToString(), "redis-a:6379");
  EXPECT_EQ((*three)[1].host, "::1");
  EXPECT_EQ((*three)[1].port, 6380);
  EXPECT_EQ((*three)[1].ToString(), "[::1]:6380");
  EXPECT_EQ((*three)[2].ToString(), "redis.example.com:1");
  EXPECT_EQ(ParseAddresses("h:65535").value()[0].port, 65535);
}

TEST(ParseAddressesTest, InvalidListsSayWhich) {
  struct Case {
    const char* list;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "no Redis address"},
           {"  ", "no Redis address"},
           {"redis", "\"redis\" has no port"},
           {"redis:", "bad port"},
           {"redis:0", "bad port"},
           {"redis:65536", "bad port"},
           {"redis:x", "bad port"},
           {"redis:+1", "bad port"},
           {"redis:123456", "bad port"},
           {":6379", "has no host"},
           {"a:1,,b:2", "empty address"},
           {"a:1,", "empty address"},
           {"::1:6379", "brackets"},
           {"[::1]", "has no port"},
           {"[::1]6379", "has no port"},
           {"[::1:6379", "no ']'"},
           {"[]:6379", "has no host"},
           {"a:1,b:2,a:1", "\"a:1\" is given twice"},
           {"Redis:1,redis:1", "given twice"},
       }) {
    absl::StatusOr<std::vector<Address>> got = ParseAddresses(c.list);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << c.list << "\"";
    EXPECT_THAT(got.status().message(), HasSubstr(c.says))
        << "\"" << c.list << "\"";
  }
}

}  // namespace
}  // namespace chat::redis

// The metrics port in process: a hub and a MetricsServer on 127.0.0.1:0,
// spoken to with a raw TCP client, as curl or Prometheus would.
#include "metrics/metrics_server.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/test_members.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Response {
  std::string head;  // Status line and headers.
  std::string body;
};

Response Split(const std::string& raw) {
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return {raw, ""};
  return {raw.substr(0, end + 2), raw.substr(end + 4)};
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(MetricsServerOptions{}); }

  void StartServer(MetricsServerOptions options) {
    options.address = "127.0.0.1:0";
    server_ = std::make_unique<MetricsServer>(&hub_, options);
    ASSERT_TRUE(server_->Start().ok());
  }

  // Sends `request` on a new connection and returns everything up to the
  // server's close.
  Response Ask(const std::string& request) {
    TcpTestClient client(server_->port());
    client.Send(request);
    std::optional<std::string> raw = client.ReadToEof();
    EXPECT_TRUE(raw.has_value()) << "no close after " << request;
    return Split(raw.value_or(""));
  }

  Hub hub_{HubOptions{}};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, GetAnswersInTheTextFormat) {
  JoinRequest join;
  join.name = "alice";
  ASSERT_TRUE(hub_.Join(join, std::make_shared<NullSink>()).ok());
  const Response r =
      Ask("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r.head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r.head, HasSubstr("Content-Type: text/plain; version=0.0.4; "
                                "charset=utf-8\r\n"));
  EXPECT_THAT(r.head,
              HasSubstr(absl::StrCat("Content-Length: ", r.body.size())));
  EXPECT_THAT(r.body, HasSubstr("# TYPE chat_members gauge\n"));
  EXPECT_THAT(r.body, HasSubstr("\nchat_members{transport=\"grpc\"} 1\n"));
}

TEST_F(MetricsServerTest, QueryIsIgnored) {
  const Response r =
      Ask("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r.head, StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, HeadHasTheLengthAndNoBody) {
  const Response r =
      Ask("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r.head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(r.head, Not(HasSubstr("Content-Length: 0\r\n")));
  EXPECT_THAT(r.head, HasSubstr("Content-Length: "));
  EXPECT_EQ(r.body, "");
}

TEST_F(MetricsServerTest, OtherPathsAreNotFound) {
  const Response r =
      Ask("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(r.head, StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(r.body, HasSubstr("/metrics"));
}

TEST_F(MetricsServerTest, OtherMethodsAreNotAllowed) {
  const Response r =
      Ask("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n");
  EXPECT_THAT(r.head, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(r.head, HasSubstr("Allow: GET, HEAD\r\n"));
}

TEST_F(MetricsServerTest, ARequestWithABodyIsRefused) {
  const Response r =
      Ask("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_THAT(r.head, StartsWith("HTTP/1.1 400 Bad Request\r\n"));
}

TEST_F(MetricsServerTest, KeptAliveConnectionAnswersEachRequest) {
  TcpTestClient client(server_->port());
  client.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  client.Send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::optional<std::string> raw = client.ReadToEof();
  ASSERT_TRUE(raw.has_value());
  size_t answers = 0;
  for (size_t at = raw->find("HTTP/1.1 200 OK"); at != std::string::npos;
       at = raw->find("HTTP/1.1 200 OK", at + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, 2u);
}

TEST_F(MetricsServerTest, OverTheCapA503) {
  server_->Shutdown(absl::ZeroDuration());
  MetricsServerOptions options;
  options.max_connections = 1;
  StartServer(options);
  TcpTestClient first(server_->port());  // Accepted: the cap is reached.
  TcpTestClient second(server_->port());
  std::optional<std::string> raw = second.ReadToEof();
  ASSERT_TRUE(raw.has_value());
  EXPECT_THAT(*raw, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  // The first is served all the same.
  first.Send("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::optional<std::string> answer = first.ReadToEof();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsServerTest, ListensUntilShutdown) {
  EXPECT_EQ(server_->name(), "metrics");
  EXPECT_THAT(server_->address(), StartsWith("127.0.0.1:"));
  const int port = server_->port();
  EXPECT_TRUE(TcpTestClient::CanConnect(port));
  server_->Shutdown(absl::Seconds(1));
  EXPECT_FALSE(TcpTestClient::CanConnect(port));
}

}  // namespace
}  // namespace chat

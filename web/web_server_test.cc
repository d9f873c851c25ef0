#include "web/web_server.h"

#include <google/protobuf/util/json_util.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth.h"
#include "service/auth_token.h"
#include "testing/in_process_server.h"
#include "testing/tcp_test_client.h"
#include "web/web_protocol.h"

namespace chat {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kTimeout = absl::Seconds(5);

// What a WebSocket client got: a frame's text, or the close that ended it.
struct Frame {
  bool closed = false;
  uint16_t code = 0;  // When closed: the server's close code (0: none, or
  std::string text;   // the connection broke); else the frame's text.
};

// A WebSocket client from the same library, as a script would use it.
// Every wait is bounded by kTimeout.
class WsClient {
 public:
  // Connects and completes the handshake; `origin` "" sends none.
  explicit WsClient(int port, std::string origin = "") : ws_(context_) {
    ws_.next_layer().connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ws_.next_layer().set_option(tcp::no_delay(true));
    ws_.set_option(websocket::stream_base::decorator(
        [origin](websocket::request_type& request) {
          if (!origin.empty()) request.set(http::field::origin, origin);
        }));
    ws_.handshake(response_, absl::StrCat("127.0.0.1:", port), "/ws", error_);
  }

  const ErrorCode& handshake_error() const { return error_; }
  const websocket::response_type& handshake_response() const {
    return response_;
  }

  void Send(absl::string_view text) {
    ws_.text(true);
    ws_.write(asio::buffer(text.data(), text.size()));
  }
  void SendBinary(absl::string_view bytes) {
    ws_.binary(true);
    ws_.write(asio::buffer(bytes.data(), bytes.size()));
  }
  // Sends a frame, tolerating a server that closes while it is sent.
  void SendBig(const std::string& text) {
    ws_.text(true);
    ErrorCode ignored;
    ws_.write(asio::buffer(text), ignored);
  }
  void Close() {
    ErrorCode ignored;
    ws_.close(websocket::close_code::normal, ignored);
  }

  // The next frame, or the close.
  Frame Read() {
    Frame frame;
    std::optional<ErrorCode> done;
    buffer_.clear();
    ws_.async_read(buffer_,
                   [&done](const ErrorCode& error, size_t) { done = error; });
    context_.restart();
    context_.run_for(absl::ToChronoNanoseconds(kTimeout));
    if (!done) {
      ADD_FAILURE() << "no frame within " << kTimeout;
      ws_.next_layer().close();
      context_.restart();
      context_.run();
      frame.closed = true;
      return frame;
    }
    if (*done) {
      frame.closed = true;
      if (*done == websocket::error::closed) {
        frame.code = ws_.reason().code;
        frame.text = std::string(ws_.reason().reason.c_str());
      } else {
        frame.text = done->message();  // The connection broke.
      }
      return frame;
    }
    frame.text = beast::buffers_to_string(buffer_.data());
    return frame;
  }

  // The next frame as a ChatResponse (fails the test on a close).
  v1::ChatResponse ReadEvent() {
    Frame frame = Read();
    v1::ChatResponse event;
    EXPECT_FALSE(frame.closed) << "closed " << frame.code << " " << frame.text;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(frame.text, &event).ok())
        << frame.text;
    return event;
  }

  // Reads events until one whose JSON contains `text`.
  v1::ChatResponse ReadUntil(absl::string_view text) {
    for (;;) {
      Frame frame = Read();
      if (frame.closed) {
        ADD_FAILURE() << "closed " << frame.code << " before " << text;
        return {};
      }
      if (absl::StrContains(frame.text, text)) {
        v1::ChatResponse event;
        EXPECT_TRUE(
            google::protobuf::util::JsonStringToMessage(frame.text, &event)
                .ok());
        return event;
      }
    }
  }

  // Reads until the server closes; returns that close.
  Frame ReadUntilClosed() {
    for (;;) {
      Frame frame = Read();
      if (frame.closed) return frame;
    }
  }

  // Joins and returns the welcome, having read the member's own joined
  // event too (unless `read_own_join` is false: a resume's replay comes
  // first).
  v1::Welcome Join(absl::string_view name, absl::string_view extra = "",
                   bool read_own_join = true) {
    Send(absl::StrCat(R"({"join":{"name":")", name, R"(")", extra, "}}"));
    v1::ChatResponse welcome = ReadEvent();
    EXPECT_TRUE(welcome.has_welcome()) << welcome.DebugString();
    if (read_own_join) {
      v1::ChatResponse joined = ReadEvent();
      EXPECT_EQ(joined.member_joined().member().name(),
                welcome.welcome().name());
    }
    return welcome.welcome();
  }

 private:
  asio::io_context context_;
  websocket::stream<tcp::socket> ws_;
  websocket::response_type response_;
  ErrorCode error_;
  beast::flat_buffer buffer_;
};

// One HTTP request and its response, on a connection of its own.
http::response<http::string_body> Fetch(
    int port, http::verb method, absl::string_view target,
    std::vector<std::pair<std::string, std::string>> headers = {},
    std::string body = "") {
  asio::io_context context;
  tcp::socket socket(context);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> request(
      method, beast::string_view(target.data(), target.size()), 11);
  request.set(http::field::host, absl::StrCat("127.0.0.1:", port));
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty()) {
    request.body() = std::move(body);
    request.prepare_payload();
  }
  ErrorCode error;
  http::write(socket, request, error);  // A refusal may cut a long body.
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(method == http::verb::head);
  http::read(socket, buffer, parser, error);
  EXPECT_FALSE(error) << error.message();
  return parser.release();
}

class WebServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(HubOptions(), WebServerOptions()); }
  void TearDown() override { Stop(); }

  void Start(HubOptions hub_options, WebServerOptions options) {
    Stop();
    server_ = std::make_unique<InProcessServer>(hub_options);
    web_ = server_->StartListener<WebServer>(options);
    port_ = web_->port();
    ASSERT_NE(port_, 0);
    EXPECT_EQ(web_->address(), absl::StrCat("127.0.0.1:", port_));
  }

  void Stop() {
    web_ = nullptr;
    server_.reset();  // The hub's notice, then web_ (a grace of 1 s).
  }

  Hub* hub() const { return server_->hub(); }

  std::string Origin() const {
    return absl::StrCat("http://127.0.0.1:", port_);
  }

  // The hub and web_ (with a gRPC port nobody uses).
  std::unique_ptr<InProcessServer> server_;
  WebServer* web_ = nullptr;  // Owned by server_.
  int port_ = 0;
};

TEST_F(WebServerTest, ServesThePageWithItsHeaders) {
  auto page = Fetch(port_, http::verb::get, "/");
  EXPECT_EQ(page.result(), http::status::ok);
  EXPECT_EQ(page[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_THAT(std::string(page["Content-Security-Policy"]),
              HasSubstr("script-src 'self'"));
  EXPECT_EQ(page["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(page[http::field::cache_control], "no-cache");
  EXPECT_THAT(page.body(), HasSubstr("<html"));
  const std::string etag(page[http::field::etag]);
  ASSERT_FALSE(etag.empty());

  auto again =
      Fetch(port_, http::verb::get, "/?room=dev", {{"If-None-Match", etag}});
  EXPECT_EQ(again.result(), http::status::not_modified);
  EXPECT_TRUE(again.body().empty());

  auto script = Fetch(port_, http::verb::get, "/app.js");
  EXPECT_EQ(script.result(), http::status::ok);
  EXPECT_EQ(script[http::field::content_type],
            "text/javascript; charset=utf-8");
  auto style = Fetch(port_, http::verb::get, "/style.css");
  EXPECT_EQ(style[http::field::content_type], "text/css; charset=utf-8");

  auto head = Fetch(port_, http::verb::head, "/");
  EXPECT_EQ(head.result(), http::status::ok);
  EXPECT_EQ(head[http::field::content_length],
            std::to_string(page.body().size()));
}

TEST_F(WebServerTest, RefusesWhatItDoesNotServe) {
  EXPECT_EQ(Fetch(port_, http::verb::get, "/nope").result(),
            http::status::not_found);
  EXPECT_EQ(Fetch(port_, http::verb::get, "/../etc/passwd").result(),
            http::status::not_found);
  auto post = Fetch(port_, http::verb::post, "/", {}, "x");
  EXPECT_EQ(post.result(), http::status::method_not_allowed);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
  auto ws = Fetch(port_, http::verb::get, "/ws");
  EXPECT_EQ(ws.result(), http::status::upgrade_required);
  // A request body over --max_message_bytes is refused, not read.
  auto big = Fetch(port_, http::verb::post, "/", {},
                   std::string(hub()->options().max_message_bytes + 1, 'x'));
  EXPECT_EQ(big.result(), http::status::payload_too_large);
  auto header = Fetch(port_, http::verb::get, "/",
                      {{"X-Filler", std::string(10000, 'x')}});
  EXPECT_EQ(header.result(), http::status::request_header_fields_too_large);
}

TEST_F(WebServerTest, TwoWebSocketsChatInOneOrder) {
  WsClient ann(port_, Origin());
  ASSERT_FALSE(ann.handshake_error()) << ann.handshake_error().message();
  v1::Welcome welcome = ann.Join("ann");
  EXPECT_EQ(welcome.room(), "lobby");
  EXPECT_EQ(welcome.name(), "ann");
  EXPECT_FALSE(welcome.epoch().empty());

  WsClient bob(port_);  // No Origin: a script.
  ASSERT_FALSE(bob.handshake_error());
  v1::Welcome bob_welcome = bob.Join("bob", R"(,"room":"lobby")");
  ASSERT_EQ(bob_welcome.members_size(), 2);
  EXPECT_EQ(bob_welcome.members(0).transport(), v1::TRANSPORT_WEB);
  v1::ChatResponse joined = ann.ReadEvent();
  EXPECT_EQ(joined.member_joined().member().name(), "bob");
  EXPECT_EQ(joined.member_joined().member().transport(), v1::TRANSPORT_WEB);

  ann.Send(R"({"say":{"text":"one"}})");
  bob.Send(R"({"say":{"text":"waves","action":true}})");
  ann.Send(R"({"say":{"text":"<script>alert(1)</script>"}})");
  std::vector<std::string> seen_by_ann, seen_by_bob;
  uint64_t last_ann = joined.seq(), last_bob = joined.seq();
  for (int i = 0; i < 3; ++i) {
    v1::ChatResponse a = ann.ReadEvent(), b = bob.ReadEvent();
    EXPECT_EQ(a.seq(), last_ann + 1);
    EXPECT_EQ(b.seq(), last_bob + 1);
    last_ann = a.seq();
    last_bob = b.seq();
    seen_by_ann.push_back(
        absl::StrCat(a.seq(), a.message().sender(), ":", a.message().text()));
    seen_by_bob.push_back(
        absl::StrCat(b.seq(), b.message().sender(), ":", b.message().text()));
  }
  EXPECT_EQ(seen_by_ann, seen_by_bob);
  EXPECT_THAT(seen_by_ann, ::testing::Contains(HasSubstr("bob:waves")));
  EXPECT_THAT(seen_by_ann,
              ::testing::Contains(HasSubstr("ann:<script>alert(1)</script>")));

  // Rename and move go through the core like any transport's.
  bob.Send(R"({"rename":{"name":"robert"}})");
  EXPECT_EQ(ann.ReadEvent().member_renamed().new_name(), "robert");
  bob.Send(R"({"join":{"room":"dev"}})");
  EXPECT_EQ(ann.ReadUntil("member_left").member_left().member().name(),
            "robert");
  EXPECT_EQ(bob.ReadUntil("welcome").welcome().room(), "dev");

  ann.Send(R"({"leave":{"reason":"lunch"}})");
  Frame end = ann.ReadUntilClosed();
  EXPECT_EQ(end.code, 1000);
  EXPECT_TRUE(web_->WaitForConnectionCount(1, kTimeout));
}

TEST_F(WebServerTest, AFrameBeforeAJoinIsRefused) {
  WebServerOptions options;
  options.close_grace = absl::Hours(1);  // Only the handshake ends them.
  Start(HubOptions(), options);
  WsClient say(port_);
  say.Send(R"({"say":{"text":"hi"}})");
  Frame end = say.Read();
  EXPECT_TRUE(end.closed);
  EXPECT_EQ(end.code, 4003);
  EXPECT_THAT(end.text, HasSubstr("the first request must be a join"));

  WsClient garbage(port_);
  garbage.Send("hello?");
  end = garbage.Read();
  EXPECT_EQ(end.code, 4003);
  EXPECT_THAT(end.text, HasSubstr("not a chat.v1.ChatRequest in JSON"));
  // Both close handshakes are done: the sessions are gone.
  EXPECT_TRUE(web_->WaitForConnectionCount(0, kTimeout));
}

TEST_F(WebServerTest, BadJsonAfterTheJoinIsANoticeAndTheChatGoesOn) {
  WsClient ann(port_), bob(port_);
  ann.Join("ann");
  bob.Join("bob");
  ann.ReadEvent();  // bob joined
  bob.Send("{\"say\":");
  bob.Send(R"({"sya":{"text":"typo"}})");
  EXPECT_THAT(bob.ReadEvent().notice().text(),
              HasSubstr("request ignored: not a chat.v1.ChatRequest"));
  EXPECT_THAT(bob.ReadEvent().notice().text(), HasSubstr("request ignored"));
  bob.Send(R"({"say":{"text":"still here"}})");
  EXPECT_EQ(ann.ReadEvent().message().text(), "still here");
}

TEST_F(WebServerTest, ABinaryFrameEndsOnlyThatChat) {
  WsClient ann(port_), bob(port_);
  ann.Join("ann");
  bob.Join("bob");
  ann.ReadEvent();  // bob joined
  bob.SendBinary(
      std::string("\x0a\x05\x0a\x03"
                  "bob",
                  7));
  Frame end = bob.ReadUntilClosed();
  EXPECT_EQ(end.code, 1003);
  EXPECT_THAT(end.text, HasSubstr("send each ChatRequest as JSON text"));
  v1::ChatResponse left = ann.ReadEvent();
  EXPECT_EQ(left.member_left().member().name(), "bob");
  EXPECT_EQ(left.member_left().reason(), "sent a binary frame");
  ann.Send(R"({"say":{"text":"fine"}})");
  EXPECT_EQ(ann.ReadEvent().message().text(), "fine");
}

TEST_F(WebServerTest, ATenMegabyteFrameEndsOnlyThatChat) {
  WsClient ann(port_), bob(port_);
  ann.Join("ann");
  bob.Join("bob");
  ann.ReadEvent();  // bob joined
  bob.SendBig(absl::StrCat(R"({"say":{"text":")", std::string(10 << 20, 'x'),
                           R"("}})"));
  Frame end = bob.ReadUntilClosed();
  EXPECT_EQ(end.code, 1009) << end.text;  // Message too big.
  EXPECT_THAT(end.text, HasSubstr("a request may take at most"));
  v1::ChatResponse left = ann.ReadEvent();
  EXPECT_EQ(left.member_left().member().name(), "bob");
  EXPECT_THAT(left.member_left().reason(), HasSubstr("sent a request over"));
  ann.Send(R"({"say":{"text":"fine"}})");
  EXPECT_EQ(ann.ReadEvent().message().text(), "fine");
}

TEST_F(WebServerTest, ATakenNameClosesWithItsCode) {
  WsClient ann(port_), again(port_);
  ann.Join("ann");
  again.Send(R"({"join":{"name":"ANN"}})");
  Frame end = again.Read();
  EXPECT_EQ(end.code, 4006);  // ALREADY_EXISTS
  EXPECT_THAT(end.text, HasSubstr("taken"));
}

TEST_F(WebServerTest, OriginsFromElsewhereAreRefused) {
  WsClient evil(port_, "http://evil.example");
  EXPECT_TRUE(evil.handshake_error());
  EXPECT_EQ(evil.handshake_response().result(), http::status::forbidden);

  WebServerOptions options;
  options.allowed_origins = {"https://chat.example.com"};
  Start(HubOptions(), options);
  WsClient listed(port_, "https://chat.example.com");
  EXPECT_FALSE(listed.handshake_error());
  WsClient own(port_, Origin());  // The page's own, always.
  EXPECT_FALSE(own.handshake_error());
  WsClient other(port_, "https://other.example");
  EXPECT_TRUE(other.handshake_error());
}

TEST_F(WebServerTest, AResumeAfterAReconnectMissesNothing) {
  WsClient ann(port_);
  ann.Join("ann");
  std::string epoch;
  uint64_t last = 0;
  {
    WsClient bob(port_);
    v1::Welcome welcome = bob.Join("bob");
    epoch = welcome.epoch();
    last = welcome.last_seq();
    bob.Close();
  }
  EXPECT_EQ(ann.ReadUntil("member_left").member_left().member().name(), "bob");
  ann.Send(R"({"say":{"text":"while you were away"}})");
  ann.Send(R"({"say":{"text":"and this"}})");
  ann.ReadUntil("and this");

  WsClient bob(port_);
  bob.Join("bob",
           absl::StrCat(R"(,"resume_after_seq":")", last,
                        R"(","resume_epoch":")", epoch, R"(")"),
           /*read_own_join=*/false);
  std::vector<uint64_t> seqs;
  v1::ChatResponse event;
  do {
    event = bob.ReadEvent();
    seqs.push_back(event.seq());
  } while (event.message().text() != "and this" && seqs.size() < 10);
  // bob's own leave, both messages and its new join: each once, in order.
  ASSERT_GE(seqs.size(), 2u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], last + 1 + i);
  EXPECT_EQ(event.message().text(), "and this");
}

TEST_F(WebServerTest, AReaderThatStopsIsDroppedAndOthersAreNot) {
  HubOptions hub;
  hub.outbox_events = 16;
  hub.max_message_bytes = 60000;  // Fills the socket buffers in fewer.
  Start(hub, WebServerOptions());
  WsClient stuck(port_);
  stuck.Join("stuck");
  WsClient ann(port_), bob(port_);
  ann.Join("ann");
  bob.Join("bob");
  ann.ReadEvent();  // bob joined
  const std::string text(50000, 'y');
  int sent = 0;
  bool dropped = false;
  // Each message is read by both readers before the next is sent, so only
  // the one that stopped reading falls behind.
  while (!dropped && sent < 2000) {
    ann.Send(absl::StrCat(R"({"say":{"text":")", text, sent, R"("}})"));
    ++sent;
    for (WsClient* reader : {&ann, &bob}) {
      for (;;) {
        v1::ChatResponse event = reader->ReadEvent();
        if (event.has_member_left()) {
          EXPECT_EQ(event.member_left().member().name(), "stuck");
          EXPECT_THAT(event.member_left().reason(), HasSubstr("too slow"));
          if (reader == &bob) dropped = true;
          continue;
        }
        ASSERT_TRUE(event.has_message()) << event.DebugString();
        EXPECT_EQ(event.message().text(), absl::StrCat(text, sent - 1));
        break;
      }
    }
  }
  EXPECT_TRUE(dropped) << "the stopped reader was never dropped";
  // What was queued for it is still written, then the close says why.
  Frame end = stuck.ReadUntilClosed();
  EXPECT_EQ(end.code, 4008);  // RESOURCE_EXHAUSTED
  EXPECT_THAT(end.text, HasSubstr("too slow"));
}

TEST_F(WebServerTest, AShutdownSaysSoAndCloses) {
  WsClient ann(port_);
  ann.Join("ann");
  hub()->Shutdown("chat-service is shutting down");
  EXPECT_EQ(ann.ReadEvent().notice().text(), "chat-service is shutting down");
  std::thread stop([this] { web_->Shutdown(absl::Seconds(1)); });
  Frame end = ann.ReadUntilClosed();
  stop.join();
  EXPECT_EQ(end.code, 4014);  // UNAVAILABLE: come back later.
  EXPECT_EQ(web_->connection_count(), 0u);
}

TEST_F(WebServerTest, OverTheCapPerAddressGetsA503) {
  WebServerOptions options;
  options.max_connections_per_ip = 2;
  Start(HubOptions(), options);
  WsClient ann(port_), bob(port_);
  ann.Join("ann");
  bob.Join("bob");
  TcpTestClient over(port_);
  std::optional<std::string> answer = over.ReadToEof();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_THAT(*answer,
              HasSubstr("\r\n\r\ntoo many connections from your address (2 "
                        "open, the most allowed); close one and try again\n"));
  // A slot freed is a slot to take.
  bob.Close();
  ASSERT_TRUE(web_->WaitForConnectionCount(1, kTimeout));
  WsClient carol(port_);
  carol.Join("carol");
}

// The core counts the rooms each address opens (HubOptions::
// max_rooms_per_ip): with members joined under their address, one address
// cannot hold a second room open.
TEST_F(WebServerTest, MembersJoinWithTheirAddress) {
  HubOptions hub;
  hub.max_rooms_per_ip = 1;
  Start(hub, WebServerOptions());
  WsClient ann(port_), bob(port_);
  ann.Join("ann");  // The lobby was empty: 127.0.0.1 opened it.
  bob.Send(R"({"join":{"name":"bob","room":"dev"}})");
  Frame end = bob.Read();
  EXPECT_TRUE(end.closed);
  EXPECT_EQ(end.code, 4008);  // RESOURCE_EXHAUSTED
  EXPECT_THAT(end.text, HasSubstr("too many rooms"));
}

// Owned names (service/auth.h): a page has no call metadata, so its join
// carries the token (Join.token), and the core decides who it is.
constexpr absl::string_view kAuthSecret =
    "the secret these tests sign tokens with";

std::string Token(const std::string& name, absl::Duration ttl = absl::Hours(1),
                  absl::string_view secret = kAuthSecret) {
  TokenClaims claims;
  claims.name = name;
  claims.expires = absl::Now() + ttl;
  return SignToken(claims, secret);
}

HubOptions WithTokens(bool guests) {
  HubOptions hub;
  hub.auth = std::make_shared<Authenticator>(std::string(kAuthSecret), guests);
  return hub;
}

// The close a join with `json` (the whole frame) gets.
Frame RefusedJoin(int port, absl::string_view json) {
  WsClient client(port);
  client.Send(json);
  return client.ReadUntilClosed();
}

TEST_F(WebServerTest, AJoinWithATokenIsTheOwner) {
  Start(WithTokens(/*guests=*/true), WebServerOptions());
  WsClient tab(port_), guest(port_);
  // The token names the member: no name needed.
  EXPECT_EQ(
      tab.Join("", absl::StrCat(R"(,"token":")", Token("Alice"), "\"")).name(),
      "Alice");
  EXPECT_EQ(guest.Join("bob").name(), "~bob");
  tab.ReadUntil(R"("name":"~bob")");
  // Only an owner takes its name over from an older session. (The name, if
  // given, is the token's ignoring case.)
  WsClient other_tab(port_);
  const v1::Welcome again = other_tab.Join(
      "alice", absl::StrCat(R"(,"token":")", Token("Alice"), "\""),
      /*read_own_join=*/false);
  EXPECT_EQ(again.name(), "Alice");
  tab.ReadUntil("signed in elsewhere");
  Frame end = tab.ReadUntilClosed();
  EXPECT_EQ(end.code, 4010);  // ABORTED
  other_tab.Send(R"({"say":{"text":"moved"}})");
  EXPECT_EQ(other_tab.ReadUntil("moved").message().sender(), "Alice");
  EXPECT_EQ(guest.ReadUntil("moved").message().sender(), "Alice");
}

TEST_F(WebServerTest, ARefusedTokenClosesWithItsCodeAndSentence) {
  Start(WithTokens(/*guests=*/false), WebServerOptions());
  Frame end = RefusedJoin(port_, R"({"join":{"name":"bob"}})");
  EXPECT_EQ(end.code, 4016);  // UNAUTHENTICATED
  EXPECT_EQ(end.text, NeedsTokenError().message());
  end = RefusedJoin(port_, absl::StrCat(R"({"join":{"token":")",
                                        Token("alice", absl::Hours(1),
                                              "another secret, just as long"),
                                        R"("}})"));
  EXPECT_EQ(end.code, 4016);
  EXPECT_EQ(end.text,
            "the token's signature does not match this server's secret");
  end = RefusedJoin(port_,
                    absl::StrCat(R"({"join":{"token":")",
                                 Token("alice", -absl::Hours(1)), R"("}})"));
  EXPECT_EQ(end.code, 4016);
  EXPECT_THAT(end.text, StartsWith("the token expired at "));
  end = RefusedJoin(port_, absl::StrCat(R"({"join":{"name":"bob","token":")",
                                        Token("alice"), R"("}})"));
  EXPECT_EQ(end.code, 4007);  // PERMISSION_DENIED
  EXPECT_EQ(end.text, "the token is for alice, not bob");
  // A token that is good gets in, refusals or not.
  WsClient alice(port_);
  EXPECT_EQ(alice.Join("", absl::StrCat(R"(,"token":")", Token("alice"), "\""))
                .name(),
            "alice");
}

// A slowloris: a request that never ends, or a connection that never asks,
// is closed after request_timeout; a whole request is still answered.
TEST_F(WebServerTest, ARequestNotSentInTimeIsClosed) {
  WebServerOptions options;
  options.request_timeout = absl::Milliseconds(300);
  Start(HubOptions(), options);
  TcpTestClient partial(port_), silent(port_);
  partial.Send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
  // Closed without an answer, well within 10 times the timeout.
  EXPECT_EQ(partial.ReadToEof(absl::Seconds(3)), "");
  EXPECT_EQ(silent.ReadToEof(absl::Seconds(3)), "");
  EXPECT_TRUE(web_->WaitForConnectionCount(0, kTimeout));
  EXPECT_EQ(Fetch(port_, http::verb::get, "/").result(), http::status::ok);
}

// A WebSocket that never joins is closed with a reason (Beast's keep-alive
// pings would keep it open otherwise); one that joined is not.
TEST_F(WebServerTest, AWebSocketThatNeverJoinsIsClosed) {
  WebServerOptions options;
  options.join_timeout = absl::Milliseconds(300);
  Start(HubOptions(), options);
  WsClient ann(port_);
  ann.Join("ann");
  WsClient silent(port_);
  ASSERT_FALSE(silent.handshake_error());
  Frame end = silent.Read();  // Within kTimeout: over 10 times the timeout.
  EXPECT_TRUE(end.closed);
  EXPECT_EQ(end.code, 4004);  // DEADLINE_EXCEEDED
  EXPECT_THAT(end.text, HasSubstr("no join within 300ms"));
  EXPECT_TRUE(web_->WaitForConnectionCount(1, kTimeout));
  // Joined before, still there after.
  ann.Send(R"({"say":{"text":"still here"}})");
  EXPECT_EQ(ann.ReadEvent().message().text(), "still here");
}

}  // namespace
}  // namespace chat

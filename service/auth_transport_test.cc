// Owned names over the transports: the token as gRPC `authorization`
// metadata on Chat, ListMembers and GetHistory, and the line port's /auth,
// against one in-process server (the core's rules are room_test.cc's).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "chat/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "legacy_tcp/legacy_server.h"
#include "service/auth.h"
#include "service/auth_token.h"
#include "testing/grpc_test_client.h"
#include "testing/in_process_server.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

const char kSecret[] = "the secret these tests sign tokens with";

std::string Token(const std::string& name,
                  std::optional<std::vector<std::string>> rooms = {},
                  absl::Duration ttl = absl::Hours(1),
                  const std::string& secret = kSecret) {
  TokenClaims c;
  c.name = name;
  c.expires = absl::Now() + ttl;
  c.rooms = std::move(rooms);
  return SignToken(c, secret);
}

std::string Bearer(const std::string& token) { return "Bearer " + token; }

class AuthTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(/*guests=*/true); }

  void Start(bool guests) {
    server_.reset();
    HubOptions options;
    options.auth = std::make_shared<Authenticator>(kSecret, guests);
    server_ = std::make_unique<InProcessServer>(options);
    channel_ = server_->channel();
    stub_ = v1::ChatRoom::NewStub(channel_);
  }

  // A Chat stream that joins as `name` with `authorization` ("" for none).
  GrpcTestClient Open(const std::string& name, const std::string& authorization,
                      const std::string& room = "") {
    GrpcTestClient c =
        GrpcTestClient::Open(channel_, absl::Seconds(20), authorization);
    c.SendJoin(name, room);
    return c;
  }

  // The status a join ends with (a test failure if it is let in).
  grpc::Status Refused(const std::string& name,
                       const std::string& authorization,
                       const std::string& room = "") {
    GrpcTestClient c = Open(name, authorization, room);
    v1::ChatResponse r;
    EXPECT_FALSE(c.stream()->Read(&r)) << r.ShortDebugString();
    return c.stream()->Finish();
  }

  // The welcome's name.
  static std::string Welcomed(GrpcTestClient& c) {
    const v1::ChatResponse r = c.Read();
    EXPECT_TRUE(r.has_welcome()) << r.ShortDebugString();
    return r.welcome().name();
  }

  grpc::Status List(const std::string& authorization,
                    v1::ListMembersResponse* response,
                    const std::string& room = "") {
    grpc::ClientContext context;
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    v1::ListMembersRequest request;
    request.set_room(room);
    return stub_->ListMembers(&context, request, response);
  }

  grpc::Status History(const std::string& authorization,
                       const std::string& room = "") {
    grpc::ClientContext context;
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    v1::GetHistoryRequest request;
    request.set_room(room);
    v1::GetHistoryResponse response;
    return stub_->GetHistory(&context, request, &response);
  }

  int StartLegacy() {
    return server_->StartListener<LegacyServer>(LegacyServerOptions())->port();
  }

  std::unique_ptr<InProcessServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ChatRoom::Stub> stub_;
};

void ExpectStatus(const grpc::Status& s, grpc::StatusCode code,
                  const std::string& sentence) {
  EXPECT_EQ(s.error_code(), code) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(sentence));
}

TEST_F(AuthTransportTest, GrpcOwnersAndMarkedGuests) {
  GrpcTestClient alice = Open("alice", Bearer(Token("Alice")));
  EXPECT_EQ(Welcomed(alice), "Alice");
  // The scheme in any case; the name may be left to the token.
  GrpcTestClient carol = Open("", "bearer " + Token("carol"));
  EXPECT_EQ(Welcomed(carol), "carol");
  GrpcTestClient bob = Open("bob", "");
  EXPECT_EQ(Welcomed(bob), "~bob");
  bob.Say("hi");
  alice.ReadUntil("<~bob> hi");

  v1::ListMembersResponse members;
  ASSERT_TRUE(List("", &members).ok());
  ASSERT_EQ(members.members_size(), 3);
  EXPECT_EQ(members.members(0).name(), "Alice");
  EXPECT_EQ(members.members(2).name(), "~bob");
  EXPECT_TRUE(History("").ok());

  // A guest cannot pass for a connected owner.
  ExpectStatus(Refused("alice", ""), grpc::StatusCode::ALREADY_EXISTS,
               "alice is taken by its owner: sign in with a token, or pick "
               "another name");
}

TEST_F(AuthTransportTest, GrpcRefusedTokensSayWhy) {
  ExpectStatus(Refused("alice", Bearer(Token("alice", {}, -absl::Hours(1)))),
               grpc::StatusCode::UNAUTHENTICATED, "the token expired at ");
  ExpectStatus(
      Refused("alice", Bearer(Token("alice", {}, absl::Hours(1),
                                    "another secret, just as long as ours"))),
      grpc::StatusCode::UNAUTHENTICATED,
      "the token's signature does not match this server's secret");
  ExpectStatus(Refused("bob", Bearer(Token("alice"))),
               grpc::StatusCode::PERMISSION_DENIED,
               "the token is for alice, not bob");
  ExpectStatus(
      Refused("alice", Bearer(Token("alice", std::vector<std::string>{"dev"}))),
      grpc::StatusCode::PERMISSION_DENIED,
      "the token does not allow room lobby");
  ExpectStatus(Refused("alice", Bearer("garbage")),
               grpc::StatusCode::UNAUTHENTICATED, "the token is not a JWT");
  ExpectStatus(Refused("alice", "Basic YWxpY2U6cHc="),
               grpc::StatusCode::UNAUTHENTICATED,
               "the authorization metadata is not \"Bearer TOKEN\"");
  v1::ListMembersResponse members;
  ExpectStatus(List(Bearer(Token("alice", std::vector<std::string>{"dev"})),
                    &members, "ops"),
               grpc::StatusCode::PERMISSION_DENIED,
               "the token does not allow room ops");
  ExpectStatus(History(Bearer(Token("alice", {}, -absl::Hours(1)))),
               grpc::StatusCode::UNAUTHENTICATED, "the token expired at ");
  // The room allowed: in.
  GrpcTestClient dev = Open(
      "alice", Bearer(Token("alice", std::vector<std::string>{"dev"})), "dev");
  EXPECT_EQ(Welcomed(dev), "alice");
}

// A server without tokens leaves the authorization metadata alone,
// whatever its form (a proxy's Basic credentials, say).
TEST(AuthTransportWithoutTokensTest, AuthorizationMetadataIsIgnored) {
  InProcessServer server{HubOptions()};
  std::unique_ptr<v1::ChatRoom::Stub> stub =
      v1::ChatRoom::NewStub(server.channel());
  for (const std::string& authorization :
       {std::string("Basic YWxpY2U6cGFzcw=="), Bearer("not-a-token")}) {
    GrpcTestClient c = GrpcTestClient::Open(server.channel(), absl::Seconds(20),
                                            authorization);
    c.SendJoin("alice", "");
    v1::ChatResponse r = c.Read();
    EXPECT_EQ(r.welcome().name(), "alice") << r.ShortDebugString();
    EXPECT_TRUE(c.Finish().ok());
    grpc::ClientContext context;
    context.AddMetadata("authorization", authorization);
    v1::ListMembersRequest request;
    v1::ListMembersResponse response;
    EXPECT_TRUE(stub->ListMembers(&context, request, &response).ok());
  }
}

// Join.token is for the WebSocket, which has no call metadata; on gRPC it
// is refused rather than ignored, so a token there never makes a guest.
TEST_F(AuthTransportTest, GrpcTokenInTheJoinIsRefused) {
  for (const std::string& authorization :
       {std::string(), Bearer(Token("alice"))}) {
    GrpcTestClient c =
        GrpcTestClient::Open(channel_, absl::Seconds(20), authorization);
    v1::ChatRequest request;
    request.mutable_join()->set_token(Token("alice"));
    ASSERT_TRUE(c.Write(request));
    v1::ChatResponse r;
    EXPECT_FALSE(c.stream()->Read(&r)) << r.ShortDebugString();
    ExpectStatus(c.stream()->Finish(), grpc::StatusCode::INVALID_ARGUMENT,
                 "send the token as \"authorization: Bearer TOKEN\" metadata");
  }
}

TEST_F(AuthTransportTest, GrpcAnOwnerTakesOverItsOlderSession) {
  GrpcTestClient phone = Open("alice", Bearer(Token("alice")));
  phone.ReadUntil("-- alice joined");
  GrpcTestClient laptop = Open("alice", Bearer(Token("alice")));
  EXPECT_EQ(Welcomed(laptop), "alice");
  phone.ReadUntil("signed in elsewhere: this session is closed");
  const grpc::Status ended = phone.Finish();
  ExpectStatus(ended, grpc::StatusCode::ABORTED, "signed in elsewhere");
  laptop.Say("back");
  laptop.ReadUntil("<alice> back");
}

TEST_F(AuthTransportTest, GrpcWithoutGuestsATokenIsNeeded) {
  Start(/*guests=*/false);
  ExpectStatus(Refused("bob", ""), grpc::StatusCode::UNAUTHENTICATED,
               "this server needs a token");
  v1::ListMembersResponse members;
  ExpectStatus(List("", &members), grpc::StatusCode::UNAUTHENTICATED,
               "this server needs a token");
  ExpectStatus(History(""), grpc::StatusCode::UNAUTHENTICATED,
               "this server needs a token");
  GrpcTestClient alice = Open("alice", Bearer(Token("alice")));
  EXPECT_EQ(Welcomed(alice), "alice");
  EXPECT_TRUE(List(Bearer(Token("alice")), &members).ok());
  EXPECT_EQ(members.members_size(), 1);
  EXPECT_TRUE(History(Bearer(Token("alice"))).ok());
}

TEST_F(AuthTransportTest, LineGuestSignsInWithAuth) {
  const int port = StartLegacy();
  GrpcTestClient phone = Open("alice", Bearer(Token("alice")));
  phone.ReadUntil("-- alice joined");

  TcpTestClient tcp(port);
  const std::string joined = tcp.ReadUntil(" joined");
  EXPECT_THAT(joined, HasSubstr("-- ~guest-"));
  const std::string guest = joined.substr(3, joined.find(' ', 3) - 3);
  tcp.Send("/help\r\n");
  tcp.ReadUntil("-- /auth TOKEN");
  tcp.Send("/auth nonsense\r\n");
  EXPECT_THAT(tcp.ReadUntil("!! "),
              HasSubstr("!! token refused: the token is not a JWT"));
  tcp.Send(absl::StrCat("/auth ", Token("alice", {}, -absl::Hours(1)), "\r\n"));
  EXPECT_THAT(tcp.ReadUntil("!! "),
              HasSubstr("!! token refused: the token expired at "));
  tcp.Send(absl::StrCat("/auth ", Token("alice"), "\r\n"));
  EXPECT_EQ(tcp.ReadUntil("alice"), "-- alice left (signed in elsewhere)");
  EXPECT_EQ(tcp.ReadLine().value_or(""),
            absl::StrCat("-- ", guest, " is now known as alice"));
  EXPECT_EQ(tcp.ReadLine().value_or(""), "!! signed in as alice");
  // The older session: told, and closed.
  phone.ReadUntil("signed in elsewhere: this session is closed");
  ExpectStatus(phone.Finish(), grpc::StatusCode::ABORTED,
               "signed in elsewhere");
  tcp.Send("/nick alicia\r\n");
  EXPECT_EQ(tcp.ReadLine().value_or(""),
            "!! you are signed in as alice: a name you own cannot be changed");
  GrpcTestClient bob = Open("bob", "");
  bob.ReadUntil("-- ~bob joined");
  tcp.Send("hello\r\n");
  bob.ReadUntil("<alice> hello");
}

TEST_F(AuthTransportTest, LineWithoutGuestsOnlyAuthHelpAndQuit) {
  Start(/*guests=*/false);
  const int port = StartLegacy();
  TcpTestClient tcp(port);
  tcp.ReadUntil("this server admits no guests: sign in with /auth TOKEN");
  tcp.Send("hello\r\n");
  EXPECT_EQ(tcp.ReadLine().value_or(""), "!! sign in first: /auth TOKEN");
  tcp.Send("/who\r\n");
  EXPECT_EQ(tcp.ReadLine().value_or(""), "!! sign in first: /auth TOKEN");
  tcp.Send("/help\r\n");
  EXPECT_THAT(tcp.ReadLine().value_or(""), HasSubstr("/auth TOKEN"));
  tcp.ReadUntil("/quit");
  tcp.Send(absl::StrCat("/auth ", Token("bob"), "x\r\n"));
  EXPECT_EQ(tcp.ReadLine().value_or(""),
            "!! token refused: the token's signature does not match this "
            "server's secret");
  tcp.Send(absl::StrCat("/auth ", Token("alice"), "\r\n"));
  tcp.ReadUntil("-- alice joined");
  EXPECT_EQ(tcp.ReadLine().value_or(""), "!! signed in as alice");
  GrpcTestClient bob = Open("bob", Bearer(Token("bob")));
  bob.ReadUntil("-- bob joined");
  tcp.Send("hello\r\n");
  bob.ReadUntil("<alice> hello");
  tcp.Send("/who\r\n");
  EXPECT_THAT(tcp.ReadUntil("-- 2 in lobby"), HasSubstr("alice (tcp)"));

  // /quit before signing in closes the connection.
  TcpTestClient quitter(port);
  quitter.ReadUntil("/auth TOKEN");
  quitter.Send("/quit\r\n");
  EXPECT_TRUE(quitter.ReadsEof());
}

}  // namespace
}  // namespace chat

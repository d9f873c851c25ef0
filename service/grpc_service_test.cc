#include "service/grpc_service.h"

#include <atomic>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/grpc_test_client.h"
#include "testing/in_process_server.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

class GrpcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(HubOptions()); }

  void Start(HubOptions options,
             ChatServiceOptions service = ChatServiceOptions()) {
    server_ = std::make_unique<InProcessServer>(options, service);
    ASSERT_NE(server_->port(), 0);
    channel_ = server_->channel();
    stub_ = v1::ChatRoom::NewStub(channel_);
  }

  void TearDown() override { server_.reset(); }

  // Opens a Chat stream and sends a join (without reading anything).
  GrpcTestClient Open(const std::string& name, const std::string& room = "") {
    GrpcTestClient c = GrpcTestClient::Open(channel_);
    c.SendJoin(name, room);
    return c;
  }

  // Opens and joins, reading the welcome and own member_joined.
  GrpcTestClient Join(const std::string& name, const std::string& room = "") {
    GrpcTestClient c = Open(name, room);
    EXPECT_TRUE(c.Read().has_welcome());
    EXPECT_TRUE(c.Read().has_member_joined());
    return c;
  }

  Hub* hub() const { return server_->hub(); }

  std::unique_ptr<InProcessServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ChatRoom::Stub> stub_;
};

TEST_F(GrpcServiceTest, TwoClientsSeeEachOthersMessagesWithTheSameSeq) {
  GrpcTestClient alice = Join("alice");
  GrpcTestClient bob = Join("bob");
  v1::ChatResponse joined = alice.Read();
  EXPECT_EQ(joined.member_joined().member().name(), "bob");
  EXPECT_EQ(joined.member_joined().member().transport(), v1::TRANSPORT_GRPC);

  alice.Say("hello bob");
  v1::ChatResponse at_bob = bob.Read();
  v1::ChatResponse at_alice = alice.Read();  // Her own message comes back.
  EXPECT_EQ(at_bob.message().sender(), "alice");
  EXPECT_EQ(at_bob.message().text(), "hello bob");
  EXPECT_EQ(at_bob.seq(), at_alice.seq());
  EXPECT_EQ(at_bob.seq(), joined.seq() + 1);
  EXPECT_GT(at_bob.time().seconds(), 0);
}

TEST_F(GrpcServiceTest, FirstRequestMustBeAJoin) {
  GrpcTestClient c = GrpcTestClient::Open(channel_);
  v1::ChatRequest req;
  req.mutable_say()->set_text("hi");
  c.Write(req);
  c.stream()->WritesDone();
  v1::ChatResponse r;
  EXPECT_FALSE(c.stream()->Read(&r));
  grpc::Status s = c.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("first request must be a join"));
}

TEST_F(GrpcServiceTest, TakenAndBadNamesEndTheStream) {
  GrpcTestClient alice = Join("alice");
  GrpcTestClient again = Open("Alice");
  v1::ChatResponse r;
  EXPECT_FALSE(again.stream()->Read(&r));
  grpc::Status s = again.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(s.error_message(), HasSubstr("is taken in room lobby"));

  GrpcTestClient bad = Open("no spaces");
  EXPECT_FALSE(bad.stream()->Read(&r));
  EXPECT_EQ(bad.stream()->Finish().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServiceTest, TooLongMessageGetsANoticeAndTheStreamGoesOn) {
  GrpcTestClient alice = Join("alice");
  alice.Say(std::string(5000, 'x'));
  EXPECT_THAT(alice.Read().notice().text(), HasSubstr("limit is 4096"));
  alice.Say("short");
  EXPECT_EQ(alice.Read().message().text(), "short");
}

TEST_F(GrpcServiceTest, InvalidUtf8IsRepairedNotRefused) {
  GrpcTestClient alice = Join("alice");
  alice.Say("caf\xc3\xa9 \xff end");
  EXPECT_EQ(alice.Read().message().text(), "caf\xc3\xa9 \xEF\xBF\xBD end");
  alice.Say("still here");
  EXPECT_EQ(alice.Read().message().text(), "still here");
}

TEST_F(GrpcServiceTest, CancelledClientIsSeenLeaving) {
  GrpcTestClient alice = Join("alice");
  {
    GrpcTestClient bob = Join("bob");
    alice.Read();  // bob joined
    bob.context()->TryCancel();
    bob.stream()->Finish();
  }
  v1::ChatResponse left = alice.Read();
  ASSERT_TRUE(left.has_member_left());
  EXPECT_EQ(left.member_left().member().name(), "bob");
  EXPECT_EQ(left.member_left().reason(), "disconnected");
}

TEST_F(GrpcServiceTest, LeaveEndsTheStreamWithOkAfterOwnEvents) {
  GrpcTestClient alice = Join("alice");
  GrpcTestClient bob = Join("bob");
  bob.Say("last words");
  v1::ChatRequest leave;
  leave.mutable_leave()->set_reason("bye");
  bob.Write(leave);
  bob.stream()->WritesDone();
  EXPECT_EQ(bob.Read().message().text(), "last words");
  v1::ChatResponse r;
  EXPECT_FALSE(bob.stream()->Read(&r));
  EXPECT_TRUE(bob.stream()->Finish().ok());
  v1::ChatResponse left = alice.ReadUntil(
      [](const v1::ChatResponse& r) { return r.has_member_left(); });
  EXPECT_EQ(left.member_left().reason(), "bye");
}

TEST_F(GrpcServiceTest, ListMembersAndGetHistory) {
  GrpcTestClient alice = Join("alice");
  alice.Say("one");
  alice.Read();
  grpc::ClientContext ctx;
  v1::ListMembersRequest req;
  v1::ListMembersResponse resp;
  ASSERT_TRUE(stub_->ListMembers(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.room(), "lobby");
  ASSERT_EQ(resp.members_size(), 1);
  EXPECT_EQ(resp.members(0).name(), "alice");

  grpc::ClientContext hctx;
  v1::GetHistoryRequest hreq;
  v1::GetHistoryResponse hresp;
  ASSERT_TRUE(stub_->GetHistory(&hctx, hreq, &hresp).ok());
  ASSERT_EQ(hresp.events_size(), 1);
  EXPECT_EQ(hresp.events(0).message().text(), "one");
  EXPECT_EQ(hresp.last_seq(), 2u);

  grpc::ClientContext bctx;
  hreq.set_room("bad room");
  EXPECT_EQ(stub_->GetHistory(&bctx, hreq, &hresp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcServiceTest, ReaderThatStopsIsDroppedAsTooSlow) {
  TearDown();
  HubOptions options;
  options.outbox_events = 16;
  Start(options);
  GrpcTestClient alice = Join("alice");
  GrpcTestClient stalled = Join("stalled");  // Never reads again.
  alice.Read();                              // stalled joined
  // Enough data to fill the stalled client's HTTP/2 windows and its outbox.
  const std::string text(4000, 'x');
  bool gone = false;
  for (int i = 0; i < 2000 && !gone; ++i) {
    alice.Say(text);
    v1::ChatResponse r = alice.ReadUntil([](const v1::ChatResponse& r) {
      return r.has_message() || r.has_member_left();
    });
    if (r.has_member_left()) {
      EXPECT_EQ(r.member_left().member().name(), "stalled");
      EXPECT_EQ(r.member_left().reason(), "too slow");
      gone = true;
    }
  }
  ASSERT_TRUE(gone);
  v1::ChatResponse r;
  while (stalled.stream()->Read(&r)) {
  }
  grpc::Status s = stalled.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("too slow"));
}

TEST_F(GrpcServiceTest, StreamWithoutAJoinIsEndedAfterTheJoinTimeout) {
  TearDown();
  ChatServiceOptions service;
  service.join_timeout = absl::Milliseconds(200);
  Start(HubOptions(), service);
  // alice joins at once; the silent stream starts after her.
  GrpcTestClient alice = Join("alice");
  GrpcTestClient silent = GrpcTestClient::Open(channel_);
  v1::ChatResponse r;
  EXPECT_FALSE(silent.stream()->Read(&r));
  grpc::Status s = silent.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(s.error_message(), HasSubstr("no join within 200ms"));
  // alice, whose timer was set before the silent stream's, is still there.
  alice.Say("still here");
  EXPECT_EQ(alice.Read().message().text(), "still here");
}

TEST_F(GrpcServiceTest, JoinsCarryThePeersIp) {
  TearDown();
  HubOptions hub;
  hub.max_rooms_per_ip = 1;
  ChatServiceOptions service;
  std::atomic<int> asked{0};
  service.peer = [&asked](absl::string_view peer) {
    ++asked;
    PeerInfo info = ParseGrpcPeer(peer);
    EXPECT_EQ(info.ip, "127.0.0.1") << peer;
    return info;
  };
  Start(hub, service);
  GrpcTestClient a = Join("a", "one");
  GrpcTestClient b = Open("b", "two");  // A second room opened from 127.0.0.1.
  v1::ChatResponse r;
  EXPECT_FALSE(b.stream()->Read(&r));
  grpc::Status s = b.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("too many rooms opened"));
  EXPECT_EQ(asked.load(), 2);
}

TEST_F(GrpcServiceTest, ShutdownSendsANoticeAndEndsUnavailable) {
  GrpcTestClient alice = Join("alice");
  hub()->Shutdown("chat-service is shutting down");
  EXPECT_EQ(alice.Read().notice().text(), "chat-service is shutting down");
  v1::ChatResponse r;
  EXPECT_FALSE(alice.stream()->Read(&r));
  EXPECT_EQ(alice.stream()->Finish().error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// A Say with a client id.
v1::ChatRequest SayWithId(const std::string& text, const std::string& id) {
  v1::ChatRequest req;
  req.mutable_say()->set_text(text);
  req.mutable_say()->set_client_id(id);
  return req;
}

// Fault injection: a client that cannot tell whether its message was
// posted sends it again, on the same stream and after its connection was
// cut; the room sees it once.
TEST_F(GrpcServiceTest, ASayRepeatedOnTheStreamAndAfterAReconnectIsPostedOnce) {
  GrpcTestClient bob = Join("bob");
  GrpcTestClient alice = Open("alice");
  const v1::ChatResponse welcome = alice.Read();
  ASSERT_TRUE(welcome.has_welcome());
  ASSERT_FALSE(welcome.welcome().resume_secret().empty());
  ASSERT_TRUE(alice.Read().has_member_joined());
  ASSERT_TRUE(bob.Read().has_member_joined());

  const v1::ChatRequest say = SayWithId("hello", "c-1");
  ASSERT_TRUE(alice.Write(say));
  ASSERT_TRUE(alice.Write(say));
  const v1::ChatResponse posted = alice.Read();
  ASSERT_TRUE(posted.has_message()) << posted.DebugString();
  EXPECT_EQ(posted.message().client_id(), "c-1");
  const v1::ChatResponse dup = alice.Read();
  ASSERT_TRUE(dup.has_duplicate()) << dup.DebugString();
  EXPECT_EQ(dup.duplicate().client_id(), "c-1");
  EXPECT_EQ(dup.duplicate().seq(), posted.seq());
  EXPECT_EQ(dup.seq(), 0u);

  // The connection is cut without a leave; the client comes back on a new
  // one with its secret, so its join succeeds whether or not the server
  // has noticed the cut yet, and sends the message again.
  alice.context()->TryCancel();
  alice.stream()->Finish().IgnoreError();
  GrpcTestClient again = GrpcTestClient::Open(server_->channel());
  v1::ChatRequest join;
  join.mutable_join()->set_name("alice");
  join.mutable_join()->set_resume_secret(welcome.welcome().resume_secret());
  join.mutable_join()->set_resume_after_seq(posted.seq());
  join.mutable_join()->set_resume_epoch(welcome.welcome().epoch());
  ASSERT_TRUE(again.Write(join));
  const v1::ChatResponse rewelcome = again.Read();
  ASSERT_TRUE(rewelcome.has_welcome());
  ASSERT_TRUE(again.Write(say));
  const v1::ChatResponse redup = again.ReadUntil(
      [](const v1::ChatResponse& r) { return r.has_duplicate(); });
  EXPECT_EQ(redup.duplicate().seq(), posted.seq());
  again.Say("sentinel");

  // Bob saw "hello" once, whatever the room saw of the reconnect.
  int hellos = 0;
  for (;;) {
    const v1::ChatResponse r = bob.ReadUntil(
        [](const v1::ChatResponse& r) { return r.has_message(); });
    if (r.message().text() == "sentinel") break;
    EXPECT_EQ(r.message().text(), "hello");
    EXPECT_EQ(r.seq(), posted.seq());
    ++hellos;
    if (hellos > 1) break;
  }
  EXPECT_EQ(hellos, 1);
}

TEST_F(GrpcServiceTest, TakingTheNameBackEndsTheOldStreamWithAborted) {
  GrpcTestClient alice = Open("alice");
  const v1::ChatResponse welcome = alice.Read();
  ASSERT_TRUE(welcome.has_welcome());
  EXPECT_EQ(welcome.welcome().limits().max_outbox_events(), 1024u);
  ASSERT_TRUE(alice.Read().has_member_joined());
  GrpcTestClient bob = Join("bob");
  ASSERT_TRUE(alice.Read().has_member_joined());

  // Alice's old connection still holds the name: the secret takes it back.
  GrpcTestClient again = GrpcTestClient::Open(server_->channel());
  v1::ChatRequest join;
  join.mutable_join()->set_name("alice");
  join.mutable_join()->set_resume_secret(welcome.welcome().resume_secret());
  ASSERT_TRUE(again.Write(join));
  ASSERT_TRUE(again.Read().has_welcome());
  const v1::ChatResponse rejoined = again.Read();
  ASSERT_TRUE(rejoined.member_left().rejoined()) << rejoined.DebugString();

  const v1::ChatResponse seen = bob.Read();
  ASSERT_TRUE(seen.has_member_left()) << seen.DebugString();
  EXPECT_EQ(seen.member_left().member().name(), "alice");
  EXPECT_EQ(seen.member_left().reason(), "reconnected elsewhere");
  EXPECT_TRUE(seen.member_left().rejoined());
  EXPECT_EQ(seen.seq(), rejoined.seq());

  EXPECT_THAT(alice.Read().notice().text(),
              HasSubstr("you connected again from elsewhere"));
  v1::ChatResponse r;
  EXPECT_FALSE(alice.stream()->Read(&r));
  grpc::Status s = alice.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), HasSubstr("resume secret"));

  // The old stream's end says nothing to the room.
  again.Say("still me");
  EXPECT_EQ(bob.Read().message().text(), "still me");
  std::string room;
  absl::StatusOr<std::vector<v1::Member>> members =
      hub()->ListMembers("", &room);
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].name(), "alice");
}

TEST_F(GrpcServiceTest, AWrongSecretIsAlreadyExists) {
  GrpcTestClient alice = Join("alice");
  GrpcTestClient other = GrpcTestClient::Open(channel_);
  v1::ChatRequest join;
  join.mutable_join()->set_name("alice");
  join.mutable_join()->set_resume_secret(std::string(32, 'a'));
  ASSERT_TRUE(other.Write(join));
  v1::ChatResponse r;
  EXPECT_FALSE(other.stream()->Read(&r));
  EXPECT_EQ(other.stream()->Finish().error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
}

}  // namespace
}  // namespace chat

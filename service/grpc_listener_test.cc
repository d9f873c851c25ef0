// GrpcListener and its parts: the acceptor's caps and refusals, the stream
// limit per connection, the request size limit, the keepalive policy, peer
// strings, and the descriptor budget.
#include "service/grpc_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/grpc_keepalive.h"
#include "service/grpc_peer.h"
#include "service/request_limits.h"
#include "testing/grpc_test_client.h"

namespace chat {
namespace {

using ::testing::HasSubstr;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

// Polls `done` until it holds or 10 s pass (for state only the server
// knows, such as a connection gRPC closed).
template <typename Pred>
bool Eventually(Pred done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// A raw TCP connection to 127.0.0.1:port, reads time out after 10 s.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool ReadFull(int fd, std::string* out, size_t n) {
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = recv(fd, out->data() + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

struct Frame {
  uint8_t type = 0;
  uint8_t flags = 0;
  std::string payload;
};

bool ReadFrame(int fd, Frame* frame) {
  std::string header;
  if (!ReadFull(fd, &header, 9)) return false;
  const auto b = [&](int i) { return static_cast<uint8_t>(header[i]); };
  const size_t length = (size_t{b(0)} << 16) | (size_t{b(1)} << 8) | b(2);
  frame->type = b(3);
  frame->flags = b(4);
  return ReadFull(fd, &frame->payload, length);
}

uint32_t Uint32At(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[at + i]);
  return v;
}

class GrpcListenerTest : public ::testing::Test {
 protected:
  void Start(GrpcListenerOptions options, HubOptions hub = HubOptions()) {
    hub_ = std::make_unique<Hub>(hub);
    listener_ = std::make_unique<GrpcListener>(hub_.get(), options);
    ASSERT_TRUE(listener_->Start().ok());
    const std::string address = listener_->address();
    ASSERT_THAT(address, ::testing::StartsWith("127.0.0.1:"));
    ASSERT_TRUE(
        absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port_));
    ASSERT_NE(port_, 0);
  }

  void TearDown() override {
    if (listener_) listener_->Shutdown(absl::ZeroDuration());
  }

  // A channel with a connection of its own (no subchannel sharing).
  std::shared_ptr<grpc::Channel> NewChannel() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    return grpc::CreateCustomChannel(listener_->address(),
                                     grpc::InsecureChannelCredentials(), args);
  }

  // Opens a Chat stream on `channel` and sends a join.
  GrpcTestClient Open(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& name, const std::string& room = "") {
    GrpcTestClient c = GrpcTestClient::Open(channel);
    c.SendJoin(name, room);
    return c;
  }

  // ListMembers on `channel`, failing fast (no waiting for a connection).
  grpc::Status Probe(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext context;
    context.set_deadline(In(absl::Seconds(10)));
    v1::ListMembersRequest request;
    v1::ListMembersResponse response;
    return v1::ChatRoom::NewStub(channel)->ListMembers(&context, request,
                                                       &response);
  }

  std::unique_ptr<Hub> hub_;
  std::unique_ptr<GrpcListener> listener_;
  int port_ = 0;
};

TEST_F(GrpcListenerTest, PortZeroPicksAPortAndServes) {
  Start(GrpcListenerOptions());
  auto channel = NewChannel();
  EXPECT_TRUE(Probe(channel).ok());
  GrpcTestClient alice = Open(channel, "alice");
  EXPECT_TRUE(alice.Read().has_welcome());
}

TEST_F(GrpcListenerTest, BadAddressIsAnError) {
  hub_ = std::make_unique<Hub>(HubOptions());
  GrpcListenerOptions options;
  options.address = "not-an-address";
  GrpcListener listener(hub_.get(), options);
  absl::Status s = listener.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("not-an-address"));
}

TEST_F(GrpcListenerTest, AdvertisesMaxStreamsPerConnection) {
  GrpcListenerOptions options;
  options.max_streams_per_connection = 7;
  Start(options);
  const int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  const std::string preface =
      std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
      std::string("\0\0\0\x04\0\0\0\0\0", 9);  // An empty SETTINGS frame.
  ASSERT_EQ(send(fd, preface.data(), preface.size(), 0),
            static_cast<ssize_t>(preface.size()));
  Frame frame;
  bool found = false;
  uint32_t streams = 0;
  while (!found && ReadFrame(fd, &frame)) {
    if (frame.type != 0x4 || (frame.flags & 0x1) != 0) continue;
    for (size_t at = 0; at + 6 <= frame.payload.size(); at += 6) {
      const uint16_t id =
          static_cast<uint16_t>((static_cast<uint8_t>(frame.payload[at]) << 8) |
                                static_cast<uint8_t>(frame.payload[at + 1]));
      if (id == 0x3) streams = Uint32At(frame.payload, at + 2);
    }
    found = true;
  }
  close(fd);
  ASSERT_TRUE(found) << "no SETTINGS frame from the server";
  EXPECT_EQ(streams, 7u);
}

TEST_F(GrpcListenerTest, StreamsOverTheLimitWaitForOneToEnd) {
  GrpcListenerOptions options;
  options.max_streams_per_connection = 2;
  Start(options);
  auto channel = NewChannel();
  GrpcTestClient s1 = Open(channel, "s1");
  EXPECT_TRUE(s1.Read().has_welcome());
  GrpcTestClient s2 = Open(channel, "s2");
  EXPECT_TRUE(s2.Read().has_welcome());

  // The third waits in the client for a free stream; its join (a blocking
  // write) goes out only then.
  std::optional<GrpcTestClient> s3;
  std::thread third([&] {
    s3.emplace(GrpcTestClient::Open(channel));
    s3->SendJoin("s3");
  });
  // A round trip on the connection after the third stream was started.
  v1::ChatRequest say;
  say.mutable_say()->set_text("anchor");
  ASSERT_TRUE(s2.Write(say));
  v1::ChatResponse r;
  do {
    r = s2.Read();
  } while (!r.has_message() && r.ByteSizeLong() > 0);
  EXPECT_EQ(r.message().text(), "anchor");
  EXPECT_EQ(listener_->service().active_streams(), 2u);

  // s1 leaves: its stream ends, and s3 gets its turn.
  v1::ChatRequest leave;
  leave.mutable_leave();
  ASSERT_TRUE(s1.Write(leave));
  s1.stream()->WritesDone();
  while (s1.stream()->Read(&r)) {
  }
  EXPECT_TRUE(s1.stream()->Finish().ok());
  third.join();
  v1::ChatResponse welcome = s3->Read();
  ASSERT_TRUE(welcome.has_welcome());
  // s1 was gone before s3 joined.
  std::vector<std::string> members;
  for (const v1::Member& m : welcome.welcome().members()) {
    members.push_back(m.name());
  }
  EXPECT_THAT(members, ::testing::UnorderedElementsAre("s2", "s3"));
}

TEST_F(GrpcListenerTest, HugeRequestIsRefusedAndTheServerGoesOn) {
  HubOptions hub;
  hub.max_message_bytes = 100;
  Start(GrpcListenerOptions(), hub);
  auto channel = NewChannel();
  GrpcTestClient bob = Open(channel, "bob");
  ASSERT_TRUE(bob.Read().has_welcome());
  bob.Read();  // Own join.

  GrpcTestClient alice = Open(channel, "alice");
  ASSERT_TRUE(alice.Read().has_welcome());
  v1::ChatRequest huge;
  huge.mutable_say()->set_text(std::string(1 << 20, 'x'));
  alice.Write(huge);
  v1::ChatResponse r;
  while (alice.stream()->Read(&r)) {
  }
  grpc::Status s = alice.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();

  // Just under the request limit, over the message limit: a notice.
  v1::ChatRequest big;
  big.mutable_say()->set_text(std::string(60000, 'y'));
  ASSERT_TRUE(bob.Write(big));
  r = bob.Read();
  while (!r.has_notice() && r.ByteSizeLong() > 0) r = bob.Read();
  EXPECT_THAT(r.notice().text(), HasSubstr("the limit is 100"));
  GrpcTestClient carol = Open(NewChannel(), "carol");
  EXPECT_TRUE(carol.Read().has_welcome());
}

TEST_F(GrpcListenerTest, ConnectionsPerIpAreCappedWithASentence) {
  GrpcListenerOptions options;
  options.max_connections_per_ip = 2;
  Start(options);
  auto first = NewChannel();
  auto second = NewChannel();
  ASSERT_TRUE(Probe(first).ok());
  ASSERT_TRUE(Probe(second).ok());
  EXPECT_EQ(listener_->connection_count(), 2u);

  auto third = NewChannel();
  grpc::Status refused = Probe(third);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("too many connections from 127.0.0.1"));

  // Once one closes, a new one gets in.
  first.reset();
  ASSERT_TRUE(Eventually([&] { return listener_->connection_count() == 1; }));
  auto fourth = NewChannel();
  EXPECT_TRUE(Probe(fourth).ok());
}

TEST_F(GrpcListenerTest, ConnectionsAreCappedInTotal) {
  GrpcListenerOptions options;
  options.max_connections = 1;
  options.max_connections_per_ip = 0;
  Start(options);
  auto first = NewChannel();
  ASSERT_TRUE(Probe(first).ok());
  auto second = NewChannel();
  grpc::Status refused = Probe(second);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("chat-service is full"));
  first.reset();
  ASSERT_TRUE(Eventually([&] { return listener_->connection_count() == 0; }));
  auto third = NewChannel();
  EXPECT_TRUE(Probe(third).ok());
}

TEST_F(GrpcListenerTest, JoinsCarryTheClientIp) {
  // The core keeps rooms opened per address: with one allowed, a second
  // room opened from 127.0.0.1 is refused, which it is not for joins
  // without an address.
  HubOptions hub;
  hub.max_rooms_per_ip = 1;
  Start(GrpcListenerOptions(), hub);
  auto channel = NewChannel();
  GrpcTestClient a = Open(channel, "a", "one");
  ASSERT_TRUE(a.Read().has_welcome());
  GrpcTestClient b = Open(channel, "b", "two");
  v1::ChatResponse r;
  EXPECT_FALSE(b.stream()->Read(&r));
  grpc::Status s = b.stream()->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("too many rooms opened"));
}

TEST_F(GrpcListenerTest, AcceptsAgainAfterRunningOutOfDescriptors) {
#if defined(__SANITIZE_ADDRESS__)
  // Emptying this whole process's descriptor table starves every thread in
  // it, and under ASan+UBSan that ends in a report inside Asio's scheduler
  // (an invalid vptr) not yet understood. The plain build runs this test;
  // chat_grpc_fd_test proves the same end to end, in a process of its own.
  GTEST_SKIP() << "not under AddressSanitizer: see the comment";
#endif
  Start(GrpcListenerOptions());
  // The client's socket is made first; then no descriptor is left (the
  // soft limit at the lowest free number), so the server's accept fails
  // with EMFILE while the connection waits in the backlog.
  const int client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  const int lowest_free = dup(client);
  ASSERT_GE(lowest_free, 0);
  close(lowest_free);
  rlimit none = before;
  none.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &none), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int connected =
      connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const bool failed =
      Eventually([&] { return listener_->accept_failures() > 0; });
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &before), 0);
  ASSERT_EQ(connected, 0);
  ASSERT_TRUE(failed) << "accept never ran out of descriptors";

  // With descriptors back, the waiting connection is served: gRPC answers
  // its HTTP/2 preface with SETTINGS.
  timeval timeout{10, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const std::string preface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                              std::string("\0\0\0\x04\0\0\0\0\0", 9);
  ASSERT_EQ(send(client, preface.data(), preface.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(preface.size()));
  Frame frame;
  ASSERT_TRUE(ReadFrame(client, &frame));
  EXPECT_EQ(frame.type, 0x4);
  close(client);
  // And so are new ones.
  EXPECT_TRUE(Probe(NewChannel()).ok());
}

TEST(GrpcKeepaliveTest, ServerAndClientAgree) {
  EXPECT_EQ(KeepaliveMismatch(ServerKeepaliveArgs(), ClientKeepaliveArgs()),
            "");
  EXPECT_EQ(KeepaliveMismatch(GrpcServerArgs(GrpcListenerOptions()),
                              ClientKeepaliveArgs()),
            "");
  EXPECT_GE(kClientKeepaliveTimeMs, kMinClientPingIntervalMs);
}

TEST(GrpcKeepaliveTest, MismatchesAreFound) {
  // chatctl's earlier 20 s pings would have drawn GOAWAY (too_many_pings).
  IntChannelArgs eager = {{GRPC_ARG_KEEPALIVE_TIME_MS, 20000}};
  EXPECT_THAT(KeepaliveMismatch(ServerKeepaliveArgs(), eager),
              HasSubstr("pings every 20000 ms"));
  // And even 60 s pings from a server with gRPC's defaults.
  EXPECT_THAT(KeepaliveMismatch({}, ClientKeepaliveArgs()),
              HasSubstr("allows one every 300000 ms"));
  IntChannelArgs strict = {
      {GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 30000}};
  EXPECT_THAT(KeepaliveMismatch(strict, ClientKeepaliveArgs()),
              HasSubstr("without calls"));
}

TEST(GrpcServerArgsTest, SetsStreamsPerConnectionAndKeepalive) {
  GrpcListenerOptions options;
  options.max_streams_per_connection = 5;
  const IntChannelArgs args = GrpcServerArgs(options);
  auto value = [&](const char* name) {
    for (const auto& [key, v] : args) {
      if (key == name) return v;
    }
    return -1;
  };
  EXPECT_EQ(value(GRPC_ARG_MAX_CONCURRENT_STREAMS), 5);
  EXPECT_EQ(value(GRPC_ARG_KEEPALIVE_TIME_MS), 60000);
  EXPECT_EQ(value(GRPC_ARG_KEEPALIVE_TIMEOUT_MS), 20000);
  EXPECT_EQ(value(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS),
            30000);
  EXPECT_EQ(value(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS), 1);
}

TEST(GrpcServerArgsTest, MinClientPingIntervalComesFromTheOptions) {
  auto min_ping_ms = [](absl::Duration interval) {
    GrpcListenerOptions options;
    options.min_client_ping_interval = interval;
    for (const auto& [key, v] : GrpcServerArgs(options)) {
      if (key == GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS) {
        return v;
      }
    }
    return -1;
  };
  EXPECT_EQ(min_ping_ms(absl::Seconds(1)), 1000);
  EXPECT_EQ(min_ping_ms(absl::ZeroDuration()), 0);
  EXPECT_EQ(min_ping_ms(-absl::Seconds(1)), 0);
  EXPECT_EQ(min_ping_ms(absl::InfiniteDuration()), INT_MAX);
  // A test client pinging every second is then welcome.
  GrpcListenerOptions options;
  options.min_client_ping_interval = absl::Seconds(1);
  const IntChannelArgs eager = {{GRPC_ARG_KEEPALIVE_TIME_MS, 1000},
                                {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1}};
  EXPECT_EQ(KeepaliveMismatch(GrpcServerArgs(options), eager), "");
  EXPECT_NE(KeepaliveMismatch(GrpcServerArgs(GrpcListenerOptions()), eager),
            "");
}

TEST(RequestLimitsTest, MaxRequestBytes) {
  EXPECT_EQ(MaxRequestBytes(100), 64u * 1024);
  EXPECT_EQ(MaxRequestBytes(4096), 64u * 1024);
  EXPECT_EQ(MaxRequestBytes(100000), 604096u);
}

TEST(GrpcPeerTest, ParsesGrpcPeerStrings) {
  PeerInfo v4 = ParseGrpcPeer("ipv4:127.0.0.1:5555");
  EXPECT_EQ(v4.ip, "127.0.0.1");
  EXPECT_EQ(v4.address, "127.0.0.1:5555");
  EXPECT_EQ(v4.connection, "ipv4:127.0.0.1:5555");
  PeerInfo v6 = ParseGrpcPeer("ipv6:[::1]:5555");
  EXPECT_EQ(v6.ip, "::1");
  EXPECT_EQ(v6.address, "[::1]:5555");
  EXPECT_EQ(ParseGrpcPeer("ipv6:%5B2001:db8::1%5D:80").ip, "2001:db8::1");
  PeerInfo fd = ParseGrpcPeer("fd:12");
  EXPECT_EQ(fd.ip, "");
  EXPECT_EQ(fd.address, "fd:12");
  EXPECT_EQ(ParseGrpcPeer("unix:/tmp/socket").ip, "");
  EXPECT_EQ(ParseGrpcPeer("ipv4:nonsense").ip, "");
}

}  // namespace
}  // namespace chat

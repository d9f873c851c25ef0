#include "legacy_tcp/legacy_server.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/grpc_test_client.h"
#include "testing/in_process_server.h"
#include "testing/tcp_test_client.h"

namespace chat {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using std::string_literals::operator""s;

constexpr absl::Duration kTimeout = absl::Seconds(5);

// The process's open descriptors, as "fd -> target" lines.
std::vector<std::string> OpenDescriptors() {
  std::vector<std::string> out;
  DIR* dir = opendir("/proc/self/fd");
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.' || atoi(entry->d_name) == dirfd(dir)) continue;
    char target[256] = {0};
    const std::string path = absl::StrCat("/proc/self/fd/", entry->d_name);
    ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
    out.push_back(absl::StrCat(entry->d_name, " -> ", n > 0 ? target : "?"));
  }
  closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

class LegacyServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(HubOptions(), LegacyServerOptions()); }

  // The gRPC service and the legacy port on one hub.
  void Start(HubOptions hub_options, LegacyServerOptions options) {
    Stop();
    server_ = std::make_unique<InProcessServer>(hub_options);
    ASSERT_NE(server_->port(), 0);
    legacy_ = server_->StartListener<LegacyServer>(options);
    port_ = legacy_->port();
    ASSERT_NE(port_, 0);
    EXPECT_EQ(legacy_->address(), absl::StrCat("127.0.0.1:", port_));
  }

  void TearDown() override { Stop(); }

  void Stop() {
    legacy_ = nullptr;
    server_.reset();  // The hub's notice, then the gRPC port and legacy_.
  }

  Hub* hub() const { return server_->hub(); }

  std::unique_ptr<TcpTestClient> Connect() {
    return std::make_unique<TcpTestClient>(port_);
  }

  GrpcTestClient JoinGrpc(const std::string& name) {
    return GrpcTestClient::Join(server_->channel(), name);
  }

  void StopReadingWhileOthersGetEverything(int threads);

  std::unique_ptr<InProcessServer> server_;
  LegacyServer* legacy_ = nullptr;  // Owned by server_.
  int port_ = 0;
};

TEST_F(LegacyServerTest, WelcomeSaysWhoYouAreAndOthersSeeYouJoin) {
  auto first = Connect();
  EXPECT_EQ(first->ReadLine(),
            "-- welcome to chatroom; type /help for the commands");
  std::optional<std::string> you = first->ReadLine();
  EXPECT_THAT(you.value_or(""),
              MatchesRegex("-- you are guest-[0-9]{5} in room lobby, alone "
                           "so far"));
  const std::string first_name = you->substr(11, 11);
  EXPECT_EQ(first->ReadLine(), "-- " + first_name + " joined");

  auto second = Connect();
  const std::string second_name = second->Welcome();
  EXPECT_NE(first_name, second_name);
  EXPECT_EQ(first->ReadLine(), "-- " + second_name + " joined");
  EXPECT_EQ(legacy_->connection_count(), 2u);
}

TEST_F(LegacyServerTest, GuestNamesAreUniqueAcrossRooms) {
  // Guests that move to another room never meet a guest of the same name.
  for (int i = 0; i < 200; ++i) {
    TcpTestClient guest(port_);
    const std::string name = guest.Welcome();
    guest.Send("/join dev\n");
    EXPECT_THAT(guest.ReadLine().value_or(""),
                StartsWith("-- you are " + name + " in room dev"));
  }
}

TEST_F(LegacyServerTest, TcpAndGrpcUsersChatBothWays) {
  GrpcTestClient alice = JoinGrpc("alice");
  auto tcp = Connect();
  const std::string guest = tcp->Welcome();
  alice.ReadUntil("-- " + guest + " joined");

  tcp->Send("hello from telnet\r\n");
  v1::ChatResponse said = alice.ReadUntil("hello from telnet");
  EXPECT_EQ(said.message().sender(), guest);
  EXPECT_EQ(said.message().text(), "hello from telnet");

  alice.Say("hello from grpc");
  EXPECT_EQ(tcp->ReadLine(), "<alice> hello from grpc");
  alice.Say("waves", /*action=*/true);
  EXPECT_EQ(tcp->ReadLine(), "* alice waves");

  // Own messages are not echoed: the next line is alice's.
  tcp->Send("not echoed\n");
  alice.ReadUntil("not echoed");
  alice.Say("after");
  EXPECT_EQ(tcp->ReadLine(), "<alice> after");
}

TEST_F(LegacyServerTest, CommandsNickWhoMeJoin) {
  GrpcTestClient alice = JoinGrpc("alice");
  auto bob = Connect();
  const std::string guest = bob->Welcome();
  auto carol = Connect();
  const std::string carol_guest = carol->Welcome();
  bob->ReadUntil(carol_guest + " joined");

  bob->Send("/nick bob\n");
  EXPECT_EQ(bob->ReadLine(), "-- " + guest + " is now known as bob");
  EXPECT_EQ(carol->ReadLine(), "-- " + guest + " is now known as bob");
  alice.ReadUntil("-- " + guest + " is now known as bob");

  bob->Send("/who\n");
  EXPECT_EQ(bob->ReadLine(), "-- 3 in lobby: alice (grpc), bob (tcp), " +
                                 carol_guest + " (tcp)");

  bob->Send("/me waves\n");
  EXPECT_EQ(carol->ReadLine(), "* bob waves");
  EXPECT_TRUE(alice.ReadUntil("* bob waves").message().action());

  bob->Send("/NICK no spaces\n");
  EXPECT_THAT(bob->ReadLine().value_or(""),
              AllOf(StartsWith("!! name \"no spaces\""), HasSubstr("letters")));
  bob->Send("/nick Alice\n");
  EXPECT_EQ(bob->ReadLine(), "!! name \"Alice\" is taken in room lobby");

  bob->Send("/dance now\n");
  EXPECT_EQ(bob->ReadLine(),
            "!! unknown command /dance; the commands are /nick NAME, /who, "
            "/me ACTION, /join ROOM, /quit [REASON], /help");
  bob->Send("/help\n");
  EXPECT_THAT(bob->ReadLine().value_or(""), StartsWith("-- /nick NAME"));
  bob->ReadUntil("start it with //");
  // The last line of /help: the limits a gRPC client reads in its welcome.
  EXPECT_EQ(bob->ReadLine(), "-- limits: messages up to 4096 bytes");
  bob->Send("//not a command\n");
  EXPECT_EQ(carol->ReadLine(), "<bob> /not a command");

  bob->Send("/join #Dev\n");
  EXPECT_EQ(bob->ReadLine(), "-- you are bob in room dev, alone so far");
  EXPECT_EQ(bob->ReadLine(), "-- bob joined");
  EXPECT_EQ(carol->ReadLine(), "-- bob left (moved to #dev)");
  alice.ReadUntil("-- bob left (moved to #dev)");
  bob->Send("anyone here?\n/who\n");
  EXPECT_EQ(bob->ReadLine(), "-- 1 in dev: bob (tcp)");
  // Nobody in the lobby heard that: carol's next line is alice's.
  alice.Say("still here");
  EXPECT_EQ(carol->ReadLine(), "<alice> still here");
  // An answer comes after the events its command caused.
  bob->Send("/nick robert\n/who\n");
  EXPECT_EQ(bob->ReadLine(), "-- bob is now known as robert");
  EXPECT_EQ(bob->ReadLine(), "-- 1 in dev: robert (tcp)");
}

// The grammar is ParseTypedLine's (service/format_test.cc); here, that the
// port answers each kind of line as chatctl does.
TEST_F(LegacyServerTest, UsageErrorsBlankLinesAndExit) {
  auto bob = Connect();
  const std::string guest = bob->Welcome();
  auto carol = Connect();
  const std::string carol_guest = carol->Welcome();
  bob->ReadUntil(carol_guest + " joined");

  // A blank line is ignored: the next answer is the usage error's.
  bob->Send("   \t\n/me\n");
  EXPECT_EQ(bob->ReadLine(), "!! usage: /me ACTION");
  bob->Send("/who bob\n");
  EXPECT_EQ(bob->ReadLine(), "!! usage: /who (it lists everyone in the room)");
  bob->Send("/help me\n");
  EXPECT_THAT(bob->ReadLine().value_or(""), StartsWith("-- /nick NAME"));
  bob->ReadUntil("start it with //");
  EXPECT_THAT(bob->ReadLine().value_or(""), StartsWith("-- limits: "));
  // /exit is /quit; nothing before it reached the room: carol's next line
  // is bob leaving.
  bob->Send("/exit gone fishing\n");
  EXPECT_TRUE(bob->ReadsEof());
  EXPECT_EQ(carol->ReadLine(), "-- " + guest + " left (gone fishing)");
}

TEST_F(LegacyServerTest, QuitFlushesLeavesAndCloses) {
  auto bob = Connect();
  bob->Welcome();
  auto carol = Connect();
  const std::string carol_guest = carol->Welcome();
  bob->ReadUntil(carol_guest + " joined");
  carol->Send("/who\n/quit gone \x1b[1mfishing\nignored after quit\n");
  EXPECT_THAT(carol->ReadLine().value_or(""), StartsWith("-- 2 in lobby"));
  EXPECT_TRUE(carol->ReadsEof());
  EXPECT_EQ(bob->ReadLine(), "-- " + carol_guest + " left (gone fishing)");
  // Nothing carol sent after /quit was said.
  auto dave = Connect();
  const std::string dave_guest = dave->Welcome();
  EXPECT_EQ(bob->ReadLine(), "-- " + dave_guest + " joined");
}

TEST_F(LegacyServerTest, DisconnectsAreSeenAndTheLastLineIsSaid) {
  auto bob = Connect();
  bob->Welcome();

  auto eof = Connect();
  const std::string eof_guest = eof->Welcome();
  bob->ReadUntil(eof_guest + " joined");
  eof->Send("last words without newline");
  eof->Close();
  EXPECT_EQ(bob->ReadLine(), "<" + eof_guest + "> last words without newline");
  EXPECT_EQ(bob->ReadLine(), "-- " + eof_guest + " left (disconnected)");

  auto reset = Connect();
  const std::string reset_guest = reset->Welcome();
  bob->ReadUntil(reset_guest + " joined");
  reset->Reset();
  EXPECT_EQ(bob->ReadLine(), "-- " + reset_guest + " left (disconnected)");

  // A half-close: the client still gets its answers, then EOF.
  auto half = Connect();
  const std::string half_guest = half->Welcome();
  bob->ReadUntil(half_guest + " joined");
  half->Send("/who\n");
  half->ShutdownWrite();
  EXPECT_THAT(half->ReadLine().value_or(""), StartsWith("-- 2 in lobby"));
  EXPECT_TRUE(half->ReadsEof());
  EXPECT_EQ(bob->ReadLine(), "-- " + half_guest + " left (disconnected)");
  EXPECT_TRUE(legacy_->WaitForConnectionCount(1, kTimeout));
}

TEST_F(LegacyServerTest, TelnetBytesAreRemovedAndEditingApplied) {
  auto bob = Connect();
  bob->Welcome();
  auto telnet = Connect();
  const std::string guest = telnet->Welcome();
  bob->ReadUntil(guest + " joined");
  // Negotiation, a subnegotiation, a typo fixed with ^H and DEL, telnet's
  // "\r\0" line end, and IAC IAC (a 0xFF byte, invalid UTF-8).
  telnet->Send(
      "\xff\xfd\x01\xff\xfb\x03he\xff\xfa\x18\0xterm\xff\xf0llx\b"
      "o wrold\x7f\x7f\x7f\x7forld\r\0"s);
  EXPECT_EQ(bob->ReadLine(), "<" + guest + "> hello world");
  telnet->Send("\xff\xff!\r\n");
  EXPECT_EQ(bob->ReadLine(), "<" + guest + "> \xEF\xBF\xBD!");
  // ^C in telnet: IAC IP, IAC DO TIMING-MARK.
  telnet->Send("\xff\xf4\xff\xfd\x06");
  EXPECT_EQ(bob->ReadLine(), "-- " + guest + " left (quit)");
  EXPECT_TRUE(telnet->ReadsEof());
}

TEST_F(LegacyServerTest, EscapesControlBytesAndInvalidUtf8AreMadeSafe) {
  GrpcTestClient alice = JoinGrpc("alice");
  auto bob = Connect();
  bob->Welcome();
  auto mallory = Connect();
  const std::string guest = mallory->Welcome();
  bob->ReadUntil(guest + " joined");
  mallory->Send(
      "\x1b[2J\x1b]0;pwned\x07\x1b[31mred\x1b[0m \x07\x01\xc2\x9b"
      "1mbell \xc3\x28 ok\n");
  const std::string expected = "red bell \xEF\xBF\xBD( ok";
  EXPECT_EQ(bob->ReadLine(), "<" + guest + "> " + expected);
  EXPECT_EQ(alice.ReadUntil(expected).message().text(), expected);
}

TEST_F(LegacyServerTest, TooLongLineIsRefusedAndTheNextOneWorks) {
  auto bob = Connect();
  bob->Welcome();
  auto talker = Connect();
  const std::string guest = talker->Welcome();
  bob->ReadUntil(guest + " joined");
  talker->Send(std::string(5000, 'x') + "\nshort\n");
  EXPECT_EQ(talker->ReadLine(),
            "!! message not sent: the line is longer than 4096 bytes, the "
            "limit");
  EXPECT_EQ(bob->ReadLine(), "<" + guest + "> short");
  // At the limit exactly, it is sent.
  talker->Send(std::string(4096, 'y') + "\n");
  EXPECT_EQ(bob->ReadLine(), "<" + guest + "> " + std::string(4096, 'y'));
  // Sanitized text over the limit gets the core's notice.
  talker->Send(std::string(2000, '\xfe') + "\n");
  EXPECT_THAT(talker->ReadLine().value_or(""),
              StartsWith("!! message not sent: it is 6000 bytes long"));
}

TEST_F(LegacyServerTest, MegabyteWithoutNewlineDisconnectsOnlyTheSender) {
  auto bob = Connect();
  bob->Welcome();
  auto flood = Connect();
  const std::string guest = flood->Welcome();
  bob->ReadUntil(guest + " joined");
  const std::string megabyte(1 << 20, 'z');
  const size_t sent = flood->SendUntilRefused(megabyte);
  EXPECT_GT(sent, 64u * 1024);
  flood->ShutdownWrite();
  EXPECT_THAT(flood->ReadLine().value_or(""),
              StartsWith("!! message not sent: the line is longer"));
  EXPECT_EQ(flood->ReadLine(),
            "!! more than 65536 bytes without a line end; disconnecting");
  EXPECT_TRUE(flood->ReadsEof());
  EXPECT_EQ(bob->ReadLine(), "-- " + guest + " left (line too long)");
  // The others carry on.
  auto carol = Connect();
  carol->Welcome();
  carol->Send("still fine\n");
  EXPECT_THAT(bob->ReadUntil("still fine"), HasSubstr("> still fine"));
}

// A reader stops reading while a sender posts big messages that a keeper
// reads one by one: the stopped reader's socket fills, its session's write
// waits, and at last the core drops it as too slow. With `threads` 1, the
// keeper's session writes on the stopped reader's thread, so the lines the
// stopped session still has to write must not be in anything the thread
// reuses (LegacySession gathers lines in a buffer of the thread's).
void LegacyServerTest::StopReadingWhileOthersGetEverything(int threads) {
  HubOptions hub_options;
  hub_options.outbox_events = 64;
  hub_options.outbox_bytes = 256 * 1024;
  LegacyServerOptions options;
  options.threads = threads;
  Start(hub_options, options);
  auto keeper = Connect();
  keeper->Welcome();
  auto stopper =
      std::make_unique<TcpTestClient>(port_, /*receive_buffer=*/4096);
  const std::string stopper_guest = stopper->Welcome();
  keeper->ReadUntil(stopper_guest + " joined");
  // The sender is a TCP client too: its own messages come back into its
  // outbox, and its session drains them (without writing them) at once.
  auto sender = Connect();
  sender->Welcome();
  sender->Send("/nick sender\n");
  keeper->ReadUntil("is now known as sender");

  // Big messages fill the stopped reader's socket buffers quickly; the keeper
  // reads each one before the next is sent, so it never falls behind.
  // Each message's text is its own, all along, so that a line made of two
  // messages' parts shows.
  auto filler = [](int i) { return std::string(4000, 'a' + i % 26); };
  bool dropped = false;
  int i = 0;
  for (; i < 5000 && !dropped; ++i) {
    sender->Send(absl::StrCat(i, " ", filler(i), "\n"));
    std::optional<std::string> line = keeper->ReadLine();
    ASSERT_TRUE(line.has_value());
    if (*line == "-- " + stopper_guest + " left (too slow)") {
      dropped = true;
      line = keeper->ReadLine();
      ASSERT_TRUE(line.has_value());
    }
    ASSERT_EQ(*line, absl::StrCat("<sender> ", i, " ", filler(i)));
  }
  EXPECT_TRUE(dropped) << "after " << i << " messages";
  // The stopped reader, reading again, finds the messages it got in order,
  // a last line that says why, and the end.
  int next = 0;
  std::string last;
  while (std::optional<std::string> line = stopper->ReadLine()) {
    last = *line;
    if (absl::StartsWith(last, "!!")) break;
    if (absl::StartsWith(last, "-- guest-")) continue;  // joined, renamed
    ASSERT_EQ(last, absl::StrCat("<sender> ", next, " ", filler(next)));
    ++next;
  }
  EXPECT_GT(next, 0);
  EXPECT_THAT(last, StartsWith("!! too slow: "));
  EXPECT_TRUE(stopper->ReadsEof());
  // And the keeper still gets what comes next.
  sender->Send("after\n");
  EXPECT_EQ(keeper->ReadLine(), "<sender> after");
}

TEST_F(LegacyServerTest, ReaderThatStopsIsDroppedWhileOthersGetEverything) {
  StopReadingWhileOthersGetEverything(/*threads=*/2);
}

TEST_F(LegacyServerTest, ReaderThatStopsOnTheKeepersThreadGetsItsOwnLines) {
  StopReadingWhileOthersGetEverything(/*threads=*/1);
}

// A client that sends commands without reading the answers: once its socket
// is full and it owes 32 answers, its session stops decoding, keeps the rest
// of what it read, and goes on when the answers are written. The rest must
// be its own, though others' reads on the same thread came in between (a
// session reads into a buffer of the thread's).
TEST_F(LegacyServerTest, CommandsSentWithoutReadingAreAllAnsweredInOrder) {
  LegacyServerOptions options;
  options.threads = 1;
  Start(HubOptions(), options);
  // A crowd, for long /who answers.
  class SilentSink final : public MemberSink {
   public:
    void Wake() override {}
  };
  auto sink = std::make_shared<SilentSink>();
  std::vector<std::shared_ptr<Member>> crowd;
  for (int i = 0; i < 300; ++i) {
    JoinRequest join;
    join.name = absl::StrCat("member", i);
    absl::StatusOr<std::shared_ptr<Member>> member = hub()->Join(join, sink);
    ASSERT_TRUE(member.ok()) << member.status();
    crowd.push_back(*std::move(member));
  }
  auto asker = std::make_unique<TcpTestClient>(port_, /*receive_buffer=*/4096);
  const std::string asker_guest = asker->Welcome();
  auto keeper = Connect();
  keeper->Welcome();
  auto talker = Connect();
  const std::string talker_guest = talker->Welcome();
  keeper->ReadUntil(talker_guest + " joined");
  // Ten /who and one unknown command, 60 bytes, are answered with about
  // 54 KB: what one read brings is answered with more than the socket's
  // buffers hold (up to 4 MiB here), so the session stops inside that read.
  constexpr int kCommands = 160;
  std::string commands;
  for (int i = 0; i < kCommands; ++i) {
    for (int j = 0; j < 10; ++j) commands.append("/who\n");
    absl::StrAppend(&commands, "/d", i, "\n");
  }
  asker->Send(commands);
  // An answer came: the read was handled, and the session stopped in it.
  ASSERT_TRUE(asker->ReadLine().has_value());
  // Then other reads on the same thread, enough to fill a read buffer.
  const std::string said(3500, 'x');
  talker->Send(
      absl::StrCat(said, "\n", said, "\n", said, "\n", said, "\n", said, "\n"));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(keeper->ReadLine(), "<" + talker_guest + "> " + said);
  }
  // And one more command while the session does not read: the socket tells
  // of it only now, so the session must look for it when it reads again.
  asker->Send(absl::StrCat("/d", kCommands, "\n"));
  int next = 0;
  while (next <= kCommands) {
    std::optional<std::string> line = asker->ReadLine();
    ASSERT_TRUE(line.has_value()) << "after the answer to /d" << next - 1;
    if (!absl::StartsWith(*line, "!! ")) continue;  // /who, the chat lines
    ASSERT_EQ(*line, absl::StrCat("!! unknown command /d", next,
                                  "; the commands are /nick NAME, /who, "
                                  "/me ACTION, /join ROOM, /quit [REASON], "
                                  "/help"));
    ++next;
  }
  // And the asker still chats.
  asker->Send("done\n");
  EXPECT_EQ(keeper->ReadLine(), "<" + asker_guest + "> done");
}

TEST_F(LegacyServerTest, ThousandConnectCloseCyclesLeakNoDescriptor) {
  auto lobby_members = [&] {
    std::string room;
    return hub()->ListMembers("lobby", &room)->size();
  };
  // Each io_context thread opens its poller with its first socket: warm up.
  for (int i = 0; i < 4; ++i) TcpTestClient(port_).Welcome();
  ASSERT_TRUE(legacy_->WaitForConnectionCount(0, kTimeout));
  const std::vector<std::string> before = OpenDescriptors();
  for (int i = 0; i < 1000; ++i) {
    TcpTestClient client(port_);
    if (i % 4 == 0) client.Welcome();  // Some leave before the welcome.
    if (i % 2 == 0) {
      client.Reset();
    } else {
      client.Close();
    }
  }
  // Connections are accepted in order: once this one is welcomed, every one
  // before it has a session, and the count can be trusted.
  TcpTestClient(port_).Welcome();
  EXPECT_TRUE(legacy_->WaitForConnectionCount(0, kTimeout))
      << legacy_->connection_count() << " sessions left";
  EXPECT_EQ(lobby_members(), 0u);
  EXPECT_EQ(OpenDescriptors(), before);
}

TEST_F(LegacyServerTest, OverMaxConnectionsGetsOneLineAndClose) {
  LegacyServerOptions options;
  options.max_connections = 2;
  Start(HubOptions(), options);
  auto a = Connect();
  a->Welcome();
  auto b = Connect();
  b->Welcome();
  auto c = Connect();
  EXPECT_EQ(c->ReadLine(),
            "!! the server is full (2 connections); try again later");
  EXPECT_TRUE(c->ReadsEof());
  b->Close();
  EXPECT_TRUE(legacy_->WaitForConnectionCount(1, kTimeout));
  auto d = Connect();
  d->Welcome();
}

TEST_F(LegacyServerTest, ShutdownSendsTheNoticeAndClosesQuickly) {
  auto bob = Connect();
  bob->Welcome();
  // A reader that never reads and has a lot queued must not hold it up.
  auto stuck = std::make_unique<TcpTestClient>(port_, /*receive_buffer=*/4096);
  stuck->Welcome();
  GrpcTestClient sender = JoinGrpc("sender");
  for (int i = 0; i < 50; ++i) sender.Say(std::string(4000, 's'));
  for (int i = 0; i < 50; ++i) bob->ReadUntil("<sender>");

  const absl::Time start = absl::Now();
  hub()->Shutdown("chat-service is shutting down");
  legacy_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_EQ(bob->ReadLine(), "!! chat-service is shutting down");
  EXPECT_TRUE(bob->ReadsEof());
  EXPECT_EQ(legacy_->connection_count(), 0u);
  // No longer accepting.
  EXPECT_FALSE(TcpTestClient::CanConnect(port_));
}

TEST_F(LegacyServerTest, OverTheCapPerAddressGetsOneLineAndClose) {
  LegacyServerOptions options;
  options.max_connections_per_ip = 2;
  Start(HubOptions(), options);
  auto a = Connect();
  a->Welcome();
  auto b = Connect();
  b->Welcome();
  auto c = Connect();
  EXPECT_EQ(c->ReadLine(),
            "!! too many connections from your address (2 open, the most "
            "allowed); close one and try again");
  EXPECT_TRUE(c->ReadsEof());
  b->Close();
  EXPECT_TRUE(legacy_->WaitForConnectionCount(1, kTimeout));
  auto d = Connect();
  d->Welcome();
}

// The core counts the rooms each address opens (HubOptions::
// max_rooms_per_ip): with the port's members joined under their address,
// one address cannot hold a second room open.
TEST_F(LegacyServerTest, MembersJoinWithTheirAddress) {
  HubOptions hub_options;
  hub_options.max_rooms_per_ip = 1;
  Start(hub_options, LegacyServerOptions());
  auto first = Connect();
  first->Welcome();  // The lobby was empty: 127.0.0.1 opened it.
  auto second = Connect();
  second->Welcome();
  second->Send("/join dev\n");
  EXPECT_THAT(second->ReadUntil("too many rooms"), StartsWith("!! "));
}

TEST_F(LegacyServerTest, IdleConnectionIsToldAndClosedWhileAnActiveOneStays) {
  LegacyServerOptions options;
  options.idle_timeout = absl::Milliseconds(500);
  Start(HubOptions(), options);
  const absl::Time before_idle = absl::Now();  // Its idle clock starts later.
  auto idle = Connect();
  const std::string idle_guest = idle->Welcome();
  auto active = Connect();
  const std::string active_guest = active->Welcome();

  // The active one asks /who and reads the answer, again and again, until
  // it sees the idle one leave (bounded at 20 times the timeout).
  const std::string idle_left = "-- " + idle_guest + " left (idle for 500ms)";
  bool gone = false;
  const absl::Time start = absl::Now();
  while (!gone && absl::Now() - start < absl::Seconds(10)) {
    active->Send("/who\n");
    for (const std::string& line : active->ReadThrough(" in lobby: ")) {
      if (line == idle_left) gone = true;
    }
    absl::SleepFor(absl::Milliseconds(20));  // Pacing, not waiting.
  }
  ASSERT_TRUE(gone) << "the idle connection was not closed";
  EXPECT_GE(absl::Now() - before_idle, absl::Milliseconds(500));
  EXPECT_EQ(idle->ReadUntil("!! "), "!! closing: idle for 500ms");
  EXPECT_TRUE(idle->ReadsEof());
  idle->Close();
  // The active one is still in.
  active->Send("/who\n");
  EXPECT_EQ(active->ReadUntil(" in lobby: "),
            "-- 1 in lobby: " + active_guest + " (tcp)");
  EXPECT_TRUE(legacy_->WaitForConnectionCount(1, kTimeout));
}

// A slowloris: connections that send a byte now and then and never a line
// end. They are closed after --line_timeout and free their slots; a telnet
// client that only negotiated and then waits is not one.
TEST_F(LegacyServerTest, SlowLinesAreClosedAndFreeTheirSlots) {
  constexpr int kSlow = 3;
  LegacyServerOptions options;
  options.line_timeout = absl::Milliseconds(500);
  options.max_connections = kSlow + 1;
  Start(HubOptions(), options);
  auto telnet = Connect();
  const std::string telnet_guest = telnet->Welcome();
  telnet->Send("\xff\xfd\x01\xff\xfb\x03");  // IAC DO ECHO, IAC WILL SGA.

  // Sent after the telnet client's negotiation: had that counted as part
  // of a line, the telnet client would be closed first.
  const absl::Time before_slow = absl::Now();  // Their line clocks start later.
  std::vector<std::unique_ptr<TcpTestClient>> slow;
  std::vector<std::string> slow_guests;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(Connect());
    slow_guests.push_back(slow.back()->Welcome());
    slow.back()->Send("GET / HTTP/1.1");
  }
  std::vector<std::string> last(kSlow);
  int closed = 0;
  const absl::Time start = absl::Now();
  while (closed < kSlow && absl::Now() - start < absl::Seconds(10)) {
    for (int i = 0; i < kSlow; ++i) {
      if (absl::StartsWith(last[i], "!!")) continue;
      slow[i]->TrySend("x");  // One byte; the server may be closing.
      for (const std::string& line :
           slow[i]->ReadAvailable(absl::Milliseconds(20))) {
        if (absl::StartsWith(line, "!!")) {
          last[i] = line;
          ++closed;
          break;
        }
      }
    }
  }
  ASSERT_EQ(closed, kSlow);
  EXPECT_GE(absl::Now() - before_slow, absl::Milliseconds(500));
  for (int i = 0; i < kSlow; ++i) {
    EXPECT_EQ(last[i], "!! closing: no line end within 500ms");
    EXPECT_TRUE(slow[i]->ReadsEof());
    slow[i]->Close();
  }
  // The room saw why, in some order; the telnet client was left alone.
  std::set<std::string> to_see;
  for (const std::string& guest : slow_guests) {
    to_see.insert("-- " + guest + " left (no line end within 500ms)");
  }
  while (!to_see.empty()) {
    std::optional<std::string> line = telnet->ReadLine();
    ASSERT_TRUE(line.has_value()) << "not seen: " << *to_see.begin();
    EXPECT_FALSE(absl::StartsWith(*line, "!!")) << *line;
    to_see.erase(*line);
  }
  // Their slots are free again: a new user gets in and hears the telnet
  // client.
  ASSERT_TRUE(legacy_->WaitForConnectionCount(1, kTimeout));
  auto user = Connect();
  user->Welcome();
  telnet->Send("hi\r\n");
  EXPECT_EQ(user->ReadUntil("> hi"), "<" + telnet_guest + "> hi");
}

// 2000 connections that connect and never send a line (half-open, a port
// scanner, a slowloris before its deadline) do not keep a real user from
// chatting.
TEST_F(LegacyServerTest, TwoThousandSilentConnectionsDoNotStopARealUser) {
  int silent = 2000;
  // Each costs two descriptors in this process (client and server side).
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const rlim_t needed = 2 * static_cast<rlim_t>(silent) + 256;
  if (limit.rlim_cur < needed) {
    limit.rlim_cur = std::min(limit.rlim_max, needed);
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur < needed) {
    // A hard limit below what the test needs: as many as fit.
    silent = static_cast<int>((limit.rlim_cur - 256) / 2);
    std::cerr << "descriptor limit " << limit.rlim_cur << ": " << silent
              << " silent connections instead of 2000\n";
    ASSERT_GE(silent, 100);
  }
  LegacyServerOptions options;
  options.max_connections = static_cast<size_t>(silent) + 10;
  Start(HubOptions(), options);

  std::vector<std::unique_ptr<TcpTestClient>> silent_clients;
  for (int i = 0; i < silent; ++i) {
    silent_clients.push_back(std::make_unique<TcpTestClient>(port_));
    ASSERT_TRUE(silent_clients.back()->connected()) << i;
  }
  ASSERT_TRUE(
      legacy_->WaitForConnectionCount(silent_clients.size(), absl::Seconds(60)))
      << legacy_->connection_count() << " of " << silent_clients.size();

  auto alice = Connect();
  const std::string alice_guest = alice->Welcome();
  auto bob = Connect();
  bob->Welcome();
  alice->Send("hello through the crowd\n");
  EXPECT_EQ(bob->ReadUntil("hello through"),
            "<" + alice_guest + "> hello through the crowd");
}

}  // namespace
}  // namespace chat

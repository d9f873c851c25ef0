#include "integration_tests/script.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration_tests/user.h"

namespace chat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Error(absl::string_view text) {
  absl::StatusOr<Script> s = ParseScript("t.scenario", text);
  EXPECT_FALSE(s.ok()) << "parsed: " << text;
  return s.ok() ? "" : std::string(s.status().message());
}

TEST(TokenizeLineTest, WordsStringsRegexesAndComments) {
  absl::StatusOr<std::vector<Token>> t =
      TokenizeLine("say alice \"hello # world\" /a\\/b/  # a comment");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 4u);
  EXPECT_EQ((*t)[0], (Token{Token::Kind::kWord, "say"}));
  EXPECT_EQ((*t)[2], (Token{Token::Kind::kString, "hello # world"}));
  EXPECT_EQ((*t)[3], (Token{Token::Kind::kRegex, "a/b"}));
}

TEST(TokenizeLineTest, StringEscapes) {
  absl::StatusOr<std::vector<Token>> t =
      TokenizeLine(R"("\xff\r\n\0\t\e\\\"x")");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)[0].text, std::string("\xff\r\n\0\t\x1b\\\"x", 9));
}

TEST(TokenizeLineTest, RegexKeepsOtherEscapesForRe2) {
  absl::StatusOr<std::vector<Token>> t = TokenizeLine(R"(/\d+ \(x\)/)");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)[0].text, R"(\d+ \(x\))");
}

TEST(TokenizeLineTest, QuotedOptionValue) {
  absl::StatusOr<std::vector<Token>> t = TokenizeLine("leave a reason=\"a b\"");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[2].text, "reason=a b");
}

TEST(TokenizeLineTest, RegexOptionValue) {
  absl::StatusOr<std::vector<Token>> t =
      TokenizeLine(R"(expect-none a until=/^<b> x\/y z$/ timeout=1s)");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 4u);
  EXPECT_EQ((*t)[2].text, "until=^<b> x/y z$");
  EXPECT_EQ((*t)[2].value_kind, Token::Kind::kRegex);
  EXPECT_EQ((*t)[3].value_kind, Token::Kind::kWord);
  // A server flag's path is not a regex: only option keys take one.
  t = TokenizeLine("start --data_dir=/tmp/x");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)[1].text, "--data_dir=/tmp/x");
  EXPECT_EQ((*t)[1].value_kind, Token::Kind::kWord);
  EXPECT_THAT(std::string(TokenizeLine("x a until=/open").status().message()),
              HasSubstr("no closing /"));
}

TEST(TokenizeLineTest, Errors) {
  EXPECT_THAT(std::string(TokenizeLine("say a \"open").status().message()),
              HasSubstr("no closing quote"));
  EXPECT_THAT(std::string(TokenizeLine("expect a /open").status().message()),
              HasSubstr("no closing /"));
  EXPECT_THAT(std::string(TokenizeLine("say a \"\\q\"").status().message()),
              HasSubstr("unknown escape \\q"));
  EXPECT_THAT(std::string(TokenizeLine("say a \"\\xg0\"").status().message()),
              HasSubstr("two hex digits"));
  EXPECT_THAT(std::string(TokenizeLine("say a \"x\"y").status().message()),
              HasSubstr("expected a space"));
}

TEST(ParseScriptTest, StepsWithLinesArgsAndOptions) {
  absl::StatusOr<Script> s =
      ParseScript("t.scenario",
                  "# two users\n"
                  "start --outbox_events=64\n"
                  "\n"
                  "grpc alice room=dev history=5\n"
                  "expect alice /^<bob> hi$/ timeout=2s\n"
                  "expect-end alice RESOURCE_EXHAUSTED "
                  "/too slow/\n");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->steps.size(), 4u);
  EXPECT_EQ(s->steps[0].line, 2);
  EXPECT_EQ(s->steps[0].op, "start");
  EXPECT_EQ(s->steps[0].args[0].text, "--outbox_events=64");
  EXPECT_TRUE(s->steps[0].options.empty());
  EXPECT_EQ(s->steps[1].line, 4);
  EXPECT_EQ(s->steps[1].Option("room"), "dev");
  EXPECT_EQ(s->steps[1].Option("history"), "5");
  EXPECT_EQ(s->steps[1].Option("resume", "none"), "none");
  EXPECT_EQ(s->steps[2].args[1].kind, Token::Kind::kRegex);
  EXPECT_EQ(s->steps[2].Option("timeout"), "2s");
  EXPECT_EQ(s->steps[3].source,
            "expect-end alice RESOURCE_EXHAUSTED /too slow/");
}

TEST(ParseScriptTest, ErrorsNameTheFileAndLine) {
  EXPECT_THAT(Error("start\nsya alice hi\n"),
              HasSubstr("t.scenario:2: unknown step \"sya\""));
  EXPECT_THAT(Error("say alice\n"), HasSubstr("say takes 2 arguments, got 1"));
  EXPECT_THAT(Error("say alice a b\n"),
              HasSubstr("say takes 2 arguments, got 3"));
  EXPECT_THAT(Error("grpc alice colour=red\n"),
              HasSubstr("grpc has no option colour="));
  EXPECT_THAT(Error("grpc alice history=many\n"),
              HasSubstr("history= needs a number"));
  EXPECT_THAT(Error("grpc alice wait=maybe\n"),
              HasSubstr("wait= is yes or no"));
  EXPECT_THAT(Error("grpc alice resume=soon\n"),
              HasSubstr("resume= is a seq number or \"last\""));
  EXPECT_THAT(Error("expect alice /(/\n"), HasSubstr("bad regex"));
  EXPECT_THAT(Error("expect-none alice /x/\n"),
              HasSubstr("expect-none needs until="));
  EXPECT_THAT(Error("expect-none alice until=/(/\n"),
              HasSubstr("until=: bad regex"));
  EXPECT_THAT(Error("expect-none alice until=\"\"\n"),
              HasSubstr("until= needs a marker"));
  EXPECT_THAT(Error("expect-end alice GONE\n"),
              HasSubstr("not a gRPC status code name"));
  EXPECT_THAT(Error("say \"alice\" hi\n"), HasSubstr("expected a user name"));
  EXPECT_THAT(Error("start outbox=1\n"), HasSubstr("start has no option"));
  EXPECT_THAT(Error("start verbose\n"), HasSubstr("expected a server flag"));
  EXPECT_THAT(Error("burst u1..u3 0\n"),
              HasSubstr("expected a positive number"));
  EXPECT_THAT(Error("group u1..u3 carrier-pigeon\n"),
              HasSubstr("transport is grpc, tcp or mixed"));
  EXPECT_THAT(Error("pause u3..u1\n"), HasSubstr("not a user range"));
  EXPECT_THAT(Error("\"say\" alice hi\n"), HasSubstr("starts with its name"));
  EXPECT_THAT(Error("grpc a room=x room=y\n"), HasSubstr("given twice"));
  EXPECT_THAT(Error("grpc alice resume=last epoch=stale\n"),
              HasSubstr("epoch= is last, current, other or none"));
  EXPECT_THAT(Error("grpc alice epoch=other\n"),
              HasSubstr("epoch= goes with resume="));
  EXPECT_THAT(Error("expect-epoch alice different\n"),
              HasSubstr("same or changed"));
  EXPECT_THAT(Error("check-order u1..u3 expect=all\n"),
              HasSubstr("expect= is sent or seen"));
  EXPECT_THAT(Error("start --data_dir=/x/@tmp\n"),
              HasSubstr("must begin a flag's value"));
  EXPECT_THAT(Error("start --data_dir=@tmp/../etc\n"),
              HasSubstr("must begin a flag's value"));
  EXPECT_THAT(Error("metric chat_rooms\n"),
              HasSubstr("metric: say what to check"));
  EXPECT_THAT(Error("metric chat_rooms delta=some\n"),
              HasSubstr("delta= needs a number"));
  EXPECT_THAT(Error("metric chat_rooms level=1\n"),
              HasSubstr("metric has no option level="));
  EXPECT_THAT(Error("metrics-mark now\n"),
              HasSubstr("metrics-mark takes 0 arguments"));
}

TEST(ParseScriptTest, ExpectNoneIsAnchoredOnAMarkerOrTheEnd) {
  absl::StatusOr<Script> s =
      ParseScript("t.scenario",
                  "expect-none alice /left/ until=\"<bob> marker\"\n"
                  "expect-none alice until=/^<bob> m.*$/\n"
                  "expect-none alice /left/ until=end\n"
                  "expect-none alice until=\"end\"\n");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->steps.size(), 4u);
  EXPECT_EQ(s->steps[0].args.size(), 2u);
  EXPECT_FALSE(s->steps[0].OptionPattern("until").regex);
  EXPECT_EQ(s->steps[0].OptionPattern("until").text, "<bob> marker");
  EXPECT_EQ(s->steps[1].args.size(), 1u);
  EXPECT_TRUE(s->steps[1].OptionPattern("until").regex);
  EXPECT_EQ(s->steps[1].OptionPattern("until").text, "^<bob> m.*$");
  // until=end is the connection's end; until="end" a line "end".
  EXPECT_EQ(s->steps[2].option_kinds.at("until"), Token::Kind::kWord);
  EXPECT_EQ(s->steps[3].option_kinds.at("until"), Token::Kind::kString);
}

TEST(ParseScriptTest, ExpectNoneWithADurationSaysWhatToWriteInstead) {
  for (const char* old :
       {"expect-none alice 100ms\n", "expect-none alice 10ms /left/\n",
        "expect-none alice 1s \"x\" until=end\n"}) {
    const std::string e = Error(old);
    EXPECT_THAT(e, HasSubstr("t.scenario:1: expect-none no longer waits for "
                             "a duration"))
        << old;
    EXPECT_THAT(e, HasSubstr("proves nothing on a loaded machine")) << old;
    EXPECT_THAT(e, HasSubstr("expect-none U [PATTERN] until=MARKER")) << old;
    EXPECT_THAT(e, HasSubstr("until=end")) << old;
  }
}

TEST(ParseScriptTest, EveryDocumentedStepParses) {
  absl::StatusOr<Script> s = ParseScript(
      "t.scenario",
      "start --max_message_bytes=100 --history_events=10 --data_dir=@tmp\n"
      "start --data_dir=@tmp/second\n"
      "grpc alice room=dev history=3 resume=last channel=2 wait=no\n"
      "grpc alice resume=last epoch=other\n"
      "grpc alice resume=7 epoch=current\n"
      "expect-epoch alice same\n"
      "expect-epoch alice changed than=bob\n"
      "tcp bob room=dev nick=no rcvbuf=4096 wait=yes\n"
      "group u1..u20 mixed room=dev channels=4 history=0\n"
      "say alice \"hello\"\n"
      "me alice waves\n"
      "nick alice alicia\n"
      "join alice lobby history=2\n"
      "leave alice \"see you\"\n"
      "leave bob\n"
      "kill alice\n"
      "close bob\n"
      "pause u1..u3,alice\n"
      "resume u1..u3\n"
      "send bob \"\\xff\\xfb\\x01hi\\r\\0\" repeat=3\n"
      "expect alice \"-- bob joined\" timeout=1s\n"
      "expect-next alice /^<bob>/\n"
      "expect alice \"-- bob left\" since=start\n"
      "expect-none alice until=\"<bob> marker\"\n"
      "expect-none alice /joined/ until=/^<bob> m/ timeout=2s\n"
      "expect-none alice \"-- bob left\" until=end\n"
      "expect-end alice RESOURCE_EXHAUSTED /too slow/ timeout=3s\n"
      "expect-end bob closed\n"
      "expect-all u1..u20 \"<alice> hi\"\n"
      "members lobby \"alice:grpc bob:tcp\"\n"
      "metrics-mark\n"
      "metric chat_rooms value=1\n"
      "metric chat_refusals_total{cause=flood} delta=2 min=2\n"
      "burst u1..u20 50 size=100\n"
      "burst alice 10 times=3 pace=alice,u1..u3\n"
      "check-order u1..u20 timeout=20s\n"
      "check-order u1..u20 expect=seen witness=t1,t2\n"
      "flush alice\n"
      "sleep 10ms\n"
      "restart\n"
      "stop code=0 timeout=5s\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->steps.size(), 41u);
  const Step& metric = s->steps[32];
  EXPECT_EQ(metric.op, "metric");
  ASSERT_EQ(metric.args.size(), 1u);
  EXPECT_EQ(metric.args[0].text, "chat_refusals_total{cause=flood}");
  EXPECT_EQ(metric.Option("delta"), "2");
}

TEST(ParseScriptTest, ClusterStepsAndNodes) {
  absl::StatusOr<Script> s =
      ParseScript("t.scenario",
                  "start nodes=3 redis shards=2 persist=yes --flood_rate=0\n"
                  "grpc alice@2 room=dev\n"
                  "tcp bob@3 wait=no\n"
                  "grpc carol\n"
                  "group u1..u6@1,2,3 mixed channels=2\n"
                  "group v1..v4@1..2,3 grpc\n"
                  "group w1..w2@2 tcp\n"
                  "kill-node 1\n"
                  "stop-node 2 code=0 timeout=5s\n"
                  "start-node 1\n"
                  "grpc alice@1 resume=last\n"
                  "redis-restart\n"
                  "redis-restart shard=2\n"
                  "redis-kill shard=1\n"
                  "redis-pause\n"
                  "redis-resume shard=2\n"
                  "redis-cli FLUSHALL\n"
                  "redis-cli shard=2 DBSIZE expect=/^[1-9]/\n"
                  "redis-cli GET \"k=v\" expect=\"\"\n"
                  "members lobby \"alice:grpc bob:tcp\" node=3\n"
                  "metrics-mark node=2\n"
                  "metric chat_rooms value=1 node=2\n"
                  "expect-log node=2 /redis: reachable again/ timeout=15s\n"
                  "expect-log \"exact line\"\n"
                  "stop\n"
                  "start redis\n"
                  "start\n");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->steps.size(), 27u);
  const std::vector<Step>& st = s->steps;
  EXPECT_THAT(st[0].args,
              ElementsAre(Token{Token::Kind::kWord, "redis"},
                          Token{Token::Kind::kWord, "--flood_rate=0"}));
  EXPECT_EQ(st[0].Option("nodes"), "3");
  EXPECT_EQ(st[0].Option("shards"), "2");
  // The alias stays the first argument; the node goes to nodes.
  EXPECT_EQ(st[1].args[0].text, "alice");
  EXPECT_THAT(st[1].nodes, ElementsAre(2));
  EXPECT_EQ(st[2].args[0].text, "bob");
  EXPECT_THAT(st[2].nodes, ElementsAre(3));
  EXPECT_TRUE(st[3].nodes.empty());
  EXPECT_EQ(st[4].args[0].text, "u1..u6");
  EXPECT_THAT(st[4].nodes, ElementsAre(1, 2, 3));
  EXPECT_THAT(st[5].nodes, ElementsAre(1, 2, 3));
  EXPECT_THAT(st[6].nodes, ElementsAre(2));
  EXPECT_EQ(st[10].args[0].text, "alice");
  EXPECT_THAT(st[10].nodes, ElementsAre(1));
  EXPECT_EQ(st[17].args[0].text, "DBSIZE");
  EXPECT_TRUE(st[17].OptionPattern("expect").regex);
  EXPECT_EQ(st[18].args[1].text, "k=v");
  EXPECT_EQ(st[19].Option("node"), "3");
}

TEST(ParseScriptTest, ClusterErrorsNameTheFileAndLine) {
  // A node or shard the last start does not have.
  EXPECT_THAT(Error("start nodes=2 redis\ngrpc alice@3\n"),
              HasSubstr("t.scenario:2: grpc: alice@3 names node 3, but the "
                        "start at line 1 has 2 nodes and 1 redis shard"));
  EXPECT_THAT(Error("start nodes=2 redis\ntcp bob@2\ntcp carol@3 wait=no\n"),
              HasSubstr("t.scenario:3: tcp: carol@3 names node 3"));
  EXPECT_THAT(Error("start nodes=3 redis\ngroup u1..u4@1,4 grpc\n"),
              HasSubstr("t.scenario:2: group: u1..u4@4 names node 4"));
  EXPECT_THAT(Error("start\ngrpc alice@2\n"),
              HasSubstr("t.scenario:2: grpc: alice@2 names node 2, but the "
                        "start at line 1 has one node and no redis"));
  EXPECT_THAT(Error("grpc alice@2\n"),
              HasSubstr("t.scenario:1: grpc: alice@2 names node 2, but no "
                        "start step before it"));
  EXPECT_THAT(Error("start nodes=2 redis\nkill-node 3\n"),
              HasSubstr("t.scenario:2: kill-node: 3 names node 3"));
  EXPECT_THAT(Error("start nodes=2 redis\nstop-node 5 code=0\n"),
              HasSubstr("t.scenario:2: stop-node: 5 names node 5"));
  EXPECT_THAT(Error("start nodes=2 redis\nstart-node 0\n"),
              HasSubstr("expected a positive number, got \"0\""));
  EXPECT_THAT(Error("start nodes=2 redis\nmembers lobby x node=3\n"),
              HasSubstr("t.scenario:2: members: node=3 names node 3"));
  EXPECT_THAT(Error("start nodes=2 redis\nexpect-log /x/ node=3\n"),
              HasSubstr("t.scenario:2: expect-log: node=3 names node 3"));
  EXPECT_THAT(Error("start\nexpect-log /(/\n"), HasSubstr("bad regex"));
  EXPECT_THAT(Error("start nodes=2 redis\nmetrics-mark node=4\n"),
              HasSubstr("metrics-mark: node=4 names node 4"));
  EXPECT_THAT(Error("start nodes=2 redis\nmetric chat_rooms min=1 node=0\n"),
              HasSubstr("node= needs a positive number"));
  // The shape is the last start's.
  EXPECT_THAT(Error("start nodes=3 redis\nstop\nstart\ngrpc a@2\n"),
              HasSubstr("t.scenario:4: grpc: a@2 names node 2, but the start "
                        "at line 3 has one node"));
  // Redis steps need redis-servers, and the shard must exist.
  EXPECT_THAT(Error("start\nredis-kill\n"),
              HasSubstr("t.scenario:2: redis-kill: no redis-server to act on"));
  EXPECT_THAT(Error("start redis shards=2\nredis-pause shard=3\n"),
              HasSubstr("t.scenario:2: redis-pause: shard=3, but the start at "
                        "line 1 has one node and 2 redis shards"));
  EXPECT_THAT(Error("start redis\nredis-cli\n"),
              HasSubstr("redis-cli takes 1 or more arguments, got 0"));
  EXPECT_THAT(Error("start redis\nredis-cli DBSIZE expect=/(/\n"),
              HasSubstr("expect=: bad regex"));
  EXPECT_THAT(Error("start redis\nredis-restart now\n"),
              HasSubstr("redis-restart takes 0 arguments, got 1"));
  // The start itself.
  EXPECT_THAT(Error("start nodes=2\n"),
              HasSubstr("t.scenario:1: start: several nodes share their rooms "
                        "through Redis; write `start nodes=N redis`"));
  EXPECT_THAT(Error("start nodes=0 redis\n"),
              HasSubstr("nodes= needs a positive number"));
  EXPECT_THAT(Error("start nodes=10 redis\n"),
              HasSubstr("start: at most 9 nodes, got 10"));
  EXPECT_THAT(Error("start redis shards=9\n"),
              HasSubstr("start: at most 8 redis shards, got 9"));
  EXPECT_THAT(Error("start shards=2\n"),
              HasSubstr("start: shards= is about the redis-servers; add "
                        "`redis`"));
  EXPECT_THAT(Error("start persist=yes\n"),
              HasSubstr("start: persist= is about the redis-servers"));
  EXPECT_THAT(Error("start redis persist=always\n"),
              HasSubstr("persist= is yes or no"));
  EXPECT_THAT(Error("start redis redis\n"), HasSubstr("`redis` given twice"));
  EXPECT_THAT(Error("start redis --redis=127.0.0.1:6379\n"),
              HasSubstr("leave the flag out"));
  EXPECT_THAT(Error("start redis-server\n"),
              HasSubstr("expected a server flag such as "
                        "--outbox_events=64 or the word redis, got "
                        "\"redis-server\""));
  EXPECT_THAT(Error("start nodes=2 redis\nrestart\n"),
              HasSubstr("t.scenario:2: restart: the start at line 1 has 2 "
                        "nodes and 1 redis shard; restart one with kill-node "
                        "K and start-node K"));
  // @ in the wrong place, or not a node number.
  EXPECT_THAT(Error("start nodes=2 redis\ngrpc a@2\nsay a@2 hi\n"),
              HasSubstr("t.scenario:3: say argument 1: \"a@2\": a user's node "
                        "is named only where the user is created"));
  EXPECT_THAT(Error("start nodes=2 redis\nexpect-all a,b@2 x\n"),
              HasSubstr("a user's node is named only where"));
  EXPECT_THAT(Error("start nodes=2 redis\nburst a 3 pace=a@2\n"),
              HasSubstr("pace=a@2: a user's node is named only where"));
  EXPECT_THAT(Error("start nodes=2 redis\ngrpc alice@x\n"),
              HasSubstr("t.scenario:2: grpc: after @ comes a node number, as "
                        "in alice@2 (1 to 9), got \"@x\""));
  EXPECT_THAT(Error("start nodes=2 redis\ngrpc alice@1,2\n"),
              HasSubstr("grpc: after @ comes a node number"));
  EXPECT_THAT(Error("start nodes=2 redis\ntcp bob@\n"),
              HasSubstr("tcp: after @ comes a node number"));
  EXPECT_THAT(Error("start nodes=2 redis\ngroup u1..u2@2..1 grpc\n"),
              HasSubstr("group: after @ comes a list of node numbers"));
  EXPECT_THAT(Error("start nodes=2 redis\ngroup u1..u2@0 grpc\n"),
              HasSubstr("group: after @ comes a list of node numbers"));
  EXPECT_THAT(Error("start nodes=2 redis\ngrpc @2\n"),
              HasSubstr("expected a user name"));
}

TEST(ParseDurationTest, UnitsRequired) {
  EXPECT_EQ(*ParseDuration("300ms"), absl::Milliseconds(300));
  EXPECT_EQ(*ParseDuration("1.5s"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDuration("2m"), absl::Minutes(2));
  EXPECT_FALSE(ParseDuration("5").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("soon").ok());
}

std::vector<std::string> Users(absl::string_view text) {
  std::vector<std::string> out;
  EXPECT_TRUE(ExpandUsers(text, &out).ok()) << text;
  return out;
}

bool BadUsers(absl::string_view text) {
  std::vector<std::string> out;
  return !ExpandUsers(text, &out).ok();
}

TEST(ExpandUsersTest, NamesListsAndRanges) {
  EXPECT_THAT(Users("alice"), ElementsAre("alice"));
  EXPECT_THAT(Users("alice,bob"), ElementsAre("alice", "bob"));
  EXPECT_THAT(Users("u1..u3"), ElementsAre("u1", "u2", "u3"));
  EXPECT_THAT(Users("a,u9..u11"), ElementsAre("a", "u9", "u10", "u11"));
  EXPECT_THAT(Users("tcp-1..tcp-2"), ElementsAre("tcp-1", "tcp-2"));
  EXPECT_TRUE(BadUsers("u1..v3"));
  EXPECT_TRUE(BadUsers("u3..u1"));
  EXPECT_TRUE(BadUsers("1..3"));
  EXPECT_TRUE(BadUsers("a b"));
  EXPECT_TRUE(BadUsers(""));
}

TEST(PatternTest, ToStringShowsHowTheScriptSpellsIt) {
  EXPECT_EQ(ToPattern({Token::Kind::kRegex, "^a.*b$"}).ToString(), "/^a.*b$/");
  EXPECT_EQ(ToPattern({Token::Kind::kString, "say \"hi\"\r"}).ToString(),
            "\"say \\\"hi\\\"\\r\"");
}

TEST(EscapeForDisplayTest, ControlAndHighBytesEscaped) {
  EXPECT_EQ(EscapeForDisplay(std::string("a\r\n\t\0\x1b\xff\\", 8)),
            "a\\r\\n\\t\\0\\x1b\\xff\\\\");
}

TEST(BurstTextTest, RoundTrips) {
  const std::string text = FormatBurstText(2, "u17", 33, 40);
  EXPECT_EQ(text.size(), 40u);
  BurstMessage m;
  ASSERT_TRUE(ParseBurstLine("<u17> " + text, &m));
  EXPECT_EQ(m.burst, 2);
  EXPECT_EQ(m.sender, "u17");
  EXPECT_EQ(m.index, 33);
  EXPECT_FALSE(ParseBurstLine("<u17> hello", &m));
  EXPECT_FALSE(ParseBurstLine("-- u17 joined", &m));
}

}  // namespace
TEST(ParseScriptTest, AUserListIsBounded) {
  // One range may name 100,000 users; the whole list no more either (the
  // fuzzer's 4 KB line of ranges took 2 GB before).
  std::string line = "start\npause u1..u99999";
  for (int i = 0; i < 3; ++i)
    absl::StrAppend(&line, ",v", i, "a1..v", i, "a99999");
  EXPECT_THAT(Error(line + "\n"),
              HasSubstr("a user list may name at most 100000 users"));
}

}  // namespace chat

#include "integration_tests/runner.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "chat/v1/chat.grpc.pb.h"
#include "integration_tests/grpc_user.h"
#include "integration_tests/tcp_user.h"
#include "re2/re2.h"
#include "service/format.h"

namespace chat {
namespace {

constexpr absl::Duration kExpectTimeout = absl::Seconds(5);
constexpr absl::Duration kGroupTimeout = absl::Seconds(30);
constexpr int kShowEvents = 10;

// A matcher for a pattern: equality, or an RE2 search.
std::function<bool(const std::string&)> Matcher(const Pattern& p) {
  if (!p.regex) {
    return [text = p.text](const std::string& line) { return line == text; };
  }
  auto re = std::make_shared<RE2>(p.text);
  return [re](const std::string& line) { return RE2::PartialMatch(line, *re); };
}

// Matches, in a user's lines in order, the welcome into `room` and then the
// user's own "-- NAME joined" after it: the end of a TCP /join.
std::function<bool(const std::string&)> JoinedRoom(const std::string& name,
                                                   const std::string& room) {
  auto welcomed = std::make_shared<bool>(false);
  const std::string welcome =
      absl::StrCat("-- you are ", name, " in room ", room);
  const std::string joined = absl::StrCat("-- ", name, " joined");
  return [=](const std::string& line) {
    if (!*welcomed) {
      *welcomed = absl::StartsWith(line, welcome);
      return false;
    }
    return line == joined;
  };
}

std::string Ago(absl::Duration d) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(d));
}

uint32_t ToU32(const std::string& s) {
  uint32_t n = 0;
  absl::SimpleAtoi(s, &n);
  return n;
}

// NAME for a log path NAME.server.log (other paths as they are): the base
// of the nodes' and redis-servers' logs and of the scratch directory.
std::string LogBase(std::string log_path) {
  constexpr absl::string_view kSuffix = ".server.log";
  if (absl::EndsWith(log_path, kSuffix)) {
    log_path.resize(log_path.size() - kSuffix.size());
  }
  return log_path;
}

}  // namespace

Runner::Runner(Script script, RunOptions options)
    : script_(std::move(script)),
      options_(std::move(options)),
      epoch_(absl::Now()) {}

Runner::~Runner() {
  // Users first: their connections close while the servers still run.
  users_.clear();
  retired_.clear();
  channels_.clear();
  nodes_.clear();
  redis_.clear();
  if (!scratch_dir_.empty() && !failed_) {
    std::error_code ignored;
    std::filesystem::remove_all(scratch_dir_, ignored);
  }
}

absl::Status Runner::Run() {
  for (const Step& step : script_.steps) {
    if (options_.verbose) {
      std::printf("%8s  %s:%d  %s\n", Ago(absl::Now() - epoch_).c_str(),
                  script_.path.c_str(), step.line, step.source.c_str());
      std::fflush(stdout);
    }
    if (absl::Status s = CheckViolations(&step); !s.ok()) return s;
    if (absl::Status s = RunStep(step); !s.ok()) return s;
    if (absl::Status s = CheckViolations(&step); !s.ok()) return s;
  }
  return Finish();
}

absl::Status Runner::Finish() {
  const absl::Time start = absl::Now();
  if (options_.verbose) {
    rusage self{};
    getrusage(RUSAGE_SELF, &self);
    const double harness =
        self.ru_utime.tv_sec + self.ru_stime.tv_sec +
        (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6;
    std::vector<std::string> cpu;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const ChatServiceProcess& p = *nodes_[i].process;
      if (!p.running()) continue;
      cpu.push_back(absl::StrFormat(
          "chat-service%s %.2fs",
          cluster_ ? absl::StrCat(" node", i + 1) : std::string(),
          absl::ToDoubleSeconds(p.CpuTime())));
    }
    if (!cpu.empty()) {
      std::printf("          CPU: %s, chat-scenario %.2fs\n",
                  absl::StrJoin(cpu, ", ").c_str(), harness);
    }
  }
  users_.clear();
  retired_.clear();
  channels_.clear();
  Step end;
  end.line = 0;
  end.source = "(end of scenario: SIGTERM the server)";
  // A paused redis-server would hold up a node's clean stop.
  for (size_t j = 0; j < redis_.size(); ++j) {
    if (redis_paused_[j]) redis_[j]->Resume();
    redis_paused_[j] = false;
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i].process->running()) continue;
    int code = 0;
    absl::Status s = nodes_[i].process->Stop(absl::Seconds(10), &code);
    if (!s.ok() || code != 0) {
      const std::string who =
          cluster_ ? absl::StrCat("node ", i + 1) : std::string("chat-service");
      return Fail(end,
                  s.ok() ? absl::StrCat(who, " exited with code ", code,
                                        " at the end of the scenario")
                         : absl::StrCat(who, ": ", s.message()),
                  {}, {static_cast<int>(i + 1)});
    }
  }
  for (size_t j = 0; j < redis_.size(); ++j) {
    if (!redis_[j]->running()) continue;
    if (absl::Status s = redis_[j]->Stop(); !s.ok()) {
      return Fail(end,
                  absl::StrCat("redis-server shard ", j + 1,
                               " did not stop: ", s.message()),
                  {});
    }
  }
  if (options_.verbose) {
    std::printf("%8s  passed (teardown %s)\n",
                Ago(absl::Now() - epoch_).c_str(),
                Ago(absl::Now() - start).c_str());
  }
  return absl::OkStatus();
}

absl::Status Runner::CheckViolations(const Step* step) {
  for (auto& [alias, user] : users_) {
    std::vector<std::string> v = user->violations();
    if (v.empty()) continue;
    return Fail(*step,
                absl::StrCat("protocol rule broken for ", alias, " (",
                             user->transport(), "): ", v.front(),
                             v.size() > 1 ? absl::StrCat(" (and ", v.size() - 1,
                                                         " more)")
                                          : std::string()),
                {user.get()});
  }
  return absl::OkStatus();
}

absl::Status Runner::RunStep(const Step& step) {
  const std::string& op = step.op;
  if (op != "start" && op != "sleep" && nodes_.empty()) {
    return Fail(step, "no server: a scenario begins with a `start` step", {});
  }
  if (op == "start") return DoStart(step);
  if (op == "restart") return DoRestart(step);
  if (op == "stop") return DoStop(step);
  if (op == "kill-node" || op == "stop-node" || op == "start-node") {
    return DoNodeStep(step);
  }
  if (op == "redis-cli") return DoRedisCli(step);
  if (absl::StartsWith(op, "redis-")) return DoRedisStep(step);
  if (op == "grpc") return DoGrpc(step);
  if (op == "tcp") return DoTcp(step);
  if (op == "group") return DoGroup(step);
  if (op == "expect" || op == "expect-next") return DoExpect(step);
  if (op == "expect-none") return DoExpectNone(step);
  if (op == "expect-end") return DoExpectEnd(step);
  if (op == "expect-all") return DoExpectAll(step);
  if (op == "expect-epoch") return DoExpectEpoch(step);
  if (op == "expect-log") return DoExpectLog(step);
  if (op == "members") return DoMembers(step);
  if (op == "metrics-mark") return DoMetricsMark(step);
  if (op == "metric") return DoMetric(step);
  if (op == "burst") return DoBurst(step);
  if (op == "check-order") return DoCheckOrder(step);
  if (op == "sleep") {
    std::this_thread::sleep_for(
        absl::ToChronoNanoseconds(*ParseDuration(step.args[0].text)));
    return absl::OkStatus();
  }
  return DoAction(step);
}

// ------------------------------------------------------------ the servers

std::string Runner::NodeLogPath(int node) const {
  if (!cluster_) return options_.log_path;
  return absl::StrCat(LogBase(options_.log_path), ".node", node, ".server.log");
}

std::string Runner::RedisLogPath(int shard) const {
  return absl::StrCat(LogBase(options_.log_path), ".redis", shard, ".log");
}

absl::Status Runner::DoStart(const Step& step) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i].process->running()) continue;
    return Fail(step,
                nodes_.size() == 1 && !cluster_
                    ? std::string("the server is already running (use restart)")
                    : absl::StrCat("node ", i + 1,
                                   " is still running (stop or stop-node it "
                                   "first)"),
                {});
  }
  int count = 1;
  absl::SimpleAtoi(step.Option("nodes", "1"), &count);
  bool redis = false;
  for (const Token& t : step.args) redis |= t.text == "redis";
  cluster_ = redis || step.HasOption("nodes");
  // The metrics port is on for the metric steps (a later
  // --metrics_addr= turns it off).
  std::vector<std::string> flags = {"--metrics_addr=127.0.0.1:0"};
  if (redis) {
    int shards = 1;
    absl::SimpleAtoi(step.Option("shards", "1"), &shards);
    if (absl::Status s =
            StartRedis(step, shards, step.Option("persist", "no") == "yes");
        !s.ok()) {
      return s;
    }
    std::vector<std::string> addresses;
    for (const auto& r : redis_) addresses.push_back(r->address());
    flags.push_back(absl::StrCat("--redis=", absl::StrJoin(addresses, ",")));
  }
  for (const Token& t : step.args) {
    if (t.text != "redis") flags.push_back(t.text);
  }
  nodes_.resize(count);
  for (int k = 1; k <= count; ++k) {
    absl::StatusOr<std::vector<std::string>> scratch =
        ScratchFlags(flags, cluster_ ? k : 0);
    if (!scratch.ok()) {
      return Fail(step, std::string(scratch.status().message()), {});
    }
    Node& node = nodes_[k - 1];
    if (node.log_path != NodeLogPath(k)) node.log_cursor = 0;
    node.log_path = NodeLogPath(k);
    // main.cc empties NAME.server.log; a node's log is emptied here, once
    // per scenario (a restart appends to it).
    if (node.log_path != options_.log_path &&
        fresh_logs_.insert(node.log_path).second) {
      std::ofstream(node.log_path, std::ios::trunc);
    }
    node.process = std::make_unique<ChatServiceProcess>(options_.server_binary,
                                                        node.log_path);
    // restart and start-node re-use process->flags(): the same scratch
    // directory and redis-servers.
    if (absl::Status s = LaunchServer(step, k, *scratch); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Runner::StartRedis(const Step& step, int shards, bool persist) {
  if (redis_.size() == static_cast<size_t>(shards) &&
      redis_persist_ == persist) {
    // The scenario's redis-servers again (after a stop): with persist=yes
    // their data too.
    for (size_t j = 0; j < redis_.size(); ++j) {
      if (redis_paused_[j]) redis_[j]->Resume();
      redis_paused_[j] = false;
      if (redis_[j]->running()) continue;
      if (absl::Status s = redis_[j]->Restart(); !s.ok()) {
        return Fail(step,
                    absl::StrCat("redis-server shard ", j + 1,
                                 " did not start again: ", s.message()),
                    {});
      }
    }
    return absl::OkStatus();
  }
  redis_.clear();
  redis_paused_.assign(shards, false);
  redis_persist_ = persist;
  for (int j = 1; j <= shards; ++j) {
    RedisServer::Options options;
    options.persist = persist;
    options.log_path = RedisLogPath(j);
    if (fresh_logs_.insert(options.log_path).second) {
      std::ofstream(options.log_path, std::ios::trunc);
    }
    absl::StatusOr<std::unique_ptr<RedisServer>> server =
        RedisServer::Start(options);
    if (!server.ok()) {
      redis_.clear();
      return Fail(step,
                  absl::StrCat("redis-server shard ", j,
                               " did not start: ", server.status().message()),
                  {});
    }
    if (options_.verbose) {
      std::printf("          redis shard %d: %s%s\n", j,
                  (*server)->address().c_str(),
                  persist ? " (append-only, fsync always)" : "");
    }
    redis_.push_back(*std::move(server));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Runner::ScratchFlags(
    const std::vector<std::string>& flags, int node) {
  std::vector<std::string> out;
  for (const std::string& flag : flags) {
    const size_t at = flag.find("=@tmp");
    if (at == std::string::npos) {
      out.push_back(flag);
      continue;
    }
    if (scratch_dir_.empty()) {
      // Beside the server's log: NAME.data.XXXXXX.
      std::string tmpl =
          absl::StrCat(LogBase(options_.log_path), ".data.XXXXXX");
      if (mkdtemp(tmpl.data()) == nullptr) {
        return absl::InternalError(
            absl::StrCat("cannot create a scratch directory like ", tmpl,
                         " for @tmp: ", std::strerror(errno)));
      }
      scratch_dir_ = tmpl;
    }
    // The parser allows "@tmp" and "@tmp/NAME" only. In a cluster each node
    // has its own: @tmp is SCRATCH/nodeK.
    const std::string path = absl::StrCat(
        scratch_dir_, node > 0 ? absl::StrCat("/node", node) : std::string(),
        flag.substr(at + 5));
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("cannot create ", path, " for @tmp: ", error.message()));
    }
    out.push_back(absl::StrCat(flag.substr(0, at + 1), path));
  }
  return out;
}

absl::Status Runner::LaunchServer(const Step& step, int node,
                                  const std::vector<std::string>& flags) {
  // Channels to an earlier process of this node are useless now.
  const std::string prefix = absl::StrCat(node, "/");
  for (auto it = channels_.begin(); it != channels_.end();) {
    it = absl::StartsWith(it->first, prefix) ? channels_.erase(it)
                                             : std::next(it);
  }
  ChatServiceProcess& process = *nodes_[node - 1].process;
  absl::Status s = process.Start(flags, absl::Seconds(15));
  if (!s.ok()) {
    return Fail(step,
                cluster_ ? absl::StrCat("node ", node, ": ", s.message())
                         : std::string(s.message()),
                {}, {node});
  }
  if (options_.verbose) {
    std::printf("          %s%s\n",
                cluster_ ? absl::StrCat("node ", node, ": ").c_str() : "",
                process.ready_line().c_str());
  }
  return absl::OkStatus();
}

absl::Status Runner::DoRestart(const Step& step) {
  // The parser allows restart in a one-node scenario only.
  ChatServiceProcess& process = *nodes_[0].process;
  const std::vector<std::string> flags = process.flags();
  process.Kill();  // kill -9: no goodbye to anyone.
  return LaunchServer(step, 1, flags);
}

absl::Status Runner::StopNode(const Step& step, int node, int want,
                              absl::Duration timeout) {
  ChatServiceProcess& process = *nodes_[node - 1].process;
  const std::string who =
      cluster_ ? absl::StrCat("node ", node) : std::string("chat-service");
  int code = 0;
  absl::Status s = process.Stop(timeout, &code);
  if (!s.ok()) {
    return Fail(step, absl::StrCat(who, ": ", s.message()), {}, {node});
  }
  if (code != want) {
    return Fail(
        step,
        absl::StrCat(who, " exited with code ", code,
                     code > 128 ? absl::StrCat(" (signal ", code - 128, ")")
                                : std::string(),
                     " after SIGTERM; expected ", want),
        {}, {node});
  }
  return absl::OkStatus();
}

absl::Status Runner::DoStop(const Step& step) {
  const int want = static_cast<int>(ToU32(step.Option("code", "0")));
  const absl::Duration timeout = Timeout(step, absl::Seconds(10));
  bool any = false;
  // Every running node, in order, then the redis-servers.
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i].process->running()) continue;
    any = true;
    if (absl::Status s = StopNode(step, static_cast<int>(i + 1), want, timeout);
        !s.ok()) {
      return s;
    }
  }
  if (!any) {
    return Fail(step,
                cluster_ ? "no node is running" : "the server is not running",
                {});
  }
  for (size_t j = 0; j < redis_.size(); ++j) {
    if (redis_paused_[j]) redis_[j]->Resume();
    redis_paused_[j] = false;
    if (!redis_[j]->running()) continue;
    if (absl::Status s = redis_[j]->Stop(); !s.ok()) {
      return Fail(step,
                  absl::StrCat("redis-server shard ", j + 1,
                               " did not stop: ", s.message()),
                  {});
    }
  }
  return absl::OkStatus();
}

absl::Status Runner::DoNodeStep(const Step& step) {
  const int node = static_cast<int>(ToU32(step.args[0].text));
  if (node > static_cast<int>(nodes_.size())) {
    return Fail(step, absl::StrCat("there is no node ", node), {});
  }
  ChatServiceProcess& process = *nodes_[node - 1].process;
  if (step.op == "start-node") {
    if (process.running()) {
      return Fail(step, absl::StrCat("node ", node, " is already running"), {},
                  {node});
    }
    const std::vector<std::string> flags = process.flags();
    return LaunchServer(step, node, flags);
  }
  if (!process.running()) {
    return Fail(step, absl::StrCat("node ", node, " is not running"), {},
                {node});
  }
  if (step.op == "kill-node") {
    process.Kill();  // SIGKILL: no goodbye to anyone.
    return absl::OkStatus();
  }
  return StopNode(step, node, static_cast<int>(ToU32(step.Option("code", "0"))),
                  Timeout(step, absl::Seconds(10)));
}

absl::Status Runner::DoRedisStep(const Step& step) {
  std::vector<int> shards;
  if (step.HasOption("shard")) {
    shards.push_back(static_cast<int>(ToU32(step.Option("shard"))));
  } else {
    for (size_t j = 1; j <= redis_.size(); ++j) {
      shards.push_back(static_cast<int>(j));
    }
  }
  if (redis_.empty()) {
    return Fail(step, "no redis-servers: the last start had no `redis`", {});
  }
  for (int j : shards) {
    if (j > static_cast<int>(redis_.size())) {
      return Fail(step, absl::StrCat("there is no redis shard ", j), {});
    }
    RedisServer& redis = *redis_[j - 1];
    const std::string who = absl::StrCat("redis shard ", j);
    if (step.op == "redis-restart") {
      // SIGCONT first: a stopped process does not act on SIGTERM.
      if (redis_paused_[j - 1]) redis.Resume();
      redis_paused_[j - 1] = false;
      if (redis.running()) {
        if (absl::Status s = redis.Stop(); !s.ok()) {
          return Fail(step, absl::StrCat(who, " did not stop: ", s.message()),
                      {});
        }
      }
      if (absl::Status s = redis.Restart(); !s.ok()) {
        return Fail(
            step, absl::StrCat(who, " did not start again: ", s.message()), {});
      }
      continue;
    }
    if (!redis.running()) {
      return Fail(step, absl::StrCat(who, " is not running"), {});
    }
    if (step.op == "redis-kill") {
      redis.Kill();
      redis_paused_[j - 1] = false;
    } else if (step.op == "redis-pause") {
      if (redis_paused_[j - 1]) {
        return Fail(step, absl::StrCat(who, " is paused already"), {});
      }
      redis.Pause();
      redis_paused_[j - 1] = true;
    } else {  // redis-resume
      if (!redis_paused_[j - 1]) {
        return Fail(step, absl::StrCat(who, " is not paused"), {});
      }
      redis.Resume();
      redis_paused_[j - 1] = false;
    }
  }
  return absl::OkStatus();
}

absl::Status Runner::DoRedisCli(const Step& step) {
  const int shard = static_cast<int>(ToU32(step.Option("shard", "1")));
  if (shard > static_cast<int>(redis_.size())) {
    return Fail(step, absl::StrCat("there is no redis shard ", shard), {});
  }
  std::vector<std::string> argv;
  for (const Token& t : step.args) argv.push_back(t.text);
  absl::StatusOr<std::string> out = redis_[shard - 1]->Cli(argv);
  if (!out.ok()) {
    return Fail(step,
                absl::StrCat("redis-cli on shard ", shard,
                             " failed: ", out.status().message()),
                {});
  }
  if (options_.verbose) {
    std::printf("          -> %s\n", EscapeForDisplay(*out).c_str());
  }
  if (!step.HasOption("expect")) return absl::OkStatus();
  const Pattern p = step.OptionPattern("expect");
  if (Matcher(p)(*out)) return absl::OkStatus();
  return Fail(step,
              absl::StrCat("redis-cli on shard ", shard, " printed \"",
                           EscapeForDisplay(*out), "\", expected ",
                           p.regex ? "a match for " : "", p.ToString()),
              {});
}

absl::StatusOr<ChatServiceProcess*> Runner::Running(const Step& step,
                                                    int node) {
  if (node >= 1 && node <= static_cast<int>(nodes_.size()) &&
      nodes_[node - 1].process->running()) {
    return nodes_[node - 1].process.get();
  }
  return Fail(step,
              cluster_
                  ? absl::StrCat("node ", node, " is not running (start-node ",
                                 node, " starts it again)")
                  : std::string("the server is not running"),
              {}, {node});
}

int Runner::NodeOf(const Step& step, size_t index) {
  return step.nodes.empty() ? 1 : step.nodes[index % step.nodes.size()];
}

int Runner::NodeOption(const Step& step) {
  return static_cast<int>(ToU32(step.Option("node", "1")));
}

// ------------------------------------------------------------ joining

absl::Duration Runner::Timeout(const Step& step, absl::Duration fallback) {
  if (!step.HasOption("timeout")) return fallback;
  return *ParseDuration(step.Option("timeout"));
}

std::shared_ptr<grpc::Channel> Runner::Channel(int node, const std::string& key,
                                               int window) {
  const std::string full_key = absl::StrCat(node, "/", key);
  auto it = channels_.find(full_key);
  if (it != channels_.end()) return it->second;
  grpc::ChannelArguments args;
  // Each channel its own connection: a local subchannel pool, and a
  // distinct argument so no two channels share a subchannel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetString("chat.harness.channel", full_key);
  args.SetMaxReceiveMessageSize(-1);
  if (window > 0) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, window);
  }
  auto channel =
      grpc::CreateCustomChannel(nodes_[node - 1].process->grpc_addr(),
                                grpc::InsecureChannelCredentials(), args);
  channels_[full_key] = channel;
  return channel;
}

absl::Status Runner::Retire(const Step& step, const std::string& alias) {
  auto it = users_.find(alias);
  if (it == users_.end()) return absl::OkStatus();
  User* old = it->second.get();
  // A live connection with that name would be a second user, not a
  // reconnect: the script must end the first one.
  const Ending e = old->ending();
  if (!e.ended) {
    if (old->transport() == "grpc") {
      // Killed or left users may still be finishing; give them a moment.
      old->WaitUntil([](const User::View& v) { return v.ending.ended; },
                     absl::Now() + absl::Seconds(5));
    }
    if (!old->ending().ended && old->transport() == "grpc") {
      return Fail(step,
                  absl::StrCat(alias,
                               " is still connected; kill, leave or close it "
                               "before joining again under that name"),
                  {old});
    }
  }
  // A rule it broke after the last step's check would go unseen once it
  // is retired.
  if (std::vector<std::string> v = old->violations(); !v.empty()) {
    return Fail(
        step,
        absl::StrCat("protocol rule broken for ", alias, " (", old->transport(),
                     ", before this reconnect): ", v.front()),
        {old});
  }
  previous_last_seq_[alias] = old->last_seq();
  previous_epoch_[alias] = old->room_epoch();
  retired_.push_back(std::move(it->second));
  users_.erase(it);
  return absl::OkStatus();
}

absl::Status Runner::StartGrpc(const Step& step, const std::string& alias,
                               const std::string& room, uint32_t history,
                               uint64_t resume, const std::string& resume_epoch,
                               const std::string& channel_key, int window,
                               const std::string& name, int node) {
  if (absl::Status s = Retire(step, alias); !s.ok()) return s;
  auto user = std::make_unique<GrpcUser>(alias, epoch_,
                                         Channel(node, channel_key, window));
  user->set_node(cluster_ ? node : 0);
  v1::Join join;
  join.set_name(name);
  join.set_room(room);
  join.set_history(history);
  join.set_resume_after_seq(resume);
  join.set_resume_epoch(resume_epoch);
  user->Start(join);
  users_[alias] = std::move(user);
  return absl::OkStatus();
}

absl::Status Runner::AwaitGrpcJoined(const Step& step, User* user,
                                     absl::Time deadline,
                                     const std::string& name) {
  const std::string own =
      absl::StrCat("-- ", name.empty() ? user->alias() : name, " joined");
  const int found =
      user->WaitForMatch([&](const std::string& line) { return line == own; },
                         false, false, deadline);
  if (found >= 0) return absl::OkStatus();
  return Fail(step,
              absl::StrCat(user->alias(),
                           " did not get into the room: expected a welcome "
                           "and its own \"",
                           own, "\" (add wait=no to a join meant to fail)"),
              {user});
}

absl::Status Runner::StartTcp(const Step& step, const std::string& alias,
                              int rcvbuf, int node) {
  const ChatServiceProcess& server = *nodes_[node - 1].process;
  if (server.legacy_addr().empty()) {
    return Fail(step,
                absl::StrCat("the server has no legacy TCP port (its ready "
                             "line says \"",
                             server.ready_line(),
                             "\"); TCP users need the legacy adapter "
                             "(issue 3)"),
                {}, {node});
  }
  if (absl::Status s = Retire(step, alias); !s.ok()) return s;
  auto user = std::make_unique<TcpUser>(alias, epoch_);
  user->set_node(cluster_ ? node : 0);
  absl::Status s = user->Connect(server.legacy_addr(), rcvbuf);
  if (!s.ok()) return Fail(step, std::string(s.message()), {}, {node});
  users_[alias] = std::move(user);
  return absl::OkStatus();
}

absl::Status Runner::AwaitTcpName(const Step& step, User* user,
                                  absl::Time deadline) {
  if (user->WaitUntil(
          [](const User::View& v) { return !v.name.empty() || v.ending.ended; },
          deadline) &&
      !user->name().empty()) {
    return absl::OkStatus();
  }
  return Fail(step,
              absl::StrCat(user->alias(),
                           " got no welcome naming its guest name "
                           "(guest-NNNNN) from the TCP port"),
              {user});
}

absl::Status Runner::AwaitTcpLine(
    const Step& step, User* user, const std::string& want,
    const std::string& what, absl::Time deadline,
    const std::function<bool(const std::string&)>& match) {
  const int found = user->WaitForMatch(
      [&](const std::string& line) {
        return match(line) || absl::StartsWith(line, "!!");
      },
      false, false, deadline);
  if (found >= 0) {
    // Either what we waited for or an error line; tell which.
    const Record r = user->RecordAt(found);
    if (!absl::StartsWith(r.line, "!!")) return absl::OkStatus();
    return Fail(step,
                absl::StrCat(user->alias(), " could not ", what,
                             ": the server answered \"", r.line, "\""),
                {user});
  }
  return Fail(step,
              absl::StrCat(user->alias(), " could not ", what,
                           ": expected a line like \"", want, "\""),
              {user});
}

absl::Status Runner::DoGrpc(const Step& step) {
  const std::string alias = step.args[0].text;
  const int node = NodeOf(step, 0);
  if (absl::StatusOr<ChatServiceProcess*> p = Running(step, node); !p.ok()) {
    return p.status();
  }
  // resume=last: the last seq and epoch of this alias, whichever node it
  // was on (a cluster's rooms have one seq order).
  uint64_t resume = 0;
  if (step.HasOption("resume")) {
    if (step.Option("resume") == "last") {
      auto it = previous_last_seq_.find(alias);
      auto live = users_.find(alias);
      if (live != users_.end()) {
        resume = live->second->last_seq();
      } else if (it != previous_last_seq_.end()) {
        resume = it->second;
      } else {
        return Fail(step,
                    absl::StrCat("resume=last: ", alias,
                                 " has not been connected before"),
                    {});
      }
    } else {
      absl::SimpleAtoi(step.Option("resume"), &resume);
    }
  }
  std::string resume_epoch;
  if (step.HasOption("resume")) {
    absl::StatusOr<std::string> e =
        ResumeEpoch(step, alias, step.Option("room"), node);
    if (!e.ok()) return e.status();
    resume_epoch = *e;
  }
  std::string channel = step.Option("channel", "own");
  const int window = static_cast<int>(ToU32(step.Option("rcvbuf", "0")));
  if (channel == "own" || window > 0) {
    channel = absl::StrCat("own-", alias, "-", ++channel_serial_);
  }
  if (absl::Status s = StartGrpc(
          step, alias, step.Option("room"), ToU32(step.Option("history", "0")),
          resume, resume_epoch, channel, window,
          step.HasOption("name") ? step.Option("name") : alias, node);
      !s.ok()) {
    return s;
  }
  if (step.Option("wait", "yes") == "no") return absl::OkStatus();
  return AwaitGrpcJoined(step, users_[alias].get(),
                         absl::Now() + kExpectTimeout, step.Option("name"));
}

absl::StatusOr<std::string> Runner::ResumeEpoch(const Step& step,
                                                const std::string& alias,
                                                const std::string& room,
                                                int node) {
  const std::string how = step.Option(
      "epoch", step.Option("resume") == "last" ? "last" : "current");
  if (how == "none") return std::string();
  // Not an epoch any server makes (theirs are random or time-based).
  if (how == "other") return std::string("chat-scenario-made-up-epoch");
  if (how == "last") {
    auto live = users_.find(alias);
    std::string epoch = live != users_.end() ? live->second->room_epoch()
                                             : previous_epoch_[alias];
    if (epoch.empty()) {
      return Fail(step,
                  absl::StrCat("epoch=last: ", alias,
                               " has had no welcome naming an epoch"),
                  {});
    }
    return epoch;
  }
  // current: the room's epoch now, as GetHistory on the user's node tells
  // it.
  auto stub = v1::ChatRoom::NewStub(Channel(node, "control"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  v1::GetHistoryRequest request;
  request.set_room(room);
  request.set_limit(1);
  v1::GetHistoryResponse response;
  grpc::Status s = stub->GetHistory(&context, request, &response);
  if (!s.ok()) {
    return Fail(step,
                absl::StrCat("epoch=current: GetHistory failed: ",
                             StatusCodeName(s.error_code()), " \"",
                             s.error_message(), "\""),
                {}, {node});
  }
  return response.epoch();
}

absl::Status Runner::DoTcp(const Step& step) {
  const std::string alias = step.args[0].text;
  const int node = NodeOf(step, 0);
  if (absl::StatusOr<ChatServiceProcess*> p = Running(step, node); !p.ok()) {
    return p.status();
  }
  if (absl::Status s = StartTcp(
          step, alias, static_cast<int>(ToU32(step.Option("rcvbuf"))), node);
      !s.ok()) {
    return s;
  }
  if (step.Option("wait", "yes") == "no") return absl::OkStatus();
  User* user = users_[alias].get();
  const absl::Time deadline = absl::Now() + kExpectTimeout;
  if (absl::Status s = AwaitTcpName(step, user, deadline); !s.ok()) return s;
  if (step.Option("nick", "yes") == "yes") {
    const std::string want =
        absl::StrCat("-- ", user->name(), " is now known as ", alias);
    if (absl::Status s = user->Nick(alias); !s.ok()) {
      return Fail(step, std::string(s.message()), {user});
    }
    if (absl::Status s = AwaitTcpLine(
            step, user, want, absl::StrCat("take the name ", alias), deadline,
            [&](const std::string& l) { return l == want; });
        !s.ok()) {
      return s;
    }
  }
  if (step.HasOption("room")) {
    const std::string room = absl::AsciiStrToLower(step.Option("room"));
    if (absl::Status s = user->Join(room, 0); !s.ok()) {
      return Fail(step, std::string(s.message()), {user});
    }
    const std::string want = absl::StrCat("-- ", user->name(), " joined");
    if (absl::Status s =
            AwaitTcpLine(step, user, want, absl::StrCat("join room ", room),
                         deadline, JoinedRoom(user->name(), room));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Runner::DoGroup(const Step& step) {
  std::vector<std::string> aliases;
  ExpandUsers(step.args[0].text, &aliases).IgnoreError();  // Parser-checked.
  const std::string transport = step.args[1].text;
  const std::string room = step.Option("room");
  const int channels = std::max<int>(1, ToU32(step.Option("channels", "4")));
  const uint32_t history = ToU32(step.Option("history", "0"));
  const int group = ++channel_serial_;
  for (int node : step.nodes) {
    if (absl::StatusOr<ChatServiceProcess*> p = Running(step, node); !p.ok()) {
      return p.status();
    }
  }
  if (absl::StatusOr<ChatServiceProcess*> p = Running(step, NodeOf(step, 0));
      !p.ok()) {
    return p.status();
  }
  std::vector<User*> grpc_users;
  std::vector<User*> tcp_users;
  for (size_t i = 0; i < aliases.size(); ++i) {
    const bool grpc =
        transport == "grpc" || (transport == "mixed" && i % 2 == 0);
    // @1,2,3: round-robin over the nodes; `channels` per node.
    const int node = NodeOf(step, i);
    if (grpc) {
      if (absl::Status s =
              StartGrpc(step, aliases[i], room, history, 0, "",
                        absl::StrCat("group-", group, "-", i % channels), 0,
                        aliases[i], node);
          !s.ok()) {
        return s;
      }
      grpc_users.push_back(users_[aliases[i]].get());
    } else {
      if (absl::Status s = StartTcp(step, aliases[i], 0, node); !s.ok()) {
        return s;
      }
      tcp_users.push_back(users_[aliases[i]].get());
    }
  }
  const absl::Time deadline = absl::Now() + kGroupTimeout;
  // TCP users: names first, then every /nick at once, then every /join.
  for (User* u : tcp_users) {
    if (absl::Status s = AwaitTcpName(step, u, deadline); !s.ok()) return s;
  }
  std::vector<std::string> wants;
  for (User* u : tcp_users) {
    wants.push_back(
        absl::StrCat("-- ", u->name(), " is now known as ", u->alias()));
    if (absl::Status s = u->Nick(u->alias()); !s.ok()) {
      return Fail(step, std::string(s.message()), {u});
    }
  }
  for (size_t i = 0; i < tcp_users.size(); ++i) {
    const std::string& want = wants[i];
    if (absl::Status s = AwaitTcpLine(
            step, tcp_users[i], want,
            absl::StrCat("take the name ", tcp_users[i]->alias()), deadline,
            [&](const std::string& l) { return l == want; });
        !s.ok()) {
      return s;
    }
  }
  if (!room.empty()) {
    const std::string lower = absl::AsciiStrToLower(room);
    for (User* u : tcp_users) {
      if (absl::Status s = u->Join(lower, 0); !s.ok()) {
        return Fail(step, std::string(s.message()), {u});
      }
    }
    for (User* u : tcp_users) {
      const std::string want = absl::StrCat("-- ", u->name(), " joined");
      if (absl::Status s =
              AwaitTcpLine(step, u, want, absl::StrCat("join room ", lower),
                           deadline, JoinedRoom(u->name(), lower));
          !s.ok()) {
        return s;
      }
    }
  }
  for (User* u : grpc_users) {
    if (absl::Status s = AwaitGrpcJoined(step, u, deadline, ""); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ actions

absl::StatusOr<User*> Runner::Find(const Step& step, const std::string& alias) {
  auto it = users_.find(alias);
  if (it != users_.end()) return it->second.get();
  std::vector<std::string> known;
  for (const auto& [name, user] : users_) known.push_back(name);
  return Fail(step,
              absl::StrCat("no user called ", alias, " (known: ",
                           known.empty() ? std::string("none")
                                         : absl::StrJoin(known, " "),
                           "); users come from grpc, tcp and group steps"),
              {});
}

absl::StatusOr<std::vector<User*>> Runner::FindAll(const Step& step,
                                                   const std::string& list) {
  std::vector<User*> out;
  std::vector<std::string> aliases;
  ExpandUsers(list, &aliases).IgnoreError();  // Checked by the parser.
  for (const std::string& alias : aliases) {
    absl::StatusOr<User*> u = Find(step, alias);
    if (!u.ok()) return u.status();
    out.push_back(*u);
  }
  return out;
}

absl::Status Runner::DoAction(const Step& step) {
  const std::string& op = step.op;
  if (op == "pause" || op == "resume" || op == "flush") {
    absl::StatusOr<std::vector<User*>> users = FindAll(step, step.args[0].text);
    if (!users.ok()) return users.status();
    for (User* u : *users) {
      if (op == "pause") u->Pause();
      if (op == "resume") u->Resume();
      if (op == "flush") u->ConsumeAll();
    }
    return absl::OkStatus();
  }
  absl::StatusOr<User*> found = Find(step, step.args[0].text);
  if (!found.ok()) return found.status();
  User* user = *found;
  const std::string arg = step.args.size() > 1 ? step.args[1].text : "";
  absl::Status s;
  if (op == "say") {
    // repeat=N: one message of N copies of the text (a huge request).
    const uint32_t repeat =
        std::max<uint32_t>(1, ToU32(step.Option("repeat", "1")));
    std::string text;
    text.reserve(arg.size() * repeat);
    for (uint32_t i = 0; i < repeat; ++i) text += arg;
    s = user->Say(text);
  } else if (op == "me") {
    s = user->Me(arg);
  } else if (op == "nick") {
    s = user->Nick(arg);
  } else if (op == "join") {
    s = user->Join(arg, ToU32(step.Option("history", "0")));
  } else if (op == "leave") {
    s = user->Leave(arg);
  } else if (op == "kill") {
    s = user->Kill();
  } else if (op == "close") {
    s = user->Close();
  } else if (op == "send") {
    const int repeat = std::max<int>(1, ToU32(step.Option("repeat", "1")));
    std::string bytes;
    bytes.reserve(arg.size() * repeat);
    for (int i = 0; i < repeat; ++i) bytes += arg;
    s = user->SendRaw(bytes);
  } else {
    s = absl::UnimplementedError(absl::StrCat("step ", op));
  }
  if (!s.ok()) {
    return Fail(step, absl::StrCat(user->alias(), ": ", s.message()), {user});
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ expectations

absl::Status Runner::DoExpect(const Step& step) {
  absl::StatusOr<User*> found = Find(step, step.args[0].text);
  if (!found.ok()) return found.status();
  User* user = *found;
  const Pattern pattern = ToPattern(step.args[1]);
  const bool next_only = step.op == "expect-next";
  const absl::Duration timeout = Timeout(step, kExpectTimeout);
  const absl::Time start = absl::Now();
  // since=start: anything received so far counts; the cursor stays.
  const bool since_start = step.HasOption("since");
  const int index = user->WaitForMatch(
      Matcher(pattern), next_only, !since_start, start + timeout, since_start);
  if (index >= 0) return absl::OkStatus();
  if (!user->violations().empty()) return CheckViolations(&step);
  std::string why;
  const Ending e = user->ending();
  if (next_only && absl::Now() - start < timeout) {
    why = "the next line did not match";
  } else if (e.ended) {
    why = "the connection ended with nothing matching";
  } else {
    why =
        absl::StrCat("nothing matched within ", absl::FormatDuration(timeout));
  }
  return Fail(
      step,
      absl::StrCat(user->alias(), " expected ",
                   next_only ? "its next line " : "a line ",
                   next_only ? (pattern.regex ? "to match " : "to be ")
                             : (pattern.regex ? "matching " : "equal to "),
                   pattern.ToString(), ": ", why),
      {user});
}

absl::Status Runner::DoExpectNone(const Step& step) {
  absl::StatusOr<User*> found = Find(step, step.args[0].text);
  if (!found.ok()) return found.status();
  User* user = *found;
  std::function<bool(const std::string&)> match = [](const std::string&) {
    return true;
  };
  std::string what = "no line at all";
  if (step.args.size() > 1) {
    const Pattern p = ToPattern(step.args[1]);
    match = Matcher(p);
    what = absl::StrCat("no line ", p.regex ? "matching " : "equal to ",
                        p.ToString());
  }
  // The absence is proved against an anchor the user must see: a marker
  // line (which comes after whatever the step is about, so anything of
  // that would have come before it), or the connection's end (after which
  // nothing comes). A quiet moment proves nothing on a loaded machine.
  const absl::Duration timeout = Timeout(step, kExpectTimeout);
  const absl::Time deadline = absl::Now() + timeout;
  const size_t from = user->cursor();
  const Pattern marker = step.OptionPattern("until");
  const bool until_end = step.option_kinds.at("until") == Token::Kind::kWord &&
                         marker.text == "end";
  size_t to = 0;
  std::string anchor;
  if (until_end) {
    user->WaitUntil([](const User::View& v) { return v.ending.ended; },
                    deadline);
    if (!user->violations().empty()) return CheckViolations(&step);
    const Ending e = user->ending();
    if (!e.ended) {
      return Fail(
          step,
          absl::StrCat(user->alias(),
                       " expected its connection to end (until=end) within ",
                       absl::FormatDuration(timeout), ", but it is still open",
                       user->transport() == "grpc"
                           ? " (a paused gRPC user sees its end only after "
                             "resume)"
                           : ""),
          {user});
    }
    to = std::numeric_limits<size_t>::max();
    anchor = absl::StrCat("before its connection ended (", e.code, ") at ",
                          Ago(e.at - epoch_));
  } else {
    const int index =
        user->WaitForMatch(Matcher(marker), false, true, deadline);
    if (index < 0) {
      if (!user->violations().empty()) return CheckViolations(&step);
      const Ending e = user->ending();
      return Fail(
          step,
          absl::StrCat(user->alias(), " expected the marker ",
                       marker.regex ? "matching " : "", marker.ToString(),
                       " (the line that proves the absence), but ",
                       e.ended ? "the connection ended without it"
                               : absl::StrCat("it did not come within ",
                                              absl::FormatDuration(timeout))),
          {user});
    }
    to = static_cast<size_t>(index);
    anchor = absl::StrCat("before the marker ", marker.ToString(), " at ",
                          Ago(user->RecordAt(index).at - epoch_));
  }
  const int bad = user->FindIn(from, to, match);
  if (until_end) user->ConsumeAll();
  if (bad < 0) return absl::OkStatus();
  const Record got = user->RecordAt(bad);
  return Fail(step,
              absl::StrCat(user->alias(), " expected ", what, " ", anchor,
                           ", but received \"", EscapeForDisplay(got.line),
                           "\" at ", Ago(got.at - epoch_)),
              {user});
}

absl::Status Runner::DoExpectEnd(const Step& step) {
  absl::StatusOr<User*> found = Find(step, step.args[0].text);
  if (!found.ok()) return found.status();
  User* user = *found;
  const std::string code = step.args[1].text;
  const absl::Duration timeout = Timeout(step, kExpectTimeout);
  user->WaitUntil([](const User::View& v) { return v.ending.ended; },
                  absl::Now() + timeout);
  const Ending e = user->ending();
  std::string pattern_text;
  if (!e.ended) {
    return Fail(step,
                absl::StrCat(user->alias(), " expected its connection to end (",
                             code, ") within ", absl::FormatDuration(timeout),
                             ", but it is still open",
                             user->transport() == "grpc"
                                 ? " (a paused gRPC user sees its end only "
                                   "after resume)"
                                 : ""),
                {user});
  }
  const bool code_ok =
      e.code == code || (code == "closed" && e.code == "reset");
  bool message_ok = true;
  if (step.args.size() > 2) {
    const Pattern p = ToPattern(step.args[2]);
    message_ok = Matcher(p)(e.message);
    pattern_text = absl::StrCat(
        " with a message ", p.regex ? "matching " : "equal to ", p.ToString());
  }
  if (code_ok && message_ok) return absl::OkStatus();
  return Fail(step,
              absl::StrCat(user->alias(), " expected its connection to end ",
                           code, pattern_text, ", but it ended ", e.code, " \"",
                           e.message, "\""),
              {user});
}

absl::Status Runner::DoExpectAll(const Step& step) {
  absl::StatusOr<std::vector<User*>> users = FindAll(step, step.args[0].text);
  if (!users.ok()) return users.status();
  const Pattern pattern = ToPattern(step.args[1]);
  const auto match = Matcher(pattern);
  const absl::Time deadline = absl::Now() + Timeout(step, kExpectTimeout);
  for (User* u : *users) {
    if (u->WaitForMatch(match, false, true, deadline) >= 0) continue;
    if (!u->violations().empty()) return CheckViolations(&step);
    return Fail(step,
                absl::StrCat(u->alias(), " (one of ", users->size(),
                             ") expected a line ",
                             pattern.regex ? "matching " : "equal to ",
                             pattern.ToString(), ": nothing matched"),
                {u});
  }
  return absl::OkStatus();
}

absl::Status Runner::DoExpectEpoch(const Step& step) {
  absl::StatusOr<User*> found = Find(step, step.args[0].text);
  if (!found.ok()) return found.status();
  User* user = *found;
  const bool want_same = step.args[1].text == "same";
  const std::string epoch = user->room_epoch();
  std::string other;
  std::string whose;
  std::vector<User*> show = {user};
  if (step.HasOption("than")) {
    absl::StatusOr<User*> than = Find(step, step.Option("than"));
    if (!than.ok()) return than.status();
    other = (*than)->room_epoch();
    whose = absl::StrCat((*than)->alias(), "'s");
    show.push_back(*than);
  } else {
    auto it = previous_epoch_.find(user->alias());
    if (it != previous_epoch_.end()) other = it->second;
    whose = absl::StrCat(user->alias(), "'s previous connection's");
  }
  if (epoch.empty() || other.empty()) {
    return Fail(step,
                absl::StrCat("no epochs to compare: ", user->alias(),
                             "'s last welcome named \"", epoch, "\", ", whose,
                             " \"", other, "\""),
                show);
  }
  if ((epoch == other) == want_same) return absl::OkStatus();
  return Fail(step,
              absl::StrCat(user->alias(), "'s epoch is \"", epoch, "\", ",
                           whose, " \"", other, "\": expected ",
                           want_same ? "the same" : "a different one"),
              show);
}

absl::Status Runner::DoExpectLog(const Step& step) {
  const int node = NodeOption(step);
  if (node > static_cast<int>(nodes_.size())) {
    return Fail(step, absl::StrCat("there is no node ", node), {});
  }
  Node& n = nodes_[node - 1];
  const Pattern pattern = ToPattern(step.args[0]);
  const auto match = Matcher(pattern);
  const absl::Duration timeout = Timeout(step, kExpectTimeout);
  const absl::Time deadline = absl::Now() + timeout;
  // Woken by every write to the log (inotify), not by the clock.
  const int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (watch < 0 ||
      inotify_add_watch(watch, n.log_path.c_str(), IN_MODIFY) < 0) {
    const int e = errno;
    if (watch >= 0) close(watch);
    return Fail(
        step, absl::StrCat("cannot watch ", n.log_path, ": ", std::strerror(e)),
        {}, {node});
  }
  size_t lines = 0;
  while (true) {
    std::ifstream in(n.log_path);
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    // Complete lines only: the last one may still be being written.
    std::vector<std::string> complete = absl::StrSplit(text, '\n');
    complete.pop_back();
    lines = complete.size();
    for (size_t i = n.log_cursor; i < complete.size(); ++i) {
      if (!match(complete[i])) continue;
      n.log_cursor = i + 1;
      close(watch);
      return absl::OkStatus();
    }
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) break;
    pollfd p{watch, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1000000))) > 0) {
      char events[4096];
      while (read(watch, events, sizeof(events)) > 0) {
      }
    }
  }
  close(watch);
  return Fail(
      step,
      absl::StrCat(cluster_ ? absl::StrCat("node ", node, "'s")
                            : std::string("the server's"),
                   " log has no line ",
                   pattern.regex ? "matching " : "equal to ",
                   pattern.ToString(), " after its line ", n.log_cursor,
                   " (of ", lines, ") within ", absl::FormatDuration(timeout)),
      {}, {node});
}

absl::Status Runner::DoMembers(const Step& step) {
  const int node = NodeOption(step);
  if (absl::StatusOr<ChatServiceProcess*> p = Running(step, node); !p.ok()) {
    return p.status();
  }
  auto stub = v1::ChatRoom::NewStub(Channel(node, "control"));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  v1::ListMembersRequest request;
  request.set_room(step.args[0].text);
  v1::ListMembersResponse response;
  grpc::Status s = stub->ListMembers(&context, request, &response);
  if (!s.ok()) {
    return Fail(
        step,
        absl::StrCat("ListMembers failed: ", StatusCodeName(s.error_code()),
                     " \"", s.error_message(), "\""),
        {}, {node});
  }
  std::vector<std::string> members;
  for (const v1::Member& m : response.members()) {
    members.push_back(
        absl::StrCat(m.name(), ":", TransportName(m.transport())));
  }
  const std::string line = absl::StrJoin(members, " ");
  const Pattern p = ToPattern(step.args[1]);
  if (Matcher(p)(line)) return absl::OkStatus();
  return Fail(
      step,
      absl::StrCat("members of ", response.room(),
                   cluster_ ? absl::StrCat(" at node ", node) : std::string(),
                   " are \"", line, "\", expected ",
                   p.regex ? "a match for " : "", p.ToString()),
      {}, {node});
}

absl::StatusOr<MetricSamples> Runner::Scrape(const Step& step, int node) {
  absl::StatusOr<ChatServiceProcess*> server = Running(step, node);
  if (!server.ok()) return server.status();
  if ((*server)->metrics_addr().empty()) {
    return Fail(step, "the server's metrics port is off (--metrics_addr=)", {},
                {node});
  }
  absl::StatusOr<MetricSamples> samples =
      ScrapeMetrics((*server)->metrics_addr());
  if (!samples.ok()) {
    return Fail(
        step, absl::StrCat("GET /metrics failed: ", samples.status().message()),
        {}, {node});
  }
  return samples;
}

absl::Status Runner::DoMetricsMark(const Step& step) {
  const int node = NodeOption(step);
  absl::StatusOr<MetricSamples> samples = Scrape(step, node);
  if (!samples.ok()) return samples.status();
  metrics_mark_[node] = *std::move(samples);
  return absl::OkStatus();
}

absl::Status Runner::DoMetric(const Step& step) {
  const int node = NodeOption(step);
  absl::StatusOr<MetricSamples> samples = Scrape(step, node);
  if (!samples.ok()) return samples.status();
  const std::string series = SeriesFromShortForm(step.args[0].text);
  // The family's samples, for the report.
  const std::string name = series.substr(0, series.find('{'));
  std::string family;
  for (const auto& [s, v] : *samples) {
    if (absl::StartsWith(s, name))
      absl::StrAppend(&family, "\n    ", s, " ", v);
  }
  auto it = samples->find(series);
  if (it == samples->end()) {
    return Fail(
        step,
        absl::StrCat(
            "/metrics has no ", series,
            family.empty() ? " (nor anything named so)" : "; it has:", family),
        {}, {node});
  }
  const double now = it->second;
  std::vector<std::string> wrong;
  uint64_t n = 0;
  if (step.HasOption("value") && absl::SimpleAtoi(step.Option("value"), &n) &&
      now != n) {
    wrong.push_back(absl::StrCat("value ", now, ", expected ", n));
  }
  if (step.HasOption("min") && absl::SimpleAtoi(step.Option("min"), &n) &&
      now < n) {
    wrong.push_back(absl::StrCat("value ", now, ", expected at least ", n));
  }
  if (step.HasOption("delta")) {
    auto mark = metrics_mark_.find(node);
    if (mark == metrics_mark_.end()) {
      return Fail(step,
                  cluster_ ? absl::StrCat("delta= counts from a metrics-mark "
                                          "step of node ",
                                          node, "; none came yet")
                           : std::string("delta= counts from a metrics-mark "
                                         "step; none came yet"),
                  {}, {node});
    }
    auto was = mark->second.find(series);
    const double before = was == mark->second.end() ? 0 : was->second;
    if (absl::SimpleAtoi(step.Option("delta"), &n) && now - before != n) {
      wrong.push_back(absl::StrCat("grew by ", now - before, " (", before,
                                   " -> ", now,
                                   ") since metrics-mark, expected ", n));
    }
  }
  if (wrong.empty()) return absl::OkStatus();
  return Fail(step,
              absl::StrCat(series, ": ", absl::StrJoin(wrong, "; "),
                           "\n  the family now:", family),
              {}, {node});
}

// ------------------------------------------------------------ bursts

std::vector<User*> Runner::Connections(User* u) {
  std::vector<User*> out;
  for (const auto& old : retired_) {
    if (old->alias() == u->alias()) out.push_back(old.get());
  }
  out.push_back(u);
  return out;
}

absl::Status Runner::DoBurst(const Step& step) {
  absl::StatusOr<std::vector<User*>> users = FindAll(step, step.args[0].text);
  if (!users.ok()) return users.status();
  std::vector<User*> pacers;
  if (step.HasOption("pace")) {
    absl::StatusOr<std::vector<User*>> p = FindAll(step, step.Option("pace"));
    if (!p.ok()) return p.status();
    pacers = *p;
  }
  const int count = static_cast<int>(ToU32(step.args[1].text));
  const size_t size = ToU32(step.Option("size", "0"));
  const int times = std::max<int>(1, ToU32(step.Option("times", "1")));
  for (int t = 0; t < times; ++t) {
    Burst burst;
    burst.id = next_burst_++;
    burst.count = count;
    for (User* u : *users) burst.senders.push_back(u->alias());
    // Round-robin, one message per user at a time: every sender is busy at
    // once. gRPC sends are queued (asynchronous); a TCP send is one small
    // write that the kernel buffers.
    for (int k = 1; k <= count; ++k) {
      for (User* u : *users) {
        absl::Status s = u->Say(FormatBurstText(burst.id, u->alias(), k, size));
        if (!s.ok()) {
          return Fail(step,
                      absl::StrCat(u->alias(), " could not send burst message ",
                                   k, ": ", s.message()),
                      {u});
        }
      }
    }
    // pace=: the next round only once these users have each sender's last
    // message of this one (a TCP user has no echo of its own). Their
    // cursors stay where they were.
    const absl::Time deadline = absl::Now() + kGroupTimeout;
    for (User* p : pacers) {
      for (User* u : *users) {
        if (p->transport() == "tcp" && p == u) continue;
        const std::string last =
            absl::StrCat("<", u->name(), "> ",
                         FormatBurstText(burst.id, u->alias(), count, size));
        if (p->WaitForMatch([&](const std::string& l) { return l == last; },
                            false, false, deadline) < 0) {
          if (!p->violations().empty()) return CheckViolations(&step);
          return Fail(step,
                      absl::StrCat("pace: ", p->alias(),
                                   " did not receive the last message of "
                                   "round ",
                                   t + 1, " from ", u->alias()),
                      {p});
        }
      }
    }
    bursts_.push_back(std::move(burst));
  }
  return absl::OkStatus();
}

absl::Status Runner::DoCheckOrder(const Step& step) {
  absl::StatusOr<std::vector<User*>> found = FindAll(step, step.args[0].text);
  if (!found.ok()) return found.status();
  const std::vector<User*>& users = *found;
  // witness=: users whose burst messages count as seen (expect=seen) and
  // must be in the one order, without having to have all of them (a TCP
  // user cannot resume after a restart).
  std::vector<User*> witnesses;
  if (step.HasOption("witness")) {
    absl::StatusOr<std::vector<User*>> w =
        FindAll(step, step.Option("witness"));
    if (!w.ok()) return w.status();
    witnesses = *w;
  }
  std::vector<User*> checked = users;
  checked.insert(checked.end(), witnesses.begin(), witnesses.end());
  if (bursts_.empty()) {
    return Fail(step, "check-order needs a burst step before it", {});
  }
  const std::vector<Burst> bursts = std::move(bursts_);
  bursts_.clear();

  // A burst message is a Key: (burst id, sender number, index) packed.
  absl::flat_hash_map<std::string, uint64_t> sender_ids;
  std::vector<std::string> sender_names;
  absl::flat_hash_set<uint64_t> all;
  absl::flat_hash_map<std::string, size_t> sent_by;  // Alias -> count.
  auto key_of = [](uint64_t burst, uint64_t sender, uint64_t index) {
    return burst << 40 | sender << 20 | index;
  };
  for (const Burst& b : bursts) {
    for (const std::string& sender : b.senders) {
      auto [it, fresh] = sender_ids.emplace(sender, sender_names.size());
      if (fresh) sender_names.push_back(sender);
      sent_by[sender] += b.count;
      for (int k = 1; k <= b.count; ++k) {
        all.insert(key_of(b.id, it->second, k));
      }
    }
  }
  // expect=seen: a burst a restart cut short. What the senders sent is not
  // promised, only that whatever any of these users received reaches all of
  // them; the set to expect is what they received between them.
  const bool seen_only = step.Option("expect", "sent") == "seen";
  absl::flat_hash_set<int> ids;
  for (const Burst& b : bursts) ids.insert(b.id);
  // Burst messages received by `u` over all its connections, in order.
  auto all_bursts = [&](User* u) {
    std::vector<BurstMessage> out;
    for (User* c : Connections(u)) {
      for (BurstMessage& m : c->bursts()) {
        if (ids.count(m.burst)) out.push_back(std::move(m));
      }
    }
    return out;
  };
  absl::flat_hash_set<uint64_t> sendable;  // Every key a burst may send.
  if (seen_only) {
    sendable = std::move(all);
    all.clear();
    for (User* u : checked) {
      for (const BurstMessage& m : all_bursts(u)) {
        auto it = sender_ids.find(m.sender);
        if (it == sender_ids.end()) continue;
        const uint64_t key = key_of(m.burst, it->second, m.index);
        if (sendable.count(key)) all.insert(key);
      }
    }
  }
  auto describe = [&](uint64_t key) {
    return absl::StrCat("b", key >> 40, " ",
                        sender_names[(key >> 20) & 0xfffff], " ",
                        key & 0xfffff);
  };
  // Who should get what: every burst message, except that TCP users do not
  // get their own messages back.
  auto expects = [&](User* u, uint64_t key) {
    // With expect=seen, a message that arrived after the set was taken.
    if (!all.count(key) && !(seen_only && sendable.count(key))) return false;
    return !(u->transport() == "tcp" &&
             sender_names[(key >> 20) & 0xfffff] == u->alias());
  };
  auto expected_count = [&](User* u) {
    if (seen_only) {
      size_t n = 0;
      for (uint64_t k : all) n += expects(u, k) ? 1 : 0;
      return n;
    }
    size_t n = all.size();
    auto it = sent_by.find(u->alias());
    if (u->transport() == "tcp" && it != sent_by.end()) n -= it->second;
    return n;
  };

  const absl::Time deadline = absl::Now() + Timeout(step, kGroupTimeout);
  for (User* u : users) {
    const size_t want = expected_count(u);
    // What its earlier connections received (they receive no more).
    size_t earlier = 0;
    for (User* c : Connections(u)) {
      if (c == u) continue;
      for (const BurstMessage& m : c->bursts()) earlier += ids.count(m.burst);
    }
    u->WaitUntil(
        [&](const User::View& v) {
          size_t got = earlier;
          for (const Burst& b : bursts) {
            auto it = v.burst_counts.find(b.id);
            if (it != v.burst_counts.end()) got += it->second;
          }
          return got >= want || v.ending.ended;
        },
        deadline);
    if (!u->violations().empty()) return CheckViolations(&step);
  }

  // What each user received of these bursts, in order, as keys and seqs.
  struct Got {
    uint64_t key;
    uint64_t seq;
  };
  auto received = [&](User* u) {
    std::vector<Got> out;
    for (const BurstMessage& m : all_bursts(u)) {
      auto it = sender_ids.find(m.sender);
      // A stray sender gets a key no one expects.
      const uint64_t sender = it == sender_ids.end() ? 0xfffff : it->second;
      out.push_back(
          Got{key_of(m.burst, sender, static_cast<uint64_t>(m.index)), m.seq});
    }
    return out;
  };

  // The reference order: the first gRPC user's (it sees every message, its
  // own included), else the first user's.
  size_t ref_index = 0;
  for (size_t i = 0; i < users.size(); ++i) {
    if (users[i]->transport() == "grpc") {
      ref_index = i;
      break;
    }
  }
  User* const ref_user = users[ref_index];
  const std::vector<Got> ref = received(ref_user);
  absl::flat_hash_map<uint64_t, size_t> ref_pos;
  for (size_t i = 0; i < ref.size(); ++i) ref_pos.emplace(ref[i].key, i);

  size_t total = 0;
  for (User* u : checked) {
    const bool witness =
        std::find(users.begin(), users.end(), u) == users.end();
    const std::vector<Got> got = u == ref_user ? ref : received(u);
    total += got.size();
    // Duplicates and strays.
    absl::flat_hash_map<uint64_t, size_t> seen;
    for (size_t j = 0; j < got.size(); ++j) {
      auto [it, fresh] = seen.emplace(got[j].key, j);
      if (!fresh) {
        return Fail(
            step,
            absl::StrCat(u->alias(), " received burst message \"",
                         describe(got[j].key), "\" twice (its burst lines #",
                         it->second + 1, " and #", j + 1, ")"),
            {u});
      }
      if (!expects(u, got[j].key)) {
        return Fail(step,
                    absl::StrCat(u->alias(), " received burst message \"",
                                 describe(got[j].key),
                                 "\" that it should not have (a TCP user's "
                                 "own message echoed back?)"),
                    {u});
      }
    }
    // Over reconnects (resume), a gRPC user's seqs still only go up.
    if (u->transport() == "grpc") {
      for (size_t j = 1; j < got.size(); ++j) {
        if (got[j].seq > got[j - 1].seq) continue;
        return Fail(step,
                    absl::StrCat(u->alias(), " received \"",
                                 describe(got[j].key), "\" (seq ", got[j].seq,
                                 ") after \"", describe(got[j - 1].key),
                                 "\" (seq ", got[j - 1].seq, ")"),
                    Connections(u));
      }
    }
    // Missing ones.
    const size_t want = expected_count(u);
    if (!witness && seen.size() < want) {
      std::vector<uint64_t> missing;
      for (uint64_t k : all) {
        if (expects(u, k) && !seen.count(k)) missing.push_back(k);
      }
      std::sort(missing.begin(), missing.end());
      std::vector<std::string> first;
      for (size_t m = 0; m < missing.size() && m < 5; ++m) {
        first.push_back(describe(missing[m]));
      }
      const Ending e = u->ending();
      // expect=seen: who had the first missing one (and with which seq).
      std::string seen_by;
      if (seen_only && !missing.empty()) {
        std::vector<std::string> who;
        for (User* other : checked) {
          for (User* c : Connections(other)) {
            for (const BurstMessage& m : c->bursts()) {
              auto sid = sender_ids.find(m.sender);
              if (sid == sender_ids.end() ||
                  key_of(m.burst, sid->second, m.index) != missing[0]) {
                continue;
              }
              who.push_back(absl::StrCat(
                  other->alias(),
                  m.seq ? absl::StrCat(" (seq ", m.seq, ")") : std::string()));
            }
          }
        }
        seen_by = absl::StrCat("; \"", describe(missing[0]),
                               "\" was received by ", absl::StrJoin(who, ", "));
      }
      return Fail(
          step,
          absl::StrCat(
              u->alias(), " (", u->transport(), ") received ", seen.size(),
              " of ", want, " burst messages",
              e.ended ? absl::StrCat(" before its connection ended ", e.code,
                                     " \"", e.message, "\"")
                      : absl::StrCat(" within ", absl::FormatDuration(Timeout(
                                                     step, kGroupTimeout))),
              "; missing ", missing.size(),
              ", first: ", absl::StrJoin(first, ", "), seen_by),
          {u});
    }
    if (u == ref_user) continue;
    // One order: u's messages in the reference's order, and for gRPC users
    // the same seq for the same message.
    const Got* last = nullptr;
    size_t last_pos = 0;
    for (const Got& m : got) {
      auto it = ref_pos.find(m.key);
      if (it == ref_pos.end()) continue;  // Own message (TCP reference).
      if (last != nullptr && it->second < last_pos) {
        return Fail(
            step,
            absl::StrCat("order differs: ", u->alias(), " received \"",
                         describe(m.key), "\" after \"", describe(last->key),
                         "\", but ", ref_user->alias(),
                         " received them the other way round (its "
                         "burst lines #",
                         it->second + 1, " and #", last_pos + 1, ")"),
            {u, ref_user});
      }
      if (u->transport() == "grpc" && ref_user->transport() == "grpc" &&
          m.seq != ref[it->second].seq) {
        return Fail(
            step,
            absl::StrCat("\"", describe(m.key), "\" has seq ", m.seq, " at ",
                         u->alias(), " but seq ", ref[it->second].seq, " at ",
                         ref_user->alias()),
            {u, ref_user});
      }
      last_pos = it->second;
      last = &m;
    }
  }
  if (options_.verbose) {
    std::printf(
        "          %zu users received their %zu burst messages in one order "
        "(%zu deliveries)%s\n",
        users.size(), all.size(), total,
        seen_only ? absl::StrCat(" of ", sendable.size(), " sent").c_str()
                  : "");
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ reports

absl::Status Runner::Fail(const Step& step, const std::string& what,
                          const std::vector<User*>& show,
                          const std::vector<int>& nodes) {
  failed_ = true;
  std::string out = absl::StrCat(script_.path, ":", step.line,
                                 ": FAILED: ", step.source, "\n  ", what, "\n");
  std::set<User*> shown;
  std::set<int> involved(nodes.begin(), nodes.end());
  for (User* u : show) {
    if (u == nullptr || !shown.insert(u).second) continue;
    absl::StrAppend(&out, u->Describe(kShowEvents));
    involved.insert(std::max(1, u->node()));
  }
  absl::StrAppend(&out, ServerReport(involved));
  return absl::AbortedError(out);
}

std::string Runner::ServerReport(const std::set<int>& nodes) {
  std::string out;
  auto describe = [&](int k, absl::string_view prefix) {
    if (k < 1 || k > static_cast<int>(nodes_.size()) ||
        !nodes_[k - 1].process) {
      return;
    }
    const ChatServiceProcess& p = *nodes_[k - 1].process;
    absl::StrAppend(&out, prefix, "chat-service ",
                    p.running() ? "running" : "not running", " (",
                    p.ready_line().empty() ? "no ready line" : p.ready_line(),
                    "), its stderr (", nodes_[k - 1].log_path,
                    "), last lines:\n", p.LogTail(8));
  };
  if (nodes_.empty()) return "";
  if (!cluster_) {
    describe(1, absl::StrCat("  at ", Ago(absl::Now() - epoch_), "; "));
  } else {
    absl::StrAppend(&out, "  at ", Ago(absl::Now() - epoch_), ":\n");
    // The nodes involved, or every node when the failure names none.
    std::set<int> which = nodes;
    if (which.empty()) {
      for (size_t k = 1; k <= nodes_.size(); ++k) {
        which.insert(static_cast<int>(k));
      }
    }
    for (int k : which) describe(k, absl::StrCat("  node ", k, ": "));
    for (size_t j = 0; j < redis_.size(); ++j) {
      const RedisServer& r = *redis_[j];
      absl::StrAppend(&out, "  redis shard ", j + 1, " (", r.address(), ", ",
                      !r.running()       ? "down"
                      : redis_paused_[j] ? "paused"
                                         : "running",
                      "), its log (", r.log_path(), "), last lines:\n",
                      r.LogTail(4));
    }
  }
  if (!scratch_dir_.empty()) {
    absl::StrAppend(
        &out, "  its scratch directory (@tmp), kept: ", scratch_dir_, "\n");
  }
  return out;
}

}  // namespace chat

// Runner: runs one parsed scenario against a real chat-service.
//
// Steps run in order on the calling thread. Users act asynchronously (their
// transports record what arrives), and every wait is on a user's condition
// with a deadline, never a fixed sleep (except the `sleep` step, whose point
// is to let time pass; `expect-none` waits for a marker, not for time to
// pass). Before and after each step the
// runner checks every user's protocol violations, so a broken rule fails
// the scenario at the step where it showed up.
//
// A failure is an error whose message is the whole report: the script file
// and line, the step, what was expected, what the users involved received
// last (with times, seqs and the match cursor), and the server's last log
// lines. Not thread-safe: one runner per thread.
//
// A scenario may run a cluster (`start nodes=N redis`): N chat-service
// processes, the nodes, numbered from 1, sharing rooms through K
// redis-servers (testing/redis_server.h) that the runner starts first and
// names to every node with --redis=ADDR1,...,ADDRK. Each user belongs to
// one node (`grpc alice@2`; node 1 by default); steps that talk to a
// server (members, metric) name theirs with node=K. A failure report names
// each user's node and quotes the log of each node involved and of every
// redis-server. A plain `start` is one node, as before.
#ifndef CHATROOM_INTEGRATION_TESTS_RUNNER_H_
#define CHATROOM_INTEGRATION_TESTS_RUNNER_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "integration_tests/script.h"
#include "integration_tests/user.h"
#include "testing/chat_service_process.h"
#include "testing/metrics_scrape.h"
#include "testing/redis_server.h"

namespace chat {

struct RunOptions {
  std::string server_binary;  // The chat-service executable.
  // Where the server's stderr goes: NAME.server.log. In a cluster (a start
  // with nodes= or redis), node K's goes to NAME.nodeK.server.log instead
  // and redis-server J's log to NAME.redisJ.log, beside it.
  std::string log_path;
  bool verbose = true;  // Print each step as it runs, to stdout.
};

class Runner {
 public:
  Runner(Script script, RunOptions options);
  ~Runner();

  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Runs the scenario; OK, or an error holding the failure report. At the
  // end every user disconnects and every running node must exit 0 on
  // SIGTERM; then the redis-servers stop.
  absl::Status Run();

 private:
  // One chat-service process: node K is nodes_[K - 1].
  struct Node {
    std::unique_ptr<ChatServiceProcess> process;
    std::string log_path;
    // expect-log's cursor: the number of the log's lines already matched
    // past (the log is appended to across restarts).
    size_t log_cursor = 0;
  };

  // A burst sent and not yet checked.
  struct Burst {
    int id = 0;
    std::vector<std::string> senders;
    int count = 0;
  };

  absl::Status RunStep(const Step& step);
  absl::Status CheckViolations(const Step* step);
  absl::Status Finish();

  // Steps.
  absl::Status DoStart(const Step& step);
  absl::Status DoRestart(const Step& step);
  // (Re)starts node `node` with `flags`, for start, restart and start-node.
  absl::Status LaunchServer(const Step& step, int node,
                            const std::vector<std::string>& flags);
  // Starts `shards` redis-servers for a start step, or, when the scenario
  // had as many with the same persistence, starts again those that are down
  // (on the same ports and directories).
  absl::Status StartRedis(const Step& step, int shards, bool persist);
  // SIGTERM to node `node`, which must exit with `want` within `timeout`.
  absl::Status StopNode(const Step& step, int node, int want,
                        absl::Duration timeout);
  absl::Status DoStop(const Step& step);
  absl::Status DoNodeStep(const Step& step);   // kill-, stop-, start-node.
  absl::Status DoRedisStep(const Step& step);  // redis-restart, -kill, ...
  absl::Status DoRedisCli(const Step& step);
  absl::Status DoGrpc(const Step& step);
  absl::Status DoTcp(const Step& step);
  absl::Status DoGroup(const Step& step);
  absl::Status DoAction(const Step& step);
  absl::Status DoExpect(const Step& step);
  absl::Status DoExpectNone(const Step& step);
  absl::Status DoExpectEnd(const Step& step);
  absl::Status DoExpectAll(const Step& step);
  absl::Status DoExpectEpoch(const Step& step);
  absl::Status DoExpectLog(const Step& step);
  absl::Status DoMembers(const Step& step);
  // Node `node`'s /metrics for `step`, or the step's failure (the port off,
  // the GET failed).
  absl::StatusOr<MetricSamples> Scrape(const Step& step, int node);
  absl::Status DoMetricsMark(const Step& step);
  absl::Status DoMetric(const Step& step);
  absl::Status DoBurst(const Step& step);
  absl::Status DoCheckOrder(const Step& step);

  // Joining, without waiting (Start*) and the waits (Await*). `name` is the
  // name joined with (usually the alias).
  absl::Status StartGrpc(const Step& step, const std::string& alias,
                         const std::string& room, uint32_t history,
                         uint64_t resume, const std::string& resume_epoch,
                         const std::string& channel_key, int window,
                         const std::string& name, int node);
  // The epoch a resume sends, as the grpc step's epoch= option says.
  absl::StatusOr<std::string> ResumeEpoch(const Step& step,
                                          const std::string& alias,
                                          const std::string& room, int node);
  // The scenario's scratch directory (created on first use) for @tmp in
  // start flags; `flags` with @tmp replaced. `node` > 0 (a cluster): @tmp
  // is that node's own subdirectory, nodeK.
  absl::StatusOr<std::vector<std::string>> ScratchFlags(
      const std::vector<std::string>& flags, int node);
  absl::Status StartTcp(const Step& step, const std::string& alias, int rcvbuf,
                        int node);
  // Node `node`'s process when it is running, or a failure saying it is not.
  absl::StatusOr<ChatServiceProcess*> Running(const Step& step, int node);
  // The node a user-creating step puts its `index`-th user on (@K).
  static int NodeOf(const Step& step, size_t index);
  // The node= option of a step (node 1 without it).
  static int NodeOption(const Step& step);
  // Waits for the user's own "-- NAME joined" (NAME: `name`, or the alias).
  absl::Status AwaitGrpcJoined(const Step& step, User* user,
                               absl::Time deadline, const std::string& name);
  absl::Status AwaitTcpName(const Step& step, User* user, absl::Time deadline);
  absl::Status AwaitTcpLine(
      const Step& step, User* user, const std::string& want,
      const std::string& what, absl::Time deadline,
      const std::function<bool(const std::string&)>& match);

  // The current user called `alias`, or an error naming the known ones.
  absl::StatusOr<User*> Find(const Step& step, const std::string& alias);
  absl::StatusOr<std::vector<User*>> FindAll(const Step& step,
                                             const std::string& list);
  // Every connection the alias `u` has had, oldest first, ending with u
  // (for check-order across reconnects).
  std::vector<User*> Connections(User* u);
  // Retires an earlier user of that alias (which must have ended or been
  // killed), remembering its last seq and epoch for resume=last.
  absl::Status Retire(const Step& step, const std::string& alias);
  // The channel to node `node` called `key`, created on first use.
  // `window` > 0 turns off BDP probing and sets the HTTP/2 stream window,
  // so a paused reader buffers little (a new channel only).
  std::shared_ptr<grpc::Channel> Channel(int node, const std::string& key,
                                         int window = 0);
  absl::Duration Timeout(const Step& step, absl::Duration fallback);

  // The failure report for `step`: `show`'s records, and the logs of
  // `nodes` and of the nodes of `show` (in a cluster; every node when
  // that names none).
  absl::Status Fail(const Step& step, const std::string& what,
                    const std::vector<User*>& show,
                    const std::vector<int>& nodes = {});
  std::string ServerReport(const std::set<int>& nodes);
  // Where node `node`'s stderr goes, or redis-server `shard`'s log.
  std::string NodeLogPath(int node) const;
  std::string RedisLogPath(int shard) const;

  const Script script_;
  const RunOptions options_;
  const absl::Time epoch_;

  std::vector<Node> nodes_;
  // The last start had nodes= or redis: users, logs and reports name
  // nodes (a plain start keeps the one-server names and reports).
  bool cluster_ = false;
  std::vector<std::unique_ptr<RedisServer>> redis_;  // Shard J: redis_[J-1].
  std::vector<bool> redis_paused_;                   // SIGSTOPped.
  bool redis_persist_ = false;
  // Log files already emptied for this scenario (they are appended to
  // across restarts).
  std::set<std::string> fresh_logs_;
  // Keyed "NODE/KEY" (Channel).
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  int channel_serial_ = 0;
  std::map<std::string, std::unique_ptr<User>> users_;
  std::vector<std::unique_ptr<User>> retired_;
  std::map<std::string, uint64_t> previous_last_seq_;
  std::map<std::string, std::string> previous_epoch_;
  // The scratch directory @tmp stands for; removed at the end unless the
  // scenario failed (a failure report names it).
  std::string scratch_dir_;
  bool failed_ = false;
  std::vector<Burst> bursts_;
  int next_burst_ = 1;
  // What each node's /metrics showed at its last metrics-mark (metric's
  // delta=), by node.
  std::map<int, MetricSamples> metrics_mark_;
};

}  // namespace chat

#endif  // CHATROOM_INTEGRATION_TESTS_RUNNER_H_

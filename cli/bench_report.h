// chatctl bench's report: what a run measured, printed as the summary a
// person reads or, with --json, as one JSON object on one line for scripts
// (tools/bench/*, BENCHMARKS.md). The JSON is made with nlohmann/json, so a
// text in it (a failure's reason) is always escaped; its keys, their order
// and the precision of each figure are a contract with those scripts.
//
// Pure functions of their arguments, apart from the printing.
#ifndef CHATROOM_CLI_BENCH_REPORT_H_
#define CHATROOM_CLI_BENCH_REPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/bench_options.h"
#include "cli/bench_stats.h"

namespace chat {
namespace bench {

// ServerShare: how many members of a run went to one listed server (with
// several servers; an address listed twice has one share per listing).
struct ServerShare {
  std::string transport;  // "grpc", "tcp" or "ws".
  std::string address;    // HOST:PORT as listed.
  int members = 0;
  int pid = 0;  // The process listening on its port; 0: unknown.
};

// LoadReport: what a load run (receivers and senders) measured.
struct LoadReport {
  double join_s = 0;    // Connecting and joining everyone, and the sync.
  size_t channels = 0;  // gRPC channels opened.
  uint64_t expected = 0;
  uint64_t deliveries = 0;  // Distinct messages received, over receivers.
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t out_of_order = 0;
  uint64_t unknown = 0;
  uint64_t sent = 0;
  double elapsed_s = 0;
  Histogram latency;
  double server_cpu_s = -1;  // -1: unknown. Summed over server_pids.
  double client_cpu_s = 0;
  int server_pid = 0;            // The first of server_pids; 0: unknown.
  std::vector<int> server_pids;  // Each sampled process once.
  // With several servers (SeveralServers), the members each got; the
  // summary and the JSON list them. Empty with one server.
  std::vector<ServerShare> servers;
  // Receivers that got every message once but in another interleaving of
  // the senders' messages than the first such receiver.
  uint64_t order_mismatch = 0;
  std::string failure;  // Why the run did not complete, if it did not.
  // Receivers that missed messages because their connection ended, and the
  // first one's reason.
  size_t disconnected = 0;
  std::string disconnected_why;

  // Every delivery arrived once, in order, and the run completed.
  bool ok() const {
    return failure.empty() && lost == 0 && duplicated == 0 &&
           out_of_order == 0 && unknown == 0 && order_mismatch == 0;
  }
};

// LoadJson
//
// The --json report of a load run: one JSON object, no newline.
//
//   {"transport":"grpc","receivers":10,...,"ok":true,"failure":""}
//
// With several servers (r.servers not empty), three keys follow:
// "servers" (a list of {"transport","address","members","pid"}),
// "server_pids" and "order_mismatch".
std::string LoadJson(const Options& o, const LoadReport& r);

// PrintLoadReport
//
// Prints the report of a load run on stdout (LoadJson with --json, else the
// summary), and on stderr why it failed, if it did. Returns the exit code:
// 0 when r.ok(), else 1.
int PrintLoadReport(const Options& o, const LoadReport& r);

// IdleReport: what an --idle run measured.
struct IdleReport {
  double connect_s = 0;  // Opening every connection.
  double join_s = 0;     // Until every member was welcomed.
  int server_pid = 0;
  std::vector<int> server_pids;      // Summed over, each once.
  std::vector<ServerShare> servers;  // As in LoadReport.
  bool server_known = false;         // The servers' two samples worked.
  double server_rss_before_kib = 0;
  double server_rss_after_kib = 0;
  double server_kib_per_member = -1;  // -1: unknown.
  double server_cpu_s = -1;           // -1: unknown.
  double client_cpu_s = 0;
  double client_kib_per_member = 0;
};

// IdleJson
//
// The --json report of an --idle run: one JSON object, no newline.
std::string IdleJson(const Options& o, const IdleReport& r);

// PrintIdleReport
//
// Prints the report of an --idle run on stdout (IdleJson with --json, else
// the summary).
void PrintIdleReport(const Options& o, const IdleReport& r);

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_REPORT_H_

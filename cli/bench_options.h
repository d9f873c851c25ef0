// chatctl bench's options: its flags (absl flags, parsed by ParseArgs in
// cli/args.h like every chatctl command's), their help, and the checked
// Options a run reads. The flags are read once, by ParseOptions; nothing
// else in the bench reads a flag.
#ifndef CHATROOM_CLI_BENCH_OPTIONS_H_
#define CHATROOM_CLI_BENCH_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cli/args.h"

namespace chat {
namespace bench {

// Options: one run's settings, checked.
struct Options {
  std::string transport = "grpc";  // grpc, tcp, ws or mixed (grpc + tcp).
  int receivers = 10;
  int senders = 1;
  uint64_t messages = 1000;  // Per sender.
  size_t size = 64;
  double rate = 0;      // Total messages per second; 0: windowed.
  double duration = 0;  // Seconds; with --rate, sets --messages.
  double timeout = 120;
  int window = 500;
  // --server, else $CHATCTL_SERVER, else the default; as given.
  std::string server;
  bool tls = false;    // Every member over TLS (--tls, --tls_ca).
  std::string tls_ca;  // Empty: the system's CAs.
  std::string legacy_server = "127.0.0.1:5000";
  std::string http_server = "127.0.0.1:8080";
  int channels = 0;  // 0: one per gRPC member.
  int tcp_threads = 1;
  int ws_threads = 1;
  bool json = false;
  bool progress = true;
  int connections = 0;
  bool idle = false;
  int rooms = 1;          // --idle: members spread over this many rooms.
  int join_window = 200;  // Members connected but not yet joined, at most.
  double hold = 1;        // --idle: seconds to hold the members before RSS.
  std::string room = "bench";
  int server_pid = 0;  // 0: find the process listening on the port.
  // server, legacy_server and http_server split at commas (each entry
  // checked): a transport's members go round-robin over its list.
  std::vector<std::string> servers = {"127.0.0.1:50051"};
  std::vector<std::string> legacy_servers = {"127.0.0.1:5000"};
  std::vector<std::string> http_servers = {"127.0.0.1:8080"};
};

// Seconds: the value of --duration, --timeout and --hold, a number of
// seconds with an optional "s": "10", "2.5s".
struct Seconds {
  double value = 0;
};
bool AbslParseFlag(absl::string_view text, Seconds* seconds,
                   std::string* error);
std::string AbslUnparseFlag(Seconds seconds);

// BenchCommand
//
// "bench" as ParseArgs and UsageError (cli/args.h) see it: its synopsis and
// the flags it accepts.
const Command& BenchCommand();

// PrintBenchHelp
//
// Prints chatctl bench --help: the synopsis and every flag with its default.
void PrintBenchHelp(FILE* out);

// ParseOptions
//
// Parses `args`, the arguments after "bench", with ParseArgs, and checks
// them into *options. When they ask for TLS (--tls, --tls_ca), calls UseTls
// (cli/tls_client.h), whose failure (an unreadable CA file) is a problem
// here too. Leaves chatctl's flags as it found them. Returns
// INVALID_ARGUMENT with the problem, for UsageError; for --help, OK with
// *help set and *options untouched.
absl::Status ParseOptions(const std::vector<std::string>& args,
                          Options* options, bool* help);

// How one member connects.
enum class Transport { kGrpc, kTcp, kWs };

// TransportOf
//
// How member `index` (of the receivers, of the senders, or of the idle
// members) connects: mixed alternates TCP and gRPC.
Transport TransportOf(const Options& o, int index);

// ServersOf
//
// The list members of `transport` connect to: servers, legacy_servers or
// http_servers.
const std::vector<std::string>& ServersOf(const Options& o,
                                          Transport transport);

// SeveralServers
//
// Whether the lists that the run's transports use hold more than one
// address: then the report says how many members went to each.
bool SeveralServers(const Options& o);

// SplitHostPort
//
// Splits "HOST:PORT" or "[V6]:PORT" into the host (without brackets) and a
// port in 1..65535. False when `addr` has no such form.
bool SplitHostPort(const std::string& addr, std::string* host, int* port);

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_OPTIONS_H_

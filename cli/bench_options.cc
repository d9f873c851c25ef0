#include "cli/bench_options.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/marshalling.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cli/client.h"
#include "cli/tls_client.h"
#include "cli/tls_flags.h"

// chatctl bench's own flags. It shares --server, --room and --json
// (cli/args.h) and --tls, --tls_ca (cli/tls_flags.h) with the other
// commands. The help below is for absl's reflection; chatctl bench --help
// prints kDetails.
ABSL_FLAG(std::string, transport, "grpc",
          "how members connect: grpc, tcp, ws or mixed (grpc and tcp)");
ABSL_FLAG(int, receivers, 10, "members that receive and check every message");
ABSL_FLAG(int, senders, 1, "members that post");
ABSL_FLAG(uint64_t, messages, 1000, "messages each sender posts");
ABSL_FLAG(uint64_t, size, 64, "bytes of message text");
ABSL_FLAG(double, rate, 0,
          "total messages/s; 0 = as fast as the server takes them");
ABSL_FLAG(chat::bench::Seconds, duration, chat::bench::Seconds{0},
          "seconds to post for at --rate (sets --messages)");
ABSL_FLAG(chat::bench::Seconds, timeout, chat::bench::Seconds{120},
          "seconds before the run gives up");
ABSL_FLAG(int, window, 500,
          "messages in flight (posted, not yet received by the slowest "
          "receiver)");
ABSL_FLAG(std::string, legacy_server, "127.0.0.1:5000",
          "TCP line port address");
ABSL_FLAG(std::string, http_server, "127.0.0.1:8080",
          "HTTP port address (WebSocket at /ws)");
ABSL_FLAG(int, channels, 0, "gRPC connections the members share; 0 = one each");
ABSL_FLAG(int, tcp_threads, 1, "epoll threads for TCP members");
ABSL_FLAG(int, ws_threads, 1, "io threads for WebSocket members");
ABSL_FLAG(int, join_window, 200,
          "members connecting at once (connected, not yet joined)");
ABSL_FLAG(int, server_pid, 0,
          "chat-service's pid, for its CPU and memory; 0 = the process "
          "listening on the server's port");
ABSL_FLAG(bool, progress, true, "print progress on stderr each second");
ABSL_FLAG(bool, idle, false,
          "open --connections members that just sit: join time, server "
          "memory per member");
ABSL_FLAG(int, connections, 0, "--idle: how many members");
ABSL_FLAG(int, rooms, 1, "--idle: the rooms the members spread over");
ABSL_FLAG(chat::bench::Seconds, hold, chat::bench::Seconds{1},
          "--idle: seconds to hold the members before measuring memory");

namespace chat {
namespace bench {
namespace {

constexpr char kSynopsis[] =
    "chatctl bench [--transport=grpc|tcp|ws|mixed] [--receivers=N]\n"
    "         [--senders=S] [--messages=M] [--size=BYTES] [--rate=R]\n"
    "         [--duration=SECONDS] [--timeout=SECONDS] [--window=W]\n"
    "         [--server=HOST:PORT[,...]] [--legacy_server=HOST:PORT[,...]]\n"
    "         [--http_server=HOST:PORT[,...]] [--channels=K] "
    "[--tcp_threads=T]\n"
    "         [--ws_threads=T] [--room=ROOM] [--server_pid=PID] [--json]\n"
    "         [--noprogress] [--tls] [--tls_ca=PEM]\n"
    "       chatctl bench --idle --connections=N [--rooms=R] [--hold=SECONDS]\n"
    "         [--transport=...] [--server=...] [--legacy_server=...]\n"
    "         [--http_server=...]";

constexpr char kDetails[] =
    "Simulates a room on a running chat-service and checks every delivery:\n"
    "  --transport   how members connect: grpc, tcp (the legacy line port),\n"
    "                ws (WebSocket at the HTTP port's /ws), or mixed\n"
    "                (grpc and tcp, alternating)                  [grpc]\n"
    "  --receivers   members that receive and check every message   [10]\n"
    "  --senders     members that post                               [1]\n"
    "  --messages    messages each sender posts                   [1000]\n"
    "  --size        bytes of message text                          [64]\n"
    "  --rate        total messages/s; 0 = as fast as the server takes\n"
    "                them, with at most --window in flight           [0]\n"
    "  --duration    seconds to post for at --rate (sets --messages)\n"
    "  --timeout     seconds before the run gives up               [120]\n"
    "  --window      messages in flight (posted, not yet received by\n"
    "                the slowest receiver)                         [500]\n"
    "  --server      gRPC address [$CHATCTL_SERVER or 127.0.0.1:50051];\n"
    "                --server, --legacy_server and --http_server may each\n"
    "                list several, HOST:PORT,HOST:PORT,... (nodes sharing\n"
    "                rooms): a transport's members, receivers then senders,\n"
    "                go round-robin over its list, and the report says how\n"
    "                many went to each. Every check still holds: each\n"
    "                receiver must get every message once, in each sender's\n"
    "                order, and all receivers one interleaving. Servers that\n"
    "                do not share rooms therefore fail the run.\n"
    "  --tls         gRPC and tcp members (not ws) connect with TLS,\n"
    "                trusting the system's CAs;\n"
    "                the certificate must name the host of --server\n"
    "                (gRPC) or --legacy_server (tcp). For tcp, point\n"
    "                --legacy_server at the TLS line port: chat-service\n"
    "                --tls_cert=C --tls_key=K --legacy_tls_addr=ADDR, whose\n"
    "                ready line says legacy_tls=HOST:PORT\n"
    "  --tls_ca      ... trusting this CA's PEM file (implies --tls)\n"
    "  --legacy_server  TCP line port address           [127.0.0.1:5000]\n"
    "  --http_server HTTP port address (WebSocket at /ws) [127.0.0.1:8080]\n"
    "  --channels    gRPC connections the members share (per server);\n"
    "                0 = one each                                    [0]\n"
    "  --tcp_threads epoll threads for TCP members                   [1]\n"
    "  --ws_threads  io threads for WebSocket members                [1]\n"
    "  --join_window members connecting at once (connected, not yet\n"
    "                joined)                                       [200]\n"
    "  --room        the room                                    [bench]\n"
    "  --server_pid  chat-service's pid, for its CPU and memory; 0 = the\n"
    "                process listening on the server's port (with several\n"
    "                servers, each on this machine, summed; unknown if one\n"
    "                is not found)                                   [0]\n"
    "  --json        print one JSON object instead of the summary\n"
    "  --idle --connections=N  open N members that just sit: join time,\n"
    "                server memory per member; --rooms spreads them   [1]\n"
    "Exit status: 0 every delivery checked, 1 loss, duplication,\n"
    "reordering or errors, 2 bad usage.\n";

absl::Status Bad(absl::string_view problem) {
  return absl::InvalidArgumentError(problem);
}

// Puts bench's flags back as they were when it was made. (absl::FlagSaver
// would too, but Debian's Abseil logs a line on stderr for each flag it
// restores.)
class FlagRestorer {
 public:
  explicit FlagRestorer(const std::vector<const char*>& names) {
    for (const char* name : names) {
      if (absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name)) {
        saved_.push_back({flag, flag->CurrentValue()});
      }
    }
  }
  ~FlagRestorer() {
    std::string error;
    for (const Saved& s : saved_) s.flag->ParseFrom(s.value, &error);
  }

  FlagRestorer(const FlagRestorer&) = delete;
  FlagRestorer& operator=(const FlagRestorer&) = delete;

 private:
  struct Saved {
    absl::CommandLineFlag* flag;
    std::string value;
  };
  std::vector<Saved> saved_;
};

}  // namespace

bool AbslParseFlag(absl::string_view text, Seconds* seconds,
                   std::string* error) {
  absl::ConsumeSuffix(&text, "s");
  if (!absl::SimpleAtod(text, &seconds->value)) {
    *error = "not a number of seconds";
    return false;
  }
  return true;
}

std::string AbslUnparseFlag(Seconds seconds) {
  return absl::UnparseFlag(seconds.value);  // Reads back the same.
}

const Command& BenchCommand() {
  static const auto* command =
      new Command{"bench",
                  kSynopsis,
                  "load-test a chat-service",
                  kDetails,
                  {"transport",     "receivers",   "senders",  "messages",
                   "size",          "rate",        "duration", "timeout",
                   "window",        "server",      "tls",      "tls_ca",
                   "legacy_server", "http_server", "channels", "tcp_threads",
                   "ws_threads",    "join_window", "room",     "server_pid",
                   "json",          "progress",    "idle",     "connections",
                   "rooms",         "hold"}};
  return *command;
}

void PrintBenchHelp(FILE* out) {
  std::fprintf(out, "usage: %s\n%s", kSynopsis, kDetails);
}

absl::Status ParseOptions(const std::vector<std::string>& args,
                          Options* options, bool* help) {
  // The flags are read into Options below; they go back to what they were
  // on return (a test runs many benches in one process).
  const FlagRestorer restorer(BenchCommand().flags);
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(BenchCommand(), args);
  if (!parsed.ok()) return parsed.status();
  *help = parsed->help;
  if (parsed->help) return absl::OkStatus();
  if (!parsed->positional.empty()) {
    return Bad(
        absl::StrCat("unexpected argument \"", parsed->positional[0], "\""));
  }

  Options o;
  o.transport = absl::GetFlag(FLAGS_transport);
  if (o.transport != "grpc" && o.transport != "tcp" && o.transport != "ws" &&
      o.transport != "mixed") {
    return Bad("--transport must be grpc, tcp, ws or mixed");
  }
  o.receivers = absl::GetFlag(FLAGS_receivers);
  if (o.receivers < 0) return Bad("--receivers must be 0 or more");
  o.senders = absl::GetFlag(FLAGS_senders);
  if (o.senders < 1) return Bad("--senders must be at least 1");
  o.messages = absl::GetFlag(FLAGS_messages);
  if (o.messages < 1) return Bad("--messages must be at least 1");
  o.size = static_cast<size_t>(absl::GetFlag(FLAGS_size));
  if (o.size < 1) return Bad("--size must be at least 1");
  o.rate = absl::GetFlag(FLAGS_rate);
  if (!(o.rate >= 0)) return Bad("--rate must be 0 or more");
  o.duration = absl::GetFlag(FLAGS_duration).value;
  if (Given(*parsed, "duration") && !(o.duration > 0)) {
    return Bad("--duration must be more than 0");
  }
  o.timeout = absl::GetFlag(FLAGS_timeout).value;
  if (!(o.timeout > 0)) return Bad("--timeout must be more than 0");
  o.window = absl::GetFlag(FLAGS_window);
  if (o.window < 1) return Bad("--window must be at least 1");
  o.server = absl::GetFlag(FLAGS_server);
  const char* server_source =
      o.server.empty() && DefaultServer() != kDefaultServer ? "$CHATCTL_SERVER"
                                                            : "--server";
  if (o.server.empty()) o.server = DefaultServer();
  o.tls_ca = absl::GetFlag(FLAGS_tls_ca);
  o.tls = absl::GetFlag(FLAGS_tls) || Given(*parsed, "tls_ca");
  o.legacy_server = absl::GetFlag(FLAGS_legacy_server);
  o.http_server = absl::GetFlag(FLAGS_http_server);
  // Members go round-robin over each list (see ServersOf).
  for (auto [list, out, source] :
       {std::make_tuple(&o.server, &o.servers, server_source),
        std::make_tuple(&o.legacy_server, &o.legacy_servers, "--legacy_server"),
        std::make_tuple(&o.http_server, &o.http_servers, "--http_server")}) {
    absl::StatusOr<std::vector<std::string>> parsed_list =
        ParseServerList(*list, source);
    if (!parsed_list.ok()) return Bad(parsed_list.status().message());
    *out = *std::move(parsed_list);
  }
  o.channels = absl::GetFlag(FLAGS_channels);
  if (o.channels < 0) return Bad("--channels must be 0 or more");
  o.tcp_threads = absl::GetFlag(FLAGS_tcp_threads);
  if (o.tcp_threads < 1 || o.tcp_threads > 64) {
    return Bad("--tcp_threads must be 1 to 64");
  }
  o.ws_threads = absl::GetFlag(FLAGS_ws_threads);
  if (o.ws_threads < 1 || o.ws_threads > 64) {
    return Bad("--ws_threads must be 1 to 64");
  }
  o.json = absl::GetFlag(FLAGS_json);
  o.progress = absl::GetFlag(FLAGS_progress);
  o.connections = absl::GetFlag(FLAGS_connections);
  if (Given(*parsed, "connections") && o.connections < 1) {
    return Bad("--connections must be at least 1");
  }
  o.idle = absl::GetFlag(FLAGS_idle);
  o.rooms = absl::GetFlag(FLAGS_rooms);
  if (o.rooms < 1) return Bad("--rooms must be at least 1");
  o.join_window = absl::GetFlag(FLAGS_join_window);
  if (o.join_window < 1) return Bad("--join_window must be at least 1");
  o.hold = absl::GetFlag(FLAGS_hold).value;
  if (!(o.hold >= 0)) return Bad("--hold must be 0 or more");
  o.room = absl::GetFlag(FLAGS_room);
  if (o.room.empty()) {
    if (Given(*parsed, "room")) return Bad("--room must not be empty");
    o.room = "bench";
  }
  o.server_pid = absl::GetFlag(FLAGS_server_pid);
  if (o.server_pid < 0) return Bad("--server_pid must be 0 or more");

  if (o.tls) {
    if (absl::Status tls = UseTls(o.tls_ca); !tls.ok())
      return Bad(tls.message());
    // The TCP members share one TLS context, which checks one host name.
    const bool tcp = o.transport == "tcp" || o.transport == "mixed";
    std::string first_host, host;
    int port = 0;
    for (const std::string& addr : o.legacy_servers) {
      if (!tcp || !SplitHostPort(addr, &host, &port)) continue;
      if (first_host.empty()) first_host = host;
      if (host != first_host) {
        return Bad(
            "--tls: the --legacy_server entries must all be on one host "
            "(the TCP members' certificate check names one)");
      }
    }
  }
  if (o.idle && o.connections == 0) return Bad("--idle needs --connections=N");
  if (!o.idle && o.receivers == 0) return Bad("--receivers must be at least 1");
  if (o.duration > 0) {
    if (o.rate <= 0) return Bad("--duration needs --rate");
    o.messages = std::max<uint64_t>(
        1, static_cast<uint64_t>(o.rate * o.duration / o.senders + 0.5));
  }
  *options = std::move(o);
  return absl::OkStatus();
}

Transport TransportOf(const Options& o, int index) {
  if (o.transport == "tcp") return Transport::kTcp;
  if (o.transport == "ws") return Transport::kWs;
  if (o.transport == "grpc") return Transport::kGrpc;
  return index % 2 == 0 ? Transport::kTcp : Transport::kGrpc;
}

const std::vector<std::string>& ServersOf(const Options& o,
                                          Transport transport) {
  switch (transport) {
    case Transport::kTcp:
      return o.legacy_servers;
    case Transport::kWs:
      return o.http_servers;
    case Transport::kGrpc:
      break;
  }
  return o.servers;
}

bool SeveralServers(const Options& o) {
  const bool grpc = o.transport == "grpc" || o.transport == "mixed";
  const bool tcp = o.transport == "tcp" || o.transport == "mixed";
  const bool ws = o.transport == "ws";
  return (grpc && o.servers.size() > 1) ||
         (tcp && o.legacy_servers.size() > 1) ||
         (ws && o.http_servers.size() > 1);
}

bool SplitHostPort(const std::string& addr, std::string* host, int* port) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  *host = addr.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::SimpleAtoi(addr.substr(colon + 1), port) && *port > 0 &&
         *port < 65536;
}

}  // namespace bench
}  // namespace chat

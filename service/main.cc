// chat-service: the chat server. Serves the chat.v1.ChatRoom gRPC service
// (with health and reflection), the legacy TCP line port and the HTTP port
// (the chat page and a WebSocket), all into one room core, whose rooms' logs
// live in memory or, with --data_dir, in the store. Prints one "chat-service
// ready ..." line to stdout once listening; logs to stderr; SIGINT/SIGTERM shut
// it down cleanly; SIGHUP reloads the TLS certificate (--tls_cert).
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "legacy_tcp/legacy_flags.h"
#include "metrics/metrics_flags.h"
#include "net/tls_flags.h"
#include "redis/redis_flags.h"
#include "service/auth_flags.h"
#include "service/fd_limit_flags.h"
#include "service/flag_types.h"
#include "service/grpc_flags.h"
#include "service/listener.h"
#include "service/log.h"
#include "service/room.h"
#include "service/sd_notify.h"
#include "service/std_fds.h"
#include "store/sqlite_log.h"
#include "web/web_flags.h"

ABSL_FLAG(size_t, max_message_bytes, 4096,
          "Longest message accepted, in bytes.");
ABSL_FLAG(size_t, history_events, 1000,
          "Events kept per room for replay and history (in memory, and in "
          "the store with --data_dir).");
ABSL_FLAG(chat::ByteSize, history_memory, chat::ByteSize{256 << 20},
          "History held in memory across all rooms (e.g. 256MiB, 1GiB; 0: no "
          "limit); the least recently active rooms' history goes first. With "
          "--data_dir it is a cache: evicted history is read back from the "
          "store.");
ABSL_FLAG(std::string, data_dir, "",
          "Directory of the store: room history and seqs survive a restart. "
          "Empty: history in memory only.");
ABSL_FLAG(std::string, sync, "batch",
          "With --data_dir: when events reach the disk. every: before anyone "
          "sees them (nothing acknowledged is lost, even on power loss); "
          "batch: written before anyone sees them, flushed to disk every "
          "10 ms; none: written, flushed when the OS decides.");
ABSL_FLAG(chat::Age, history_age, chat::Age{},
          "With --data_dir: also drop stored events older than this (e.g. "
          "7d, 12h; 0 keeps by --history_events only).");
ABSL_FLAG(size_t, outbox_events, 1024,
          "Events queued for one member before it is dropped as too slow.");
ABSL_FLAG(size_t, outbox_bytes, 1 << 20,
          "Bytes queued for one member before it is dropped as too slow.");
ABSL_FLAG(size_t, max_rooms, 10000,
          "Most rooms held; empty rooms are forgotten to make space.");
ABSL_FLAG(size_t, max_members_per_room, 10000,
          "Most members in one room; a full room refuses joins.");
ABSL_FLAG(size_t, max_rooms_per_ip, 100,
          "Most rooms one client address may hold open at a time (rooms it "
          "entered empty, until they are empty again); 0: no limit.");
ABSL_FLAG(double, flood_rate, 5,
          "Flood control: messages (and renames, room moves) a member may "
          "send per second after a burst of --flood_burst. Over it, a "
          "message is refused with a notice that says when to try again; a "
          "member that keeps sending far over it (5x for 10 s) is "
          "disconnected. 0 turns flood control off (benchmarks and stress "
          "tests do).");
ABSL_FLAG(uint32_t, flood_burst, 10,
          "Flood control: messages a member may send at once before "
          "--flood_rate applies.");
ABSL_FLAG(absl::Duration, client_id_window, absl::Minutes(10),
          "How long a room remembers the client id of a message (Say."
          "client_id), so that the same message sent again (a client that "
          "reconnected and cannot tell whether it was posted) is answered "
          "with the seq it was posted under instead of being posted twice "
          "(e.g. 10m, 1h; 0: ids are not remembered). At most 16384 ids a "
          "room and 1048576 in all are kept, oldest forgotten first; with "
          "--data_dir they survive a restart.");
ABSL_FLAG(chat::LogLevel, log_level, chat::LogLevel::kInfo,
          "The least important log lines written to stderr: debug, info, "
          "warning or error. One line per event (a join, a leave, a "
          "refusal, a store or TLS change; never one per message), as "
          "key=value fields.");

namespace chat {
namespace {

// Opens the rooms' logs: Redis with --redis, the store in --data_dir, else
// memory (null).
absl::StatusOr<std::unique_ptr<LogBackend>> OpenLogs(const HubOptions& hub) {
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  if (RedisFlagSet()) {
    if (!dir.empty()) {
      return absl::InvalidArgumentError(
          "--redis and --data_dir: choose one (with --redis, history lives "
          "in Redis)");
    }
    return MakeRedisLogsFromFlags(hub);
  }
  if (dir.empty()) return nullptr;
  StoreOptions options;
  options.dir = dir;
  absl::StatusOr<SyncMode> sync = ParseSyncMode(absl::GetFlag(FLAGS_sync));
  if (!sync.ok()) return sync.status();
  options.sync = *sync;
  options.history_events = hub.history_events;
  options.history_memory = hub.history_memory;
  options.history_age = absl::GetFlag(FLAGS_history_age).duration;
  absl::StatusOr<std::unique_ptr<StoreBackend>> store =
      StoreBackend::Open(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<LogBackend>(*std::move(store));
}

// One transport on the ready line: its listener, or null when turned off.
struct Transport {
  std::string name;
  std::unique_ptr<Listener> listener;
  // Whether the ready line says NAME=off when it is off.
  bool listed_when_off = true;
};

// The transports, in ready-line order. A new transport is a folder with a
// Listener (and its flags) and a line here.
std::vector<Transport> MakeTransports(Hub* hub) {
  std::vector<Transport> transports;
  transports.push_back({"grpc", MakeGrpcListenerFromFlags(hub)});
  transports.push_back({"legacy", MakeLegacyListenerFromFlags(hub)});
  transports.push_back({"legacy_tls", MakeLegacyTlsListenerFromFlags(hub)});
  transports.push_back({"http", MakeWebListenerFromFlags(hub)});
  // Not a transport, but started, listed and stopped like one; appended to
  // the ready line only when on (--metrics_addr).
  transports.push_back({"metrics", MakeMetricsListenerFromFlags(hub),
                        /*listed_when_off=*/false});
  return transports;
}

// --help lists chat-service's own flags (not Abseil's), named by their file
// in the source tree; --version prints the version.
void SetFlagsUsage() {
  absl::FlagsUsageConfig usage;
  usage.normalize_filename = [](absl::string_view file) {
    absl::ConsumePrefix(&file, CHAT_SOURCE_DIR);
    return std::string(file);
  };
  usage.contains_help_flags = [](absl::string_view file) {
    return !absl::StrContains(file, "absl/");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] {
    return std::string("chat-service " CHAT_VERSION "\n");
  };
  absl::SetFlagsUsageConfig(usage);
}

int Run() {
  // Debian's Abseil runs deadlock detection on every mutex, gRPC's included.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // Reloads the TLS certificate.
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Every connection holds a descriptor: raise the limit, fit the caps.
  if (absl::Status s = FitConnectionCapsToFdLimit(); !s.ok()) {
    std::fprintf(stderr, "chat-service: %s\n",
                 std::string(s.message()).c_str());
    return 1;
  }

  // TLS: the files are read now, so a bad one stops the start.
  absl::StatusOr<std::shared_ptr<TlsContext>> tls = TlsContextFromFlags();
  absl::Status tls_flags =
      tls.ok() ? CheckLegacyTlsFlags(*tls != nullptr) : tls.status();
  if (!tls_flags.ok()) {
    std::fprintf(stderr, "chat-service: %s\n",
                 std::string(tls_flags.message()).c_str());
    return 1;
  }
  if (*tls != nullptr) {
    Log(LogLevel::kInfo, "tls: serving certificate",
        {{"cert", (*tls)->Describe()}});
  }

  HubOptions options;
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.history_events = absl::GetFlag(FLAGS_history_events);
  options.outbox_events = absl::GetFlag(FLAGS_outbox_events);
  options.outbox_bytes = absl::GetFlag(FLAGS_outbox_bytes);
  options.max_rooms = absl::GetFlag(FLAGS_max_rooms);
  options.max_members_per_room = absl::GetFlag(FLAGS_max_members_per_room);
  options.max_rooms_per_ip = absl::GetFlag(FLAGS_max_rooms_per_ip);
  options.flood_rate = absl::GetFlag(FLAGS_flood_rate);
  options.flood_burst = absl::GetFlag(FLAGS_flood_burst);
  if (options.flood_rate < 0) {
    std::fprintf(stderr, "chat-service: --flood_rate must be 0 or more\n");
    return 1;
  }
  options.client_id_window = absl::GetFlag(FLAGS_client_id_window);
  if (options.client_id_window < absl::ZeroDuration()) {
    std::fprintf(stderr,
                 "chat-service: --client_id_window must be 0 or more\n");
    return 1;
  }
  options.history_memory = absl::GetFlag(FLAGS_history_memory).bytes;
  absl::StatusOr<std::shared_ptr<const Authenticator>> auth =
      AuthenticatorFromFlags();
  if (!auth.ok()) {
    std::fprintf(stderr, "chat-service: %s\n",
                 std::string(auth.status().message()).c_str());
    return 1;
  }
  options.auth = *std::move(auth);
  absl::StatusOr<std::unique_ptr<LogBackend>> logs = OpenLogs(options);
  if (!logs.ok()) {
    std::fprintf(stderr, "chat-service: %s\n",
                 std::string(logs.status().message()).c_str());
    return 1;
  }
  Hub hub(options, *std::move(logs));

  std::vector<Transport> transports = MakeTransports(&hub);
  std::string ready = "chat-service ready";
  for (Transport& t : transports) {
    if (t.listener == nullptr) {
      if (t.listed_when_off) absl::StrAppend(&ready, " ", t.name, "=off");
      continue;
    }
    if (absl::Status s = t.listener->Start(); !s.ok()) {
      std::fprintf(stderr, "chat-service: %s\n",
                   std::string(s.message()).c_str());
      for (Transport& started : transports) {
        if (started.listener) started.listener->Shutdown(absl::ZeroDuration());
      }
      return 1;
    }
    absl::StrAppend(&ready, " ", t.name, "=", t.listener->address());
  }
  std::printf("%s\n", ready.c_str());
  std::fflush(stdout);
  NotifySystemd(absl::StrCat("READY=1\nSTATUS=", ready));

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    if (*tls == nullptr) {
      Log(LogLevel::kWarning, "SIGHUP: no TLS certificate to reload");
      continue;
    }
    absl::StatusOr<std::string> reloaded = (*tls)->Reload();
    if (reloaded.ok()) {
      Log(LogLevel::kInfo, "tls: reloaded certificate", {{"cert", *reloaded}});
    } else {
      Log(LogLevel::kError, "tls: reload failed, keeping the old certificate",
          {{"error", reloaded.status().message()}});
    }
  }
  Log(LogLevel::kInfo, "shutting down",
      {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  // Members get the notice and their outboxes close; the transports then
  // flush and end their connections, in parallel. gRPC waits for streams
  // whose clients keep their side open until the deadline, then cancels
  // them: the process exits within about 1 s either way.
  NotifySystemd("STOPPING=1");
  hub.Shutdown("chat-service is shutting down");
  std::vector<std::thread> stopping;
  for (Transport& t : transports) {
    if (t.listener == nullptr) continue;
    stopping.emplace_back(
        [&t] { t.listener->Shutdown(absl::Milliseconds(1000)); });
  }
  for (std::thread& thread : stopping) thread.join();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace chat

int main(int argc, char** argv) {
  // Already done before any library initialized (service/std_fds.h); said
  // here as what everything below relies on.
  chat::ReopenClosedStdFds();
  absl::SetProgramUsageMessage(
      "chat-service [--grpc_addr=HOST:PORT] [--legacy_addr=HOST:PORT] "
      "[--http_addr=HOST:PORT] [limits...]\nA chat server: the "
      "chat.v1.ChatRoom gRPC service, a legacy TCP line port and a web page "
      "with a WebSocket, sharing one set of rooms.");
  chat::SetFlagsUsage();
  absl::ParseCommandLine(argc, argv);
  chat::SetLogLevel(absl::GetFlag(FLAGS_log_level));
  return chat::Run();
}

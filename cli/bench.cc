// chatctl bench: simulates a room against a running chat-service and checks
// every delivery.
//
// Members: receivers (counted and checked), senders (post the messages and
// drain what they receive), or idle members (--idle). Over TCP, every
// connection is served by epoll threads (--tcp_threads) and senders write
// from the pacer thread (over TLS, --tls, they queue their lines for the
// epoll threads, which alone touch a connection's SSL: bench_tls.h); over gRPC,
// every member is a callback-API reactor, spread over --channels connections;
// over WebSocket (bench_ws.h), every connection is served by Asio io threads
// (--ws_threads) and senders queue their frames for them.
//
// A run: connect and join everyone, post sync markers until every receiver
// has seen one (so the clock starts with everyone in the room), then the
// pacer thread hands out messages (at --rate, or with at most --window in
// flight: sent but not yet received by the slowest receiver), while the main
// thread prints progress and waits until every receiver has every message,
// the run stalls or --timeout passes.
//
// The parts: bench_options.h (flags), bench_proc.h (the server's CPU and
// memory), bench_member.h (what every member shares), bench_tcp.h,
// bench_grpc.h and bench_ws.h (the members), bench_stats.h (the checks),
// bench_report.h (the summary and the JSON). This file is the run.
#include "cli/bench.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/bench_grpc.h"
#include "cli/bench_member.h"
#include "cli/bench_options.h"
#include "cli/bench_proc.h"
#include "cli/bench_report.h"
#include "cli/bench_stats.h"
#include "cli/bench_tcp.h"
#include "cli/bench_tls.h"
#include "cli/bench_ws.h"
#include "cli/commands.h"

namespace chat {
namespace bench {
namespace {

// WsSender: posts through one WebSocket member (bench_ws.h), whose io thread
// writes the frames.
class WsSender final : public Sender {
 public:
  WsSender(uint32_t run, uint32_t index, size_t size, WsMembers* members,
           WsMembers::Conn* conn)
      : Sender(run, index, size), members_(members), conn_(conn) {}

  void Send(uint64_t n) override {
    texts_.resize(n);
    for (std::string& text : texts_) {
      text.clear();
      NextText(&text);
    }
    members_->Say(conn_, texts_);
  }

  void SendSync(uint64_t token) override {
    texts_.assign(1, SyncText(run_, token));
    members_->Say(conn_, texts_);
  }

 private:
  WsMembers* const members_;
  WsMembers::Conn* const conn_;
  std::vector<std::string> texts_;  // Reused: their buffers stay.
};

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kTcp:
      return "tcp";
    case Transport::kWs:
      return "ws";
    case Transport::kGrpc:
      break;
  }
  return "grpc";
}

// The pid listening on `addr`'s port on this machine (0: none found).
int PidOf(const std::string& addr) {
  std::string host;
  int port;
  if (!SplitHostPort(addr, &host, &port)) return 0;
  return FindListeningPid(port);
}

// Spread: which server each member goes to, round-robin over its
// transport's list (ServersOf), and how many went to each. Main thread.
class Spread {
 public:
  explicit Spread(const Options& o) : o_(o) {
    for (Transport t : {Transport::kGrpc, Transport::kTcp, Transport::kWs}) {
      counts_[static_cast<int>(t)].assign(ServersOf(o, t).size(), 0);
    }
  }

  // The server (an index in ServersOf(o, t)) of the next member over `t`.
  size_t Next(Transport t) {
    std::vector<int>& counts = counts_[static_cast<int>(t)];
    const size_t server = next_[static_cast<int>(t)]++ % counts.size();
    ++counts[server];
    return server;
  }

  // Every listed server of the transports used, with its members and pid;
  // empty with one server (SeveralServers).
  std::vector<ServerShare> Shares() const {
    std::vector<ServerShare> shares;
    if (!SeveralServers(o_)) return shares;
    for (Transport t : {Transport::kGrpc, Transport::kTcp, Transport::kWs}) {
      if (next_[static_cast<int>(t)] == 0) continue;  // Not used.
      const std::vector<std::string>& list = ServersOf(o_, t);
      for (size_t i = 0; i < list.size(); ++i) {
        ServerShare share;
        share.transport = TransportName(t);
        share.address = list[i];
        share.members = counts_[static_cast<int>(t)][i];
        share.pid = PidOf(list[i]);
        shares.push_back(std::move(share));
      }
    }
    return shares;
  }

 private:
  const Options& o_;
  std::vector<int> counts_[3];  // Per Transport, per server.
  size_t next_[3] = {0, 0, 0};
};

// The servers' pids, for their CPU and memory, each once: --server_pid,
// else the processes listening on the ports of the servers the members
// use, those of `transports` (indexed by Transport). Empty when one of
// them cannot be found (a remote server): a partial sum would mislead.
std::vector<int> ResolveServerPids(const Options& o, const bool transports[3]) {
  if (o.server_pid > 0) return {o.server_pid};
  std::vector<int> pids;
  for (Transport t : {Transport::kGrpc, Transport::kTcp, Transport::kWs}) {
    if (!transports[static_cast<int>(t)]) continue;
    for (const std::string& addr : ServersOf(o, t)) {
      const int pid = PidOf(addr);
      if (pid <= 0) return {};
      if (std::find(pids.begin(), pids.end(), pid) == pids.end()) {
        pids.push_back(pid);
      }
    }
  }
  return pids;
}

// SampleProcess over every pid, summed; not ok unless each is.
ProcSample SampleAll(const std::vector<int>& pids) {
  ProcSample sum;
  sum.ok = !pids.empty();
  for (int pid : pids) {
    const ProcSample one = SampleProcess(pid);
    sum.ok = sum.ok && one.ok;
    sum.cpu_s += one.cpu_s;
    sum.rss_kib += one.rss_kib;
  }
  return sum;
}

class Progress {
 public:
  explicit Progress(bool on) : on_(on), tty_(isatty(2)) {}
  void Print(const std::string& line) {
    if (!on_) return;
    if (tty_) {
      std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    printed_ = true;
  }
  void Done() {
    if (on_ && tty_ && printed_) std::fprintf(stderr, "\n");
  }

 private:
  const bool on_;
  const bool tty_;
  bool printed_ = false;
};

// Waits until `ready()` or the deadline, printing progress. False on timeout.
template <typename Ready, typename Describe>
bool WaitFor(Ready ready, Describe describe, absl::Time deadline,
             Progress* progress) {
  absl::Time next_print = absl::Now() + absl::Seconds(1);
  while (!ready()) {
    if (absl::Now() > deadline) return false;
    if (absl::Now() >= next_print) {
      progress->Print(describe());
      next_print += absl::Seconds(1);
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// The member pools of a run; a pool is null when no member uses it.
struct Members {
  std::unique_ptr<TcpMembers> tcp;
  std::unique_ptr<GrpcMembers> grpc;
  std::unique_ptr<WsMembers> ws;

  size_t joined() const {
    return (tcp ? tcp->joined() : 0) + (grpc ? grpc->joined() : 0) +
           (ws ? ws->joined() : 0);
  }
  size_t ended() const {
    return (tcp ? tcp->closed() : 0) + (grpc ? grpc->ended() : 0) +
           (ws ? ws->closed() : 0);
  }
  // Ends every member. Main thread, once the pacer is gone.
  void Stop() {
    if (tcp) tcp->Stop();
    if (grpc) grpc->CancelAll(absl::Seconds(10));
    if (ws) ws->Stop();
  }
};

// Waits until fewer than --join_window of the `connected` members are still
// joining. False when the deadline passes or a connection ends first.
bool PaceJoins(const Options& o, size_t connected, const Members& members,
               absl::Time deadline) {
  for (;;) {
    if (connected < members.joined() + static_cast<size_t>(o.join_window)) {
      return true;
    }
    if (members.ended() > 0 || absl::Now() > deadline) return false;
    absl::SleepFor(absl::Microseconds(200));
  }
}

// Makes the pools for `count` members of each transport (indexed by
// Transport), resolving and starting the TCP and WebSocket ones. Returns
// false, having said why, when an address does not resolve.
bool StartMembers(const Options& o, const int count[3], Members* members) {
  std::string error;
  if (count[static_cast<int>(Transport::kTcp)] > 0) {
    std::unique_ptr<TlsClientContext> tls;
    if (o.tls) {
      // The certificate must name the host of --legacy_server.
      // One host for every entry (ParseOptions checks).
      std::string host;
      int port;
      if (!SplitHostPort(o.legacy_servers[0], &host, &port)) {
        std::fprintf(stderr, "chatctl bench: bad address \"%s\"\n",
                     o.legacy_servers[0].c_str());
        return false;
      }
      absl::StatusOr<std::unique_ptr<TlsClientContext>> made =
          TlsClientContext::Make(o.tls_ca, host);
      if (!made.ok()) {
        std::fprintf(stderr, "chatctl bench: %s\n",
                     std::string(made.status().message()).c_str());
        return false;
      }
      tls = std::move(*made);
    }
    members->tcp = std::make_unique<TcpMembers>(o.tcp_threads, std::move(tls));
    for (const std::string& addr : o.legacy_servers) {
      if (!members->tcp->Resolve(addr, &error)) {
        std::fprintf(stderr, "chatctl bench: %s\n", error.c_str());
        return false;
      }
    }
    members->tcp->Start();
  }
  if (const int n = count[static_cast<int>(Transport::kGrpc)]; n > 0) {
    members->grpc = std::make_unique<GrpcMembers>(o.servers, o.channels, n);
  }
  if (count[static_cast<int>(Transport::kWs)] > 0) {
    members->ws = std::make_unique<WsMembers>(o.ws_threads);
    for (const std::string& addr : o.http_servers) {
      if (!members->ws->Resolve(addr, &error)) {
        std::fprintf(stderr, "chatctl bench: %s\n", error.c_str());
        return false;
      }
    }
    members->ws->Start();
  }
  return true;
}

// Connects one member over `transport` to its server (`spread` picks it)
// as `name` in `room`, and asks it in:
// a receiver when `receiver` is set, a sender (made into *sender, posting as
// sender `sender_index`) when `sender` is set, else an idle member. False,
// with *error set, when it cannot connect.
bool AddMember(const Options& o, uint32_t run, Transport transport,
               const std::string& name, const std::string& room,
               Receiver* receiver, uint32_t sender_index,
               std::unique_ptr<Sender>* sender, Members* members,
               Spread* spread, std::string* error) {
  const size_t server = spread->Next(transport);
  switch (transport) {
    case Transport::kTcp: {
      TcpMembers::Conn* c =
          members->tcp->Connect(name, room, receiver, error, server);
      if (c == nullptr) return false;
      if (sender != nullptr) {
        *sender = std::make_unique<TcpSender>(run, sender_index, o.size, c);
      }
      return true;
    }
    case Transport::kGrpc: {
      GrpcMember* m = members->grpc->Add(run, sender_index, o.size, receiver,
                                         name, room, server);
      if (sender != nullptr) {
        *sender = std::make_unique<GrpcSender>(run, sender_index, o.size, m);
      }
      return true;
    }
    case Transport::kWs: {
      WsMembers::Conn* c =
          members->ws->Connect(name, room, receiver, error, server);
      if (c == nullptr) return false;
      if (sender != nullptr) {
        *sender = std::make_unique<WsSender>(run, sender_index, o.size,
                                             members->ws.get(), c);
      }
      return true;
    }
  }
  *error = "unknown transport";
  return false;
}

int RunLoad(const Options& o) {
  Progress progress(o.progress);
  const absl::Time deadline = absl::Now() + absl::Seconds(o.timeout);
  std::mt19937 rng(static_cast<uint32_t>(NowNs() ^ getpid()));
  const uint32_t run = 1 + rng() % 999999;
  const uint32_t senders = static_cast<uint32_t>(o.senders);

  int count[3] = {0, 0, 0};  // Members per Transport.
  for (int i = 0; i < o.receivers; ++i) {
    ++count[static_cast<int>(TransportOf(o, i))];
  }
  for (int i = 0; i < o.senders; ++i) {
    ++count[static_cast<int>(TransportOf(o, i))];
  }

  std::vector<std::unique_ptr<Receiver>> receivers;
  for (int i = 0; i < o.receivers; ++i) {
    receivers.push_back(std::make_unique<Receiver>(run, senders, o.messages));
  }
  Members members;
  if (!StartMembers(o, count, &members)) return 1;
  std::string error;
  Spread spread(o);

  // Join everyone: receivers first, then senders.
  const absl::Time join_start = absl::Now();
  std::vector<std::unique_ptr<Sender>> sender_list(senders);
  size_t connected = 0;
  auto pace = [&] {
    if (PaceJoins(o, connected++, members, deadline)) return true;
    std::string why;
    for (const auto& r : receivers) {
      if (r->ended()) {
        why = absl::StrCat(": a receiver's connection ended: ", r->ended_why());
        break;
      }
    }
    std::fprintf(stderr,
                 "chatctl bench: FAILED: members stopped joining after %zu "
                 "connections (a connection ended, or --timeout passed)%s\n",
                 connected, why.c_str());
    return false;
  };
  for (int i = 0; i < o.receivers; ++i) {
    if (!pace()) return 1;
    if (!AddMember(o, run, TransportOf(o, i), absl::StrCat("b", run, "r", i),
                   o.room, receivers[i].get(), 0, nullptr, &members, &spread,
                   &error)) {
      std::fprintf(stderr, "chatctl bench: %s\n", error.c_str());
      return 1;
    }
  }
  for (uint32_t i = 0; i < senders; ++i) {
    if (!pace()) return 1;
    if (!AddMember(o, run, TransportOf(o, i), absl::StrCat("b", run, "s", i),
                   o.room, nullptr, i, &sender_list[i], &members, &spread,
                   &error)) {
      std::fprintf(stderr, "chatctl bench: %s\n", error.c_str());
      return 1;
    }
  }

  // Sync: post markers until every receiver has seen one.
  uint64_t token = 0;
  absl::Time next_sync = absl::Now();
  auto synced_count = [&] {
    size_t n = 0;
    for (const auto& r : receivers) n += r->synced() > 0;
    return n;
  };
  const bool synced = WaitFor(
      [&] {
        if (absl::Now() >= next_sync) {
          sender_list[0]->SendSync(++token);
          next_sync = absl::Now() + absl::Milliseconds(500);
        }
        if (synced_count() == receivers.size()) return true;
        for (const auto& r : receivers) {
          if (r->ended()) return true;  // Reported below.
        }
        return false;
      },
      [&] {
        return absl::StrCat("bench: joining: ", synced_count(), "/",
                            receivers.size(), " receivers in the room");
      },
      deadline, &progress);
  if (!synced || synced_count() != receivers.size()) {
    progress.Done();
    std::string why;
    for (const auto& r : receivers) {
      if (r->ended()) {
        why = absl::StrCat(" (a receiver's connection ended: ", r->ended_why(),
                           ")");
        break;
      }
    }
    const std::string within =
        synced ? "" : absl::StrCat(" within --timeout=", o.timeout, "s");
    // Receivers see the first sender's markers only through a room the
    // servers share.
    const std::string several =
        SeveralServers(o)
            ? "; with several servers, receivers on a server other than the "
              "first sender's see its markers only if the servers share rooms "
              "(nodes of one deployment)"
            : "";
    std::fprintf(
        stderr,
        "chatctl bench: FAILED: only %zu of %zu receivers joined%s%s%s\n",
        synced_count(), receivers.size(), within.c_str(), why.c_str(),
        several.c_str());
    return 1;
  }
  // The run.
  LoadReport result;
  result.join_s = absl::ToDoubleSeconds(absl::Now() - join_start);
  const bool used[3] = {count[0] > 0, count[1] > 0, count[2] > 0};
  result.server_pids = ResolveServerPids(o, used);
  result.server_pid = result.server_pids.empty() ? 0 : result.server_pids[0];
  result.servers = spread.Shares();
  const ProcSample server_before = SampleAll(result.server_pids);
  const double client_before = SelfCpuSeconds();
  const uint64_t total = static_cast<uint64_t>(senders) * o.messages;
  result.expected = total * receivers.size();
  const uint64_t t0 = NowNs();
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> stop{false};
  auto received_total = [&] {
    uint64_t n = 0;
    for (const auto& r : receivers) n += r->received();
    return n;
  };

  std::thread pacer([&] {
    uint64_t done = 0;
    uint64_t min_received = 0;
    while (done < total && !stop.load(std::memory_order_relaxed)) {
      const uint64_t now = NowNs() - t0;
      uint64_t due = total;
      if (o.rate > 0) {
        due = std::min<uint64_t>(total,
                                 static_cast<uint64_t>(now / 1e9 * o.rate) + 1);
      }
      uint64_t allowed = due - done;
      if (o.rate == 0) {
        const uint64_t window = static_cast<uint64_t>(o.window);
        if (done >= min_received + window) {
          uint64_t m = UINT64_MAX;
          for (const auto& r : receivers) {
            if (!r->ended()) m = std::min(m, r->received());
          }
          min_received = m == UINT64_MAX ? done : m;  // UINT64_MAX: all gone.
        }
        allowed = std::min<uint64_t>(allowed, done < min_received + window
                                                  ? min_received + window - done
                                                  : 0);
      }
      if (allowed == 0) {
        if (o.rate > 0 && due == done) {
          const uint64_t next_ns =
              static_cast<uint64_t>(done / o.rate * 1e9) + t0;
          const uint64_t now_abs = NowNs();
          if (next_ns > now_abs) {
            std::this_thread::sleep_for(std::chrono::nanoseconds(
                std::min<uint64_t>(next_ns - now_abs, 50000000)));
          }
        } else {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        continue;
      }
      // Round robin over the senders: message k goes to sender k % S.
      std::vector<uint64_t> counts(senders, 0);
      for (uint64_t k = done; k < done + allowed; ++k) ++counts[k % senders];
      for (uint32_t s = 0; s < senders; ++s) {
        if (counts[s] > 0) sender_list[s]->Send(counts[s]);
      }
      done += allowed;
      sent.store(done, std::memory_order_relaxed);
    }
  });

  // Wait for every delivery, printing progress each second.
  absl::Time next_print = absl::Now() + absl::Seconds(1);
  uint64_t last_total = 0;
  absl::Time last_change = absl::Now();
  uint64_t printed_total = 0;
  uint64_t printed_ns = t0;
  for (;;) {
    const uint64_t got = received_total();
    const absl::Time now = absl::Now();
    if (got >= result.expected) break;
    if (got != last_total) {
      last_total = got;
      last_change = now;
    }
    if (now > deadline) {
      result.failure = absl::StrCat("--timeout=", o.timeout, "s passed");
      break;
    }
    bool all_ended = true;
    for (const auto& r : receivers) all_ended = all_ended && r->ended();
    if (all_ended) {
      result.failure = "every receiver's connection ended";
      break;
    }
    if (sent.load() >= total && now - last_change > absl::Seconds(5)) {
      result.failure =
          "nothing arrived for 5 s after the last message was sent";
      break;
    }
    if (o.rate == 0 && sent.load() < total &&
        now - last_change > absl::Seconds(10)) {
      result.failure = "nothing arrived for 10 s (window stuck)";
      break;
    }
    if (now >= next_print) {
      const uint64_t ns = NowNs();
      const double rate =
          (got - printed_total) / ((ns - printed_ns) / 1e9 + 1e-9);
      progress.Print(
          absl::StrCat("bench: ", absl::StrFormat("%.1fs", (ns - t0) / 1e9),
                       " sent ", sent.load(), "/", total, " delivered ", got,
                       "/", result.expected, " (", FormatRate(rate), "/s)"));
      printed_total = got;
      printed_ns = ns;
      next_print += absl::Seconds(1);
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  stop.store(true);
  pacer.join();
  const uint64_t end_ns = NowNs();
  const ProcSample server_after = SampleAll(result.server_pids);
  result.client_cpu_s = SelfCpuSeconds() - client_before;
  progress.Done();

  uint64_t last_ns = t0;
  for (const auto& r : receivers) last_ns = std::max(last_ns, r->last_ns());
  result.elapsed_s = ((result.failure.empty() ? last_ns : end_ns) - t0) / 1e9;
  result.sent = sent.load();
  if (server_before.ok && server_after.ok) {
    result.server_cpu_s = server_after.cpu_s - server_before.cpu_s;
  }

  // Stop the members, then read what the receivers saw.
  members.Stop();
  // One order: every receiver that got each message once saw the senders'
  // messages interleaved as the first such receiver did.
  std::optional<uint64_t> first_digest;
  for (const auto& r : receivers) {
    const DeliveryCheck& c = r->check();
    if (c.missing() > 0 || c.duplicated() > 0 || c.unknown() > 0) continue;
    if (!first_digest) first_digest = r->order_digest();
    if (r->order_digest() != *first_digest) ++result.order_mismatch;
  }
  for (const auto& r : receivers) {
    const DeliveryCheck& c = r->check();
    result.deliveries += c.unique();
    result.lost += c.missing();
    result.duplicated += c.duplicated();
    result.out_of_order += c.out_of_order();
    result.unknown += c.unknown();
    result.latency.Merge(r->latency());
    if (c.missing() > 0 && r->ended()) {
      ++result.disconnected;
      if (result.disconnected_why.empty()) {
        result.disconnected_why = r->ended_why();
      }
    }
  }
  result.channels = members.grpc ? members.grpc->channels() : 0;
  return PrintLoadReport(o, result);
}

// --idle: N members that join and sit.
int RunIdle(const Options& o) {
  Progress progress(o.progress);
  const absl::Time deadline = absl::Now() + absl::Seconds(o.timeout);
  std::mt19937 rng(static_cast<uint32_t>(NowNs() ^ getpid()));
  const uint32_t run = 1 + rng() % 999999;
  int count[3] = {0, 0, 0};  // Members per Transport.
  for (int i = 0; i < o.connections; ++i) {
    ++count[static_cast<int>(TransportOf(o, i))];
  }
  const bool used[3] = {count[0] > 0, count[1] > 0, count[2] > 0};
  const std::vector<int> pids = ResolveServerPids(o, used);
  const ProcSample before = SampleAll(pids);
  const ProcSample self_before = SampleProcess(getpid());
  const double client_cpu_before = SelfCpuSeconds();

  Members members;
  if (!StartMembers(o, count, &members)) return 1;
  std::string error;
  Spread spread(o);
  auto room_of = [&](int i) {
    return o.rooms == 1 ? o.room : absl::StrCat(o.room, "-", i % o.rooms);
  };
  auto joined = [&] { return members.joined(); };
  const absl::Time start = absl::Now();
  for (int i = 0; i < o.connections; ++i) {
    if (!PaceJoins(o, i, members, deadline)) break;
    if (!AddMember(o, run, TransportOf(o, i), absl::StrCat("b", run, "i", i),
                   room_of(i), nullptr, 0, nullptr, &members, &spread,
                   &error)) {
      std::fprintf(stderr, "chatctl bench: after %d connections: %s\n", i,
                   error.c_str());
      return 1;
    }
  }
  const double connect_s = absl::ToDoubleSeconds(absl::Now() - start);
  auto ended = [&] { return members.ended(); };
  const bool all = WaitFor(
      [&] {
        return joined() == static_cast<size_t>(o.connections) || ended() > 0;
      },
      [&] {
        return absl::StrCat("bench: ", joined(), "/", o.connections,
                            " members joined");
      },
      deadline, &progress);
  const double join_s = absl::ToDoubleSeconds(absl::Now() - start);
  const double client_cpu = SelfCpuSeconds() - client_cpu_before;
  progress.Done();
  if (!all || joined() != static_cast<size_t>(o.connections)) {
    const std::string within =
        all ? "" : absl::StrCat(" within --timeout=", o.timeout, "s");
    const std::string why =
        ended() == 0 ? ""
                     : absl::StrCat("; ", ended(),
                                    " connections ended (is the server "
                                    "there, and are its limits high enough?)");
    std::fprintf(stderr,
                 "chatctl bench: FAILED: %zu of %d members joined%s%s\n",
                 joined(), o.connections, within.c_str(), why.c_str());
    return 1;
  }
  absl::SleepFor(absl::Seconds(o.hold));
  const ProcSample after = SampleAll(pids);
  const ProcSample self_after = SampleProcess(getpid());
  IdleReport report;
  report.connect_s = connect_s;
  report.join_s = join_s;
  report.server_pid = pids.empty() ? 0 : pids[0];
  report.server_pids = pids;
  report.servers = spread.Shares();
  report.server_known = before.ok && after.ok;
  report.server_rss_before_kib = before.rss_kib;
  report.server_rss_after_kib = after.rss_kib;
  if (report.server_known) {
    report.server_kib_per_member =
        (after.rss_kib - before.rss_kib) / o.connections;
    report.server_cpu_s = after.cpu_s - before.cpu_s;
  }
  report.client_cpu_s = client_cpu;
  report.client_kib_per_member =
      (self_after.rss_kib - self_before.rss_kib) / o.connections;
  PrintIdleReport(o, report);
  return 0;
}

}  // namespace
}  // namespace bench

int RunBench(int argc, char** argv) {
  bench::Options options;
  bool help = false;
  const absl::Status parsed = bench::ParseOptions(
      std::vector<std::string>(argv + 1, argv + argc), &options, &help);
  if (help) {
    bench::PrintBenchHelp(stdout);
    return kExitOk;
  }
  if (!parsed.ok()) return UsageError(bench::BenchCommand(), parsed.message());
  signal(SIGPIPE, SIG_IGN);
  // Debian's Abseil runs deadlock detection on every mutex, gRPC's included:
  // 7% of the bench's CPU on W3g (see ../shared/NOTES.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return options.idle ? bench::RunIdle(options) : bench::RunLoad(options);
}

}  // namespace chat

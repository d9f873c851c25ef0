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
#include "cli/bench.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"
#include "cli/bench_stats.h"
#include "cli/bench_tls.h"
#include "cli/bench_ws.h"
#include "cli/tls_client.h"

namespace chat {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------- Options

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
};

constexpr char kUsage[] =
    "usage: chatctl bench [--transport=grpc|tcp|ws|mixed] [--receivers=N]\n"
    "         [--senders=S] [--messages=M] [--size=BYTES] [--rate=R]\n"
    "         [--duration=SECONDS] [--timeout=SECONDS] [--window=W]\n"
    "         [--server=HOST:PORT] [--legacy_server=HOST:PORT]\n"
    "         [--http_server=HOST:PORT] [--channels=K] [--tcp_threads=T]\n"
    "         [--ws_threads=T] [--room=ROOM] [--server_pid=PID] [--json]\n"
    "         [--noprogress] [--tls] [--tls_ca=PEM]\n"
    "       chatctl bench --idle --connections=N [--rooms=R] [--hold=SECONDS]\n"
    "         [--transport=...] [--server=...] [--legacy_server=...]\n"
    "         [--http_server=...]\n"
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
    "  --server      gRPC address [$CHATCTL_SERVER or 127.0.0.1:50051]\n"
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
    "  --channels    gRPC connections the members share; 0 = one each [0]\n"
    "  --tcp_threads epoll threads for TCP members                   [1]\n"
    "  --ws_threads  io threads for WebSocket members                [1]\n"
    "  --join_window members connecting at once (connected, not yet\n"
    "                joined)                                       [200]\n"
    "  --room        the room                                    [bench]\n"
    "  --server_pid  chat-service's pid, for its CPU and memory; 0 = the\n"
    "                process listening on the server's port          [0]\n"
    "  --json        print one JSON object instead of the summary\n"
    "  --idle --connections=N  open N members that just sit: join time,\n"
    "                server memory per member; --rooms spreads them   [1]\n"
    "Exit status: 0 every delivery checked, 1 loss, duplication,\n"
    "reordering or errors, 2 bad usage.\n";

bool ParseBool(absl::string_view v, bool* out) {
  if (v.empty() || v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// Parses --name=value, --name value and --[no]bool. Returns an error
// message, or "" when all is well.
std::string ParseArgs(int argc, char** argv, Options* o, bool* help) {
  const char* env = std::getenv("CHATCTL_SERVER");
  o->server = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      *help = true;
      return "";
    }
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      return absl::StrCat("unexpected argument \"", arg, "\"");
    }
    std::string name, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
      has_value = true;
    } else {
      name = std::string(arg);
    }
    struct BoolFlag {
      const char* name;
      bool* target;
    };
    const BoolFlag bools[] = {{"json", &o->json},
                              {"progress", &o->progress},
                              {"idle", &o->idle},
                              {"tls", &o->tls}};
    bool handled = false;
    for (const BoolFlag& b : bools) {
      if (name == b.name || name == absl::StrCat("no", b.name)) {
        bool v = true;
        if (has_value && !ParseBool(value, &v)) {
          return absl::StrCat("--", name, ": not a boolean: ", value);
        }
        *b.target = name == b.name ? v : !v;
        handled = true;
      }
    }
    if (handled) continue;
    if (!has_value) {
      if (i + 1 >= argc) return absl::StrCat("--", name, " needs a value");
      value = argv[++i];
    }
    bool ok = true;
    if (name == "transport") {
      o->transport = value;
      ok = value == "grpc" || value == "tcp" || value == "ws" ||
           value == "mixed";
    } else if (name == "receivers") {
      ok = absl::SimpleAtoi(value, &o->receivers) && o->receivers >= 0;
    } else if (name == "senders") {
      ok = absl::SimpleAtoi(value, &o->senders) && o->senders >= 1;
    } else if (name == "messages") {
      ok = absl::SimpleAtoi(value, &o->messages) && o->messages >= 1;
    } else if (name == "size") {
      ok = absl::SimpleAtoi(value, &o->size) && o->size >= 1;
    } else if (name == "rate") {
      ok = absl::SimpleAtod(value, &o->rate) && o->rate >= 0;
    } else if (name == "duration") {
      if (absl::EndsWith(value, "s")) value.pop_back();
      ok = absl::SimpleAtod(value, &o->duration) && o->duration > 0;
    } else if (name == "timeout") {
      ok = absl::SimpleAtod(value, &o->timeout) && o->timeout > 0;
    } else if (name == "window") {
      ok = absl::SimpleAtoi(value, &o->window) && o->window >= 1;
    } else if (name == "server") {
      o->server = value;
    } else if (name == "tls_ca") {
      o->tls_ca = value;
      o->tls = true;
    } else if (name == "legacy_server") {
      o->legacy_server = value;
    } else if (name == "http_server") {
      o->http_server = value;
    } else if (name == "channels") {
      ok = absl::SimpleAtoi(value, &o->channels) && o->channels >= 0;
    } else if (name == "tcp_threads") {
      ok = absl::SimpleAtoi(value, &o->tcp_threads) && o->tcp_threads >= 1 &&
           o->tcp_threads <= 64;
    } else if (name == "ws_threads") {
      ok = absl::SimpleAtoi(value, &o->ws_threads) && o->ws_threads >= 1 &&
           o->ws_threads <= 64;
    } else if (name == "connections") {
      ok = absl::SimpleAtoi(value, &o->connections) && o->connections >= 1;
    } else if (name == "join_window") {
      ok = absl::SimpleAtoi(value, &o->join_window) && o->join_window >= 1;
    } else if (name == "rooms") {
      ok = absl::SimpleAtoi(value, &o->rooms) && o->rooms >= 1;
    } else if (name == "hold") {
      ok = absl::SimpleAtod(value, &o->hold) && o->hold >= 0;
    } else if (name == "room") {
      o->room = value;
      ok = !value.empty();
    } else if (name == "server_pid") {
      ok = absl::SimpleAtoi(value, &o->server_pid) && o->server_pid >= 0;
    } else {
      return absl::StrCat("unknown flag --", name);
    }
    if (!ok) return absl::StrCat("--", name, ": bad value \"", value, "\"");
  }
  if (o->tls) {
    if (absl::Status tls = UseTls(o->tls_ca); !tls.ok()) {
      return std::string(tls.message());
    }
  }
  if (o->idle && o->connections == 0) return "--idle needs --connections=N";
  if (!o->idle && o->receivers == 0) return "--receivers must be at least 1";
  if (o->duration > 0) {
    if (o->rate <= 0) return "--duration needs --rate";
    o->messages = std::max<uint64_t>(
        1, static_cast<uint64_t>(o->rate * o->duration / o->senders + 0.5));
  }
  return "";
}

// ---------------------------------------------------------------- /proc

struct ProcSample {
  bool ok = false;
  double cpu_s = 0;    // utime + stime of every thread.
  double rss_kib = 0;  // VmRSS.
};

ProcSample SampleProcess(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return s;
  // Fields after the command (which may hold spaces), from field 3 on.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::vector<std::string> f =
      absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty());
  if (f.size() < 13) return s;
  double utime = 0, stime = 0;
  if (!absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) {
    return s;
  }
  s.cpu_s = (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  while (std::getline(status, line)) {
    absl::string_view v = line;
    if (absl::ConsumePrefix(&v, "VmRSS:")) {
      v = absl::StripAsciiWhitespace(v);
      absl::ConsumeSuffix(&v, "kB");
      absl::SimpleAtod(absl::StripAsciiWhitespace(v), &s.rss_kib);
    }
  }
  s.ok = true;
  return s;
}

double SelfCpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
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

// The pid of the process with a listening TCP socket on `port`, or 0.
int FindListeningPid(int port) {
  std::vector<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // Header.
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() < 10 || f[3] != "0A") continue;  // 0A: LISTEN.
      const size_t colon = f[1].rfind(':');
      if (colon == std::string::npos) continue;
      if (std::strtol(f[1].c_str() + colon + 1, nullptr, 16) != port) continue;
      inodes.push_back(absl::StrCat("socket:[", f[9], "]"));
    }
  }
  if (inodes.empty()) return 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  int found = 0;
  while (dirent* e = readdir(proc)) {
    int pid;
    if (!absl::SimpleAtoi(e->d_name, &pid) || pid == getpid()) continue;
    const std::string fd_dir = absl::StrCat("/proc/", pid, "/fd");
    DIR* fds = opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    while (dirent* fe = readdir(fds)) {
      char target[64];
      const std::string path = absl::StrCat(fd_dir, "/", fe->d_name);
      ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      if (std::find(inodes.begin(), inodes.end(), target) != inodes.end()) {
        found = pid;
        break;
      }
    }
    closedir(fds);
    if (found != 0) break;
  }
  closedir(proc);
  return found;
}

// ---------------------------------------------------------------- Receivers

// What one receiver saw; written only by the thread serving its connection.
class Receiver final : public WsListener {
 public:
  Receiver(uint32_t run, uint32_t senders, uint64_t messages)
      : run_(run), check_(senders, messages) {}

  // One message text, received at `now_ns`.
  void OnText(absl::string_view text, uint64_t now_ns) override {
    Stamp stamp;
    if (ParseMessageText(text, &stamp)) {
      if (stamp.run != run_) return;
      check_.Record(stamp.sender, stamp.seq);
      latency_.Record(now_ns > stamp.sent_ns ? now_ns - stamp.sent_ns : 0);
      last_ns_.store(now_ns, std::memory_order_relaxed);
      received_.store(received_.load(std::memory_order_relaxed) + 1,
                      std::memory_order_release);
      return;
    }
    uint64_t token;
    if (ParseSyncText(text, run_, &token)) {
      synced_.store(token, std::memory_order_release);
    }
  }

  void SetJoined() override { joined_.store(true, std::memory_order_release); }
  void SetEnded(std::string why) override {
    {
      absl::MutexLock lock(&mu_);
      if (ended_why_.empty()) ended_why_ = std::move(why);
    }
    ended_.store(true, std::memory_order_release);
  }
  void SetNotice(absl::string_view text) override {
    absl::MutexLock lock(&mu_);
    last_notice_ = std::string(text);
  }

  bool joined() const { return joined_.load(std::memory_order_acquire); }
  bool ended() const { return ended_.load(std::memory_order_acquire); }
  uint64_t received() const {
    return received_.load(std::memory_order_acquire);
  }
  uint64_t synced() const { return synced_.load(std::memory_order_acquire); }
  uint64_t last_ns() const { return last_ns_.load(std::memory_order_relaxed); }
  std::string ended_why() const {
    absl::MutexLock lock(&mu_);
    return ended_why_.empty()
               ? last_notice_
               : absl::StrCat(ended_why_,
                              last_notice_.empty() ? "" : " (last notice: ",
                              last_notice_, last_notice_.empty() ? "" : ")");
  }

  // Read only after the run.
  const DeliveryCheck& check() const { return check_; }
  const Histogram& latency() const { return latency_; }

 private:
  const uint32_t run_;
  DeliveryCheck check_;
  Histogram latency_;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> synced_{0};
  std::atomic<uint64_t> last_ns_{0};
  std::atomic<bool> joined_{false};
  std::atomic<bool> ended_{false};
  mutable absl::Mutex mu_;
  std::string ended_why_ ABSL_GUARDED_BY(mu_);
  std::string last_notice_ ABSL_GUARDED_BY(mu_);
};

// A member that posts: the pacer hands it messages to send.
class Sender {
 public:
  Sender(uint32_t run, uint32_t index, size_t size)
      : run_(run), index_(index), size_(size) {}
  virtual ~Sender() = default;

  // Posts the sender's next `n` messages. Pacer thread only.
  virtual void Send(uint64_t n) = 0;
  // Posts a sync marker. Pacer or main thread, one at a time.
  virtual void SendSync(uint64_t token) = 0;

 protected:
  // Appends the next message's text. Called by one thread at a time.
  void NextText(std::string* out) {
    Stamp stamp;
    stamp.run = run_;
    stamp.sender = index_;
    stamp.seq = next_seq_++;
    stamp.sent_ns = NowNs();
    AppendMessageText(stamp, size_, out);
  }

  const uint32_t run_;
  const uint32_t index_;
  const size_t size_;

 private:
  uint64_t next_seq_ = 0;
};

// ---------------------------------------------------------------- TCP

// TcpMembers: every TCP member, served by epoll threads. With a TLS context
// (--tls), every member speaks TLS (bench_tls.h) on the same threads; its
// epoll thread alone touches its SSL, and senders queue their lines for it.
class TcpMembers {
 public:
  struct Conn {
    int fd = -1;
    std::unique_ptr<TlsStream> tls;  // Null: plaintext.
    Receiver* receiver = nullptr;    // Null for senders and idle members.
    std::string partial;             // An incomplete line.
    std::string room_marker;         // " in room ROOM": the join is done.
    std::atomic<bool> joined{false};
    std::atomic<bool> open{true};
  };

  // `tls`: null for plaintext members.
  TcpMembers(int threads, std::unique_ptr<TlsClientContext> tls)
      : threads_(threads), tls_(std::move(tls)) {
    for (int i = 0; i < threads_; ++i) epolls_.push_back(epoll_create1(0));
  }

  ~TcpMembers() {
    Stop();
    for (auto& c : conns_) {
      c->tls.reset();
      if (c->fd >= 0) close(c->fd);
    }
    for (int e : epolls_) close(e);
  }

  bool Resolve(const std::string& addr, std::string* error) {
    std::string host;
    int port;
    if (!SplitHostPort(addr, &host, &port)) {
      *error = absl::StrCat("bad address \"", addr, "\"");
      return false;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) !=
            0 ||
        res == nullptr) {
      *error = absl::StrCat("cannot resolve ", addr);
      return false;
    }
    std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
    addr_len_ = res->ai_addrlen;
    family_ = res->ai_family;
    freeaddrinfo(res);
    addr_text_ = addr;
    return true;
  }

  // Connects one member and asks it into `room`. Main thread, before or
  // after Start.
  // The member takes `name` first: the server's random guest names can
  // collide in the target room (a guest who moved there left the lobby, so
  // the lobby hands out the name again).
  Conn* Connect(const std::string& name, const std::string& room,
                Receiver* receiver, std::string* error) {
    int fd = socket(family_, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = absl::StrCat("socket: ", std::strerror(errno));
      return nullptr;
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr_), addr_len_) != 0) {
      *error = absl::StrCat("cannot connect to the legacy port at ", addr_text_,
                            " (", std::strerror(errno), ")");
      close(fd);
      return nullptr;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto conn = std::make_unique<Conn>();
    conn->fd = fd;
    conn->receiver = receiver;
    conn->room_marker = absl::StrCat(" in room ", room);
    const std::string join =
        absl::StrCat("/nick ", name, "\r\n/join ", room, "\r\n");
    if (tls_ != nullptr) {
      // The join waits in the stream's queue for the handshake.
      Conn* c = conn.get();
      c->tls = tls_->NewStream(fd, epolls_[conns_.size() % threads_], c);
      c->tls->Write(join);
      conns_.push_back(std::move(conn));
      c->tls->Start();
      return c;
    }
    if (!WriteAll(conn.get(), join)) {
      *error = absl::StrCat("cannot write to ", addr_text_);
      close(fd);
      return nullptr;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    Conn* c = conn.get();
    const int e = epolls_[conns_.size() % threads_];
    conns_.push_back(std::move(conn));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.ptr = c;
    epoll_ctl(e, EPOLL_CTL_ADD, fd, &ev);
    return c;
  }

  void Start() {
    for (int i = 0; i < threads_; ++i) {
      threads.emplace_back([this, i] { Loop(epolls_[i]); });
    }
  }

  void Stop() {
    stop_.store(true);
    for (auto& t : threads) t.join();
    threads.clear();
  }

  // Writes all of `data`, waiting for the socket when it is full (over TLS:
  // queues it for the epoll thread). Any thread (one writer per connection).
  static bool WriteAll(Conn* c, absl::string_view data) {
    if (c->tls != nullptr) return c->tls->Write(data);
    while (!data.empty()) {
      ssize_t n = send(c->fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{c->fd, POLLOUT, 0};
        poll(&p, 1, 100);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    return true;
  }

  size_t size() const { return conns_.size(); }
  size_t joined() const { return joined_.load(std::memory_order_acquire); }
  size_t closed() const {
    size_t n = 0;
    for (const auto& c : conns_) n += !c->open.load();
    return n;
  }

 private:
  void Loop(int epoll) {
    constexpr int kEvents = 256;
    epoll_event events[kEvents];
    std::vector<char> buf(256 * 1024);
    while (!stop_.load(std::memory_order_relaxed)) {
      const int n = epoll_wait(epoll, events, kEvents, 50);
      for (int i = 0; i < n; ++i) {
        Conn* c = static_cast<Conn*>(events[i].data.ptr);
        if (c->tls == nullptr) {
          ReadAll(c, buf.data(), buf.size());
        } else {
          ServeTls(c, buf.data(), buf.size());
        }
      }
    }
  }

  void ReadAll(Conn* c, char* buf, size_t cap) {
    for (;;) {
      ssize_t n = recv(c->fd, buf, cap, 0);
      if (n > 0) {
        Lines(c, buf, static_cast<size_t>(n), NowNs());
        if (static_cast<size_t>(n) < cap) return;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      // EOF or error: the server closed the connection.
      if (c->open.exchange(false)) {
        if (c->receiver != nullptr) {
          c->receiver->SetEnded(n == 0 ? "the server closed the connection"
                                       : std::strerror(errno));
        }
        shutdown(c->fd, SHUT_RDWR);
      }
      return;
    }
  }

  // Handshake, reads and queued writes of a TLS member, on any event.
  void ServeTls(Conn* c, char* buf, size_t cap) {
    std::string why;
    const TlsStream::State state = c->tls->Serve(
        buf, cap,
        [this, c](const char* data, size_t len) {
          Lines(c, data, len, NowNs());
        },
        &why);
    if (state == TlsStream::State::kOpen) return;
    if (c->open.exchange(false)) {
      if (c->receiver != nullptr) c->receiver->SetEnded(why);
      shutdown(c->fd, SHUT_RDWR);
    }
  }

  void Lines(Conn* c, const char* data, size_t len, uint64_t now) {
    const char* end = data + len;
    while (data < end) {
      const char* nl = static_cast<const char*>(memchr(data, '\n', end - data));
      if (nl == nullptr) {
        c->partial.append(data, end);
        if (c->partial.size() > (1 << 20)) c->partial.clear();
        return;
      }
      if (!c->partial.empty()) {
        c->partial.append(data, nl);
        Line(c, c->partial, now);
        c->partial.clear();
      } else {
        Line(c, absl::string_view(data, nl - data), now);
      }
      data = nl + 1;
    }
  }

  void Line(Conn* c, absl::string_view line, uint64_t now) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '<') {
      if (c->receiver == nullptr) return;
      const size_t gt = line.find("> ");
      if (gt != absl::string_view::npos) {
        c->receiver->OnText(line.substr(gt + 2), now);
      }
      return;
    }
    // The welcome line of the room: "-- you are NAME in room ROOM with..."
    // or "... in room ROOM, alone so far".
    if (!c->joined.load(std::memory_order_relaxed) &&
        (absl::StrContains(line, absl::StrCat(c->room_marker, " ")) ||
         absl::StrContains(line, absl::StrCat(c->room_marker, ",")))) {
      c->joined.store(true, std::memory_order_release);
      joined_.fetch_add(1, std::memory_order_release);
      if (c->receiver != nullptr) c->receiver->SetJoined();
    }
    if (c->receiver != nullptr && absl::StartsWith(line, "!! ")) {
      c->receiver->SetNotice(line.substr(3));
    }
  }

  const int threads_;
  const std::unique_ptr<TlsClientContext> tls_;  // Null: plaintext.
  std::vector<int> epolls_;
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<size_t> joined_{0};
  std::atomic<bool> stop_{false};
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  int family_ = AF_INET;
  std::string addr_text_;
};

class TcpSender final : public Sender {
 public:
  TcpSender(uint32_t run, uint32_t index, size_t size, TcpMembers::Conn* conn)
      : Sender(run, index, size), conn_(conn) {}

  void Send(uint64_t n) override {
    buf_.clear();
    for (uint64_t i = 0; i < n; ++i) {
      NextText(&buf_);
      buf_.append("\r\n");
    }
    Write();
  }

  void SendSync(uint64_t token) override {
    buf_ = absl::StrCat(SyncText(run_, token), "\r\n");
    Write();
  }

 private:
  void Write() {
    if (!TcpMembers::WriteAll(conn_, buf_)) failed_ = true;
  }

  TcpMembers::Conn* const conn_;
  std::string buf_;
  bool failed_ = false;
};

// ---------------------------------------------------------------- gRPC

// GrpcMember: one Chat stream. Reads every event (checking messages when it
// is a receiver); writes the join, then whatever the pacer hands it.
class GrpcMember final
    : public grpc::ClientBidiReactor<v1::ChatRequest, v1::ChatResponse> {
 public:
  GrpcMember(uint32_t run, uint32_t index, size_t size, Receiver* receiver,
             std::atomic<size_t>* joined_count)
      : run_(run),
        index_(index),
        size_(size),
        receiver_(receiver),
        joined_count_(joined_count) {}

  void Start(v1::ChatRoom::Stub* stub, const std::string& name,
             const std::string& room) {
    write_.mutable_join()->set_name(name);
    write_.mutable_join()->set_room(room);
    stub->async()->Chat(&context_, this);
    writing_ = true;
    StartWrite(&write_);
    StartRead(&read_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows.
    switch (read_.event_case()) {
      case v1::ChatResponse::kMessage:
        if (receiver_ != nullptr)
          receiver_->OnText(read_.message().text(), NowNs());
        break;
      case v1::ChatResponse::kWelcome:
        if (!joined_.exchange(true, std::memory_order_acq_rel)) {
          joined_count_->fetch_add(1, std::memory_order_release);
        }
        if (receiver_ != nullptr) {
          // Senders would be refused; a stuck run then says why.
          if (read_.welcome().limits().flood_rate() > 0) {
            receiver_->SetNotice(
                absl::StrCat("the server has flood control on (",
                             read_.welcome().limits().flood_rate(),
                             " messages a second): start chat-service with "
                             "--flood_rate=0 to bench it"));
          }
          receiver_->SetJoined();
        }
        break;
      case v1::ChatResponse::kNotice:
        if (receiver_ != nullptr) receiver_->SetNotice(read_.notice().text());
        break;
      default:
        break;
    }
    StartRead(&read_);
  }

  void OnWriteDone(bool ok) override {
    bool more;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        credits_ = 0;
        syncs_.clear();
        return;
      }
      more = NextWriteLocked();
    }
    if (more) StartWrite(&write_);
  }

  void OnDone(const grpc::Status& status) override {
    if (receiver_ != nullptr) {
      receiver_->SetEnded(
          status.ok() ? "the server ended the stream"
                      : absl::StrCat("stream ended: ", status.error_message()));
    }
    {
      absl::MutexLock lock(&mu_);
      status_ = status;
    }
    done_.store(true, std::memory_order_release);
  }

  // Hands the member `n` more messages to post.
  void Send(uint64_t n) {
    bool start;
    {
      absl::MutexLock lock(&mu_);
      credits_ += n;
      start = !writing_ && NextWriteLocked();
    }
    if (start) StartWrite(&write_);
  }

  void SendSync(uint64_t token) {
    bool start;
    {
      absl::MutexLock lock(&mu_);
      syncs_.push_back(token);
      start = !writing_ && NextWriteLocked();
    }
    if (start) StartWrite(&write_);
  }

  void Cancel() { context_.TryCancel(); }
  bool joined() const { return joined_.load(std::memory_order_acquire); }
  bool done() const { return done_.load(std::memory_order_acquire); }

 private:
  bool NextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string* text = write_.mutable_say()->mutable_text();
    text->clear();
    if (!syncs_.empty()) {
      *text = SyncText(run_, syncs_.front());
      syncs_.erase(syncs_.begin());
    } else if (credits_ > 0) {
      --credits_;
      Stamp stamp;
      stamp.run = run_;
      stamp.sender = index_;
      stamp.seq = next_seq_++;
      stamp.sent_ns = NowNs();
      AppendMessageText(stamp, size_, text);
    } else {
      return false;
    }
    writing_ = true;
    return true;
  }

  const uint32_t run_;
  const uint32_t index_;
  const size_t size_;
  Receiver* const receiver_;
  std::atomic<size_t>* const joined_count_;
  grpc::ClientContext context_;
  v1::ChatResponse read_;  // Owned by the read in flight.
  std::atomic<bool> joined_{false};
  std::atomic<bool> done_{false};

  absl::Mutex mu_;
  v1::ChatRequest write_ ABSL_GUARDED_BY(mu_);  // Owned by the write in flight.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t credits_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> syncs_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

class GrpcSender final : public Sender {
 public:
  GrpcSender(uint32_t run, uint32_t index, size_t size, GrpcMember* member)
      : Sender(run, index, size), member_(member) {}
  void Send(uint64_t n) override { member_->Send(n); }
  void SendSync(uint64_t token) override { member_->SendSync(token); }

 private:
  GrpcMember* const member_;
};

// GrpcMembers: every gRPC member and the channels they share.
class GrpcMembers {
 public:
  GrpcMembers(std::string target, int channels, int members)
      : target_(std::move(target)),
        channels_(channels > 0 ? std::min(channels, std::max(members, 1))
                               : std::max(members, 1)) {}

  ~GrpcMembers() { CancelAll(absl::Seconds(10)); }

  GrpcMember* Add(uint32_t run, uint32_t index, size_t size, Receiver* receiver,
                  const std::string& name, const std::string& room) {
    const size_t slot = members_.size() % channels_;
    if (slot >= stubs_.size()) {
      grpc::ChannelArguments args;
      // A channel of its own connection: no sharing of subchannels.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("chatctl.bench_channel", static_cast<int>(slot));
      // TLS after --tls / --tls_ca (cli/tls_client.h).
      auto channel =
          grpc::CreateCustomChannel(target_, ChannelCredentials(), args);
      stubs_.push_back(v1::ChatRoom::NewStub(channel));
    }
    auto m = std::make_unique<GrpcMember>(run, index, size, receiver, &joined_);
    GrpcMember* raw = m.get();
    members_.push_back(std::move(m));
    raw->Start(stubs_[slot].get(), name, room);
    return raw;
  }

  size_t size() const { return members_.size(); }
  size_t joined() const { return joined_.load(std::memory_order_acquire); }
  size_t channels() const { return stubs_.size(); }
  size_t ended() const {
    size_t n = 0;
    for (const auto& m : members_) n += m->done();
    return n;
  }

  // Cancels every stream and waits (bounded) until each is done. A stream
  // that does not finish in time is leaked rather than freed under gRPC.
  void CancelAll(absl::Duration wait) {
    for (const auto& m : members_) m->Cancel();
    const absl::Time deadline = absl::Now() + wait;
    for (;;) {
      bool all = true;
      for (const auto& m : members_) all = all && m->done();
      if (all) break;
      if (absl::Now() > deadline) {
        for (auto& m : members_) {
          if (!m->done()) m.release();
        }
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    members_.clear();
  }

 private:
  const std::string target_;
  const size_t channels_;
  std::vector<std::unique_ptr<v1::ChatRoom::Stub>> stubs_;
  std::vector<std::unique_ptr<GrpcMember>> members_;
  std::atomic<size_t> joined_{0};
};

// ---------------------------------------------------------------- WebSocket

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

// ---------------------------------------------------------------- Run

struct Result {
  uint64_t expected = 0;
  uint64_t deliveries = 0;  // Distinct messages received, over receivers.
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t out_of_order = 0;
  uint64_t unknown = 0;
  uint64_t sent = 0;
  double elapsed_s = 0;
  Histogram latency;
  double server_cpu_s = -1;
  double client_cpu_s = 0;
  int server_pid = 0;
  std::string failure;  // Why the run did not complete, if it did not.
};

enum class Transport { kGrpc, kTcp, kWs };

// How member `index` (of the receivers, of the senders, or of the idle
// members) connects: mixed alternates TCP and gRPC.
Transport TransportOf(const Options& o, int index) {
  if (o.transport == "tcp") return Transport::kTcp;
  if (o.transport == "ws") return Transport::kWs;
  if (o.transport == "grpc") return Transport::kGrpc;
  return index % 2 == 0 ? Transport::kTcp : Transport::kGrpc;
}

int ResolveServerPid(const Options& o) {
  if (o.server_pid > 0) return o.server_pid;
  std::string host;
  int port;
  const std::string& addr = o.transport == "tcp"  ? o.legacy_server
                            : o.transport == "ws" ? o.http_server
                                                  : o.server;
  if (!SplitHostPort(addr, &host, &port)) return 0;
  return FindListeningPid(port);
}

std::string Micros(uint64_t ns) {
  char buf[32];
  if (ns >= 10000000) {
    std::snprintf(buf, sizeof(buf), "%.0f ms", ns / 1e6);
  } else if (ns >= 1000000) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", ns / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f us", ns / 1e3);
  }
  return buf;
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
      std::string host;
      int port;
      if (!SplitHostPort(o.legacy_server, &host, &port)) {
        std::fprintf(stderr, "chatctl bench: bad address \"%s\"\n",
                     o.legacy_server.c_str());
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
    if (!members->tcp->Resolve(o.legacy_server, &error)) {
      std::fprintf(stderr, "chatctl bench: %s\n", error.c_str());
      return false;
    }
    members->tcp->Start();
  }
  if (const int n = count[static_cast<int>(Transport::kGrpc)]; n > 0) {
    members->grpc = std::make_unique<GrpcMembers>(o.server, o.channels, n);
  }
  if (count[static_cast<int>(Transport::kWs)] > 0) {
    members->ws = std::make_unique<WsMembers>(o.ws_threads);
    if (!members->ws->Resolve(o.http_server, &error)) {
      std::fprintf(stderr, "chatctl bench: %s\n", error.c_str());
      return false;
    }
    members->ws->Start();
  }
  return true;
}

// Connects one member over `transport` as `name` in `room`, and asks it in:
// a receiver when `receiver` is set, a sender (made into *sender, posting as
// sender `sender_index`) when `sender` is set, else an idle member. False,
// with *error set, when it cannot connect.
bool AddMember(const Options& o, uint32_t run, Transport transport,
               const std::string& name, const std::string& room,
               Receiver* receiver, uint32_t sender_index,
               std::unique_ptr<Sender>* sender, Members* members,
               std::string* error) {
  switch (transport) {
    case Transport::kTcp: {
      TcpMembers::Conn* c = members->tcp->Connect(name, room, receiver, error);
      if (c == nullptr) return false;
      if (sender != nullptr) {
        *sender = std::make_unique<TcpSender>(run, sender_index, o.size, c);
      }
      return true;
    }
    case Transport::kGrpc: {
      GrpcMember* m =
          members->grpc->Add(run, sender_index, o.size, receiver, name, room);
      if (sender != nullptr) {
        *sender = std::make_unique<GrpcSender>(run, sender_index, o.size, m);
      }
      return true;
    }
    case Transport::kWs: {
      WsMembers::Conn* c = members->ws->Connect(name, room, receiver, error);
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
                   o.room, receivers[i].get(), 0, nullptr, &members, &error)) {
      std::fprintf(stderr, "chatctl bench: %s\n", error.c_str());
      return 1;
    }
  }
  for (uint32_t i = 0; i < senders; ++i) {
    if (!pace()) return 1;
    if (!AddMember(o, run, TransportOf(o, i), absl::StrCat("b", run, "s", i),
                   o.room, nullptr, i, &sender_list[i], &members, &error)) {
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
    std::fprintf(
        stderr, "chatctl bench: FAILED: only %zu of %zu receivers joined%s%s\n",
        synced_count(), receivers.size(), within.c_str(), why.c_str());
    return 1;
  }
  const double join_s = absl::ToDoubleSeconds(absl::Now() - join_start);

  // The run.
  Result result;
  result.server_pid = ResolveServerPid(o);
  const ProcSample server_before = SampleProcess(result.server_pid);
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
  const ProcSample server_after = SampleProcess(result.server_pid);
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
  std::string ended_why;
  size_t ended = 0;
  for (const auto& r : receivers) {
    const DeliveryCheck& c = r->check();
    result.deliveries += c.unique();
    result.lost += c.missing();
    result.duplicated += c.duplicated();
    result.out_of_order += c.out_of_order();
    result.unknown += c.unknown();
    result.latency.Merge(r->latency());
    if (c.missing() > 0 && r->ended()) {
      ++ended;
      if (ended_why.empty()) ended_why = r->ended_why();
    }
  }
  const bool ok = result.failure.empty() && result.lost == 0 &&
                  result.duplicated == 0 && result.out_of_order == 0 &&
                  result.unknown == 0;
  const double per_s =
      result.elapsed_s > 0 ? result.deliveries / result.elapsed_s : 0;
  const double d = std::max<double>(result.deliveries, 1);
  const Histogram& lat = result.latency;
  const std::string channels =
      members.grpc ? absl::StrCat(members.grpc->channels()) : "0";

  if (o.json) {
    std::printf(
        "{\"transport\":\"%s\",\"receivers\":%d,\"senders\":%d,"
        "\"messages\":%" PRIu64
        ",\"size\":%zu,\"rate\":%g,\"window\":%d,"
        "\"channels\":%s,\"join_s\":%.3f,\"sent\":%" PRIu64
        ",\"expected\":%" PRIu64 ",\"deliveries\":%" PRIu64
        ",\"elapsed_s\":%.4f,\"deliveries_per_s\":%.0f,"
        "\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
        "\"p999\":%.1f,\"max\":%.1f,\"mean\":%.1f},"
        "\"lost\":%" PRIu64 ",\"duplicated\":%" PRIu64
        ",\"out_of_order\":%" PRIu64 ",\"unknown\":%" PRIu64
        ",\"server_pid\":%d,\"server_cpu_s\":%.3f,"
        "\"server_cpu_us_per_delivery\":%.4f,"
        "\"server_cpu_s_per_million\":%.3f,\"client_cpu_s\":%.3f,"
        "\"client_cpu_us_per_delivery\":%.4f,\"ok\":%s,\"failure\":\"%s\"}\n",
        o.transport.c_str(), o.receivers, o.senders, o.messages, o.size, o.rate,
        o.window, channels.c_str(), join_s, result.sent, result.expected,
        result.deliveries, result.elapsed_s, per_s, lat.Percentile(50) / 1e3,
        lat.Percentile(90) / 1e3, lat.Percentile(99) / 1e3,
        lat.Percentile(99.9) / 1e3, lat.max() / 1e3, lat.mean() / 1e3,
        result.lost, result.duplicated, result.out_of_order, result.unknown,
        result.server_pid, result.server_cpu_s, result.server_cpu_s * 1e6 / d,
        result.server_cpu_s * 1e6 / d, result.client_cpu_s,
        result.client_cpu_s * 1e6 / d, ok ? "true" : "false",
        result.failure.c_str());
  } else {
    std::printf("chatctl bench: %s, %d receivers, %d sender%s, %" PRIu64
                " messages each of %zu bytes, %s, channels %s\n",
                o.transport.c_str(), o.receivers, o.senders,
                o.senders == 1 ? "" : "s", o.messages, o.size,
                o.rate > 0
                    ? absl::StrCat("rate ", o.rate, "/s").c_str()
                    : absl::StrCat("rate max (window ", o.window, ")").c_str(),
                channels.c_str());
    std::printf("  joined       %zu receivers and %d senders in %.2f s\n",
                receivers.size(), o.senders, join_s);
    std::printf("  deliveries   %" PRIu64 " of %" PRIu64 " in %.3f s = %s/s\n",
                result.deliveries, result.expected, result.elapsed_s,
                FormatRate(per_s).c_str());
    std::printf(
        "  latency      p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
        Micros(lat.Percentile(50)).c_str(), Micros(lat.Percentile(90)).c_str(),
        Micros(lat.Percentile(99)).c_str(),
        Micros(lat.Percentile(99.9)).c_str(), Micros(lat.max()).c_str());
    std::printf("  checks       lost %" PRIu64 "  duplicated %" PRIu64
                "  out of order %" PRIu64 "\n",
                result.lost, result.duplicated, result.out_of_order);
    if (result.server_cpu_s >= 0) {
      std::printf(
          "  server cpu   %.2f s = %.3f us/delivery (%.2f s per million), pid "
          "%d\n",
          result.server_cpu_s, result.server_cpu_s * 1e6 / d,
          result.server_cpu_s * 1e6 / d, result.server_pid);
    } else {
      std::printf("  server cpu   unknown (pass --server_pid)\n");
    }
    std::printf("  client cpu   %.2f s = %.3f us/delivery\n",
                result.client_cpu_s, result.client_cpu_s * 1e6 / d);
  }
  std::fflush(stdout);
  if (!ok) {
    std::fprintf(stderr,
                 "chatctl bench: FAILED: %" PRIu64 " lost, %" PRIu64
                 " duplicated, %" PRIu64 " out of order%s%s%s\n",
                 result.lost, result.duplicated, result.out_of_order,
                 result.failure.empty() ? "" : "; ", result.failure.c_str(),
                 ended > 0
                     ? absl::StrCat("; ", ended,
                                    " receivers were disconnected: ", ended_why)
                           .c_str()
                     : "");
    return 1;
  }
  if (!o.json) std::printf("  OK: every delivery arrived once, in order\n");
  return 0;
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
  const int pid = ResolveServerPid(o);
  const ProcSample before = SampleProcess(pid);
  const ProcSample self_before = SampleProcess(getpid());
  const double client_cpu_before = SelfCpuSeconds();

  Members members;
  if (!StartMembers(o, count, &members)) return 1;
  std::string error;
  auto room_of = [&](int i) {
    return o.rooms == 1 ? o.room : absl::StrCat(o.room, "-", i % o.rooms);
  };
  auto joined = [&] { return members.joined(); };
  const absl::Time start = absl::Now();
  for (int i = 0; i < o.connections; ++i) {
    if (!PaceJoins(o, i, members, deadline)) break;
    if (!AddMember(o, run, TransportOf(o, i), absl::StrCat("b", run, "i", i),
                   room_of(i), nullptr, 0, nullptr, &members, &error)) {
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
  const ProcSample after = SampleProcess(pid);
  const ProcSample self_after = SampleProcess(getpid());
  const double per_member_kib =
      before.ok && after.ok ? (after.rss_kib - before.rss_kib) / o.connections
                            : -1;
  const double server_cpu =
      before.ok && after.ok ? after.cpu_s - before.cpu_s : -1;
  const double client_per_member_kib =
      (self_after.rss_kib - self_before.rss_kib) / o.connections;
  if (o.json) {
    std::printf(
        "{\"transport\":\"%s\",\"connections\":%d,\"rooms\":%d,"
        "\"connect_s\":%.3f,\"join_s\":%.3f,\"joins_per_s\":%.0f,"
        "\"server_pid\":%d,\"server_rss_before_kib\":%.0f,"
        "\"server_rss_after_kib\":%.0f,\"server_kib_per_member\":%.2f,"
        "\"server_cpu_s\":%.3f,\"client_cpu_s\":%.3f,"
        "\"client_kib_per_member\":%.2f,\"ok\":true}\n",
        o.transport.c_str(), o.connections, o.rooms, connect_s, join_s,
        o.connections / join_s, pid, before.rss_kib, after.rss_kib,
        per_member_kib, server_cpu, client_cpu, client_per_member_kib);
  } else {
    std::printf("chatctl bench --idle: %d %s members in %d room%s\n",
                o.connections, o.transport.c_str(), o.rooms,
                o.rooms == 1 ? "" : "s");
    std::printf(
        "  joined       all in %.2f s (%.0f joins/s; connects took "
        "%.2f s)\n",
        join_s, o.connections / join_s, connect_s);
    if (before.ok && after.ok) {
      std::printf(
          "  server rss   %.1f MiB -> %.1f MiB = %.2f KiB per member "
          "(pid %d)\n",
          before.rss_kib / 1024, after.rss_kib / 1024, per_member_kib, pid);
      std::printf("  server cpu   %.2f s for the joins\n", server_cpu);
    } else {
      std::printf("  server rss   unknown (pass --server_pid)\n");
    }
    std::printf(
        "  client       %.2f KiB RSS per member, %.2f s CPU for the joins\n",
        client_per_member_kib, client_cpu);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace bench

int RunBench(int argc, char** argv) {
  bench::Options options;
  bool help = false;
  const std::string error = bench::ParseArgs(argc, argv, &options, &help);
  if (help) {
    std::fputs(bench::kUsage, stdout);
    return 0;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "chatctl bench: %s\n%s", error.c_str(), bench::kUsage);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  // Debian's Abseil runs deadlock detection on every mutex, gRPC's included:
  // 7% of the bench's CPU on W3g (see ../shared/NOTES.md).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return options.idle ? bench::RunIdle(options) : bench::RunLoad(options);
}

}  // namespace chat

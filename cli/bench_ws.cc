#include "cli/bench_ws.h"

#include <pthread.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"

namespace chat {
namespace bench {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
// beast::tcp_stream with the io_context's own executor instead of
// any_io_executor: copying and destroying the type-erased executor on every
// read took 11% of the bench's CPU samples; this cut the bench's CPU per W1
// delivery from 4.4 to 3.4 us (4 runs each, alternating).
using WsStream =
    websocket::stream<beast::basic_stream<tcp, net::io_context::executor_type>>;

// A member's frames queued by Say and not yet handed to its io thread, at
// most (then Say waits).
constexpr size_t kMaxQueued = 1 << 20;
// The largest frame a member reads: a welcome lists every member of the room.
constexpr size_t kMaxFrame = 16 << 20;
// How long the upgrade, and a close, may take.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

// The clock of Stamp::sent_ns (bench.cc's NowNs).
uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------- Frames

WsEvent ParseWsEvent(absl::string_view frame, v1::ChatResponse* scratch,
                     absl::string_view* text) {
  constexpr absl::string_view kMessageKey = "\"message\":{";
  constexpr absl::string_view kTextKey = "\"text\":\"";
  if (const size_t m = frame.find(kMessageKey); m != frame.npos) {
    if (const size_t t = frame.find(kTextKey, m + kMessageKey.size());
        t != frame.npos) {
      const size_t start = t + kTextKey.size();
      const size_t end = frame.find_first_of("\"\\", start);
      if (end != frame.npos && frame[end] == '"') {
        *text = frame.substr(start, end - start);
        return WsEvent::kMessage;
      }
    }
  }
  scratch->Clear();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(frame.data(), frame.size()), scratch,
           options)
           .ok()) {
    return WsEvent::kUnreadable;
  }
  switch (scratch->event_case()) {
    case v1::ChatResponse::kMessage:
      *text = scratch->message().text();
      return WsEvent::kMessage;
    case v1::ChatResponse::kWelcome:
      return WsEvent::kWelcome;
    case v1::ChatResponse::kNotice:
      *text = scratch->notice().text();
      return WsEvent::kNotice;
    default:
      return WsEvent::kOther;
  }
}

void AppendSayFrame(absl::string_view text, std::string* out) {
  out->append("{\"say\":{\"text\":\"");
  for (const char ch : text) {
    const unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (u < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", u);
      out->append(escaped);
    } else {
      out->push_back(ch);
    }
  }
  out->append("\"}}");
}

// ---------------------------------------------------------------- Members

struct WsMembers::Endpoint {
  tcp::endpoint address;
  std::string host;  // HOST:PORT, for the Host header.
};

class WsMembers::IoThread {
 public:
  IoThread() : ctx(1), work(net::make_work_guard(ctx)) {}

  net::io_context ctx;  // Concurrency hint 1: run by one thread.
  net::executor_work_guard<net::io_context::executor_type> work;
  std::thread thread;
};

class WsMembers::Conn {
 public:
  Conn(net::io_context& ctx, WsListener* listener)
      : ctx(ctx), ws(ctx.get_executor()), listener(listener) {}

  // Constant after construction.
  net::io_context& ctx;  // The io thread's; Say posts to it.

  // State below belongs to the io thread (and to Connect, before it posts
  // the handshake).
  WsStream ws;
  WsListener* const listener;
  std::unique_ptr<websocket::response_type> upgrade;  // During the upgrade.
  std::string host;          // HOST:PORT of its server, for the Host header.
  beast::flat_buffer in;     // The frame read.
  v1::ChatResponse scratch;  // For ParseWsEvent's slow path.
  bool joined = false;
  bool open = true;  // Until End.
  // The frames being written: out_ends[i] is where frame i ends in `out`.
  std::string out;
  std::vector<size_t> out_ends;
  size_t out_next = 0;   // The frame in flight, or the next.
  size_t out_start = 0;  // Where it starts.

  // State below is protected by mu.
  absl::Mutex mu;
  std::string pending ABSL_GUARDED_BY(mu);  // Frames queued by Say.
  std::vector<size_t> pending_ends ABSL_GUARDED_BY(mu);
  // The io thread is writing, or will look at `pending` (true from the
  // start until the upgrade is done): Say need not wake it.
  bool writing ABSL_GUARDED_BY(mu) = true;
  bool ended ABSL_GUARDED_BY(mu) = false;  // No more writes.
};

WsMembers::WsMembers(int threads) : threads_(std::max(threads, 1)) {
  for (int i = 0; i < threads_; ++i)
    io_.push_back(std::make_unique<IoThread>());
}

WsMembers::~WsMembers() {
  Stop();
  conns_.clear();  // Before the io_contexts (see conns_).
}

bool WsMembers::Resolve(const std::string& addr, std::string* error) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos || colon + 1 == addr.size()) {
    *error = absl::StrCat("bad address \"", addr, "\"");
    return false;
  }
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
  }
  net::io_context ctx;
  tcp::resolver resolver(ctx);
  beast::error_code ec;
  const auto results = resolver.resolve(host, addr.substr(colon + 1), ec);
  if (ec || results.empty()) {
    *error = absl::StrCat("cannot resolve ", addr,
                          ec ? absl::StrCat(" (", ec.message(), ")") : "");
    return false;
  }
  endpoints_.push_back(
      std::make_unique<Endpoint>(Endpoint{results.begin()->endpoint(), addr}));
  return true;
}

WsMembers::Conn* WsMembers::Connect(const std::string& name,
                                    const std::string& room,
                                    WsListener* listener, std::string* error,
                                    size_t server) {
  if (server >= endpoints_.size()) {
    *error = "WsMembers::Connect to a server not resolved";
    return nullptr;
  }
  const Endpoint& endpoint = *endpoints_[server];
  IoThread& io = *io_[conns_.size() % io_.size()];
  auto conn = std::make_unique<Conn>(io.ctx, listener);
  conn->host = endpoint.host;
  auto& socket = beast::get_lowest_layer(conn->ws).socket();
  beast::error_code ec;
  socket.connect(endpoint.address, ec);
  if (ec) {
    *error = absl::StrCat("cannot connect to the HTTP port at ", endpoint.host,
                          " (", ec.message(), ")");
    return nullptr;
  }
  socket.set_option(tcp::no_delay(true), ec);

  websocket::stream_base::timeout timeout;
  timeout.handshake_timeout = kHandshakeTimeout;
  timeout.idle_timeout = websocket::stream_base::none();
  timeout.keep_alive_pings = false;
  conn->ws.set_option(timeout);
  conn->ws.set_option(
      websocket::stream_base::decorator([](websocket::request_type& request) {
        request.set(beast::http::field::user_agent, "chatctl-bench");
      }));
  conn->ws.read_message_max(kMaxFrame);
  conn->ws.secure_prng(false);  // Masks need not be unpredictable here.
  conn->ws.auto_fragment(false);
  conn->ws.text(true);

  v1::ChatRequest join;
  join.mutable_join()->set_name(name);
  join.mutable_join()->set_room(room);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(join, &json).ok()) {
    *error = absl::StrCat("cannot write a join for \"", name, "\" as JSON");
    return nullptr;
  }
  {
    absl::MutexLock lock(&conn->mu);
    conn->pending = std::move(json);
    conn->pending_ends.push_back(conn->pending.size());
  }
  Conn* c = conn.get();
  conns_.push_back(std::move(conn));
  net::post(c->ctx, [this, c] { Handshake(c); });
  return c;
}

void WsMembers::Start() {
  if (started_) return;
  started_ = true;
  for (size_t i = 0; i < io_.size(); ++i) {
    IoThread* io = io_[i].get();
    io->thread = std::thread([io, i] {
      const std::string name = absl::StrCat("bench-ws-", i);
      pthread_setname_np(pthread_self(), name.c_str());
      io->ctx.run();
    });
  }
}

void WsMembers::Stop(absl::Duration wait) {
  if (!started_ || stopping_.exchange(true)) return;
  for (const auto& conn : conns_) {
    Conn* c = conn.get();
    net::post(c->ctx, [this, c] { Close(c); });
  }
  const absl::Time deadline = absl::Now() + wait;
  while (closed() < conns_.size() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  for (auto& io : io_) {
    io->work.reset();
    io->ctx.stop();
  }
  for (auto& io : io_) {
    if (io->thread.joinable()) io->thread.join();
  }
}

bool WsMembers::Say(Conn* c, const std::vector<std::string>& texts) {
  bool wake = false;
  {
    absl::MutexLock lock(&c->mu);
    auto has_room = [c]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu) {
      return c->ended || c->pending.size() < kMaxQueued;
    };
    c->mu.Await(absl::Condition(&has_room));
    if (c->ended) return false;
    for (const std::string& text : texts) {
      AppendSayFrame(text, &c->pending);
      c->pending_ends.push_back(c->pending.size());
    }
    if (!c->writing) {
      c->writing = true;
      wake = true;
    }
  }
  if (wake) net::post(c->ctx, [this, c] { WriteNext(c); });
  return true;
}

namespace {

std::string Describe(const WsStream& ws, absl::string_view what,
                     beast::error_code ec) {
  if (ec == websocket::error::closed) {
    const websocket::close_reason& r = ws.reason();
    return absl::StrCat("the server closed the WebSocket: ", r.code,
                        r.reason.empty() ? "" : " ",
                        absl::string_view(r.reason.data(), r.reason.size()));
  }
  return absl::StrCat("WebSocket ", what, ": ", ec.message());
}

}  // namespace

void WsMembers::Handshake(Conn* c) {
  if (!c->open) return;
  c->upgrade = std::make_unique<websocket::response_type>();
  c->ws.async_handshake(
      *c->upgrade, c->host, "/ws", [this, c](beast::error_code ec) {
        if (ec) {
          std::string why = absl::StrCat("WebSocket upgrade at ws://", c->host,
                                         "/ws: ", ec.message());
          if (c->upgrade->result_int() != 0) {
            const auto reason = c->upgrade->reason();
            absl::StrAppend(&why, " (HTTP ", c->upgrade->result_int(), " ",
                            absl::string_view(reason.data(), reason.size()),
                            ")");
          }
          End(c, std::move(why));
          return;
        }
        c->upgrade.reset();
        ReadNext(c);
        WriteNext(c);  // The join Connect queued, and what Say queued since.
      });
}

void WsMembers::ReadNext(Conn* c) {
  c->ws.async_read(c->in, [this, c](beast::error_code ec, size_t) {
    if (ec) {
      End(c, Describe(c->ws, "read", ec));
      return;
    }
    OnFrame(c, NowNs());
    c->in.clear();
    ReadNext(c);
  });
}

void WsMembers::OnFrame(Conn* c, uint64_t now_ns) {
  const auto data = c->in.cdata();
  const absl::string_view frame(static_cast<const char*>(data.data()),
                                data.size());
  absl::string_view text;
  switch (ParseWsEvent(frame, &c->scratch, &text)) {
    case WsEvent::kMessage:
      if (c->listener != nullptr) c->listener->OnText(text, now_ns);
      break;
    case WsEvent::kWelcome:
      if (!c->joined) {
        c->joined = true;
        joined_.fetch_add(1, std::memory_order_release);
      }
      if (c->listener != nullptr) c->listener->SetJoined();
      break;
    case WsEvent::kNotice:
      if (c->listener != nullptr) c->listener->SetNotice(text);
      break;
    case WsEvent::kUnreadable:
      if (c->listener != nullptr) {
        c->listener->SetNotice(
            absl::StrCat("unreadable frame: ", frame.substr(0, 200)));
      }
      break;
    case WsEvent::kOther:
      break;
  }
}

void WsMembers::WriteNext(Conn* c) {
  if (c->out_next == c->out_ends.size()) {
    absl::MutexLock lock(&c->mu);
    if (c->ended || c->pending_ends.empty()) {
      c->writing = false;
      return;
    }
    c->out.swap(c->pending);
    c->out_ends.swap(c->pending_ends);
    c->pending.clear();
    c->pending_ends.clear();
    c->out_next = 0;
    c->out_start = 0;
  }
  const size_t end = c->out_ends[c->out_next];
  c->ws.async_write(
      net::buffer(c->out.data() + c->out_start, end - c->out_start),
      [this, c](beast::error_code ec, size_t) {
        if (ec) {
          End(c, Describe(c->ws, "write", ec));
          return;
        }
        c->out_start = c->out_ends[c->out_next++];
        WriteNext(c);
      });
}

void WsMembers::Close(Conn* c) {
  if (!c->open) return;
  {
    absl::MutexLock lock(&c->mu);
    c->ended = true;  // No new writes; one in flight finishes first.
  }
  if (!c->ws.is_open()) {  // Still upgrading: cut it short.
    beast::get_lowest_layer(c->ws).close();
    End(c, "closed while upgrading");
    return;
  }
  c->ws.async_close(
      websocket::close_code::normal, [this, c](beast::error_code ec) {
        End(c, ec ? Describe(c->ws, "close", ec) : "closed by the bench");
      });
}

void WsMembers::End(Conn* c, std::string why) {
  if (!c->open) return;
  c->open = false;
  {
    absl::MutexLock lock(&c->mu);
    c->ended = true;
  }
  beast::get_lowest_layer(c->ws).close();
  if (c->listener != nullptr && !stopping_.load(std::memory_order_acquire)) {
    c->listener->SetEnded(std::move(why));
  }
  closed_.fetch_add(1, std::memory_order_release);
}

}  // namespace bench
}  // namespace chat

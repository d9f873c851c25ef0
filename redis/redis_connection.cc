#include "redis/redis_connection.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace chat::redis {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

namespace {

Reply CopyReply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) {
        out.elements.push_back(CopyReply(*r.element[i]));
      }
      break;
    default:  // REDIS_REPLY_NIL, and a nil array.
      out.type = Reply::Type::kNil;
      break;
  }
  return out;
}

// Commands after which the server pushes messages nobody asked for (RESP2):
// hiredis would switch the context into a mode this class does not follow,
// and asserts on a pushed message it cannot match to a callback.
bool PushesMessages(absl::string_view command) {
  for (absl::string_view c :
       {"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
        "sunsubscribe", "monitor"}) {
    if (absl::EqualsIgnoreCase(command, c)) return true;
  }
  return false;
}

// Error replies to PING from a Redis server that will answer once it is
// ready (loading its data, a script running, a replica without master).
bool IsTransient(absl::string_view error) {
  return absl::StartsWith(error, "LOADING") ||
         absl::StartsWith(error, "BUSY") ||
         absl::StartsWith(error, "MASTERDOWN");
}

// What a server sent, for an error message: its first line, escaped,
// at most 60 bytes.
std::string Quote(absl::string_view bytes) {
  bytes = bytes.substr(0, bytes.find_first_of("\r\n"));
  const bool cut = bytes.size() > 60;
  return absl::StrCat("\"", absl::CHexEscape(bytes.substr(0, 60)),
                      cut ? "...\"" : "\"");
}

std::string Describe(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return Quote(absl::string_view(r.str, r.len));
    case REDIS_REPLY_ERROR:
      return absl::StrCat("error ", Quote(absl::string_view(r.str, r.len)));
    case REDIS_REPLY_INTEGER:
      return absl::StrCat("integer ", r.integer);
    case REDIS_REPLY_ARRAY:
      return absl::StrCat("an array of ", r.elements);
    default:
      return "nil";
  }
}

bool IsFatal(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition ||
         s.code() == absl::StatusCode::kInvalidArgument;
}

}  // namespace

std::string Address::ToString() const {
  return host.find(':') != std::string::npos
             ? absl::StrCat("[", host, "]:", port)
             : absl::StrCat(host, ":", port);
}

absl::StatusOr<std::vector<Address>> ParseAddresses(absl::string_view list) {
  if (absl::StripAsciiWhitespace(list).empty()) {
    return absl::InvalidArgumentError(
        "no Redis address (want HOST:PORT[,HOST:PORT...])");
  }
  std::vector<Address> out;
  absl::flat_hash_set<std::string> seen;
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty address in \"", list, "\""));
    }
    absl::string_view host;
    absl::string_view port;
    if (item.front() == '[') {
      const size_t close = item.find(']');
      if (close == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", item, "\": no ']' after the IPv6 address"));
      }
      host = item.substr(1, close - 1);
      port = item.substr(close + 1);
      if (!absl::ConsumePrefix(&port, ":")) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", item, "\" has no port (want [IPV6]:PORT)"));
      }
    } else {
      const size_t colon = item.rfind(':');
      if (colon == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", item, "\" has no port (want HOST:PORT)"));
      }
      host = item.substr(0, colon);
      port = item.substr(colon + 1);
      if (absl::StrContains(host, ':')) {
        return absl::InvalidArgumentError(absl::StrCat(
            "\"", item, "\": an IPv6 address goes in brackets, as [::1]:6379"));
      }
    }
    if (host.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", item, "\" has no host"));
    }
    int number = 0;
    const bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), absl::ascii_isdigit);
    if (digits) {
      for (char c : port) number = number * 10 + (c - '0');
    }
    if (!digits || number < 1 || number > 65535) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", item, "\": bad port \"", port, "\" (want 1 to 65535)"));
    }
    Address address{std::string(host), number};
    if (!seen.insert(absl::AsciiStrToLower(address.ToString())).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", item, "\" is given twice in \"", list, "\""));
    }
    out.push_back(std::move(address));
  }
  return out;
}

// Impl: the state behind a Connection, owned by shared_ptr so that an Asio
// handler still pending, or a hiredis callback running, keeps it alive while
// the Connection is destroyed. Everything runs on the io_context's thread.
//
// Each connection attempt is one redisAsyncContext. ac_ is the current one;
// it is cleared the moment that context is known to be dying (we free it,
// or hiredis reports an error), before anything else runs, so every hiredis
// callback can tell a stale context (ac != ac_) and a context is never freed
// twice. A context lives no longer than the Impl: Stop (which the
// Connection's destructor calls) frees it.
class Connection::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, Options options, Events events)
      : io_(io),
        options_(std::move(options)),
        events_(std::move(events)),
        name_(options_.address.ToString()),
        backoff_(options_.backoff_min),
        connect_timer_(io),
        retry_timer_(io),
        resolver_(io) {}

  ~Impl() {
    // Only reached without Stop if the Connection was never destroyed
    // properly; a context must not outlive the object its callbacks use.
    if (ac_ != nullptr) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      redisAsyncFree(ac);
    }
  }

  const Address& address() const { return options_.address; }
  bool up() const { return state_ == State::kUp; }

  void Start() {
    if (state_ != State::kIdle) return;
    state_ = State::kWaiting;
    asio::post(io_, [weak = weak_from_this(), gen = generation_] {
      std::shared_ptr<Impl> self = weak.lock();
      if (self != nullptr && self->generation_ == gen &&
          self->state_ == State::kWaiting) {
        self->Attempt();
      }
    });
  }

  void Command(std::vector<std::string> argv, Done done) {
    if (argv.empty()) {
      Refuse(std::move(done), absl::InvalidArgumentError("empty command"));
      return;
    }
    if (PushesMessages(argv[0])) {
      Refuse(std::move(done),
             absl::InvalidArgumentError(absl::StrCat(
                 argv[0],
                 " is not supported (the server would push messages "
                 "this connection cannot tell from replies)")));
      return;
    }
    if (state_ != State::kUp || ac_ == nullptr) {
      Refuse(std::move(done), absl::UnavailableError(absl::StrCat(
                                  "Redis at ", name_, " is not connected")));
      return;
    }
    std::vector<const char*> args;
    std::vector<size_t> lengths;
    args.reserve(argv.size());
    lengths.reserve(argv.size());
    for (const std::string& a : argv) {
      args.push_back(a.data());
      lengths.push_back(a.size());
    }
    // hiredis copies the formatted command into its output buffer and calls
    // OnReply exactly once: with the reply, or with none when the context
    // is freed first.
    auto* pending = new Done(std::move(done));
    if (redisAsyncCommandArgv(ac_, &Impl::OnReply, pending,
                              static_cast<int>(args.size()), args.data(),
                              lengths.data()) != REDIS_OK) {
      Done refused = std::move(*pending);
      delete pending;
      Refuse(std::move(refused),
             absl::UnavailableError(absl::StrCat(
                 "Redis at ", name_, " is closing the connection")));
    }
  }

  void Stop() {
    if (state_ == State::kStopped) return;
    state_ = State::kStopped;
    ++generation_;
    connect_timer_.cancel();
    retry_timer_.cancel();
    resolver_.cancel();
    if (ac_ != nullptr) {
      redisAsyncContext* ac = ac_;
      ac_ = nullptr;
      // Every reply still owed gets OnReply(nullptr) in here (or right after
      // the hiredis callback that called Stop returns).
      redisAsyncFree(ac);
    }
  }

 private:
  enum class State {
    kIdle,        // Before Start.
    kWaiting,     // An attempt is scheduled (posted, or after a backoff).
    kResolving,   // Looking up the host name.
    kConnecting,  // A context exists; connecting, or waiting for PONG.
    kUp,          // PONG came; commands go through.
    kStopped,     // Stop, or a fatal error. Final.
  };
  enum Direction { kRead = 0, kWrite = 1 };

  // Link: one context's socket, watched through an Asio descriptor. hiredis
  // reaches it through ev.data (its reference is `self`, dropped in Cleanup);
  // each wait in flight holds it too, so a wait that completes after the
  // context is gone finds ac == nullptr and does nothing.
  struct Link : public std::enable_shared_from_this<Link> {
    explicit Link(asio::io_context& io) : socket(io) {}
    ~Link() {
      // hiredis owns the descriptor: never let Asio close it.
      if (socket.is_open()) socket.release();
    }

    void Want(Direction d) {
      want[d] = true;
      Arm(d);
    }

    void Arm(Direction d) {
      if (ac == nullptr || !want[d] || armed[d]) return;
      armed[d] = true;
      socket.async_wait(
          d == kRead ? Descriptor::wait_read : Descriptor::wait_write,
          [link = shared_from_this(), d](const boost::system::error_code& ec) {
            link->Ready(d, ec);
          });
    }

    void Ready(Direction d, const boost::system::error_code& ec) {
      armed[d] = false;
      if (ec == asio::error::operation_aborted || ac == nullptr || !want[d]) {
        return;
      }
      // hiredis's callbacks below use the Impl, and one of them may destroy
      // the Connection: hold it until they are done.
      std::shared_ptr<Impl> owner = impl.lock();
      if (owner == nullptr) return;
      if (d == kRead) {
        if (handshake && first_bytes.empty()) {
          // Keep what a server says before PONG: if it is not Redis, the
          // error can quote it (hiredis drops its buffer on a protocol error).
          char buf[80];
          const ssize_t n = recv(socket.native_handle(), buf, sizeof(buf),
                                 MSG_PEEK | MSG_DONTWAIT);
          if (n > 0) first_bytes.assign(buf, static_cast<size_t>(n));
        }
        redisAsyncHandleRead(ac);
      } else {
        redisAsyncHandleWrite(ac);
      }
      Arm(d);  // If hiredis still wants it and the context lives.
    }

    redisAsyncContext* ac = nullptr;  // Null from Cleanup on (being freed).
    Descriptor socket;
    std::weak_ptr<Impl> impl;
    std::shared_ptr<Link> self;
    bool want[2] = {false, false};
    bool armed[2] = {false, false};
    bool handshake = true;    // Until PONG.
    std::string first_bytes;  // The server's first bytes, during the handshake.
  };

  // Refuse: `done` gets `why` from the io_context, never inside the call.
  void Refuse(Done done, absl::Status why) {
    asio::post(io_, [done = std::move(done), why = std::move(why)]() mutable {
      done(std::move(why));
    });
  }

  // A new attempt: resolve the host (unless it is an address), then connect
  // to each address in turn.
  void Attempt() {
    ++generation_;
    boost::system::error_code ec;
    const asio::ip::address ip =
        asio::ip::make_address(options_.address.host, ec);
    if (!ec) {
      endpoints_ = {ip};
      ConnectTo(0);
      return;
    }
    state_ = State::kResolving;
    // getaddrinfo blocks: Asio runs it on a thread of its own.
    resolver_.async_resolve(
        options_.address.host, absl::StrCat(options_.address.port),
        [weak = weak_from_this(), gen = generation_](
            const boost::system::error_code& ec,
            const asio::ip::tcp::resolver::results_type& results) {
          std::shared_ptr<Impl> self = weak.lock();
          if (self == nullptr || self->generation_ != gen ||
              self->state_ != State::kResolving) {
            return;
          }
          self->OnResolved(ec, results);
        });
  }

  void OnResolved(const boost::system::error_code& ec,
                  const asio::ip::tcp::resolver::results_type& results) {
    if (ec) {
      // A name that does not exist stays so: stop. A resolver that could not
      // answer (EAI_AGAIN, a DNS server down) may answer later: retry.
      const bool unknown = ec == asio::error::host_not_found ||
                           ec == asio::error::service_not_found;
      const std::string why = absl::StrCat(
          "cannot resolve the host of Redis at ", name_, ": ", ec.message());
      AttemptFailed(unknown ? absl::InvalidArgumentError(why)
                            : absl::UnavailableError(why));
      return;
    }
    endpoints_.clear();
    for (const auto& entry : results) {
      const asio::ip::address ip = entry.endpoint().address();
      if (std::find(endpoints_.begin(), endpoints_.end(), ip) ==
          endpoints_.end()) {
        endpoints_.push_back(ip);
      }
    }
    if (endpoints_.empty()) {
      AttemptFailed(absl::InvalidArgumentError(absl::StrCat(
          "Redis host \"", options_.address.host, "\" has no address")));
      return;
    }
    ConnectTo(0);
  }

  // Where an attempt went, for messages: "HOST:PORT", plus the address when
  // the host was a name.
  std::string Where() const {
    if (endpoint_ >= endpoints_.size()) return name_;
    const std::string ip = endpoints_[endpoint_].to_string();
    return ip == options_.address.host ? name_
                                       : absl::StrCat(name_, " (", ip, ")");
  }

  void ConnectTo(size_t index) {
    ++generation_;
    endpoint_ = index;
    state_ = State::kConnecting;
    const std::string ip = endpoints_[index].to_string();
    // A numeric address: hiredis's getaddrinfo returns at once. The connect
    // itself is non-blocking.
    redisAsyncContext* ac =
        redisAsyncConnect(ip.c_str(), options_.address.port);
    if (ac == nullptr) {
      AttemptFailed(absl::ResourceExhaustedError(absl::StrCat(
          "cannot connect to Redis at ", Where(), ": out of memory")));
      return;
    }
    if (ac->err != 0) {
      // On loopback a refusal is often immediate.
      const std::string why = ac->c.errstr;
      redisAsyncFree(ac);
      AttemptFailed(absl::UnavailableError(
          absl::StrCat("cannot connect to Redis at ", Where(), ": ", why)));
      return;
    }
    auto link = std::make_shared<Link>(io_);
    boost::system::error_code ec;
    link->socket.assign(ac->c.fd, ec);
    if (ec) {
      redisAsyncFree(ac);  // Closes the descriptor.
      AttemptFailed(absl::UnavailableError(
          absl::StrCat("cannot watch the socket to Redis at ", Where(), ": ",
                       ec.message())));
      return;
    }
    link->ac = ac;
    link->impl = weak_from_this();
    link->self = link;  // hiredis's reference, dropped in Cleanup.
    ac->data = this;
    ac->ev.data = link.get();
    ac->ev.addRead = &Impl::AddRead;
    ac->ev.delRead = &Impl::DelRead;
    ac->ev.addWrite = &Impl::AddWrite;
    ac->ev.delWrite = &Impl::DelWrite;
    ac->ev.cleanup = &Impl::Cleanup;
    // A peer that vanished without a FIN or RST (a host down, a cable) is
    // found out eventually instead of never.
    redisEnableKeepAlive(&ac->c);
    ac_ = ac;
    // Arms the first write wait: writable means the connect completed.
    redisAsyncSetConnectCallback(ac, &Impl::OnConnect);
    redisAsyncSetDisconnectCallback(ac, &Impl::OnDisconnect);
    redisAsyncCommand(ac, &Impl::OnPing, nullptr, "PING");

    connect_timer_.expires_after(
        absl::ToChronoNanoseconds(options_.connect_timeout));
    connect_timer_.async_wait([weak = weak_from_this(), gen = generation_](
                                  const boost::system::error_code& ec) {
      std::shared_ptr<Impl> self = weak.lock();
      if (ec || self == nullptr || self->generation_ != gen ||
          self->state_ != State::kConnecting || self->ac_ == nullptr) {
        return;
      }
      const bool connected = (self->ac_->c.flags & REDIS_CONNECTED) != 0;
      self->Abandon(absl::UnavailableError(
          absl::StrCat(connected ? "no answer to PING from Redis at "
                                 : "cannot connect to Redis at ",
                       self->Where(), " within ",
                       absl::FormatDuration(self->options_.connect_timeout))));
    });
  }

  // Abandon: we close the current context ourselves (a timeout, a wrong
  // answer to PING), then report.
  void Abandon(absl::Status why) {
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    ++generation_;
    // Inside a hiredis callback this only marks it; hiredis frees it when
    // the callback returns.
    if (ac != nullptr) redisAsyncFree(ac);
    AttemptFailed(std::move(why));
  }

  // Lost: hiredis reports that context `ac` is dying (it frees it itself).
  // The first report for the current context counts; the rest are ignored.
  void Lost(const redisAsyncContext* ac, absl::Status why) {
    if (ac == nullptr || ac != ac_) return;
    ac_ = nullptr;
    ++generation_;
    AttemptFailed(std::move(why));
  }

  // AttemptFailed: the current context is gone (ac_ is null). Tries the
  // next address of the name, or reports and retries after the backoff, or
  // reports and stops for good.
  void AttemptFailed(absl::Status why) {
    connect_timer_.cancel();
    if (state_ == State::kStopped) return;
    const bool was_up = state_ == State::kUp;
    if (!was_up && !IsFatal(why) && state_ == State::kConnecting &&
        endpoint_ + 1 < endpoints_.size()) {
      // Not from inside hiredis's callback: a fresh stack.
      asio::post(io_, [weak = weak_from_this(), gen = generation_,
                       next = endpoint_ + 1] {
        std::shared_ptr<Impl> self = weak.lock();
        if (self != nullptr && self->generation_ == gen &&
            self->state_ == State::kConnecting) {
          self->ConnectTo(next);
        }
      });
      return;
    }
    if (IsFatal(why)) {
      state_ = State::kStopped;
    } else {
      state_ = State::kWaiting;
      retry_timer_.expires_after(absl::ToChronoNanoseconds(backoff_));
      retry_timer_.async_wait([weak = weak_from_this(), gen = generation_](
                                  const boost::system::error_code& ec) {
        std::shared_ptr<Impl> self = weak.lock();
        if (!ec && self != nullptr && self->generation_ == gen &&
            self->state_ == State::kWaiting) {
          self->Attempt();
        }
      });
      backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    }
    // Last: the callback may call Stop, Command or destroy the Connection
    // (the caller's stack holds a reference to this Impl).
    if (events_.on_down) events_.on_down(why);
  }

  void Up() {
    state_ = State::kUp;
    backoff_ = options_.backoff_min;
    connect_timer_.cancel();
    if (events_.on_up) events_.on_up();
  }

  // hiredis's callbacks. ac->data is the Impl: a context never outlives it.

  static void OnConnect(const redisAsyncContext* ac, int status) {
    if (status == REDIS_OK) return;  // PONG decides.
    Impl* self = static_cast<Impl*>(ac->data);
    self->Lost(ac, absl::UnavailableError(
                       absl::StrCat("cannot connect to Redis at ",
                                    self->Where(), ": ", ac->c.errstr)));
  }

  static void OnDisconnect(const redisAsyncContext* ac, int /*status*/) {
    Impl* self = static_cast<Impl*>(ac->data);
    self->Lost(ac, self->LostStatus(ac));
  }

  absl::Status LostStatus(const redisAsyncContext* ac) const {
    return absl::UnavailableError(
        absl::StrCat("connection to Redis at ", Where(),
                     " lost: ", ac->c.err != 0 ? ac->c.errstr : "closed"));
  }

  static void OnPing(redisAsyncContext* ac, void* r, void* /*privdata*/) {
    Impl* self = static_cast<Impl*>(ac->data);
    if (ac != self->ac_) return;  // Abandoned: this is hiredis's farewell.
    const auto* reply = static_cast<const redisReply*>(r);
    if (reply == nullptr) {
      if (ac->c.err == REDIS_ERR_PROTOCOL) {
        const Link* link = static_cast<const Link*>(ac->ev.data);
        self->Lost(ac, absl::FailedPreconditionError(absl::StrCat(
                           self->Where(),
                           " is not a Redis server (it answered PING with ",
                           link->first_bytes.empty() ? "something"
                                                     : Quote(link->first_bytes),
                           "; ", ac->c.errstr, ")")));
      } else {
        self->Lost(ac, self->LostStatus(ac));
      }
      return;
    }
    const absl::string_view text(reply->str != nullptr ? reply->str : "",
                                 reply->str != nullptr ? reply->len : 0);
    if (reply->type == REDIS_REPLY_STATUS && text == "PONG") {
      static_cast<Link*>(ac->ev.data)->handshake = false;
      self->Up();
    } else if (reply->type == REDIS_REPLY_ERROR && IsTransient(text)) {
      self->Abandon(absl::UnavailableError(absl::StrCat(
          "Redis at ", self->Where(), " is not ready (it answered PING with ",
          Describe(*reply), ")")));
    } else if (reply->type == REDIS_REPLY_ERROR) {
      self->Abandon(absl::FailedPreconditionError(
          absl::StrCat("Redis at ", self->Where(),
                       " refused PING (it answered ", Describe(*reply), ")")));
    } else {
      self->Abandon(absl::FailedPreconditionError(absl::StrCat(
          self->Where(), " is not a Redis server (it answered PING with ",
          Describe(*reply), ")")));
    }
  }

  static void OnReply(redisAsyncContext* ac, void* r, void* privdata) {
    std::unique_ptr<Done> done(static_cast<Done*>(privdata));
    Impl* self = static_cast<Impl*>(ac->data);
    if (r == nullptr) {
      // The context is being freed: owed replies never come. The connection
      // goes down first, so `done` sees up() false.
      self->Lost(ac, self->LostStatus(ac));
      (*done)(absl::UnavailableError(absl::StrCat(
          "no reply from Redis at ", self->Where(), ": ",
          ac->c.err != 0 ? ac->c.errstr : "the connection was closed")));
      return;
    }
    (*done)(CopyReply(*static_cast<const redisReply*>(r)));
  }

  // The event hooks: hiredis says what it wants to wait for; a Link turns
  // that into async_wait on the socket.
  static void AddRead(void* data) { static_cast<Link*>(data)->Want(kRead); }
  static void DelRead(void* data) {
    static_cast<Link*>(data)->want[kRead] = false;
  }
  static void AddWrite(void* data) { static_cast<Link*>(data)->Want(kWrite); }
  static void DelWrite(void* data) {
    static_cast<Link*>(data)->want[kWrite] = false;
  }
  // The context is being freed (after its owed callbacks ran, before the
  // descriptor is closed): stop watching, give the descriptor back.
  static void Cleanup(void* data) {
    auto* link = static_cast<Link*>(data);
    std::shared_ptr<Link> keep = std::move(link->self);
    const redisAsyncContext* ac = link->ac;
    link->ac = nullptr;
    link->want[kRead] = link->want[kWrite] = false;
    // Pending waits complete with operation_aborted; hiredis closes the fd.
    if (link->socket.is_open()) link->socket.release();
    if (std::shared_ptr<Impl> self = link->impl.lock()) {
      if (ac != nullptr) self->Lost(ac, self->LostStatus(ac));
    }
  }

  asio::io_context& io_;
  const Options options_;
  const Events events_;
  const std::string name_;  // options_.address.ToString()

  State state_ = State::kIdle;
  // Bumped whenever an attempt or its context ends, so a timer, a lookup or
  // a post from before can tell it is stale.
  uint64_t generation_ = 0;
  redisAsyncContext* ac_ = nullptr;  // The current context, or null.
  std::vector<asio::ip::address> endpoints_;
  size_t endpoint_ = 0;  // endpoints_[endpoint_] is being tried.
  absl::Duration backoff_;
  asio::steady_timer connect_timer_;
  asio::steady_timer retry_timer_;
  asio::ip::tcp::resolver resolver_;
};

Connection::Connection(asio::io_context& io, Options options, Events events)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(events))) {
}

Connection::~Connection() { impl_->Stop(); }

void Connection::Start() { impl_->Start(); }

void Connection::Command(std::vector<std::string> argv, Done done) {
  std::shared_ptr<Impl> keep = impl_;
  keep->Command(std::move(argv), std::move(done));
}

bool Connection::up() const { return impl_->up(); }

void Connection::Stop() {
  // Stop runs owed callbacks, and one may destroy this Connection.
  std::shared_ptr<Impl> keep = impl_;
  keep->Stop();
}

const Address& Connection::address() const { return impl_->address(); }

}  // namespace chat::redis

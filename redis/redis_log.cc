#include "redis/redis_log.h"

#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "redis/room_script.h"
#include "service/auth.h"
#include "service/history_cache.h"
#include "service/log.h"
#include "service/memory_log.h"
#include "service/recent_ids.h"
#include "service/text.h"

namespace chat::redis {
namespace {

namespace asio = boost::asio;

// At most this many ops wait for a shard (queued or unanswered); past it,
// Submit refuses: the shard is far behind.
constexpr size_t kMaxOutstanding = 100000;

// Events one XREAD takes per room at most.
constexpr int kReadBatch = 1000;

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 15]);
  }
  return out;
}

std::string ScriptSha() {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(kRoomScript.data()),
       kRoomScript.size(), digest);
  return Hex(digest, sizeof(digest));
}

std::string NewNodeId() {
  // An epoch is 16 random hex digits: as good for a node.
  return NewEpoch();
}

int64_t NowMillis() { return absl::ToUnixMillis(absl::Now()); }

// A name's key, and for a guest's name ("~bob") the key of its owner's.
std::string BareKey(const std::string& name) {
  if (name.empty() || name[0] != kGuestMark) return "";
  return NameKey(absl::string_view(name).substr(1));
}

uint64_t ParseU64(absl::string_view s) {
  uint64_t v = 0;
  if (!absl::SimpleAtoi(s, &v)) return 0;
  return v;
}

// The seq of a stream entry id "SEQ-0".
uint64_t SeqOfId(absl::string_view id) {
  return ParseU64(id.substr(0, id.find('-')));
}

const std::string* Field(const Reply& fields, absl::string_view name) {
  for (size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    if (fields.elements[i].str == name) return &fields.elements[i + 1].str;
  }
  return nullptr;
}

std::string FieldOr(const Reply& fields, absl::string_view name) {
  const std::string* v = Field(fields, name);
  return v != nullptr ? *v : std::string();
}

absl::Status UnavailableNow() { return absl::UnavailableError(kPausedMessage); }

}  // namespace

// An op on its way to a shard.
struct Op {
  uint64_t ticket = 0;
  SharedOp::Kind kind = SharedOp::Kind::kMessage;
  uint64_t member = 0;
  std::string op;                 // The script's op: join, leave, ...
  std::string name;               // The name it is for (for refusals).
  std::vector<std::string> args;  // The script's ARGV from 9 on.
};

// LogState: one open room's log, shared by its RedisRoomLog and the Redis
// thread.
struct LogState {
  std::string room;
  size_t shard = 0;
  std::weak_ptr<SharedListener> listener;
  std::string keys[5];  // log, meta, names, ids, idtimes

  // Set once, when first opened (before Opened is called).
  std::string epoch;

  absl::Mutex mu;
  uint64_t committed ABSL_GUARDED_BY(mu) = 0;
  HistoryCache cache;

  // Redis thread only.
  bool opened = false;     // The open script answered (first time).
  bool reopening = false;  // Waiting for the open after a reconnect.
  bool open_sent = false;
  bool lost = false;
  uint64_t read_seq = 0;   // The last seq read back.
  std::deque<Op> waiting;  // Ops held until the room is (re)opened.
  // Ops sent when the connection broke: done if their event shows up by
  // the seq `fence` (the room's seq when it was opened again).
  absl::flat_hash_set<uint64_t> unsure;
  uint64_t fence = 0;

  LogState(std::string name, size_t shard_index, size_t history_events)
      : room(std::move(name)),
        shard(shard_index),
        cache(nullptr, history_events) {
    const std::string prefix = absl::StrCat("chat:{", room, "}:");
    keys[0] = prefix + "log";
    keys[1] = prefix + "meta";
    keys[2] = prefix + "names";
    keys[3] = prefix + "ids";
    keys[4] = prefix + "idtimes";
  }
};

// Shard: one Redis server, its two connections (commands; the blocking
// read) and the rooms on it. Redis-thread state, except where marked.
struct Shard {
  size_t index = 0;
  Address address;
  std::unique_ptr<Connection> commands;
  std::unique_ptr<Connection> reader;
  bool commands_up = false;
  uint64_t generation = 0;         // Of the connections (Connect).
  bool heartbeat_pending = false;  // A lease renewal not answered yet.
  absl::Time reap_after = absl::InfinitePast();  // No reaping before.
  bool ready_once = false;      // Up at least once (Start waits for it).
  int64_t reader_id = -1;       // CLIENT ID of the reader, once up.
  std::string wake_id = "0-0";  // The wake stream's last entry read.
  bool reading = false;         // An XREAD is out.
  absl::flat_hash_map<std::string, std::shared_ptr<LogState>> rooms;
  // Ops sent and not answered, by ticket.
  absl::flat_hash_map<uint64_t, std::pair<Op, std::weak_ptr<LogState>>>
      in_flight;
  absl::Time down_logged = absl::InfinitePast();

  // Any thread.
  std::atomic<bool> up{false};
  absl::Mutex mu;
  std::vector<std::pair<Op, std::weak_ptr<LogState>>> queue ABSL_GUARDED_BY(mu);
  bool drain_posted ABSL_GUARDED_BY(mu) = false;
  std::atomic<size_t> outstanding{0};
};

// Core: the Redis thread and everything on it. Handlers posted to it hold a
// plain `this`: the Core outlives the thread (Stop joins it), and handlers
// never run are destroyed with the io_context.
class RedisLogBackend::Core {
 public:
  explicit Core(LogOptions options)
      : options_(std::move(options)),
        node_(NewNodeId()),
        wake_key_("chat:node:" + node_ + ":wake"),
        sha_(ScriptSha()),
        work_(asio::make_work_guard(io_)),
        lease_timer_(io_) {
    for (size_t i = 0; i < options_.shards.size(); ++i) {
      auto s = std::make_unique<Shard>();
      s->index = i;
      s->address = options_.shards[i];
      shards_.push_back(std::move(s));
    }
  }

  void Run() {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "chat-redis");
      io_.run();
    });
    asio::post(io_, [this] { StartShards(); });
  }

  // Waits until every shard answered once, or one failed for good.
  absl::Status AwaitReady() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](Core* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
          return !c->fatal_.ok() || c->ready_ == c->shards_.size();
        },
        this));
    return fatal_;
  }

  ~Core() { Stop(); }

  // Closes the connections and ends the Redis thread. Idempotent.
  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      // A renewal already due would arm the timer again: stopping_ stops
      // it, and io_.stop() anything else still pending (a reconnect's
      // backoff), whose handlers are destroyed with io_ unrun.
      stopping_ = true;
      lease_timer_.cancel();
      for (auto& s : shards_) {
        if (s->commands) s->commands->Stop();
        if (s->reader) s->reader->Stop();
      }
      work_.reset();
      io_.stop();
    });
    if (thread_.joinable()) thread_.join();
  }

  const std::string& node() const { return node_; }
  const LogOptions& options() const { return options_; }
  size_t shard_count() const { return shards_.size(); }

  std::shared_ptr<LogState> NewState(const std::string& room,
                                     std::weak_ptr<SharedListener> listener) {
    auto state = std::make_shared<LogState>(room, ShardOf(room, shards_.size()),
                                            options_.history_events);
    state->listener = std::move(listener);
    asio::post(io_, [this, state] {
      Shard& s = *shards_[state->shard];
      // A room lost and opened again replaces the old state.
      if (auto old = s.rooms.find(state->room); old != s.rooms.end()) {
        old->second->lost = true;
      }
      s.rooms[state->room] = state;
      SendOpen(s, *state);
    });
    return state;
  }

  void Close(const std::shared_ptr<LogState>& state) {
    asio::post(io_, [this, state] {
      Shard& s = *shards_[state->shard];
      auto it = s.rooms.find(state->room);
      if (it != s.rooms.end() && it->second == state) s.rooms.erase(it);
      state->lost = true;
    });
  }

  uint64_t NextTicket() { return next_ticket_.fetch_add(1) + 1; }

  absl::StatusOr<uint64_t> Submit(const std::shared_ptr<LogState>& state,
                                  Op op) {
    Shard& s = *shards_[state->shard];
    if (op.kind != SharedOp::Kind::kLeave) {
      if (!s.up.load(std::memory_order_acquire)) return UnavailableNow();
      if (s.outstanding.load(std::memory_order_relaxed) >= kMaxOutstanding) {
        return absl::ResourceExhaustedError(
            "chat is busy: storage is far behind; try again in a moment");
      }
    }
    op.ticket = NextTicket();
    const uint64_t ticket = op.ticket;
    s.outstanding.fetch_add(1, std::memory_order_relaxed);
    bool post = false;
    {
      absl::MutexLock lock(&s.mu);
      s.queue.emplace_back(std::move(op), state);
      if (!s.drain_posted) post = s.drain_posted = true;
    }
    if (post) {
      asio::post(io_, [this, &s] { Drain(s); });
    }
    return ticket;
  }

  // FlushFor: sends what is queued, then takes this node's members out of
  // every room. The drop goes behind every op on the same connection, so
  // its answer comes after theirs.
  bool Finish(absl::Duration timeout) {
    struct Wait {
      absl::Mutex mu;
      size_t done ABSL_GUARDED_BY(mu) = 0;
      size_t want = 0;
      bool Done() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return done >= want;
      }
    };
    auto w = std::make_shared<Wait>();
    w->want = shards_.size();
    asio::post(io_, [this, w] {
      stopping_ = true;
      lease_timer_.cancel();
      for (auto& sp : shards_) {
        Shard& s = *sp;
        Drain(s);
        if (!s.commands_up) {
          absl::MutexLock lock(&w->mu);
          ++w->done;
          continue;
        }
        s.commands->Command(
            {"EVALSHA", sha_, "0", "drop", node_, absl::StrCat(NowMillis()),
             absl::StrCat(options_.history_events), "server shutting down"},
            [w](absl::StatusOr<Reply>) {
              absl::MutexLock lock(&w->mu);
              ++w->done;
            });
      }
    });
    absl::MutexLock lock(&w->mu);
    return w->mu.AwaitWithTimeout(absl::Condition(w.get(), &Wait::Done),
                                  timeout);
  }

 private:
  void StartShards() {
    for (auto& sp : shards_) Connect(sp.get());
    RenewLeases();
  }

  // Makes the shard's two connections (commands; the blocking read) and
  // starts them.
  void Connect(Shard* s) {
    ++s->generation;
    s->heartbeat_pending = false;
    {
      Connection::Options co;
      co.address = s->address;
      s->commands = std::make_unique<Connection>(
          io_, co,
          Connection::Events{
              [this, s] { CommandsUp(*s); },
              [this, s](const absl::Status& why) { CommandsDown(*s, why); }});
      s->reader = std::make_unique<Connection>(
          io_, co,
          Connection::Events{[this, s] { ReaderUp(*s); },
                             [this, s](const absl::Status& why) {
                               s->reader_id = -1;
                               s->reading = false;
                               if (IsFatal(why)) Fatal(why);
                             }});
      s->commands->Start();
      s->reader->Start();
    }
  }

  // A shard that stopped answering (a paused Redis, a network cut that
  // resets nothing): drops both connections and connects again, so that
  // the node pauses and settles what was in flight as for a lost one.
  void Reconnect(Shard& s, const absl::Status& why) {
    CommandsDown(s, why);
    s.reader_id = -1;
    s.reading = false;
    std::unique_ptr<Connection> commands = std::move(s.commands);
    std::unique_ptr<Connection> reader = std::move(s.reader);
    commands->Stop();
    reader->Stop();
    Connect(&s);
  }

  static bool IsFatal(const absl::Status& why) {
    return absl::IsFailedPrecondition(why) || absl::IsInvalidArgument(why);
  }

  void Fatal(const absl::Status& why) {
    absl::MutexLock lock(&mu_);
    if (fatal_.ok()) fatal_ = why;
  }

  void CommandsUp(Shard& s) {
    // The script first: every EVALSHA after it on this connection finds it.
    s.commands->Command({"SCRIPT", "LOAD", std::string(kRoomScript)},
                        [](absl::StatusOr<Reply>) {});
    s.commands->Command(
        {"SET", "chat:node:" + node_, Describe(), "PX",
         absl::StrCat(absl::ToInt64Milliseconds(options_.lease))},
        [](absl::StatusOr<Reply>) {});
    s.commands->Command({"SADD", "chat:nodes", node_},
                        [](absl::StatusOr<Reply>) {});
    s.commands_up = true;
    s.heartbeat_pending = false;
    // Leases may have run out while Redis was away (or stopped: its clock
    // went on): give every node one lease to renew its own before looking
    // for lost ones.
    s.reap_after = absl::Now() + options_.lease;
    const bool again = s.ready_once;
    // Open every room again: the same epoch goes on; another means Redis
    // lost the room.
    for (auto& [name, state] : s.rooms) {
      state->reopening = state->opened;
      state->open_sent = false;
      SendOpen(s, *state);
    }
    s.up.store(true, std::memory_order_release);
    if (again) {
      Log(LogLevel::kWarning, "redis: reachable again; chat goes on",
          {{"redis", s.address.ToString()}});
    }
    if (options_.on_shard_state) options_.on_shard_state(s.index, true);
    if (!s.ready_once) {
      s.ready_once = true;
      absl::MutexLock lock(&mu_);
      ++ready_;
    }
    Drain(s);
  }

  void CommandsDown(Shard& s, const absl::Status& why) {
    if (IsFatal(why)) {
      Fatal(why);
      return;
    }
    s.up.store(false, std::memory_order_release);
    const bool was_up = s.commands_up;
    s.commands_up = false;
    if (was_up && options_.on_shard_state) {
      options_.on_shard_state(s.index, false);
    }
    if (was_up || absl::Now() - s.down_logged > absl::Seconds(10)) {
      s.down_logged = absl::Now();
      Log(LogLevel::kWarning,
          s.ready_once ? "redis: unreachable; chat is paused, retrying"
                       : "redis: cannot reach it yet, retrying",
          {{"redis", s.address.ToString()}, {"error", why.message()}});
    }
    for (auto& [name, state] : s.rooms) state->reopening = state->opened;
  }

  void ReaderUp(Shard& s) {
    s.reader->Command({"CLIENT", "ID"}, [this, &s](absl::StatusOr<Reply> r) {
      if (!r.ok() || r->type != Reply::Type::kInteger) return;
      s.reader_id = r->integer;
      s.reading = false;
      Read(s);
    });
  }

  std::string Describe() const {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    return absl::StrCat(host, ":", getpid());
  }

  void SendOpen(Shard& s, LogState& state) {
    if (!s.commands_up || state.open_sent || state.lost) return;
    state.open_sent = true;
    std::vector<std::string> argv = {"EVALSHA", sha_, "5"};
    for (const std::string& k : state.keys) argv.push_back(k);
    argv.insert(argv.end(),
                {"open", node_, absl::StrCat(NowMillis()),
                 absl::StrCat(options_.history_events), state.room,
                 // Taken only if Redis has no history for the
                 // room: a room opened again after Redis lost
                 // it gets a new epoch.
                 NewEpoch(), absl::StrCat(options_.history_events)});
    std::weak_ptr<LogState> weak = s.rooms[state.room];
    s.commands->Command(
        std::move(argv), [this, &s, weak](absl::StatusOr<Reply> r) {
          std::shared_ptr<LogState> st = weak.lock();
          if (st == nullptr || st->lost) return;
          if (!r.ok()) {
            st->open_sent = false;  // Sent again when the shard is back.
            return;
          }
          Opened(s, st, *r);
        });
  }

  void Opened(Shard& s, const std::shared_ptr<LogState>& st, const Reply& r) {
    std::shared_ptr<SharedListener> listener = st->listener.lock();
    if (r.is_error() || r.elements.size() < 4) {
      Log(LogLevel::kError, "redis: cannot open the room",
          {{"room", st->room}, {"error", r.is_error() ? r.str : "bad reply"}});
      Lose(s, st,
           absl::UnavailableError(absl::StrCat(
               "the room could not be opened in storage: ", r.str)));
      return;
    }
    SharedState state;
    state.epoch = r.elements[0].str;
    state.seq = ParseU64(r.elements[1].str);
    const Reply& names = r.elements[2];
    for (size_t i = 0; i + 1 < names.elements.size(); i += 2) {
      const std::string& rec = names.elements[i + 1].str;
      // node|member|transport|owner|joined|secret|name
      std::vector<absl::string_view> parts;
      size_t start = 0;
      for (int f = 0; f < 6; ++f) {
        const size_t bar = rec.find('|', start);
        if (bar == std::string::npos) break;
        parts.push_back(absl::string_view(rec).substr(start, bar - start));
        start = bar + 1;
      }
      if (parts.size() != 6) continue;
      SharedMember m;
      m.name = rec.substr(start);
      m.transport = static_cast<v1::Transport>(ParseU64(parts[2]));
      m.joined_seq = ParseU64(parts[4]);
      m.member = parts[0] == node_ ? ParseU64(parts[1]) : 0;
      state.members.push_back(std::move(m));
    }
    std::sort(state.members.begin(), state.members.end(),
              [](const SharedMember& a, const SharedMember& b) {
                return a.joined_seq < b.joined_seq;
              });
    if (!st->opened) {
      st->epoch = state.epoch;
      // The recent events, newest first, for history and replays.
      const Reply& recent = r.elements[3];
      for (auto it = recent.elements.rbegin(); it != recent.elements.rend();
           ++it) {
        std::optional<SharedEvent> e = Parse(*it);
        if (e.has_value()) st->cache.Add(std::move(e->event));
      }
      {
        absl::MutexLock lock(&st->mu);
        st->committed = state.seq;
      }
      st->read_seq = state.seq;
      st->opened = true;
      if (listener != nullptr) listener->Opened(state);
    } else {
      if (state.epoch != st->epoch) {
        Lose(s, st,
             absl::UnavailableError(absl::StrCat(
                 "room ", st->room,
                 "'s history was lost by its storage (Redis restarted "
                 "without persistence, or was flushed): connect again")));
        return;
      }
      st->fence = state.seq;
      if (listener != nullptr) listener->Opened(state);
    }
    st->reopening = false;
    SettleUnsure(*st);
    // What waited for the room to open goes now, in order.
    std::deque<Op> waiting;
    waiting.swap(st->waiting);
    for (Op& op : waiting) Send(s, st, std::move(op));
    Unblock(s);
  }

  // The room's history is gone (or cannot be opened): the room ends its
  // members, and a new log will open it again.
  void Lose(Shard& s, const std::shared_ptr<LogState>& st,
            const absl::Status& why) {
    st->lost = true;
    auto it = s.rooms.find(st->room);
    if (it != s.rooms.end() && it->second == st) s.rooms.erase(it);
    std::shared_ptr<SharedListener> listener = st->listener.lock();
    std::deque<Op> waiting;
    waiting.swap(st->waiting);
    s.outstanding.fetch_sub(waiting.size(), std::memory_order_relaxed);
    if (listener == nullptr) return;
    for (const Op& op : waiting) listener->Refused(op.ticket, why, 0);
    for (uint64_t t : st->unsure) listener->Refused(t, why, 0);
    st->unsure.clear();
    listener->Lost(why);
  }

  void Drain(Shard& s) {
    std::vector<std::pair<Op, std::weak_ptr<LogState>>> queue;
    {
      absl::MutexLock lock(&s.mu);
      queue.swap(s.queue);
      s.drain_posted = false;
    }
    for (auto& [op, weak] : queue) {
      std::shared_ptr<LogState> st = weak.lock();
      if (st == nullptr || st->lost) {
        s.outstanding.fetch_sub(1, std::memory_order_relaxed);
        continue;
      }
      if (!st->opened || st->reopening || !s.commands_up) {
        if (!s.commands_up && op.kind != SharedOp::Kind::kLeave) {
          // Went down after Submit looked: refused, and it was not sent.
          s.outstanding.fetch_sub(1, std::memory_order_relaxed);
          if (auto l = st->listener.lock()) {
            l->Refused(op.ticket, UnavailableNow(), 0);
          }
          continue;
        }
        st->waiting.push_back(std::move(op));
        continue;
      }
      Send(s, st, std::move(op));
    }
  }

  void Send(Shard& s, const std::shared_ptr<LogState>& st, Op op) {
    std::vector<std::string> argv;
    argv.reserve(16 + op.args.size());
    argv.insert(argv.end(), {"EVALSHA", sha_, "5"});
    for (const std::string& k : st->keys) argv.push_back(k);
    argv.insert(argv.end(),
                {op.op, node_, absl::StrCat(NowMillis()),
                 absl::StrCat(options_.history_events), st->room, st->epoch,
                 absl::StrCat(op.ticket), absl::StrCat(op.member)});
    if (op.kind == SharedOp::Kind::kLeave) {
      // Kept: a leave whose answer is lost is sent again.
      argv.insert(argv.end(), op.args.begin(), op.args.end());
    } else {
      for (std::string& a : op.args) argv.push_back(std::move(a));
      op.args.clear();
    }
    const uint64_t ticket = op.ticket;
    s.in_flight.emplace(ticket, std::make_pair(std::move(op), st));
    s.commands->Command(std::move(argv),
                        [this, &s, ticket](absl::StatusOr<Reply> r) {
                          Answered(s, ticket, r);
                        });
  }

  void Answered(Shard& s, uint64_t ticket, const absl::StatusOr<Reply>& r) {
    auto it = s.in_flight.find(ticket);
    if (it == s.in_flight.end()) return;
    Op op = std::move(it->second.first);
    std::shared_ptr<LogState> st = it->second.second.lock();
    s.in_flight.erase(it);
    if (st == nullptr || st->lost) {
      s.outstanding.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    std::shared_ptr<SharedListener> listener = st->listener.lock();
    if (!r.ok()) {
      // Sent, not answered: maybe done. A leave is sent again (it is done
      // once at most); anything else is settled by what the log shows.
      if (op.kind == SharedOp::Kind::kLeave) {
        st->waiting.push_back(std::move(op));
        return;
      }
      s.outstanding.fetch_sub(1, std::memory_order_relaxed);
      st->unsure.insert(ticket);
      return;
    }
    s.outstanding.fetch_sub(1, std::memory_order_relaxed);
    const Reply& reply = *r;
    if (reply.is_error()) {
      Log(LogLevel::kError, "redis: the room script failed",
          {{"room", st->room}, {"error", reply.str}});
      if (listener != nullptr) {
        listener->Refused(ticket,
                          absl::InternalError(
                              absl::StrCat("storage refused it: ", reply.str)),
                          0);
      }
      return;
    }
    const std::string& what =
        reply.elements.empty() ? std::string() : reply.elements[0].str;
    if (what == "ok" || listener == nullptr) return;
    if (what == "dup" && reply.elements.size() > 1) {
      listener->Refused(ticket, absl::OkStatus(),
                        ParseU64(reply.elements[1].str));
    } else if (what == "lost") {
      Lose(s, st,
           absl::UnavailableError(absl::StrCat(
               "room ", st->room,
               "'s history was lost by its storage (Redis restarted without "
               "persistence, or was flushed): connect again")));
    } else if (what == "err" && reply.elements.size() > 1) {
      listener->Refused(ticket, Refusal(reply.elements[1].str, op, st->room),
                        0);
    }
  }

  static absl::Status Refusal(const std::string& why, const Op& op,
                              const std::string& room) {
    const std::string& shown = op.name;
    if (why == "taken") {
      return absl::AlreadyExistsError(
          absl::StrCat("name \"", shown, "\" is taken in room ", room));
    }
    if (why == "owner") {
      return absl::AlreadyExistsError(
          absl::StrCat(shown.empty() ? shown : shown.substr(1),
                       " is taken by its owner: sign in with a token, or pick "
                       "another name"));
    }
    return absl::FailedPreconditionError("you are not in a room");
  }

  // Ops whose answer was lost: by the fence, those whose event did not
  // show up were not done.
  void SettleUnsure(LogState& st) {
    if (st.unsure.empty() || st.reopening || st.read_seq < st.fence) return;
    std::shared_ptr<SharedListener> listener = st.listener.lock();
    absl::flat_hash_set<uint64_t> unsure;
    unsure.swap(st.unsure);
    if (listener == nullptr) return;
    for (uint64_t t : unsure) {
      listener->Refused(
          t,
          absl::UnavailableError(
              "the storage could not be reached, and it was not done"),
          0);
    }
  }

  // The read: one XREAD for every room of the shard, blocking until any has
  // events.
  // The read also waits on this node's wake stream, so that an entry added
  // to it (Unblock) ends the wait even if it is added before the read
  // reaches Redis.
  void Read(Shard& s) {
    if (s.reading || s.reader_id < 0 || !s.reader->up()) return;
    std::vector<std::string> argv = {
        "XREAD",   "COUNT",  absl::StrCat(kReadBatch), "BLOCK", "0",
        "STREAMS", wake_key_};
    std::vector<std::string> ids = {s.wake_id};
    for (auto& [name, st] : s.rooms) {
      if (!st->opened || st->lost) continue;
      argv.push_back(st->keys[0]);
      ids.push_back(absl::StrCat(st->read_seq, "-0"));
    }
    for (std::string& id : ids) argv.push_back(std::move(id));
    s.reading = true;
    s.reader->Command(std::move(argv), [this, &s, generation = s.generation](
                                           absl::StatusOr<Reply> r) {
      if (generation != s.generation) return;  // An older connection's.
      s.reading = false;
      if (!r.ok()) return;  // Down: read again once it is up.
      if (r->type == Reply::Type::kArray) Dispatch(s, *r);
      Read(s);
    });
  }

  // A room was opened while the read waits: the read starts over with it.
  void Unblock(Shard& s) {
    if (!s.reading) {
      Read(s);
      return;
    }
    if (s.commands_up) {
      s.commands->Command({"XADD", wake_key_, "MAXLEN", "1", "*", "w", "1"},
                          [](absl::StatusOr<Reply>) {});
    }
  }

  void Dispatch(Shard& s, const Reply& r) {
    for (const Reply& stream : r.elements) {
      if (stream.elements.size() < 2) continue;
      const std::string& key = stream.elements[0].str;
      if (key == wake_key_) {
        const Reply& entries = stream.elements[1];
        if (!entries.elements.empty() &&
            !entries.elements.back().elements.empty()) {
          s.wake_id = entries.elements.back().elements[0].str;
        }
        continue;
      }
      // chat:{ROOM}:log
      if (key.size() < 11) continue;
      const std::string room = key.substr(6, key.size() - 6 - 5);
      auto it = s.rooms.find(room);
      if (it == s.rooms.end()) continue;
      std::shared_ptr<LogState> st = it->second;
      std::vector<SharedEvent> events;
      for (const Reply& entry : stream.elements[1].elements) {
        std::optional<SharedEvent> e = Parse(entry);
        if (!e.has_value()) continue;
        const uint64_t seq = e->event->seq();
        if (seq <= st->read_seq) continue;
        if (seq != st->read_seq + 1) {
          Log(LogLevel::kWarning,
              "redis: events were trimmed before this node read them",
              {{"room", st->room},
               {"after_seq", absl::StrCat(st->read_seq)},
               {"next_seq", absl::StrCat(seq)}});
        }
        st->read_seq = seq;
        if (e->ticket != 0) st->unsure.erase(e->ticket);
        st->cache.Add(e->event);
        events.push_back(*std::move(e));
      }
      if (events.empty()) continue;
      {
        absl::MutexLock lock(&st->mu);
        st->committed = st->read_seq;
      }
      if (std::shared_ptr<SharedListener> l = st->listener.lock()) {
        l->Arrived(events);
      }
      SettleUnsure(*st);
    }
  }

  // One stream entry [id, [field, value, ...]] as an event.
  std::optional<SharedEvent> Parse(const Reply& entry) const {
    if (entry.elements.size() < 2) return std::nullopt;
    const uint64_t seq = SeqOfId(entry.elements[0].str);
    const Reply& f = entry.elements[1];
    const std::string kind = FieldOr(f, "k");
    const bool ours = FieldOr(f, "n") == node_;
    const uint64_t member = ours ? ParseU64(FieldOr(f, "u")) : 0;
    SharedEvent se;
    se.ticket = ours ? ParseU64(FieldOr(f, "t")) : 0;
    v1::ChatResponse r;
    if (kind == "m") {
      if (!r.ParseFromString(FieldOr(f, "p"))) return std::nullopt;
    } else {
      const int64_t ms = static_cast<int64_t>(ParseU64(FieldOr(f, "ms")));
      r.mutable_time()->set_seconds(ms / 1000);
      r.mutable_time()->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
      const auto transport =
          static_cast<v1::Transport>(ParseU64(FieldOr(f, "tr")));
      if (kind == "j") {
        v1::Member* m = r.mutable_member_joined()->mutable_member();
        m->set_name(FieldOr(f, "name"));
        m->set_transport(transport);
        se.member = member;
      } else if (kind == "l") {
        v1::MemberLeft* l = r.mutable_member_left();
        l->mutable_member()->set_name(FieldOr(f, "name"));
        l->mutable_member()->set_transport(transport);
        l->set_reason(FieldOr(f, "why"));
        if (FieldOr(f, "rj") == "1") {
          l->set_rejoined(true);
          se.member =
              FieldOr(f, "hn") == node_ ? ParseU64(FieldOr(f, "hu")) : 0;
          if (ours) se.secret = FieldOr(f, "s");
        } else {
          se.member = member;
        }
      } else if (kind == "r") {
        r.mutable_member_renamed()->set_old_name(FieldOr(f, "old"));
        r.mutable_member_renamed()->set_new_name(FieldOr(f, "name"));
        se.member = member;
      } else {
        return std::nullopt;
      }
    }
    r.set_seq(seq);
    se.event = std::make_shared<const Event>(std::move(r), member);
    return se;
  }

  // Every lease_renewal: renews this node's lease on every shard, and takes
  // out the members of nodes whose lease expired.
  void RenewLeases() {
    if (stopping_) return;
    for (auto& sp : shards_) {
      Shard& s = *sp;
      if (!s.commands_up) continue;
      // The renewal is also the heartbeat: one not answered by the next
      // tick means Redis stopped answering.
      if (s.heartbeat_pending) {
        Reconnect(s,
                  absl::UnavailableError(absl::StrCat(
                      "no answer from Redis at ", s.address.ToString(), " for ",
                      absl::FormatDuration(options_.lease_renewal))));
        continue;
      }
      s.heartbeat_pending = true;
      s.commands->Command(
          {"SET", "chat:node:" + node_, Describe(), "PX",
           absl::StrCat(absl::ToInt64Milliseconds(options_.lease))},
          [&s, generation = s.generation](absl::StatusOr<Reply> r) {
            if (r.ok() && generation == s.generation) {
              s.heartbeat_pending = false;
            }
          });
      s.commands->Command({"SADD", "chat:nodes", node_},
                          [](absl::StatusOr<Reply>) {});
      if (absl::Now() < s.reap_after) continue;
      s.commands->Command(
          {"EVALSHA", sha_, "0", "reap", node_, absl::StrCat(NowMillis()),
           absl::StrCat(options_.history_events)},
          [&s](absl::StatusOr<Reply> r) {
            if (!r.ok() || r->type != Reply::Type::kArray) return;
            for (const Reply& node : r->elements) {
              Log(LogLevel::kWarning,
                  "redis: a node stopped renewing its lease; its members "
                  "were taken out",
                  {{"node", node.str}, {"redis", s.address.ToString()}});
            }
          });
    }
    lease_timer_.expires_after(std::chrono::milliseconds(
        absl::ToInt64Milliseconds(options_.lease_renewal)));
    lease_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) RenewLeases();
    });
  }

  const LogOptions options_;
  const std::string node_;
  const std::string wake_key_;  // This node's wake stream (Read, Unblock).
  const std::string sha_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::steady_timer lease_timer_;
  std::thread thread_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> next_ticket_{0};
  bool stopping_ = false;  // Redis thread.

  absl::Mutex mu_;
  size_t ready_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
};

namespace {

// RedisRoomLog: the RoomLog of one room, in front of its LogState.
class RedisRoomLog final : public RoomLog {
 public:
  RedisRoomLog(std::shared_ptr<RedisLogBackend::Core> core,
               std::shared_ptr<LogState> state)
      : core_(std::move(core)), state_(std::move(state)) {}

  ~RedisRoomLog() override { core_->Close(state_); }

  const std::string& epoch() const override { return state_->epoch; }
  bool synchronous() const override { return false; }
  bool shared() const override { return true; }

  absl::StatusOr<EventPtr> Append(v1::ChatResponse, uint64_t, bool) override {
    return absl::UnimplementedError("a shared log takes Submit");
  }

  uint64_t last_seq() const override { return committed_seq(); }
  uint64_t committed_seq() const override {
    absl::MutexLock lock(&state_->mu);
    return state_->committed;
  }
  uint64_t first_seq() const override {
    const uint64_t first = state_->cache.first_seq();
    return first != 0 ? first : committed_seq() + 1;
  }

  absl::StatusOr<uint64_t> Read(const LogRead& read,
                                std::vector<EventPtr>* out) override {
    return state_->cache.Read(read, committed_seq(), out);
  }

  absl::StatusOr<uint64_t> MessagesStart(uint32_t count,
                                         uint64_t before) override {
    bool complete = true;
    return state_->cache.MessagesStart(count, before, &complete);
  }

  absl::StatusOr<uint64_t> Submit(SharedOp op) override {
    const LogOptions& o = core_->options();
    Op out;
    out.kind = op.kind;
    out.member = op.member;
    out.name = op.name;
    const std::string transport = absl::StrCat(static_cast<int>(op.transport));
    switch (op.kind) {
      case SharedOp::Kind::kJoin:
        out.op = "join";
        out.args = {NameKey(op.name),
                    op.name,
                    transport,
                    op.owner ? "1" : "0",
                    op.secret,
                    op.resume_secret,
                    op.owner_takeover ? "1" : "0",
                    BareKey(op.name)};
        break;
      case SharedOp::Kind::kLeave:
        out.op = "leave";
        out.args = {NameKey(op.name), op.reason};
        break;
      case SharedOp::Kind::kRename:
        out.op = "rename";
        out.args = {NameKey(op.old_name), NameKey(op.name), op.name,
                    op.owner ? "1" : "0", BareKey(op.name)};
        break;
      case SharedOp::Kind::kMessage: {
        out.op = "msg";
        const std::string& id = op.message.message().client_id();
        const bool remember = o.client_id_window > absl::ZeroDuration() &&
                              o.client_ids_per_room > 0 && !id.empty();
        out.args = {NameKey(op.name), op.message.SerializeAsString(),
                    remember ? RecentIds::Key(NameKey(op.name), id) : "",
                    absl::StrCat(absl::ToInt64Milliseconds(o.client_id_window)),
                    absl::StrCat(o.client_ids_per_room)};
        break;
      }
    }
    return core_->Submit(state_, std::move(out));
  }

 private:
  const std::shared_ptr<RedisLogBackend::Core> core_;
  const std::shared_ptr<LogState> state_;
};

}  // namespace

size_t ShardOf(const std::string& room, size_t shards) {
  if (shards <= 1) return 0;
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits.
  for (unsigned char c : room) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h % shards);
}

absl::StatusOr<std::unique_ptr<RedisLogBackend>> RedisLogBackend::Start(
    LogOptions options) {
  if (options.shards.empty()) {
    return absl::InvalidArgumentError("--redis: no address given");
  }
  auto core = std::make_shared<Core>(std::move(options));
  core->Run();
  if (absl::Status s = core->AwaitReady(); !s.ok()) {
    core->Stop();
    return s;
  }
  return std::unique_ptr<RedisLogBackend>(new RedisLogBackend(core));
}

RedisLogBackend::RedisLogBackend(std::shared_ptr<Core> core)
    : core_(std::move(core)) {}

RedisLogBackend::~RedisLogBackend() { core_->Stop(); }

absl::StatusOr<std::unique_ptr<RoomLog>> RedisLogBackend::Open(
    const std::string& room, std::weak_ptr<CommitListener> listener) {
  std::shared_ptr<CommitListener> l = listener.lock();
  auto shared = std::dynamic_pointer_cast<SharedListener>(l);
  if (shared == nullptr) {
    return absl::InternalError("a shared log needs a SharedListener");
  }
  return std::make_unique<RedisRoomLog>(core_, core_->NewState(room, shared));
}

bool RedisLogBackend::FlushFor(absl::Duration timeout) {
  return core_->Finish(timeout);
}

const std::string& RedisLogBackend::node_id() const { return core_->node(); }

}  // namespace chat::redis

// redis::Connection: one connection to one Redis server, through hiredis's
// asynchronous API (Debian's libhiredis-dev 0.14), driven by a Boost.Asio
// io_context that the owner runs on one thread: no call ever blocks that
// thread on the network, and every reply is handled on it.
//
// hiredis 0.14 has no Asio adapter, so this file is one: the context's
// addRead/delRead/addWrite/delWrite/cleanup hooks arm waits on its socket
// (asio::posix::stream_descriptor::async_wait) and call
// redisAsyncHandleRead/Write when it is ready. Commands are pipelined: each
// Command is written at once (behind those before it) and its reply comes
// back in order.
//
// Connecting: Start connects, then sends PING and expects PONG, and only then
// is the connection up (Events::on_up). A server that does not answer PONG
// (not a Redis server; or a Redis that wants AUTH, which this class does not
// send), or a host name that does not exist, is a fatal error
// (Events::on_down with FAILED_PRECONDITION or INVALID_ARGUMENT): the
// connection stops and does not retry. A refused or lost connection, no
// answer within connect_timeout, a Redis answering PING with LOADING, BUSY or
// MASTERDOWN, or a resolver that cannot answer now (EAI_AGAIN) is not fatal:
// on_down with UNAVAILABLE, and it reconnects with backoff (100 ms, doubling,
// at most 2 s) until it is up again (on_up once more), or Stop. A host name
// is resolved on each attempt (Asio's resolver, off this thread) and its
// addresses tried in turn.
//
// A Redis error reply (a script's error, NOSCRIPT) is a reply, of type
// kError: only a connection that fails fails a command. There is no
// per-command timeout (a paused server owes its replies until the
// connection is lost) and no bound on commands in flight: callers bound
// their own.
//
// hiredis 0.14 speaks RESP2 only (no HELLO 3), and a reply nobody asked for
// that is not an error fails an assert in it (Debian builds it with asserts:
// the process aborts). Redis sends none outside SUBSCRIBE and MONITOR, which
// Command refuses; a server that is not Redis could.
//
// Threads: construct, Start, Command, Stop and destroy on the io_context's
// thread (or before it runs / after it stopped), and destroy it before the
// io_context. The callbacks run there, and may call Command or Stop, or
// destroy the Connection.
//
// Example:
//   asio::io_context io;
//   redis::Connection::Options options;
//   options.address = {"127.0.0.1", 6379};
//   redis::Connection c(io, options,
//                       {.on_up = [&] {
//                          c.Command({"SET", "k", "v"}, [](auto reply) {...});
//                        },
//                        .on_down = [](const absl::Status& why) {...}});
//   c.Start();
//   io.run();
#ifndef CHATROOM_REDIS_REDIS_CONNECTION_H_
#define CHATROOM_REDIS_REDIS_CONNECTION_H_

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat::redis {

// Reply: a copy of one hiredis reply, which outlives the callback.
struct Reply {
  enum class Type { kNil, kString, kStatus, kError, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;              // kString, kStatus, kError.
  int64_t integer = 0;          // kInteger.
  std::vector<Reply> elements;  // kArray.

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
};

// One Redis server's address.
struct Address {
  std::string host;
  int port = 0;
  std::string ToString() const;  // "HOST:PORT"
};

// ParseAddresses
//
// "HOST:PORT[,HOST:PORT...]" (IPv6 as [::1]:6379) into addresses, in order.
// INVALID_ARGUMENT, saying which, for an empty list, a missing or bad port,
// or an address given twice.
absl::StatusOr<std::vector<Address>> ParseAddresses(absl::string_view list);

class Connection {
 public:
  using Done = std::function<void(absl::StatusOr<Reply>)>;

  struct Options {
    Address address;
    absl::Duration connect_timeout = absl::Seconds(2);
    absl::Duration backoff_min = absl::Milliseconds(100);
    absl::Duration backoff_max = absl::Seconds(2);
  };

  struct Events {
    // Up: connected and answered PING. Called again after each reconnect.
    std::function<void()> on_up;
    // Down: the connect failed or the connection was lost (UNAVAILABLE: it
    // retries), or is not to a Redis server / the host is unknown
    // (FAILED_PRECONDITION / INVALID_ARGUMENT: it stopped). Called once per
    // failed attempt; the message names the address and says what failed.
    // Not called for Stop. When a connection that was up is lost, on_down
    // runs before the owed commands' `done`s (which see up() false).
    std::function<void(const absl::Status& why)> on_down;
  };

  Connection(boost::asio::io_context& io, Options options, Events events);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects (and reconnects, as above) until Stop. The first attempt is
  // posted: no callback runs inside Start. Once stopped (Stop, or a fatal
  // error), Start does nothing: make a new Connection.
  void Start();

  // Command
  //
  // Sends `argv` (binary-safe) behind every command sent before it. `done`
  // gets the reply, or UNAVAILABLE when the connection is not up or is lost
  // before the reply came (it may or may not have run). `done` is never
  // called inside Command: a refusal is posted (so it may run after the
  // Connection is gone). Also refused, with INVALID_ARGUMENT: an empty argv,
  // and commands after which the server pushes messages ((P|S)SUBSCRIBE,
  // their UNSUBSCRIBEs, MONITOR). Each `done` is called exactly once.
  void Command(std::vector<std::string> argv, Done done);

  // Up: connected and answered PING, not lost since.
  bool up() const;

  // Closes the connection and stops reconnecting. Replies still owed get
  // UNAVAILABLE inside Stop (when called from a reply's `done`: right after
  // that returns). Idempotent; the destructor calls it.
  void Stop();

  const Address& address() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace chat::redis

#endif  // CHATROOM_REDIS_REDIS_CONNECTION_H_

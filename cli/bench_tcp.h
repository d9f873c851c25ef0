// chatctl bench's TCP members: clients of chat-service's legacy line port,
// plaintext or TLS (--tls, bench_tls.h), all served by a few epoll threads
// (--tcp_threads).
//
// A member's connection lives on one epoll thread, which alone reads it (and
// over TLS alone touches its SSL). Senders write from the pacer thread:
// plaintext straight to the socket, TLS by queueing their lines for the
// epoll thread (TlsStream::Write).
#ifndef CHATROOM_CLI_BENCH_TCP_H_
#define CHATROOM_CLI_BENCH_TCP_H_

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "cli/bench_member.h"
#include "cli/bench_tls.h"

namespace chat {
namespace bench {

// TcpMembers: every TCP member of a run, and the epoll threads that serve
// them.
//
// Thread-safety: Resolve, Connect, Start and Stop are for one thread (the
// main thread). WriteAll is for one thread per connection at a time. size,
// joined and closed may be called from any thread.
class TcpMembers {
 public:
  // Conn: one member's connection.
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
  TcpMembers(int threads, std::unique_ptr<TlsClientContext> tls);
  ~TcpMembers();  // Stop()s, then closes every socket.

  TcpMembers(const TcpMembers&) = delete;
  TcpMembers& operator=(const TcpMembers&) = delete;

  // Resolves a line port's address, HOST:PORT, and adds it to the servers
  // Connect can reach: the first call's is server 0, the next one's 1, ...
  // False, with *error set, when it does not resolve.
  bool Resolve(const std::string& addr, std::string* error);

  // Connects one member and asks it into `room`. Main thread, before or
  // after Start. `receiver` (null for senders and idle members) must outlive
  // this object. Returns the member, owned by this object, or null with
  // *error set.
  // The member takes `name` first: the server's random guest names can
  // collide in the target room (a guest who moved there left the lobby, so
  // the lobby hands out the name again).
  // `server`: which of the resolved addresses.
  Conn* Connect(const std::string& name, const std::string& room,
                Receiver* receiver, std::string* error, size_t server = 0);

  // Starts the epoll threads.
  void Start();
  // Stops and joins the epoll threads. Idempotent.
  void Stop();

  // Writes all of `data`, waiting for the socket when it is full (over TLS:
  // queues it for the epoll thread). Any thread (one writer per connection).
  static bool WriteAll(Conn* c, absl::string_view data);

  size_t size() const { return conns_.size(); }
  // Members that have seen their room's welcome line.
  size_t joined() const { return joined_.load(std::memory_order_acquire); }
  // Members whose connection ended.
  size_t closed() const;

 private:
  // One epoll thread's loop, until Stop.
  void Loop(int epoll);
  // Reads a plaintext member until the socket is drained.
  void ReadAll(Conn* c, char* buf, size_t cap);
  // Handshake, reads and queued writes of a TLS member, on any event.
  void ServeTls(Conn* c, char* buf, size_t cap);
  // Splits what arrived into lines, for Line.
  void Lines(Conn* c, const char* data, size_t len, uint64_t now);
  void Line(Conn* c, absl::string_view line, uint64_t now);

  // Constant after construction.
  const int threads_;
  const std::unique_ptr<TlsClientContext> tls_;  // Null: plaintext.
  std::vector<int> epolls_;

  // Main thread only.
  std::vector<std::thread> loops_;
  std::vector<std::unique_ptr<Conn>> conns_;
  // Added by Resolve.
  struct Address {
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family = AF_INET;
    std::string text;
  };
  std::vector<Address> addrs_;

  std::atomic<size_t> joined_{0};
  std::atomic<bool> stop_{false};
};

// TcpSender: posts through one TCP member, from the pacer thread (or the
// main thread while it syncs), a batch of lines per write.
class TcpSender final : public Sender {
 public:
  TcpSender(uint32_t run, uint32_t index, size_t size, TcpMembers::Conn* conn)
      : Sender(run, index, size), conn_(conn) {}

  void Send(uint64_t n) override;
  void SendSync(uint64_t token) override;

 private:
  void Write();

  TcpMembers::Conn* const conn_;
  std::string buf_;  // Reused: its buffer stays.
  bool failed_ = false;
};

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_TCP_H_

// chatctl bench's WebSocket members (--transport=ws): clients of
// chat-service's HTTP port at ws://HOST:PORT/ws, where each text frame is one
// chat.v1.ChatRequest (client to server) or chat.v1.ChatResponse (server to
// client) in protobuf's JSON mapping.
//
// WsMembers serves every WebSocket member on a few io threads
// (--ws_threads), one Asio io_context each, as TcpMembers serves the legacy
// port's members on its epoll threads, so the two cost the bench about the
// same and their server-side figures compare. A member's stream lives on one
// io thread: its reads, its writes and its close run there only. Other
// threads reach it through Say(), which queues frames and wakes the io thread.
//
// Boost.Beast stays inside bench_ws.cc; this header names no Boost type.
#ifndef CHATROOM_CLI_BENCH_WS_H_
#define CHATROOM_CLI_BENCH_WS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "chat/v1/chat.pb.h"

namespace chat {
namespace bench {

// WsListener: what a WebSocket member tells the receiver behind it. Called
// on the member's io thread only, one call at a time.
class WsListener {
 public:
  virtual ~WsListener() = default;

  // The text of a message the room broadcast, received at `now_ns`
  // (std::chrono::steady_clock, in ns since its epoch: the clock of
  // Stamp::sent_ns).
  virtual void OnText(absl::string_view text, uint64_t now_ns) = 0;
  // The welcome arrived: the member is in the room.
  virtual void SetJoined() = 0;
  // A notice for this member only (or a frame the bench could not read).
  virtual void SetNotice(absl::string_view text) = 0;
  // The connection ended, and why. Not called once WsMembers::Stop began.
  virtual void SetEnded(std::string why) = 0;
};

// ---------------------------------------------------------------- Frames

// What a server frame is, as far as the bench cares.
enum class WsEvent { kMessage, kWelcome, kNotice, kOther, kUnreadable };

// ParseWsEvent
//
// Classifies one server frame, a chat.v1.ChatResponse in protobuf's JSON
// mapping, and for kMessage and kNotice points `*text` at the text: into
// `frame`, or into `*scratch`, which must outlive the use of `*text`.
//
// Messages, nearly every frame of a run, take a scan instead of a parse:
// the first `"message":{` (no other field of ChatResponse, nested or not, has
// that name, and a JSON string cannot hold an unescaped quote), then the
// first `"text":"` after it, then the closing quote. A text with an escape
// in it, and every other event, go through protobuf's JsonStringToMessage
// (unknown fields ignored), which costs several microseconds a frame: more
// than the server's whole cost of a delivery, so on 2 shared cores it would
// slow the server down instead of measuring it.
//
//   v1::ChatResponse scratch;
//   absl::string_view text;
//   if (ParseWsEvent(frame, &scratch, &text) == WsEvent::kMessage) ...
WsEvent ParseWsEvent(absl::string_view frame, v1::ChatResponse* scratch,
                     absl::string_view* text);

// AppendSayFrame
//
// Appends the frame that posts `text`, {"say":{"text":"..."}}, escaping the
// text as JSON requires (the bench's own texts need no escapes).
void AppendSayFrame(absl::string_view text, std::string* out);

// ---------------------------------------------------------------- Members

// WsMembers: every WebSocket member of a run, and the io threads that serve
// them.
//
// Thread-safety: Resolve, Connect, Start and Stop are for one thread (the
// main thread). Say is for one thread per member at a time (the pacer, or
// the main thread while it syncs). size, joined and closed may be called
// from any thread.
class WsMembers {
 public:
  class Conn;  // One member's WebSocket; defined in bench_ws.cc.

  explicit WsMembers(int threads);
  ~WsMembers();  // Stop()s, then closes every socket.

  WsMembers(const WsMembers&) = delete;
  WsMembers& operator=(const WsMembers&) = delete;

  // Resolves an HTTP port's address, HOST:PORT, and adds it to the servers
  // Connect can reach: the first call's is server 0, the next one's 1, ...
  // False, with *error set, when it does not resolve.
  bool Resolve(const std::string& addr, std::string* error);

  // Connects one member (a blocking TCP connect, so a refused port fails
  // here), then, on its io thread, upgrades to a WebSocket at /ws and joins
  // `room` as `name`. `listener` (null for senders and idle members) must
  // outlive this object. Returns the member, owned by this object, or null
  // with *error set. Before or after Start. `server`: which of the
  // resolved addresses.
  Conn* Connect(const std::string& name, const std::string& room,
                WsListener* listener, std::string* error, size_t server = 0);

  // Starts the io threads.
  void Start();

  // Closes every member's WebSocket (a close frame, 1000), waits up to
  // `wait` for the server's replies, then stops the io threads. Idempotent.
  void Stop(absl::Duration wait = absl::Seconds(2));

  // Posts one message per text from `member`, in order. Waits while more
  // than 1 MiB of its frames are queued and not yet written (the server is
  // not reading), as a TCP sender waits for a full socket. False once the
  // member's connection has ended.
  bool Say(Conn* member, const std::vector<std::string>& texts);

  size_t size() const { return conns_.size(); }
  // Members that have been welcomed.
  size_t joined() const { return joined_.load(std::memory_order_acquire); }
  // Members whose connection ended.
  size_t closed() const { return closed_.load(std::memory_order_acquire); }

 private:
  class IoThread;   // An io_context and the thread that runs it.
  struct Endpoint;  // A resolved address, and its HOST:PORT.

  // The steps of a member's life, each on its io thread.
  void Handshake(Conn* c);
  void ReadNext(Conn* c);
  void OnFrame(Conn* c, uint64_t now_ns);
  void WriteNext(Conn* c);
  void Close(Conn* c);
  void End(Conn* c, std::string why);

  // Constant after construction.
  const int threads_;
  // Added by Resolve.
  std::vector<std::unique_ptr<Endpoint>> endpoints_;

  std::vector<std::unique_ptr<IoThread>> io_;
  // Declared after io_, so destroyed first: a stream must go before the
  // io_context it is registered with.
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<size_t> joined_{0};
  std::atomic<size_t> closed_{0};
  std::atomic<bool> stopping_{false};
  bool started_ = false;
};

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_WS_H_

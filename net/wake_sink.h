// WakeSink: the MemberSink (service/room.h) a socket transport gives the
// core for its session's member. A wake posts one of the session's methods
// to the session's thread, so it never blocks and never calls into the core.
// The sink holds the session weakly: the session holds the member, which
// holds the sink.
//
//   auto sink = std::make_shared<WakeSink<LegacySession,
//                                         &LegacySession::StartWrite>>(
//       WeakAs<LegacySession>());
//
// WakeBatch: while a handler of an io thread posts to a room (a session
// acting on the lines of one read, say), the wakes its fan-out causes are
// held in a WakeBatch on the stack and posted when the handler is done, one
// post per thread for every session woken there. The other threads then
// wake once per read rather than once per event of it, and find the whole
// read's events in their outboxes: fewer posts, fewer thread switches, and
// larger writes.
//
//   void Session::OnRead(...) {
//     WakeBatch wakes;  // Posted when OnRead returns.
//     ... hub calls ...
//   }
#ifndef CHATROOM_NET_WAKE_SINK_H_
#define CHATROOM_NET_WAKE_SINK_H_

#include <boost/asio/post.hpp>
#include <memory>
#include <utility>
#include <vector>

#include "net/tcp_server.h"
#include "service/room.h"

namespace chat {

class WakeBatch {
 public:
  // Becomes the thread's batch, unless one is active already (then this one
  // adds nothing: the outer one posts).
  WakeBatch();
  // Posts what was added.
  ~WakeBatch();

  WakeBatch(const WakeBatch&) = delete;
  WakeBatch& operator=(const WakeBatch&) = delete;

  // The thread's active batch, or null.
  static WakeBatch* Current();

  // Runs `run(target.get())` on `executor`'s thread after this batch ends.
  void Add(const Connection::Executor& executor, std::shared_ptr<void> target,
           void (*run)(void*));

  // Posts what was added so far: one post per thread.
  void Flush();

 private:
  struct Wake {
    std::shared_ptr<void> target;
    void (*run)(void*);
  };
  struct PerThread {
    Connection::Executor executor;
    std::vector<Wake> wakes;
  };

  WakeBatch* const outer_;
  std::vector<PerThread> threads_;  // A few: one per io thread woken.
};

template <typename Session, void (Session::*kOnWake)()>
class WakeSink final : public MemberSink {
 public:
  explicit WakeSink(std::weak_ptr<Session> session)
      : session_(std::move(session)) {}

  void Wake() override {
    std::shared_ptr<Session> session = session_.lock();
    if (session == nullptr) return;
    const Connection::Executor& executor = session->executor();
    if (WakeBatch* batch = WakeBatch::Current()) {
      batch->Add(executor, std::move(session), &Run);
      return;
    }
    asio::post(executor,
               [session = std::move(session)] { ((*session).*kOnWake)(); });
  }

 private:
  static void Run(void* session) {
    (static_cast<Session*>(session)->*kOnWake)();
  }

  const std::weak_ptr<Session> session_;
};

}  // namespace chat

#endif  // CHATROOM_NET_WAKE_SINK_H_

// WakeSink: the MemberSink (service/room.h) a socket transport gives the
// core for its session's member. A wake posts one of the session's methods
// to the session's thread, so it never blocks and never calls into the core.
// The sink holds the session weakly: the session holds the member, which
// holds the sink.
//
//   auto sink = std::make_shared<WakeSink<LegacySession,
//                                         &LegacySession::StartWrite>>(
//       WeakAs<LegacySession>());
#ifndef CHATROOM_NET_WAKE_SINK_H_
#define CHATROOM_NET_WAKE_SINK_H_

#include <boost/asio/post.hpp>
#include <memory>
#include <utility>

#include "net/tcp_server.h"
#include "service/room.h"

namespace chat {

template <typename Session, void (Session::*kOnWake)()>
class WakeSink final : public MemberSink {
 public:
  explicit WakeSink(std::weak_ptr<Session> session)
      : session_(std::move(session)) {}

  void Wake() override {
    if (std::shared_ptr<Session> session = session_.lock()) {
      Connection::Executor executor = session->executor();
      asio::post(executor,
                 [session = std::move(session)] { ((*session).*kOnWake)(); });
    }
  }

 private:
  const std::weak_ptr<Session> session_;
};

}  // namespace chat

#endif  // CHATROOM_NET_WAKE_SINK_H_

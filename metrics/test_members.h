// Members for the metrics tests: joined into an in-process hub, with a sink
// that is never drained (the tests count, they do not read).
#ifndef CHATROOM_METRICS_TEST_MEMBERS_H_
#define CHATROOM_METRICS_TEST_MEMBERS_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "service/room.h"

namespace chat {

class NullSink : public MemberSink {
 public:
  void Wake() override {}
};

// Joins `name` to `room` over transport `t`; null (and a test failure) when
// the hub refuses.
inline std::shared_ptr<Member> JoinAs(Hub* hub, const std::string& name,
                                      const std::string& room,
                                      v1::Transport t) {
  JoinRequest join;
  join.name = name;
  join.room = room;
  join.transport = t;
  absl::StatusOr<std::shared_ptr<Member>> m =
      hub->Join(join, std::make_shared<NullSink>());
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : nullptr;
}

}  // namespace chat

#endif  // CHATROOM_METRICS_TEST_MEMBERS_H_

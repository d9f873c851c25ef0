#include "service/format.h"

#include "absl/strings/str_cat.h"

namespace chat {

const char* TransportName(v1::Transport transport) {
  return transport == v1::TRANSPORT_TCP ? "tcp" : "grpc";
}

std::string FormatEventLine(const v1::ChatResponse& event) {
  switch (event.event_case()) {
    case v1::ChatResponse::kMessage: {
      const v1::Message& m = event.message();
      return m.action() ? absl::StrCat("* ", m.sender(), " ", m.text())
                        : absl::StrCat("<", m.sender(), "> ", m.text());
    }
    case v1::ChatResponse::kMemberJoined:
      return absl::StrCat("-- ", event.member_joined().member().name(),
                          " joined");
    case v1::ChatResponse::kMemberLeft: {
      const v1::MemberLeft& l = event.member_left();
      return l.reason().empty()
                 ? absl::StrCat("-- ", l.member().name(), " left")
                 : absl::StrCat("-- ", l.member().name(), " left (", l.reason(),
                                ")");
    }
    case v1::ChatResponse::kMemberRenamed:
      return absl::StrCat("-- ", event.member_renamed().old_name(),
                          " is now known as ",
                          event.member_renamed().new_name());
    case v1::ChatResponse::kNotice:
      return absl::StrCat("!! ", event.notice().text());
    case v1::ChatResponse::kWelcome: {
      const v1::Welcome& w = event.welcome();
      std::string others;
      int count = 0;
      for (const v1::Member& m : w.members()) {
        if (m.name() == w.name()) continue;
        absl::StrAppend(&others, count++ == 0 ? "" : ", ", m.name());
      }
      if (count == 0) {
        return absl::StrCat("-- you are ", w.name(), " in room ", w.room(),
                            ", alone so far");
      }
      return absl::StrCat("-- you are ", w.name(), " in room ", w.room(),
                          " with ", count,
                          count == 1 ? " other: " : " others: ", others);
    }
    case v1::ChatResponse::EVENT_NOT_SET:
      break;
  }
  return "";
}

}  // namespace chat

#include "service/event.h"

#include <utility>

namespace chat {

Event::Event(v1::ChatResponse response, uint64_t origin)
    : response_(std::move(response)),
      origin_(origin),
      wire_(response_.SerializeAsString()) {}

}  // namespace chat

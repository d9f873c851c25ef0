#include "service/event.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/base/attributes.h"

namespace chat {
namespace event_internal {

int NextEncodingIndex() {
  ABSL_CONST_INIT static std::atomic<int> next{0};
  const int index = next.fetch_add(1, std::memory_order_relaxed);
  if (index >= kMaxEncodings) {
    // Before main, most likely (keys are registered at static
    // initialization): no logger to rely on.
    std::fprintf(stderr,
                 "more than kMaxEncodings (%d) event encodings registered; "
                 "raise kMaxEncodings in service/event.h\n",
                 kMaxEncodings);
    std::abort();
  }
  return index;
}

}  // namespace event_internal

Event::Event(v1::ChatResponse response, uint64_t origin)
    : response_(std::move(response)),
      origin_(origin),
      wire_(response_.SerializeAsString()) {}

Event::~Event() {
  for (Slot& slot : slots_) {
    if (slot.destroy != nullptr) slot.destroy(slot.bytes);
  }
}

}  // namespace chat

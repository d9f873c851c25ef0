#include "service/event.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

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

void SetTimeNow(v1::ChatResponse* r) {
  const int64_t nanos = absl::ToUnixNanos(absl::Now());
  r->mutable_time()->set_seconds(nanos / 1000000000);
  r->mutable_time()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace chat

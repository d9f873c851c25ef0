// Flag types for chat-service: sizes and ages a person can write, such as
// --history_memory=256MiB and --history_age=7d.
//
// Each type works with ABSL_FLAG through AbslParseFlag / AbslUnparseFlag.
#ifndef CHATROOM_SERVICE_FLAG_TYPES_H_
#define CHATROOM_SERVICE_FLAG_TYPES_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

// ByteSize: a number of bytes, written as "1048576", "512KiB", "256MiB",
// "1GiB" (or "K"/"M"/"G", also binary, for short). Case-insensitive.
struct ByteSize {
  size_t bytes = 0;
};

bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error);
std::string AbslUnparseFlag(ByteSize size);

// Age: a duration that also takes days: "7d", "36h", "90m", "0". Negative
// ages are refused.
struct Age {
  absl::Duration duration = absl::ZeroDuration();
};

bool AbslParseFlag(absl::string_view text, Age* age, std::string* error);
std::string AbslUnparseFlag(Age age);

}  // namespace chat

#endif  // CHATROOM_SERVICE_FLAG_TYPES_H_

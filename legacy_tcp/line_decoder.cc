#include "legacy_tcp/line_decoder.h"

namespace chat {
namespace {

// Telnet commands (RFC 854, RFC 855).
constexpr uint8_t kSe = 240;     // End of subnegotiation.
constexpr uint8_t kEc = 247;     // Erase character.
constexpr uint8_t kEl = 248;     // Erase line.
constexpr uint8_t kSb = 250;     // Start of subnegotiation.
constexpr uint8_t kWill = 251;   // WILL, WONT, DO, DONT: 251-254.
constexpr uint8_t kDont = 254;   //
constexpr uint8_t kIac = 255;    // Interpret as command.
constexpr uint8_t kAbort = 238;  // Abort process.
constexpr uint8_t kBrk = 243;    // Break.
constexpr uint8_t kIp = 244;     // Interrupt process.

bool IsContinuationByte(char c) {
  return (static_cast<uint8_t>(c) & 0xC0) == 0x80;
}

}  // namespace

LineDecoder::LineDecoder(Limits limits) : limits_(limits) {}

LineDecoder::Result LineDecoder::Next(absl::string_view* input,
                                      absl::string_view* line) {
  if (line_returned_) {
    line_.clear();
    line_returned_ = false;
  }
  if (overflowed_) {
    input->remove_prefix(input->size());
    return Result::kNeedMore;
  }
  size_t used = 0;
  Result result = Result::kNeedMore;
  while (used < input->size() && result == Result::kNeedMore) {
    const uint8_t c = static_cast<uint8_t>((*input)[used++]);
    ++unterminated_;  // A line end resets it below.
    switch (state_) {
      case State::kData:
        result = Data(c);
        break;
      case State::kAfterCr:
        state_ = State::kData;
        if (c == '\n' || c == '\0') {
          unterminated_ = 0;
        } else {
          result = Data(c);
        }
        break;
      case State::kCommand:
        result = Command(c);
        break;
      case State::kOption:
        state_ = State::kData;
        break;
      case State::kSub:
        if (c == kIac) state_ = State::kSubCommand;
        break;
      case State::kSubCommand:
        // IAC SE ends it; IAC IAC is an escaped 0xFF inside it.
        state_ = c == kSe ? State::kData : State::kSub;
        break;
    }
    if (unterminated_ > limits_.max_unterminated_bytes) {
      overflowed_ = true;
      line_.clear();
      used = input->size();
      result = Result::kOverflow;
    }
  }
  input->remove_prefix(used);
  if (result == Result::kLine) {
    *line = line_;
    line_returned_ = true;
  }
  return result;
}

LineDecoder::Result LineDecoder::Finish(absl::string_view* line) {
  if (line_returned_) {
    line_.clear();
    line_returned_ = false;
  }
  const bool have_line = !overflowed_ && !discarding_ && !line_.empty();
  state_ = State::kData;
  discarding_ = false;
  unterminated_ = 0;
  if (!have_line) {
    line_.clear();
    return Result::kNeedMore;
  }
  *line = line_;
  line_returned_ = true;
  return Result::kLine;
}

bool LineDecoder::MidLine() const {
  if (overflowed_) return false;
  switch (state_) {
    case State::kCommand:
    case State::kOption:
    case State::kSub:
    case State::kSubCommand:
      return true;
    case State::kData:
    case State::kAfterCr:
      break;
  }
  return discarding_ || (!line_returned_ && !line_.empty());
}

LineDecoder::Result LineDecoder::Data(uint8_t c) {
  switch (c) {
    case '\n':
      return EndLine();
    case '\r':
      state_ = State::kAfterCr;
      return EndLine();
    case kIac:
      state_ = State::kCommand;
      return Result::kNeedMore;
    case '\b':
    case 0x7F:
      Erase();
      return Result::kNeedMore;
    default:
      return Append(c);
  }
}

LineDecoder::Result LineDecoder::Command(uint8_t c) {
  state_ = State::kData;
  switch (c) {
    case kIac:
      return Append(c);
    case kSb:
      state_ = State::kSub;
      return Result::kNeedMore;
    case kIp:
    case kBrk:
    case kAbort:
      return Result::kInterrupt;
    case kEc:
      Erase();
      return Result::kNeedMore;
    case kEl:
      if (!discarding_) line_.clear();
      return Result::kNeedMore;
    default:
      if (c >= kWill && c <= kDont) state_ = State::kOption;
      // Anything else (NOP, DM, AYT, AO, GA, EOR, ...) is dropped.
      return Result::kNeedMore;
  }
}

LineDecoder::Result LineDecoder::Append(uint8_t c) {
  if (discarding_) return Result::kNeedMore;
  if (line_.size() >= limits_.max_line_bytes) {
    discarding_ = true;
    line_.clear();
    return Result::kLineTooLong;
  }
  line_.push_back(static_cast<char>(c));
  return Result::kNeedMore;
}

LineDecoder::Result LineDecoder::EndLine() {
  unterminated_ = 0;
  if (discarding_) {
    discarding_ = false;
    return Result::kNeedMore;
  }
  return Result::kLine;
}

void LineDecoder::Erase() {
  if (discarding_) return;
  // Erase one character: a whole UTF-8 sequence (at most 4 bytes), not just
  // its last byte.
  for (int i = 0; i < 3 && !line_.empty() && IsContinuationByte(line_.back());
       ++i) {
    line_.pop_back();
  }
  if (!line_.empty()) line_.pop_back();
}

}  // namespace chat

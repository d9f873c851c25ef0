// LineDecoder: turns the bytes a legacy TCP client sends (nc, telnet, a
// select()-based client) into lines.
//
// It frames lines on "\n", "\r\n" and telnet's "\r\0" (a lone "\r" ends a
// line too), removes telnet commands (IAC WILL/WONT/DO/DONT option,
// IAC SB ... IAC SE subnegotiation, NOP, GA and the like), keeps IAC IAC as a
// literal 0xFF byte, applies line editing (^H and DEL erase the last
// character, telnet's IAC EC and IAC EL erase a character and the line), and
// reports telnet's IAC IP, IAC BRK and IAC ABORT as an interrupt (^C).
//
// Memory is bounded: a line longer than `max_line_bytes` is refused and the
// rest of it discarded as it arrives, and more than `max_unterminated_bytes`
// without a line end is an overflow, after which the decoder discards all
// input. It does nothing to the text itself: UTF-8 repair and removal of
// control characters and escapes are the room core's (SanitizeText).
//
// A pure class: no I/O, no clock, no lock. Not thread-safe; one per
// connection.
//
// Example:
//   LineDecoder decoder(LineDecoder::Limits{});
//   absl::string_view input = bytes_just_read, line;
//   for (;;) {
//     LineDecoder::Result r = decoder.Next(&input, &line);
//     if (r == LineDecoder::Result::kNeedMore) break;
//     if (r == LineDecoder::Result::kLine) Handle(line);
//     ...
//   }
#ifndef CHATROOM_LEGACY_TCP_LINE_DECODER_H_
#define CHATROOM_LEGACY_TCP_LINE_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace chat {

class LineDecoder {
 public:
  struct Limits {
    // Longest line accepted, in bytes after telnet removal and editing.
    size_t max_line_bytes = 4096;
    // Most bytes received without a line end (telnet bytes and erased
    // characters included) before the input is an overflow. Should be at
    // least max_line_bytes.
    size_t max_unterminated_bytes = 64 * 1024;
  };

  enum class Result {
    kNeedMore,     // The input is used up; no complete line yet.
    kLine,         // *line is a complete line, without its line end.
    kLineTooLong,  // The current line passed max_line_bytes: it is refused,
                   // and the rest of it, up to its line end, is discarded.
    kInterrupt,    // Telnet IAC IP, BRK or ABORT: the user pressed ^C.
    kOverflow,     // max_unterminated_bytes passed without a line end; the
                   // decoder discards everything from now on.
  };

  explicit LineDecoder(Limits limits);

  LineDecoder(const LineDecoder&) = delete;
  LineDecoder& operator=(const LineDecoder&) = delete;

  // Next
  //
  // Consumes bytes from the front of *input up to and including the next
  // thing to report, and reports it. On kLine, *line views the decoder's
  // buffer and stays valid until the next call.
  Result Next(absl::string_view* input, absl::string_view* line);

  // Finish
  //
  // At the end of the input: returns kLine with the last, unterminated line
  // if there is one, otherwise kNeedMore. Resets the decoder.
  Result Finish(absl::string_view* line);

  // MidLine
  //
  // Whether the input so far stops inside a line: after text, an unfinished
  // telnet command, or part of a line being discarded, with no line end
  // yet. Not after a line end, nor after text erased back to nothing or
  // telnet negotiation alone (what a telnet client sends as it connects).
  bool MidLine() const;

 private:
  enum class State : uint8_t {
    kData,        // Text.
    kAfterCr,     // Just after a "\r": a "\n" or "\0" here is swallowed.
    kCommand,     // After IAC.
    kOption,      // After IAC WILL/WONT/DO/DONT: the option byte.
    kSub,         // In IAC SB ... IAC SE.
    kSubCommand,  // After an IAC inside a subnegotiation.
  };

  Result Data(uint8_t c);
  Result Command(uint8_t c);
  Result Append(uint8_t c);
  Result EndLine();
  void Erase();

  const Limits limits_;
  State state_ = State::kData;
  std::string line_;
  bool line_returned_ = false;  // line_ was handed out; clear it first.
  bool discarding_ = false;     // The current line was too long.
  bool overflowed_ = false;
  size_t unterminated_ = 0;  // Bytes since the last line end.
};

}  // namespace chat

#endif  // CHATROOM_LEGACY_TCP_LINE_DECODER_H_

// line_decoder_fuzz: the legacy port's LineDecoder (legacy_tcp/line_decoder.h)
// on any bytes a client may send, telnet commands included.
//
// Input: byte 0 picks max_line_bytes (1-128, or the default 4096 when 0),
// byte 1 max_unterminated_bytes (max_line_bytes + 4 * byte 1) and seeds the
// read sizes; the rest is the stream. Properties checked:
//  - every Next() call makes progress, and kNeedMore means the input is used;
//  - a line is at most max_line_bytes and holds no line end, ^H or DEL;
//  - after kOverflow nothing else is reported, not even by Finish();
//  - the same stream gives the same results however it is split into reads
//    (one read, a byte at a time, random sizes);
//  - for a stream without telnet or editing bytes (no 0xFF, ^H, DEL), the
//    results equal those of a plain reference framer written here.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "legacy_tcp/line_decoder.h"

namespace chat {
namespace {

using Result = LineDecoder::Result;

struct Event {
  Result result;
  std::string line;  // For kLine.

  bool operator==(const Event& o) const {
    return result == o.result && line == o.line;
  }
};

std::string Describe(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) {
    absl::StrAppend(&out, static_cast<int>(e.result),
                    e.result == Result::kLine ? fuzz::Show(e.line) : "", " ");
  }
  return out;
}

void CheckLine(const LineDecoder::Limits& limits, absl::string_view line) {
  FUZZ_CHECK(line.size() <= limits.max_line_bytes,
             absl::StrCat(line.size(), " > ", limits.max_line_bytes));
  for (char c : line) {
    FUZZ_CHECK(c != '\n' && c != '\r' && c != '\b' && c != '\x7f',
               fuzz::Show(line));
  }
}

// Feeds `stream` to a decoder in reads of the sizes `next_size` gives, and
// returns everything it reported, Finish() included.
template <typename NextSize>
std::vector<Event> Decode(const LineDecoder::Limits& limits,
                          absl::string_view stream, NextSize next_size) {
  LineDecoder decoder(limits);
  std::vector<Event> events;
  bool overflowed = false;
  while (!stream.empty()) {
    const size_t n = std::min(stream.size(), next_size());
    absl::string_view read = stream.substr(0, n);
    stream.remove_prefix(n);
    for (;;) {
      const size_t before = read.size();
      absl::string_view line;
      const Result r = decoder.Next(&read, &line);
      if (r == Result::kNeedMore) {
        FUZZ_CHECK(read.empty(), "kNeedMore with input left");
        break;
      }
      FUZZ_CHECK(read.size() < before, "Next() reported without progress");
      FUZZ_CHECK(!overflowed, "a result after kOverflow");
      if (r == Result::kOverflow) overflowed = true;
      if (r == Result::kLine) CheckLine(limits, line);
      events.push_back({r, r == Result::kLine ? std::string(line) : ""});
    }
  }
  absl::string_view line;
  const Result r = decoder.Finish(&line);
  FUZZ_CHECK(r == Result::kNeedMore || r == Result::kLine,
             absl::StrCat("Finish() returned ", static_cast<int>(r)));
  if (r == Result::kLine) {
    FUZZ_CHECK(!overflowed, "Finish() returned a line after kOverflow");
    FUZZ_CHECK(!line.empty(), "Finish() returned an empty line");
    CheckLine(limits, line);
    events.push_back({r, std::string(line)});
  }
  return events;
}

// The reference: line framing alone ("\n", "\r\n", "\r\0", "\r"), the line
// limit and the overflow, for streams without telnet or editing bytes.
std::vector<Event> Reference(const LineDecoder::Limits& limits,
                             absl::string_view stream) {
  std::vector<Event> events;
  std::string line;
  bool after_cr = false;
  bool discarding = false;
  size_t unterminated = 0;
  for (char c : stream) {
    ++unterminated;
    const size_t reported = events.size();
    const bool swallowed = after_cr && (c == '\n' || c == '\0');
    after_cr = false;
    if (swallowed) {
      unterminated = 0;
    } else if (c == '\n' || c == '\r') {
      unterminated = 0;
      after_cr = c == '\r';
      if (discarding) {
        discarding = false;
      } else {
        events.push_back({Result::kLine, line});
      }
      line.clear();
    } else if (!discarding) {
      if (line.size() >= limits.max_line_bytes) {
        discarding = true;
        line.clear();
        events.push_back({Result::kLineTooLong, ""});
      } else {
        line.push_back(c);
      }
    }
    if (unterminated > limits.max_unterminated_bytes) {
      // The overflow is all that the byte that causes it reports (with
      // max_unterminated_bytes == max_line_bytes, that byte also passes the
      // line limit).
      events.resize(reported);
      events.push_back({Result::kOverflow, ""});
      return events;
    }
  }
  if (!discarding && !line.empty()) events.push_back({Result::kLine, line});
  return events;
}

bool HasTelnetOrEditing(absl::string_view stream) {
  for (char c : stream) {
    if (c == '\xff' || c == '\b' || c == '\x7f') return true;
  }
  return false;
}

}  // namespace
}  // namespace chat

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using chat::Event;
  if (size < 2) return 0;
  chat::LineDecoder::Limits limits;
  if (data[0] != 0) {
    limits.max_line_bytes = 1 + data[0] % 128;
    limits.max_unterminated_bytes = limits.max_line_bytes + 4 * data[1];
  }
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 2,
                                 size - 2);

  const std::vector<Event> whole =
      chat::Decode(limits, stream, [] { return size_t{1} << 30; });
  const std::vector<Event> bytes =
      chat::Decode(limits, stream, [] { return size_t{1}; });
  std::minstd_rand rng(data[1] + 1);
  const std::vector<Event> random =
      chat::Decode(limits, stream, [&] { return size_t{1} + rng() % 17; });
  FUZZ_CHECK(whole == bytes,
             "one read: " + chat::Describe(whole) +
                 "\n  a byte at a time: " + chat::Describe(bytes));
  FUZZ_CHECK(whole == random,
             "one read: " + chat::Describe(whole) +
                 "\n  random reads: " + chat::Describe(random));
  if (!chat::HasTelnetOrEditing(stream)) {
    const std::vector<Event> expected = chat::Reference(limits, stream);
    FUZZ_CHECK(whole == expected,
               "decoder: " + chat::Describe(whole) +
                   "\n  reference: " + chat::Describe(expected));
  }
  return 0;
}

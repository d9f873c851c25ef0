#include "service/flag_types.h"

#include <cstdint>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace chat {

bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error) {
  std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  absl::string_view rest(s);
  uint64_t unit = 1;
  struct Suffix {
    const char* text;
    uint64_t unit;
  };
  // Longest first, so "kib" is not taken for "b".
  static constexpr Suffix kSuffixes[] = {{"kib", 1ull << 10},
                                         {"mib", 1ull << 20},
                                         {"gib", 1ull << 30},
                                         {"k", 1ull << 10},
                                         {"m", 1ull << 20},
                                         {"g", 1ull << 30},
                                         {"b", 1}};
  for (const Suffix& suffix : kSuffixes) {
    if (absl::ConsumeSuffix(&rest, suffix.text)) {
      unit = suffix.unit;
      break;
    }
  }
  uint64_t n = 0;
  if (rest.empty() || !absl::SimpleAtoi(rest, &n)) {
    *error = absl::StrCat("\"", text,
                          "\" is not a size: write bytes, or a number with "
                          "KiB, MiB or GiB (e.g. 256MiB)");
    return false;
  }
  if (n > std::numeric_limits<size_t>::max() / unit) {
    *error = absl::StrCat("\"", text, "\" is too large");
    return false;
  }
  size->bytes = static_cast<size_t>(n * unit);
  return true;
}

std::string AbslUnparseFlag(ByteSize size) {
  const size_t b = size.bytes;
  if (b != 0 && b % (1ull << 30) == 0) return absl::StrCat(b >> 30, "GiB");
  if (b != 0 && b % (1ull << 20) == 0) return absl::StrCat(b >> 20, "MiB");
  if (b != 0 && b % (1ull << 10) == 0) return absl::StrCat(b >> 10, "KiB");
  return absl::StrCat(b);
}

bool AbslParseFlag(absl::string_view text, Age* age, std::string* error) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  absl::Duration d;
  int64_t days = 0;
  absl::string_view number = s;
  if (absl::ConsumeSuffix(&number, "d") && absl::SimpleAtoi(number, &days)) {
    d = absl::Hours(24) * days;
  } else if (s == "0") {
    d = absl::ZeroDuration();
  } else if (!absl::ParseDuration(s, &d)) {
    *error = absl::StrCat("\"", text,
                          "\" is not an age: write e.g. 7d, 12h, 90m or 0");
    return false;
  }
  if (d < absl::ZeroDuration()) {
    *error = absl::StrCat("\"", text, "\" is negative");
    return false;
  }
  age->duration = d;
  return true;
}

std::string AbslUnparseFlag(Age age) {
  const absl::Duration day = absl::Hours(24);
  if (age.duration == absl::ZeroDuration()) return "0";
  absl::Duration rest;
  const int64_t days = absl::IDivDuration(age.duration, day, &rest);
  if (days > 0 && rest == absl::ZeroDuration()) return absl::StrCat(days, "d");
  return absl::FormatDuration(age.duration);
}

}  // namespace chat

// Helpers shared by the fuzz targets: a check that stops the fuzzer with a
// message (assert() is compiled out in RelWithDebInfo), and a strict UTF-8
// decoder written apart from service/text.cc, so that the text targets do
// not check the code with itself.
#ifndef CHATROOM_FUZZ_FUZZ_CHECK_H_
#define CHATROOM_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

// FUZZ_CHECK
//
// Aborts (a crash for libFuzzer, which then saves the input) when `cond` is
// false, printing the property that failed and `detail`.
#define FUZZ_CHECK(cond, detail)                                           \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "%s:%d: property failed: %s\n  %s\n", __FILE__, \
                   __LINE__, #cond, std::string(detail).c_str());          \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

namespace chat::fuzz {

// Shows bytes in C escapes, for failure messages.
inline std::string Show(absl::string_view bytes) {
  return "\"" + absl::CHexEscape(bytes) + "\"";
}

// DecodeUtf8Strictly
//
// Splits `s` into code points; false when `s` is not valid UTF-8 (overlong
// forms, surrogates, code points past U+10FFFF and truncated sequences are
// invalid).
inline bool DecodeUtf8Strictly(absl::string_view s,
                               std::vector<uint32_t>* code_points) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    size_t len;
    uint32_t cp;
    uint32_t min;
    if (b0 < 0x80) {
      len = 1, cp = b0, min = 0;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2, cp = b0 & 0x1F, min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3, cp = b0 & 0x0F, min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const uint8_t b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    code_points->push_back(cp);
    i += len;
  }
  return true;
}

// Format characters that must not reach anyone's terminal: the line and
// paragraph separators, and the bidi embedding, override and isolate
// controls (issue 11). Extend the list when SanitizeText removes more.
inline constexpr struct {
  uint32_t first, last;
} kRemovedFormatCharacters[] = {
    {0x2028, 0x2029},  // LINE SEPARATOR, PARAGRAPH SEPARATOR
    {0x202A, 0x202E},  // LRE, RLE, PDF, LRO, RLO
    {0x2066, 0x2069},  // LRI, RLI, FSI, PDI
};

// MustBeRemoved
//
// True for a code point that SanitizeText must not let through: a control
// character other than tab (C0, DEL, C1) or one of kRemovedFormatCharacters.
inline bool MustBeRemoved(uint32_t cp) {
  if ((cp < 0x20 && cp != '\t') || cp == 0x7F) return true;  // C0, DEL
  if (cp >= 0x80 && cp <= 0x9F) return true;                 // C1
  for (const auto& range : kRemovedFormatCharacters) {
    if (cp >= range.first && cp <= range.last) return true;
  }
  return false;
}

}  // namespace chat::fuzz

#endif  // CHATROOM_FUZZ_FUZZ_CHECK_H_

#include "service/text.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace chat {
namespace {

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Decodes one UTF-8 sequence at the start of `s`. Returns its length and sets
// *cp, or returns 0 when the bytes there are not a valid sequence (overlong
// forms, surrogates and code points past U+10FFFF are invalid).
size_t DecodeUtf8(absl::string_view s, uint32_t* cp) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t c = b(0);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = c & 0x07;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b(i) & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) {
    return 0;
  }
  return len;
}

// Returns the length of the escape sequence that starts at s[0] (an ESC or a
// C1 introducer already decoded as `cp`, `len` bytes long), so that the whole
// sequence can be dropped.
size_t EscapeLength(absl::string_view s, uint32_t cp, size_t len) {
  char kind;
  size_t i = len;
  if (cp == 0x1B) {
    if (s.size() <= 1) return 1;
    kind = s[1];
    i = 2;
    if (kind < 0x20 || kind > 0x7E) return 1;  // a lone ESC
  } else if (cp == 0x9B) {
    kind = '[';
  } else if (cp == 0x9D) {
    kind = ']';
  } else if (cp == 0x90 || cp == 0x98 || cp == 0x9E || cp == 0x9F) {
    kind = 'P';
  } else {
    return len;
  }
  switch (kind) {
    case '[':  // CSI: parameters, intermediates, one final byte.
      while (i < s.size() && s[i] >= 0x20 && s[i] <= 0x3F) ++i;
      if (i < s.size() && s[i] >= 0x40 && s[i] <= 0x7E) ++i;
      return i;
    case ']':  // OSC, DCS, SOS, PM, APC: a string up to BEL or ST.
    case 'P':
    case 'X':
    case '^':
    case '_':
      while (i < s.size()) {
        if (s[i] == '\a') return i + 1;
        if (s[i] == '\x1b' && i + 1 < s.size() && s[i + 1] == '\\') {
          return i + 2;
        }
        ++i;
      }
      return i;
    default:  // Two-byte escapes such as ESC c (reset) or ESC 7.
      return i;
  }
}

// Format characters that change how the text around them looks rather than
// being text: line and paragraph separators (a terminal or a page may break
// the line there, so one message would pass for two), and the bidi embedding,
// override and isolate controls (which can make a message read backwards or
// hide part of it).
bool IsMisleadingFormat(uint32_t cp) {
  return cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-';
}

}  // namespace

// Checks the rules shared by member and room names; `what` names the thing
// in the error ("name", "room name").
static absl::Status ValidateIdentifier(absl::string_view what,
                                       absl::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " cannot be empty"));
  }
  if (value.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", value.size(), " characters long; at most ",
                     kMaxNameLength, " are allowed"));
  }
  for (char c : value) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", SanitizeText(value),
                       "\" may only have letters, digits, '_' and '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateName(absl::string_view name) {
  return ValidateIdentifier("name", name);
}

std::string NameKey(absl::string_view name) {
  return absl::AsciiStrToLower(name);
}

absl::StatusOr<std::string> NormalizeRoom(absl::string_view room) {
  if (!room.empty() && room[0] == '#') room.remove_prefix(1);
  if (room.empty()) return std::string(kDefaultRoom);
  if (absl::Status s = ValidateIdentifier("room name", room); !s.ok()) {
    return s;
  }
  return absl::AsciiStrToLower(room);
}

std::string SanitizeText(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    uint32_t cp;
    size_t len = DecodeUtf8(text, &cp);
    if (len == 0) {
      out.append(kReplacement.data(), kReplacement.size());
      text.remove_prefix(1);
      continue;
    }
    if (cp == 0x1B || (cp >= 0x80 && cp <= 0x9F)) {
      text.remove_prefix(EscapeLength(text, cp, len));
      continue;
    }
    if ((cp < 0x20 && cp != '\t') || cp == 0x7F || IsMisleadingFormat(cp)) {
      text.remove_prefix(len);
      continue;
    }
    out.append(text.data(), len);
    text.remove_prefix(len);
  }
  return out;
}

bool IsValidUtf8(absl::string_view text) {
  while (!text.empty()) {
    uint32_t cp;
    const size_t len = DecodeUtf8(text, &cp);
    if (len == 0) return false;
    text.remove_prefix(len);
  }
  return true;
}

std::string RepairUtf8(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    uint32_t cp;
    const size_t len = DecodeUtf8(text, &cp);
    if (len == 0) {
      out.append(kReplacement.data(), kReplacement.size());
      text.remove_prefix(1);
    } else {
      out.append(text.data(), len);
      text.remove_prefix(len);
    }
  }
  return out;
}

std::string TruncateUtf8(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  // Step back over continuation bytes to the start of a character.
  while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

bool IsBlank(absl::string_view text) {
  for (char c : text) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

}  // namespace chat

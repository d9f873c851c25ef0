// sanitize_text_fuzz: SanitizeText, TruncateUtf8 and IsBlank
// (service/text.h), on any bytes a client may send as message text.
//
// Properties checked, against a UTF-8 decoder of fuzz/fuzz_check.h rather
// than text.cc's own:
//  - the result is valid UTF-8, at most 3 bytes per input byte;
//  - it holds nothing fuzz::MustBeRemoved names: no control character but
//    tab (C0, DEL, C1: so no escape sequence either), none of
//    kRemovedFormatCharacters (fuzz/fuzz_check.h);
//  - sanitizing twice changes nothing more;
//  - text that is valid UTF-8 and holds none of those passes unchanged;
//  - TruncateUtf8 of the result is a valid prefix, at most the limit, and
//    cuts at most one character's bytes short of it;
//  - IsBlank is true exactly for nothing but spaces and tabs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "service/text.h"

namespace chat {
namespace {

void CheckTruncate(absl::string_view text, size_t max_bytes) {
  const std::string cut = TruncateUtf8(text, max_bytes);
  FUZZ_CHECK(absl::string_view(text).substr(0, cut.size()) == cut,
             "not a prefix: " + fuzz::Show(cut));
  FUZZ_CHECK(cut.size() <= max_bytes,
             absl::StrCat(cut.size(), " > ", max_bytes));
  if (text.size() > max_bytes) {
    FUZZ_CHECK(max_bytes - cut.size() < 4,
               absl::StrCat("cut to ", cut.size(), " of ", max_bytes));
  } else {
    FUZZ_CHECK(cut == text, "shortened text that fit");
  }
  std::vector<uint32_t> cps;
  FUZZ_CHECK(fuzz::DecodeUtf8Strictly(cut, &cps),
             "invalid UTF-8 after TruncateUtf8: " + fuzz::Show(cut));
}

}  // namespace
}  // namespace chat

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using chat::fuzz::Show;
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string out = chat::SanitizeText(in);

  FUZZ_CHECK(out.size() <= 3 * in.size(), Show(in) + " -> " + Show(out));
  std::vector<uint32_t> cps;
  FUZZ_CHECK(chat::fuzz::DecodeUtf8Strictly(out, &cps),
             "invalid UTF-8: " + Show(in) + " -> " + Show(out));
  for (uint32_t cp : cps) {
    FUZZ_CHECK(!chat::fuzz::MustBeRemoved(cp),
               absl::StrCat("U+", absl::Hex(cp, absl::kZeroPad4),
                            " kept: ", Show(in), " -> ", Show(out)));
  }
  FUZZ_CHECK(chat::SanitizeText(out) == out, "not idempotent: " + Show(in) +
                                                 " -> " + Show(out) + " -> " +
                                                 Show(chat::SanitizeText(out)));

  std::vector<uint32_t> in_cps;
  if (chat::fuzz::DecodeUtf8Strictly(in, &in_cps)) {
    bool clean = true;
    for (uint32_t cp : in_cps) clean = clean && !chat::fuzz::MustBeRemoved(cp);
    if (clean) {
      FUZZ_CHECK(out == in,
                 "clean text changed: " + Show(in) + " -> " + Show(out));
    }
  }

  chat::CheckTruncate(out, size == 0 ? 0 : data[0] % (out.size() + 2));
  chat::CheckTruncate(out, chat::kMaxLeaveReasonBytes);

  bool blank = true;
  for (char c : in) blank = blank && (c == ' ' || c == '\t');
  FUZZ_CHECK(chat::IsBlank(in) == blank, Show(in));
  return 0;
}

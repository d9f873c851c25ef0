// name_fuzz: ValidateName, NameKey and NormalizeRoom (service/text.h), on any
// bytes a client may send as a member or room name.
//
// Properties checked:
//  - ValidateName accepts exactly 1-32 ASCII letters, digits, '_' and '-'
//    (a reference written here), and refuses the rest with
//    INVALID_ARGUMENT and a message that is safe to show (valid UTF-8,
//    nothing fuzz::MustBeRemoved names: it quotes the name through
//    SanitizeText);
//  - a valid name round-trips: its NameKey is a valid name of the same
//    length, lowercase, unchanged by NameKey again, and the same for the
//    name in upper case;
//  - NormalizeRoom drops one leading '#', turns "" into "lobby", accepts what
//    ValidateName accepts and returns it lowercased; its result normalizes to
//    itself; its refusals are safe to show as well.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "service/text.h"

namespace chat {
namespace {

bool ReferenceValid(absl::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A refusal quotes what the user sent: it must be safe on a terminal.
void CheckRefusal(const absl::Status& s, absl::string_view input) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument,
             s.ToString() + " for " + fuzz::Show(input));
  FUZZ_CHECK(!s.message().empty(), fuzz::Show(input));
  std::vector<uint32_t> cps;
  FUZZ_CHECK(fuzz::DecodeUtf8Strictly(s.message(), &cps),
             "message not UTF-8: " + fuzz::Show(s.message()));
  for (uint32_t cp : cps) {
    FUZZ_CHECK(!fuzz::MustBeRemoved(cp),
               "unsafe character in message: " + fuzz::Show(s.message()));
  }
}

}  // namespace
}  // namespace chat

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using chat::fuzz::Show;
  const absl::string_view name(reinterpret_cast<const char*>(data), size);

  const absl::Status valid = chat::ValidateName(name);
  FUZZ_CHECK(valid.ok() == chat::ReferenceValid(name),
             valid.ToString() + " for " + Show(name));
  if (valid.ok()) {
    const std::string key = chat::NameKey(name);
    FUZZ_CHECK(chat::ValidateName(key).ok(), Show(key));
    FUZZ_CHECK(key.size() == name.size(), Show(key));
    FUZZ_CHECK(key == absl::AsciiStrToLower(name), Show(key));
    FUZZ_CHECK(chat::NameKey(key) == key, Show(key));
    FUZZ_CHECK(chat::NameKey(absl::AsciiStrToUpper(name)) == key, Show(key));
  } else {
    chat::CheckRefusal(valid, name);
  }

  absl::string_view bare = name;
  if (!bare.empty() && bare[0] == '#') bare.remove_prefix(1);
  const absl::StatusOr<std::string> room = chat::NormalizeRoom(name);
  if (bare.empty()) {
    FUZZ_CHECK(room.ok() && *room == chat::kDefaultRoom, Show(name));
  } else {
    FUZZ_CHECK(room.ok() == chat::ReferenceValid(bare), Show(name));
  }
  if (room.ok()) {
    FUZZ_CHECK(chat::ValidateName(*room).ok(), Show(*room));
    FUZZ_CHECK(*room == absl::AsciiStrToLower(*room), Show(*room));
    const absl::StatusOr<std::string> again = chat::NormalizeRoom(*room);
    FUZZ_CHECK(again.ok() && *again == *room, Show(*room));
  } else {
    chat::CheckRefusal(room.status(), name);
  }
  return 0;
}

// script_fuzz: the scenario parser (integration_tests/script.h) on any text.
//
// Properties checked:
//  - ParseScript either fails with "PATH:LINE: ..." naming a line of the
//    text, or returns steps in line order, each a known line whose source
//    tokenizes again into its operation, arguments and options;
//  - a "string" or word token round-trips: the pattern it makes, shown with
//    Pattern::ToString, tokenizes back to one string of the same bytes;
//  - EscapeForDisplay shows any bytes as printable ASCII;
//  - a user list that ExpandUsers accepts expands to user names;
//  - a duration that ParseDuration accepts is finite and not negative.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_check.h"
#include "integration_tests/script.h"

namespace chat {
namespace {

constexpr absl::string_view kPath = "fuzz.scenario";

bool IsUserName(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void CheckParse(absl::string_view text) {
  const int lines = static_cast<int>(
      std::vector<absl::string_view>(absl::StrSplit(text, '\n')).size());
  const absl::StatusOr<Script> script = ParseScript(kPath, text);
  if (!script.ok()) {
    // "fuzz.scenario:LINE: what".
    absl::string_view message = script.status().message();
    FUZZ_CHECK(absl::ConsumePrefix(&message, absl::StrCat(kPath, ":")),
               std::string(script.status().message()));
    int line = 0;
    const size_t colon = message.find(':');
    FUZZ_CHECK(colon != absl::string_view::npos &&
                   absl::SimpleAtoi(message.substr(0, colon), &line) &&
                   line >= 1 && line <= lines,
               std::string(script.status().message()));
    return;
  }
  FUZZ_CHECK(script->path == kPath, script->path);
  int previous = 0;
  for (const Step& step : script->steps) {
    FUZZ_CHECK(step.line > previous && step.line <= lines,
               absl::StrCat("line ", step.line, " after ", previous));
    previous = step.line;
    FUZZ_CHECK(!step.op.empty(), step.source);
    const absl::StatusOr<std::vector<Token>> tokens = TokenizeLine(step.source);
    FUZZ_CHECK(tokens.ok(), step.source);
    FUZZ_CHECK(!tokens->empty() && tokens->front().kind == Token::Kind::kWord &&
                   tokens->front().text == step.op,
               step.source);
    FUZZ_CHECK(tokens->size() == 1 + step.args.size() + step.options.size(),
               step.source);
  }
}

void CheckTokens(absl::string_view line) {
  const absl::StatusOr<std::vector<Token>> tokens = TokenizeLine(line);
  if (!tokens.ok()) return;
  for (const Token& t : *tokens) {
    if (t.kind == Token::Kind::kRegex) continue;
    const std::string shown =
        ToPattern({Token::Kind::kString, t.text}).ToString();
    const absl::StatusOr<std::vector<Token>> again = TokenizeLine(shown);
    FUZZ_CHECK(again.ok() && again->size() == 1 &&
                   again->front().kind == Token::Kind::kString &&
                   again->front().text == t.text,
               fuzz::Show(t.text) + " shown as " + shown);
    if (t.kind != Token::Kind::kWord) continue;
    std::vector<std::string> users;
    if (ExpandUsers(t.text, &users).ok()) {
      for (const std::string& u : users) {
        FUZZ_CHECK(IsUserName(u), fuzz::Show(t.text) + " -> " + fuzz::Show(u));
      }
    }
    const absl::StatusOr<absl::Duration> d = ParseDuration(t.text);
    if (d.ok()) {
      FUZZ_CHECK(*d >= absl::ZeroDuration() && *d < absl::InfiniteDuration(),
                 t.text);
    }
  }
}

}  // namespace
}  // namespace chat

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  chat::CheckParse(text);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    chat::CheckTokens(line);
  }
  const std::string shown = chat::EscapeForDisplay(text);
  for (char c : shown) {
    FUZZ_CHECK(c >= 0x20 && c < 0x7F, chat::fuzz::Show(shown));
  }
  return 0;
}

// token_fuzz: VerifyToken (service/auth_token.h) on any bytes a client may
// send as a token (gRPC metadata, the line port's /auth), and on any JSON an
// issuer holding the secret may sign.
//
// Properties checked:
//  - VerifyToken never crashes, and refuses with UNAUTHENTICATED and a
//    sentence that starts "the token";
//  - a token it accepts verifies again to the same claims, has a valid chat
//    name and an expiry after now, and SignToken of those claims verifies to
//    them too;
//  - the input taken as a payload and signed with the secret (a token only
//    the issuer could make) is accepted exactly when the payload has an
//    unexpired exp and a valid sub, with the same properties.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_check.h"
#include "service/auth_token.h"
#include "service/text.h"

namespace chat {
namespace {

const char kSecret[] = "the fuzzer's secret, 32 bytes or more";
const absl::Time kNow = absl::FromUnixSeconds(1795957200);

bool SameClaims(const TokenClaims& a, const TokenClaims& b) {
  return a.name == b.name && a.expires == b.expires && a.rooms == b.rooms;
}

void Check(absl::string_view token) {
  const absl::StatusOr<TokenClaims> got = VerifyToken(token, kSecret, kNow);
  if (!got.ok()) {
    FUZZ_CHECK(got.status().code() == absl::StatusCode::kUnauthenticated,
               got.status().ToString() + " for " + fuzz::Show(token));
    FUZZ_CHECK(absl::StartsWith(got.status().message(), "the token"),
               got.status().ToString());
    return;
  }
  FUZZ_CHECK(ValidateName(got->name).ok(), fuzz::Show(got->name));
  FUZZ_CHECK(got->expires > kNow, fuzz::Show(token));
  const absl::StatusOr<TokenClaims> again = VerifyToken(token, kSecret, kNow);
  FUZZ_CHECK(again.ok() && SameClaims(*again, *got), fuzz::Show(token));
  const std::string resigned = SignToken(*got, kSecret);
  const absl::StatusOr<TokenClaims> back = VerifyToken(resigned, kSecret, kNow);
  FUZZ_CHECK(back.ok() && SameClaims(*back, *got),
             fuzz::Show(resigned) + " from " + fuzz::Show(token));
}

}  // namespace
}  // namespace chat

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  chat::Check(input);
  chat::Check(chat::SignRawToken(R"({"alg":"HS256"})", input, chat::kSecret));
  return 0;
}

// Tokens for owned names: JSON Web Tokens (RFC 7519) signed with HMAC-SHA256
// (HS256) under one secret that chat-service and whoever issues tokens share,
// as Centrifugo's connection tokens are. A token's `sub` is the name it owns,
// `exp` when it stops working (required), and `rooms`, if present, the only
// rooms the name may enter.
//
// Nothing here is hand-rolled crypto or encoding: the HMAC is OpenSSL's
// (compared with CRYPTO_memcmp), base64url is Abseil's, the JSON is
// nlohmann/json's. Pure functions, safe to call from any thread.
//
// Example:
//   TokenClaims claims{.name = "alice", .expires = absl::Now() +
//   absl::Hours(24)}; std::string token = SignToken(claims, secret);
//   absl::StatusOr<TokenClaims> got = VerifyToken(token, secret, absl::Now());
#ifndef CHATROOM_SERVICE_AUTH_TOKEN_H_
#define CHATROOM_SERVICE_AUTH_TOKEN_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

// The shortest secret accepted, in bytes (RFC 7518 asks for at least the
// hash's size for HS256).
inline constexpr size_t kMinSecretBytes = 32;
// The longest token looked at, in bytes.
inline constexpr size_t kMaxTokenBytes = 8192;

// What a verified token says.
struct TokenClaims {
  std::string name;  // `sub`: a valid chat name, as the issuer spelled it.
  absl::Time expires = absl::InfinitePast();  // `exp`, whole seconds.
  // `rooms`: the rooms the name may enter, as written in the token (not
  // normalized); nullopt when the claim is absent (every room).
  std::optional<std::vector<std::string>> rooms;
};

// VerifyToken
//
// The claims of `token` when it is a compact JWS signed with HS256 under
// `secret`, unexpired at `now` (and not before its `nbf`, if it has one),
// whose `sub` is a valid chat name. Otherwise UNAUTHENTICATED with a
// sentence that says which: "the token is not a JWT: ...", "the token is
// signed with none; this server accepts only HS256", "the token's signature
// does not match this server's secret", "the token has no expiry (exp)...",
// "the token expired at 2026-11-29 15:00:00 UTC". The signature is checked
// before the payload is parsed.
absl::StatusOr<TokenClaims> VerifyToken(absl::string_view token,
                                        absl::string_view secret,
                                        absl::Time now);

// SignToken
//
// A token for `claims` (exp in whole seconds), signed with HS256 under
// `secret`, with header {"alg":"HS256","typ":"JWT"}.
std::string SignToken(const TokenClaims& claims, absl::string_view secret);

// SignRawToken
//
// base64url(header_json) "." base64url(payload_json) "." its HS256
// signature, whatever the JSON says: for tests and the fuzz target.
std::string SignRawToken(absl::string_view header_json,
                         absl::string_view payload_json,
                         absl::string_view secret);

// ReadSecretFile
//
// The secret in `path`: the file's bytes, less one trailing newline ("\n"
// or "\r\n"). INVALID_ARGUMENT with a sentence naming the file when it
// cannot be read, or the secret is shorter than kMinSecretBytes.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// FormatTokenTime
//
// "2026-11-29 15:00:00 UTC", as the errors above show times.
std::string FormatTokenTime(absl::Time t);

}  // namespace chat

#endif  // CHATROOM_SERVICE_AUTH_TOKEN_H_

#include "service/auth_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "service/text.h"

namespace chat {
namespace {

// JSON: nlohmann/json (Debian's nlohmann-json3-dev). Not protobuf's JSON
// into google.protobuf.Struct: any use of protobuf's Map from code built
// with ThreadSanitizer crashes against Debian's libprotobuf (a six-line
// program that sets one Struct field does), which kept the room core's
// tests out of the TSan run.
using Json = nlohmann::json;

// The largest secret file read (a secret is a few dozen bytes).
constexpr size_t kMaxSecretFileBytes = 64 * 1024;
// NumericDates up to the year 9999.
constexpr double kMaxNumericDate = 253402300799;

absl::Status NotJwt(absl::string_view why) {
  return absl::UnauthenticatedError(
      absl::StrCat("the token is not a JWT: ", why));
}

std::string Hs256(absl::string_view signing_input, absl::string_view secret) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(signing_input.data()),
           signing_input.size(), mac, &mac_len) == nullptr) {
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(mac), mac_len);
}

bool IsBase64UrlText(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_') {
      return false;
    }
  }
  return !s.empty();
}

// Decodes one part of the token (`what` names it for the error); the
// encoding must be canonical (no padding, no stray bits), so that one token
// has one spelling.
absl::Status DecodePart(absl::string_view part, absl::string_view what,
                        std::string* out) {
  if (!IsBase64UrlText(part) || !absl::WebSafeBase64Unescape(part, out) ||
      absl::WebSafeBase64Escape(*out) != part) {
    return NotJwt(absl::StrCat("its ", what, " is not base64url"));
  }
  return absl::OkStatus();
}

absl::Status ParseObject(absl::string_view json, absl::string_view what,
                         Json* out) {
  *out = Json::parse(json.begin(), json.end(), /*cb=*/nullptr,
                     /*allow_exceptions=*/false);
  if (out->is_discarded() || !out->is_object()) {
    return NotJwt(absl::StrCat("its ", what, " is not a JSON object"));
  }
  return absl::OkStatus();
}

// The member `key` of a JSON object, or null.
const Json* Field(const Json& object, const char* key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// Shows a header value in an error if it looks like an algorithm name.
std::string ShowAlg(absl::string_view alg) {
  if (alg.empty() || alg.size() > 16) return "an unknown algorithm";
  for (char c : alg) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
        c != '_') {
      return "an unknown algorithm";
    }
  }
  return std::string(alg);
}

// A NumericDate claim `key`: nullopt when absent.
absl::StatusOr<std::optional<absl::Time>> NumericDate(const Json& payload,
                                                      const char* key) {
  const Json* v = Field(payload, key);
  if (v == nullptr) return std::optional<absl::Time>();
  const double seconds = v->is_number() ? v->get<double>() : -1;
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxNumericDate) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the token's ", key, " is not a time (seconds since 1970)"));
  }
  return std::optional<absl::Time>(
      absl::FromUnixSeconds(static_cast<int64_t>(std::floor(seconds))));
}

std::string Encode(absl::string_view bytes) {
  return absl::WebSafeBase64Escape(bytes);
}

}  // namespace

std::string FormatTokenTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

absl::StatusOr<TokenClaims> VerifyToken(absl::string_view token,
                                        absl::string_view secret,
                                        absl::Time now) {
  if (token.empty()) return NotJwt("it is empty");
  if (token.size() > kMaxTokenBytes) {
    return NotJwt(absl::StrCat("it is ", token.size(),
                               " bytes long, over the limit of ",
                               kMaxTokenBytes));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) {
    return NotJwt(absl::StrCat("it has ", parts.size(),
                               " parts separated by '.', not 3"));
  }
  std::string header_json, payload_json, signature;
  if (absl::Status s = DecodePart(parts[0], "header", &header_json); !s.ok()) {
    return s;
  }
  if (absl::Status s = DecodePart(parts[1], "payload", &payload_json);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = DecodePart(parts[2], "signature", &signature); !s.ok()) {
    return s;
  }

  Json header;
  if (absl::Status s = ParseObject(header_json, "header", &header); !s.ok()) {
    return s;
  }
  const Json* alg = Field(header, "alg");
  if (alg == nullptr || !alg->is_string()) {
    return NotJwt("its header names no algorithm (alg)");
  }
  const std::string& alg_name = alg->get_ref<const std::string&>();
  if (alg_name != "HS256") {
    return absl::UnauthenticatedError(
        absl::StrCat("the token is signed with ", ShowAlg(alg_name),
                     "; this server accepts only HS256"));
  }
  if (Field(header, "crit") != nullptr) {
    return absl::UnauthenticatedError(
        "the token's header has critical extensions (crit) this server does "
        "not know");
  }

  const std::string expected =
      Hs256(token.substr(0, parts[0].size() + 1 + parts[1].size()), secret);
  if (expected.empty() || signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return absl::UnauthenticatedError(
        "the token's signature does not match this server's secret");
  }

  // Signed by whoever holds the secret: now the payload.
  Json payload;
  if (absl::Status s = ParseObject(payload_json, "payload", &payload);
      !s.ok()) {
    return s;
  }
  TokenClaims claims;
  absl::StatusOr<std::optional<absl::Time>> exp = NumericDate(payload, "exp");
  if (!exp.ok()) return exp.status();
  if (!exp->has_value()) {
    return absl::UnauthenticatedError(
        "the token has no expiry (exp): this server accepts only tokens that "
        "expire");
  }
  claims.expires = **exp;
  if (now >= claims.expires) {
    return absl::UnauthenticatedError(
        absl::StrCat("the token expired at ", FormatTokenTime(claims.expires)));
  }
  absl::StatusOr<std::optional<absl::Time>> nbf = NumericDate(payload, "nbf");
  if (!nbf.ok()) return nbf.status();
  if (nbf->has_value() && now < **nbf) {
    return absl::UnauthenticatedError(
        absl::StrCat("the token is not valid before ", FormatTokenTime(**nbf)));
  }

  const Json* sub = Field(payload, "sub");
  if (sub == nullptr || !sub->is_string()) {
    return absl::UnauthenticatedError("the token names no one (no sub)");
  }
  const std::string& name = sub->get_ref<const std::string&>();
  if (absl::Status s = ValidateName(name); !s.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the token's sub is not a valid chat name: ", s.message()));
  }
  claims.name = name;

  if (const Json* rooms = Field(payload, "rooms"); rooms != nullptr) {
    const absl::Status bad = absl::UnauthenticatedError(
        "the token's rooms claim is not a list of room names");
    if (!rooms->is_array()) return bad;
    claims.rooms.emplace();
    for (const Json& room : *rooms) {
      if (!room.is_string()) return bad;
      claims.rooms->push_back(room.get<std::string>());
    }
  }
  return claims;
}

std::string SignRawToken(absl::string_view header_json,
                         absl::string_view payload_json,
                         absl::string_view secret) {
  std::string token =
      absl::StrCat(Encode(header_json), ".", Encode(payload_json));
  absl::StrAppend(&token, ".", Encode(Hs256(token, secret)));
  return token;
}

std::string SignToken(const TokenClaims& claims, absl::string_view secret) {
  Json payload = Json::object();
  payload["sub"] = claims.name;
  payload["exp"] = absl::ToUnixSeconds(claims.expires);
  if (claims.rooms.has_value()) payload["rooms"] = *claims.rooms;
  // Bytes that are not UTF-8 (a room name from the command line) become
  // U+FFFD instead of an exception; such a room would not exist anyway.
  const std::string payload_json = payload.dump(-1, ' ', /*ensure_ascii=*/false,
                                                Json::error_handler_t::replace);
  return SignRawToken(R"({"alg":"HS256","typ":"JWT"})", payload_json, secret);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"),
                                          &std::fclose);
  if (f == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read the secret file ", path, ": ", std::strerror(errno)));
  }
  std::string secret;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    secret.append(buf, n);
    if (secret.size() > kMaxSecretFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the secret file ", path, " is over ", kMaxSecretFileBytes,
          " bytes long: is it the right file?"));
    }
  }
  if (std::ferror(f.get())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read the secret file ", path, ": ", std::strerror(errno)));
  }
  if (absl::EndsWith(secret, "\n")) {
    secret.pop_back();
    if (absl::EndsWith(secret, "\r")) secret.pop_back();
  }
  if (secret.size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the secret in ", path, " is ", secret.size(),
        " bytes long; it must be at least ", kMinSecretBytes,
        " (make one with: head -c 32 /dev/urandom | base64 > ", path, ")"));
  }
  return secret;
}

}  // namespace chat

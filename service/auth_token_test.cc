#include "service/auth_token.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kSecret = "0123456789abcdef0123456789abcdef";
const absl::Time kNow =
    absl::FromUnixSeconds(1795957200);  // 2026-11-29 13:00 UTC

TokenClaims Alice() {
  TokenClaims c;
  c.name = "Alice";
  c.expires = kNow + absl::Hours(2);
  return c;
}

std::string Raw(const std::string& payload,
                const std::string& header = R"({"alg":"HS256","typ":"JWT"})") {
  return SignRawToken(header, payload, kSecret);
}

void ExpectRefused(const absl::StatusOr<TokenClaims>& got,
                   absl::StatusCode code, const std::string& sentence) {
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), code) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(sentence));
}

TEST(AuthTokenTest, ASignedTokenVerifies) {
  const std::string token = SignToken(Alice(), kSecret);
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
  absl::StatusOr<TokenClaims> got = VerifyToken(token, kSecret, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "Alice");
  EXPECT_EQ(got->expires, kNow + absl::Hours(2));
  EXPECT_FALSE(got->rooms.has_value());
  // A second before it expires, still good.
  EXPECT_TRUE(
      VerifyToken(token, kSecret, kNow + absl::Hours(2) - absl::Seconds(1))
          .ok());
}

TEST(AuthTokenTest, AnotherIssuersTokenVerifies) {
  // Written by hand, as another issuer (a web backend) would: extra claims,
  // no typ, exp with a fraction.
  absl::StatusOr<TokenClaims> got = VerifyToken(
      Raw(R"({"sub":"bob","exp":1795968000.5,"iat":1795960000,"aud":"x"})",
          R"({"alg":"HS256"})"),
      kSecret, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "bob");
  EXPECT_EQ(got->expires, absl::FromUnixSeconds(1795968000));
}

TEST(AuthTokenTest, RoomsClaim) {
  TokenClaims c = Alice();
  c.rooms = std::vector<std::string>{"dev", "#Ops"};
  absl::StatusOr<TokenClaims> got =
      VerifyToken(SignToken(c, kSecret), kSecret, kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->rooms.has_value());
  EXPECT_THAT(*got->rooms, ElementsAre("dev", "#Ops"));
  // An empty list is no rooms, not all of them.
  got = VerifyToken(Raw(R"({"sub":"a","exp":1895960800,"rooms":[]})"), kSecret,
                    kNow);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->rooms.has_value());
  EXPECT_TRUE(got->rooms->empty());
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":"a","exp":1895960800,"rooms":"dev"})"), kSecret,
                  kNow),
      absl::StatusCode::kUnauthenticated, "rooms claim is not a list");
  ExpectRefused(VerifyToken(Raw(R"({"sub":"a","exp":1895960800,"rooms":[1]})"),
                            kSecret, kNow),
                absl::StatusCode::kUnauthenticated,
                "rooms claim is not a list");
}

TEST(AuthTokenTest, ExpiredSaysWhen) {
  TokenClaims c = Alice();
  c.expires = absl::FromUnixSeconds(1795946400);  // 10:00 UTC
  ExpectRefused(VerifyToken(SignToken(c, kSecret), kSecret, kNow),
                absl::StatusCode::kUnauthenticated,
                "the token expired at 2026-11-29 10:00:00 UTC");
  // At exp itself it no longer works.
  ExpectRefused(VerifyToken(SignToken(c, kSecret), kSecret, c.expires),
                absl::StatusCode::kUnauthenticated, "expired");
}

TEST(AuthTokenTest, NotBefore) {
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":"a","exp":1895960800,"nbf":1795960800})"),
                  kSecret, kNow),
      absl::StatusCode::kUnauthenticated,
      "not valid before 2026-11-29 14:00:00 UTC");
}

TEST(AuthTokenTest, WrongSignature) {
  const std::string token = SignToken(Alice(), kSecret);
  ExpectRefused(VerifyToken(token, "another secret of 32 bytes or more!", kNow),
                absl::StatusCode::kUnauthenticated,
                "the token's signature does not match this server's secret");
  // The payload changed under the signature: another name.
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  const std::string forged = absl::StrCat(
      parts[0], ".",
      absl::WebSafeBase64Escape(R"({"sub":"mallory","exp":1895960800})"), ".",
      parts[2]);
  ExpectRefused(VerifyToken(forged, kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "signature does not match");
  // A signature one bit off, a truncated one, another spelling of it.
  std::string sig;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[2], &sig));
  sig[0] ^= 1;
  ExpectRefused(VerifyToken(absl::StrCat(parts[0], ".", parts[1], ".",
                                         absl::WebSafeBase64Escape(sig)),
                            kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "signature does not match");
  ExpectRefused(VerifyToken(absl::StrCat(parts[0], ".", parts[1], ".",
                                         parts[2].substr(0, 20)),
                            kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "signature does not match");
  ExpectRefused(VerifyToken(absl::StrCat(token, "="), kSecret, kNow),
                absl::StatusCode::kUnauthenticated,
                "its signature is not base64url");
}

TEST(AuthTokenTest, OnlyHs256) {
  // alg none, with or without a signature.
  const std::string payload =
      absl::WebSafeBase64Escape(R"({"sub":"mallory","exp":1895960800})");
  const std::string none = absl::StrCat(
      absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})"), ".", payload);
  ExpectRefused(VerifyToken(absl::StrCat(none, "."), kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "is not a JWT");
  ExpectRefused(
      VerifyToken(absl::StrCat(none, ".c2ln"), kSecret, kNow),
      absl::StatusCode::kUnauthenticated,
      "the token is signed with none; this server accepts only HS256");
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":"a","exp":1895960800})", R"({"alg":"HS512"})"),
                  kSecret, kNow),
      absl::StatusCode::kUnauthenticated, "signed with HS512");
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":"a","exp":1895960800})", R"({"alg":"hs256"})"),
                  kSecret, kNow),
      absl::StatusCode::kUnauthenticated, "signed with hs256");
  ExpectRefused(
      VerifyToken(
          Raw(R"({"sub":"a","exp":1895960800})", R"({"alg":"\u001b[2J"})"),
          kSecret, kNow),
      absl::StatusCode::kUnauthenticated, "signed with an unknown algorithm");
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":"a","exp":1895960800})", R"({"typ":"JWT"})"),
                  kSecret, kNow),
      absl::StatusCode::kUnauthenticated, "names no algorithm");
  ExpectRefused(VerifyToken(Raw(R"({"sub":"a","exp":1895960800})",
                                R"({"alg":"HS256","crit":["b64"]})"),
                            kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "critical extensions");
}

TEST(AuthTokenTest, MalformedPieces) {
  const std::string good = SignToken(Alice(), kSecret);
  for (const std::string& bad :
       {std::string(), std::string("abc"), std::string("a.b"),
        std::string("a.b.c.d"), std::string(".."), absl::StrCat(good, ".x"),
        absl::StrCat("!", good), std::string(kMaxTokenBytes + 1, 'a'),
        absl::StrCat("e30.", good.substr(good.find('.') + 1))}) {
    absl::StatusOr<TokenClaims> got = VerifyToken(bad, kSecret, kNow);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(got.status().message()),
                ::testing::AnyOf(HasSubstr("the token is not a JWT: "),
                                 HasSubstr("no algorithm")))
        << bad << ": " << got.status();
  }
  // Header or payload not JSON objects.
  ExpectRefused(VerifyToken(Raw(R"({"sub":"a"})", "[1]"), kSecret, kNow),
                absl::StatusCode::kUnauthenticated,
                "the token is not a JWT: its header is not a JSON object");
  ExpectRefused(VerifyToken(Raw("not json"), kSecret, kNow),
                absl::StatusCode::kUnauthenticated,
                "the token is not a JWT: its payload is not a JSON object");
}

TEST(AuthTokenTest, ClaimsThatAreRequired) {
  ExpectRefused(VerifyToken(Raw(R"({"sub":"a"})"), kSecret, kNow),
                absl::StatusCode::kUnauthenticated,
                "the token has no expiry (exp)");
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":"a","exp":"1895960800"})"), kSecret, kNow),
      absl::StatusCode::kUnauthenticated, "exp is not a time");
  ExpectRefused(VerifyToken(Raw(R"({"sub":"a","exp":-1})"), kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "exp is not a time");
  ExpectRefused(VerifyToken(Raw(R"({"sub":"a","exp":1e300})"), kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "exp is not a time");
  ExpectRefused(VerifyToken(Raw(R"({"exp":1895960800})"), kSecret, kNow),
                absl::StatusCode::kUnauthenticated, "names no one (no sub)");
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":"~bob","exp":1895960800})"), kSecret, kNow),
      absl::StatusCode::kUnauthenticated,
      "the token's sub is not a valid chat name");
  ExpectRefused(
      VerifyToken(Raw(R"({"sub":7,"exp":1895960800})"), kSecret, kNow),
      absl::StatusCode::kUnauthenticated, "no sub");
}

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/auth-token-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    std::remove(Path().c_str());
    rmdir(dir_.c_str());
  }
  std::string Path() const { return dir_ + "/secret"; }
  void Write(const std::string& bytes) {
    std::ofstream(Path(), std::ios::binary) << bytes;
  }
  std::string dir_;
};

TEST_F(SecretFileTest, TheFileLessATrailingNewline) {
  Write(kSecret + "\n");
  absl::StatusOr<std::string> got = ReadSecretFile(Path());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, kSecret);
  Write(kSecret + "\r\n");
  EXPECT_EQ(*ReadSecretFile(Path()), kSecret);
  Write(kSecret + "\n\n");
  EXPECT_EQ(*ReadSecretFile(Path()), kSecret + "\n");
}

TEST_F(SecretFileTest, RefusesShortEmptyAndMissing) {
  Write("short\n");
  absl::StatusOr<std::string> got = ReadSecretFile(Path());
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("is 5 bytes long; it must be at least 32"));
  Write("");
  EXPECT_THAT(std::string(ReadSecretFile(Path()).status().message()),
              HasSubstr("is 0 bytes long"));
  got = ReadSecretFile(dir_ + "/missing");
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("cannot read the secret file " + dir_ +
                        "/missing: No such file or directory"));
}

}  // namespace
}  // namespace chat

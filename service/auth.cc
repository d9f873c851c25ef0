#include "service/auth.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/auth_token.h"
#include "service/text.h"

namespace chat {

bool Identity::MayEnter(absl::string_view room) const {
  if (!rooms.has_value()) return true;
  for (const std::string& r : *rooms) {
    if (r == room) return true;
  }
  return false;
}

Authenticator::Authenticator(std::string secret, bool guests)
    : secret_(std::move(secret)), guests_(guests) {}

absl::Status NeedsTokenError() {
  return absl::UnauthenticatedError(
      "this server needs a token: it admits no guests; ask for a token for "
      "your name and sign in with it");
}

absl::Status RoomNotAllowedError(absl::string_view room) {
  return absl::PermissionDeniedError(
      absl::StrCat("the token does not allow room ", room));
}

absl::StatusOr<Identity> Authenticator::Owner(absl::string_view token,
                                              absl::Time now) const {
  absl::StatusOr<TokenClaims> claims = VerifyToken(token, secret_, now);
  if (!claims.ok()) return claims.status();
  Identity who;
  who.name = std::move(claims->name);
  who.owner = true;
  if (claims->rooms.has_value()) {
    who.rooms.emplace();
    for (const std::string& r : *claims->rooms) {
      absl::StatusOr<std::string> room = NormalizeRoom(r);
      if (room.ok()) who.rooms->push_back(*std::move(room));
    }
  }
  return who;
}

absl::StatusOr<Identity> Authenticator::Identify(absl::string_view token,
                                                 absl::string_view name,
                                                 absl::Time now) const {
  if (!token.empty()) {
    absl::StatusOr<Identity> who = Owner(token, now);
    if (!who.ok()) return who.status();
    if (!name.empty() && NameKey(name) != NameKey(who->name)) {
      return absl::PermissionDeniedError(
          absl::StrCat("the token is for ", who->name, ", not ",
                       TruncateUtf8(SanitizeText(name), kMaxNameLength * 2)));
    }
    return who;
  }
  if (!guests_) return NeedsTokenError();
  // A guest rejoining under the name its welcome gave (a page or chatctl
  // reconnecting) sends it marked: the mark is not doubled.
  if (!name.empty() && name[0] == kGuestMark) name.remove_prefix(1);
  if (absl::Status s = ValidateName(name); !s.ok()) return s;
  Identity who;
  who.name = absl::StrCat(std::string(1, kGuestMark), name);
  return who;
}

absl::Status Authenticator::Authorize(absl::string_view token,
                                      absl::string_view room,
                                      absl::Time now) const {
  if (token.empty()) return guests_ ? absl::OkStatus() : NeedsTokenError();
  absl::StatusOr<Identity> who = Owner(token, now);
  if (!who.ok()) return who.status();
  if (!who->MayEnter(room)) return RoomNotAllowedError(room);
  return absl::OkStatus();
}

}  // namespace chat

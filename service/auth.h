// Who a member is, decided in one place for every transport: the
// Authenticator that the Hub holds (HubOptions::auth) when chat-service runs
// with --auth_secret_file. Without one, names are first come, first served,
// as they always were.
//
// With one, a name can be owned: a join that carries a token
// (service/auth_token.h) for `alice` enters as the owner "alice" (the
// token's spelling), only in the rooms the token allows. A join without a
// token is a guest's, when guests are allowed: its name carries the guest
// mark, "~bob", in every event and listing (as IRC marks unidentified
// users). '~' is not a character a chosen name may have (service/text.h), so
// a guest can never pass for an owner. Without guests, no token means no
// entry.
//
// The room core applies the rest (service/room.h): a guest cannot take a
// name whose owner is in the room, an owner who joins again takes the name
// over from its older session, an owner's name cannot be changed.
//
// Constant after construction; thread-safe.
#ifndef CHATROOM_SERVICE_AUTH_H_
#define CHATROOM_SERVICE_AUTH_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

// The mark before a guest's name.
inline constexpr char kGuestMark = '~';

// Who a member is.
struct Identity {
  // The name the member enters under: the token's for an owner, the chosen
  // name with the guest mark for a guest, the chosen name when tokens are
  // off.
  std::string name;
  bool owner = false;
  // The rooms an owner may enter (normalized; names that are not rooms
  // dropped); nullopt: every room.
  std::optional<std::vector<std::string>> rooms;

  // True when the member may enter `room` (normalized).
  bool MayEnter(absl::string_view room) const;
};

// Authenticator: tokens under one secret, and whether guests are allowed.
class Authenticator {
 public:
  // `secret` is the HS256 key (ReadSecretFile's).
  Authenticator(std::string secret, bool guests);

  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  bool guests() const { return guests_; }

  // Identify
  //
  // Who a join with `token` ("" for none) asking for `name` is. With a
  // token: the owner of the token's name, when `name` is that name
  // (ignoring case) or empty; PERMISSION_DENIED "the token is for alice,
  // not bob" otherwise; the token's own errors (UNAUTHENTICATED) when it is
  // not valid at `now`. Without: a guest, `name` marked (once: a name
  // that comes marked, as a reconnecting client sends the name its welcome
  // gave, keeps its one mark; INVALID_ARGUMENT for a bad name), or
  // UNAUTHENTICATED when guests are not allowed.
  absl::StatusOr<Identity> Identify(absl::string_view token,
                                    absl::string_view name,
                                    absl::Time now) const;

  // Owner
  //
  // The owner `token` names (the line port's /auth), or its errors.
  absl::StatusOr<Identity> Owner(absl::string_view token, absl::Time now) const;

  // Authorize
  //
  // OK when a request carrying `token` ("" for none) may read `room`
  // (normalized): its members, its history. Without a token, only when
  // guests are allowed.
  absl::Status Authorize(absl::string_view token, absl::string_view room,
                         absl::Time now) const;

 private:
  const std::string secret_;
  const bool guests_;
};

// What a refused join without a token is told, when guests are not allowed.
absl::Status NeedsTokenError();

// RoomNotAllowedError
//
// PERMISSION_DENIED "the token does not allow room X".
absl::Status RoomNotAllowedError(absl::string_view room);

}  // namespace chat

#endif  // CHATROOM_SERVICE_AUTH_H_

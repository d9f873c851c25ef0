// Resume secrets: what lets a member take its name back from a connection
// of its own that the server has not yet seen die (Join.resume_secret,
// Welcome.resume_secret in proto/chat/v1/chat.proto).
//
// A secret is 128 random bits from the kernel (getrandom(2), else
// /dev/urandom), as 32 hex digits: unguessable, unlike a seeded generator's
// output. Secrets are compared in constant time, so that the time a refused
// join takes says nothing about how much of a secret it got right.
//
// Thread-safe: pure functions.
#ifndef CHATROOM_SERVICE_RESUME_SECRET_H_
#define CHATROOM_SERVICE_RESUME_SECRET_H_

#include <string>

#include "absl/strings/string_view.h"

namespace chat {

// NewResumeSecret
//
// A new secret: 32 lowercase hex digits, or "" when the kernel gives no
// random bytes (then the member cannot take its name back).
std::string NewResumeSecret();

// ResumeSecretsMatch
//
// True when `presented` equals `held`, compared in constant time for a
// given length; "" never matches.
bool ResumeSecretsMatch(absl::string_view presented, absl::string_view held);

}  // namespace chat

#endif  // CHATROOM_SERVICE_RESUME_SECRET_H_

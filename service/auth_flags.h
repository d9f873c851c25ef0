// chat-service's flags for owned names (service/auth.h): --auth_secret_file
// turns tokens on, --guests says whether people without one get in (as
// marked guests). Read once at start.
#ifndef CHATROOM_SERVICE_AUTH_FLAGS_H_
#define CHATROOM_SERVICE_AUTH_FLAGS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "service/auth.h"

namespace chat {

// AuthenticatorFromFlags
//
// The Authenticator the flags ask for; null when tokens are off (no
// --auth_secret_file). INVALID_ARGUMENT with a sentence when the secret
// file cannot be read or its secret is too short, or --guests=false is
// given without a secret.
absl::StatusOr<std::shared_ptr<const Authenticator>> AuthenticatorFromFlags();

}  // namespace chat

#endif  // CHATROOM_SERVICE_AUTH_FLAGS_H_

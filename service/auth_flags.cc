#include "service/auth_flags.h"

#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "service/auth_token.h"

ABSL_FLAG(std::string, auth_secret_file, "",
          "owned names: a file holding the secret (at least 32 bytes) that "
          "signs the tokens (HS256 JWTs: chatctl token); empty: tokens off, "
          "names are first come, first served");
ABSL_FLAG(bool, guests, true,
          "with --auth_secret_file: let people without a token in, as guests "
          "whose names carry the mark ~ (false: a token is needed)");

namespace chat {

absl::StatusOr<std::shared_ptr<const Authenticator>> AuthenticatorFromFlags() {
  const std::string path = absl::GetFlag(FLAGS_auth_secret_file);
  const bool guests = absl::GetFlag(FLAGS_guests);
  if (path.empty()) {
    if (!guests) {
      return absl::InvalidArgumentError(
          "--guests=false needs --auth_secret_file: without tokens there is "
          "no way in but as a guest");
    }
    return std::shared_ptr<const Authenticator>();
  }
  absl::StatusOr<std::string> secret = ReadSecretFile(path);
  if (!secret.ok()) return secret.status();
  return std::shared_ptr<const Authenticator>(
      std::make_shared<Authenticator>(*std::move(secret), guests));
}

}  // namespace chat

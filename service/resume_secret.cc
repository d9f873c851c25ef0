#include "service/resume_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace chat {
namespace {

constexpr size_t kSecretBytes = 16;

// Fills buf[0, n) from getrandom(2), else /dev/urandom. False when neither
// gave every byte.
bool RandomBytes(unsigned char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = getrandom(buf + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r < 0 && errno != EINTR) {
      break;
    }
  }
  if (got == n) return true;
  const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  got = 0;
  while (got < n) {
    const ssize_t r = read(fd, buf + got, n - got);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0 || errno != EINTR) {
      break;
    }
  }
  close(fd);
  return got == n;
}

}  // namespace

std::string NewResumeSecret() {
  unsigned char bytes[kSecretBytes];
  if (!RandomBytes(bytes, sizeof(bytes))) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string secret;
  secret.reserve(2 * sizeof(bytes));
  for (unsigned char b : bytes) {
    secret.push_back(kHex[b >> 4]);
    secret.push_back(kHex[b & 0xf]);
  }
  return secret;
}

bool ResumeSecretsMatch(absl::string_view presented, absl::string_view held) {
  if (presented.empty() || held.empty() || presented.size() != held.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < held.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i] ^ held[i]);
  }
  return diff == 0;
}

}  // namespace chat

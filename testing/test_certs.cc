#include "testing/test_certs.h"

#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace chat {
namespace {

// Runs `command` with `dir` as the working directory, its output discarded.
absl::Status Run(const std::string& dir, const std::string& command) {
  const std::string full =
      absl::StrCat("cd '", dir, "' && ", command, " >/dev/null 2>&1");
  if (std::system(full.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("test certificates: \"", command,
                                            "\" failed (is openssl there?)"));
  }
  return absl::OkStatus();
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestCerts>> TestCerts::Make() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(
      tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/chat-certs-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError("test certificates: cannot make a directory");
  }
  std::unique_ptr<TestCerts> certs(new TestCerts(pattern));
  const std::string& dir = certs->dir_;
  if (!WriteFile(dir + "/local.ext",
                 "subjectAltName=DNS:localhost,IP:127.0.0.1\n") ||
      !WriteFile(dir + "/other.ext", "subjectAltName=DNS:chat.example.org\n")) {
    return absl::InternalError("test certificates: cannot write a file");
  }
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
  auto ca = [&](const std::string& name, const std::string& cn) {
    return Run(dir, absl::StrCat("openssl req -x509 ", key, " -keyout ", name,
                                 ".key -out ", name,
                                 ".pem -days 2 -subj '/CN=", cn, "'"));
  };
  auto sign = [&](const std::string& out, const std::string& cn,
                  const std::string& ext, const std::string& by, int serial,
                  int days) {
    absl::Status s =
        Run(dir, absl::StrCat("openssl req -new -key server.key -out ", out,
                              ".csr -subj '/CN=", cn, "'"));
    if (!s.ok()) return s;
    return Run(dir, absl::StrCat("openssl x509 -req -in ", out, ".csr -CA ", by,
                                 ".pem -CAkey ", by, ".key -set_serial ",
                                 serial, " -days ", days, " -extfile ", ext,
                                 " -out ", out, ".pem"));
  };
  absl::Status s = ca("ca", "chatroom test CA");
  if (s.ok()) s = ca("other_ca", "another test CA");
  if (s.ok()) {
    s = Run(dir,
            "openssl genpkey -algorithm EC -pkeyopt "
            "ec_paramgen_curve:P-256 -out server.key");
  }
  if (s.ok()) s = sign("server", "localhost", "local.ext", "ca", 1, 1);
  if (s.ok()) {
    s = sign("reloaded", "localhost-reloaded", "local.ext", "ca", 2, 1);
  }
  // -days -1: notAfter a day before notBefore (now): expired.
  if (s.ok()) s = sign("expired", "localhost", "local.ext", "ca", 3, -1);
  if (s.ok()) {
    s = sign("other_host", "chat.example.org", "other.ext", "ca", 4, 1);
  }
  if (s.ok()) s = sign("untrusted", "localhost", "local.ext", "other_ca", 5, 1);
  if (!s.ok()) return s;
  return certs;
}

TestCerts::~TestCerts() {
  const std::string command = absl::StrCat("rm -rf '", dir_, "'");
  (void)!std::system(command.c_str());
}

bool CopyFile(const std::string& from, const std::string& to) {
  std::ifstream in(from);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return false;
  const std::string temporary = to + ".new";
  if (!WriteFile(temporary, text.str())) return false;
  return std::rename(temporary.c_str(), to.c_str()) == 0;
}

}  // namespace chat

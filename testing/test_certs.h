// TestCerts: a throwaway CA and server certificates, made at test time with
// the `openssl` command (Debian's openssl package) in a new temporary
// directory, deleted with the object. Nothing secret is committed.
//
// Every server certificate shares one key (key()), so any of them can be
// served with it:
//   cert()            CN=localhost, for DNS:localhost and IP:127.0.0.1,
//                     signed by ca(); valid for a day.
//   reloaded_cert()   the same names, CN=localhost-reloaded (to tell a
//                     reload happened).
//   expired_cert()    the same names, expired yesterday.
//   other_host_cert() CN=chat.example.org, for DNS:chat.example.org only.
//   untrusted_cert()  the names of cert(), signed by other_ca().
// P-256 keys: each file takes a few milliseconds.
//
// Example:
//   absl::StatusOr<std::unique_ptr<TestCerts>> certs = TestCerts::Make();
//   ASSERT_TRUE(certs.ok()) << certs.status();
//   server.Start({"--tls_cert=" + (*certs)->cert(),
//                 "--tls_key=" + (*certs)->key()});
#ifndef CHATROOM_TESTING_TEST_CERTS_H_
#define CHATROOM_TESTING_TEST_CERTS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace chat {

class TestCerts {
 public:
  // Make
  //
  // Makes every file. INTERNAL with the failing command when openssl is
  // missing or fails.
  static absl::StatusOr<std::unique_ptr<TestCerts>> Make();
  // Deletes the directory.
  ~TestCerts();

  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;

  const std::string& dir() const { return dir_; }
  std::string ca() const { return dir_ + "/ca.pem"; }
  std::string other_ca() const { return dir_ + "/other_ca.pem"; }
  std::string key() const { return dir_ + "/server.key"; }
  std::string cert() const { return dir_ + "/server.pem"; }
  std::string reloaded_cert() const { return dir_ + "/reloaded.pem"; }
  std::string expired_cert() const { return dir_ + "/expired.pem"; }
  std::string other_host_cert() const { return dir_ + "/other_host.pem"; }
  std::string untrusted_cert() const { return dir_ + "/untrusted.pem"; }

 private:
  explicit TestCerts(std::string dir) : dir_(std::move(dir)) {}

  const std::string dir_;
};

// CopyFile
//
// Copies `from` over `to` (write to a temporary name, then rename, as a
// certificate renewal would). False on any error.
bool CopyFile(const std::string& from, const std::string& to);

}  // namespace chat

#endif  // CHATROOM_TESTING_TEST_CERTS_H_

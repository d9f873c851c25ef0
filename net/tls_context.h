// TlsContext: the server's TLS configuration (certificate chain and private
// key), shared by every port that serves TLS, and reloadable while they run.
//
// Load reads a PEM certificate chain and a PEM private key, checks that they
// belong together and builds an OpenSSL context for them: TLS 1.2 or later
// only, and ALPN "h2" selected when the client offers it (gRPC clients
// require it; a line-port client offers none and gets none). Reload builds a
// new context from the same files and swaps it in only when that succeeded;
// handshakes that start afterwards use the new one, connections already open
// keep the one they started with (each holds its shared_ptr).
//
// Thread-safe: every method may be called from any thread. Current() is a
// mutex and a shared_ptr copy, once per handshake.
//
// Example:
//   absl::StatusOr<std::shared_ptr<TlsContext>> tls =
//       TlsContext::Load("/etc/letsencrypt/live/x/fullchain.pem",
//                        "/etc/letsencrypt/live/x/privkey.pem");
//   if (!tls.ok()) return tls.status();
//   ... asio::ssl::stream<tcp::socket> s(socket, *(*tls)->Current()); ...
//   (on SIGHUP) absl::StatusOr<std::string> what = (*tls)->Reload();
#ifndef CHATROOM_NET_TLS_CONTEXT_H_
#define CHATROOM_NET_TLS_CONTEXT_H_

#include <openssl/x509.h>

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace chat {

class TlsContext {
 public:
  // Load
  //
  // Reads `cert_file` (PEM: the server's certificate, then any
  // intermediates) and `key_file` (PEM private key). Errors:
  // INVALID_ARGUMENT with a sentence naming the file and what is wrong
  // (unreadable, not PEM, the key does not match the certificate).
  static absl::StatusOr<std::shared_ptr<TlsContext>> Load(std::string cert_file,
                                                          std::string key_file);

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Current
  //
  // The context new handshakes use. The caller keeps the shared_ptr for as
  // long as its connection lives.
  std::shared_ptr<boost::asio::ssl::context> Current() const;

  // Reload
  //
  // Reads the files again. On success swaps the new context in and returns
  // Describe() of it; on failure keeps the current one and returns why.
  absl::StatusOr<std::string> Reload();

  // Describe
  //
  // "CN=chat.example.org expires 2027-03-01 12:00:00 UTC" for the current
  // certificate.
  std::string Describe() const;

 private:
  TlsContext(std::string cert_file, std::string key_file);

  // Builds a context from the files.
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> Build() const;

  // Constant after construction.
  const std::string cert_file_;
  const std::string key_file_;

  mutable absl::Mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_ ABSL_GUARDED_BY(mu_);
};

// DescribeCertificate
//
// "CN=NAME expires YYYY-MM-DD HH:MM:SS UTC" for an X509 certificate (the
// subject's common name, else the whole subject).
std::string DescribeCertificate(const X509* certificate);

}  // namespace chat

#endif  // CHATROOM_NET_TLS_CONTEXT_H_

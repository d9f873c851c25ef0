#include "net/tls_context.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace chat {
namespace {

namespace ssl = boost::asio::ssl;

// OpenSSL's last error, as text ("" when there is none), and clears the
// queue.
std::string OpenSslError() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(e, buffer, sizeof(buffer));
    if (text.empty()) text = buffer;
  }
  return text;
}

// ALPN: "h2" when the client offers it (gRPC), else no protocol at all.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void*) {
  static const unsigned char kH2[] = {2, 'h', '2'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kH2, sizeof(kH2), in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

std::string DescribeCertificate(const X509* certificate) {
  if (certificate == nullptr) return "no certificate";
  std::string name;
  const X509_NAME* subject = X509_get_subject_name(certificate);
  char cn[256];
  if (X509_NAME_get_text_by_NID(const_cast<X509_NAME*>(subject), NID_commonName,
                                cn, sizeof(cn)) > 0) {
    name = absl::StrCat("CN=", cn);
  } else {
    char* line = X509_NAME_oneline(subject, nullptr, 0);
    name = line != nullptr ? line : "(no subject)";
    OPENSSL_free(line);
  }
  std::string expires = "(unknown)";
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio != nullptr) {
    // "Mar  1 12:00:00 2027 GMT"
    if (ASN1_TIME_print(bio, X509_get0_notAfter(certificate)) == 1) {
      char* data = nullptr;
      const long size = BIO_get_mem_data(bio, &data);
      expires.assign(data, static_cast<size_t>(size));
    }
    BIO_free(bio);
  }
  return absl::StrCat(name, " expires ", expires);
}

TlsContext::TlsContext(std::string cert_file, std::string key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Load(
    std::string cert_file, std::string key_file) {
  std::shared_ptr<TlsContext> tls(
      new TlsContext(std::move(cert_file), std::move(key_file)));
  absl::StatusOr<std::shared_ptr<ssl::context>> built = tls->Build();
  if (!built.ok()) return built.status();
  absl::MutexLock lock(&tls->mu_);
  tls->current_ = *std::move(built);
  return tls;
}

absl::StatusOr<std::shared_ptr<ssl::context>> TlsContext::Build() const {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Partial writes and moving buffers: the bridge writes what it has.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // The key first: a certificate that does not match it is then found by
  // the check below, which says so.
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file_.c_str(), SSL_FILETYPE_PEM) !=
      1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot use the TLS key ", key_file_, ": ", OpenSslError()));
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file_.c_str()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot use the TLS certificate ", cert_file_, ": ", OpenSslError()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS key ", key_file_, " does not match the certificate ",
        cert_file_, ": ", OpenSslError()));
  }
  SSL_CTX_set_alpn_select_cb(ctx, &SelectAlpn, nullptr);
  return context;
}

std::shared_ptr<ssl::context> TlsContext::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::StatusOr<std::string> TlsContext::Reload() {
  absl::StatusOr<std::shared_ptr<ssl::context>> built = Build();
  if (!built.ok()) return built.status();
  {
    absl::MutexLock lock(&mu_);
    current_ = *std::move(built);
  }
  return Describe();
}

std::string TlsContext::Describe() const {
  std::shared_ptr<ssl::context> current = Current();
  return DescribeCertificate(
      SSL_CTX_get0_certificate(current->native_handle()));
}

}  // namespace chat

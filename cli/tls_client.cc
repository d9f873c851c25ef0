#include "cli/tls_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

namespace chat {
namespace {

struct TlsSetting {
  bool enabled = false;
  std::string roots;  // PEM.
};

absl::Mutex setting_mu(absl::kConstInit);
TlsSetting* setting ABSL_GUARDED_BY(setting_mu) = nullptr;

TlsSetting Setting() {
  absl::MutexLock lock(&setting_mu);
  return setting != nullptr ? *setting : TlsSetting{};
}

// HOST and PORT of "HOST:PORT" ("[V6]:PORT").
void SplitServer(absl::string_view server, std::string* host,
                 std::string* port) {
  const size_t colon = server.rfind(':');
  absl::string_view h = server.substr(0, colon);
  absl::ConsumePrefix(&h, "[");
  absl::ConsumeSuffix(&h, "]");
  *host = std::string(h);
  *port = std::string(server.substr(colon + 1));
}

// A connected blocking socket with 3 s timeouts, or -1.
int Connect(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval timeout{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

// The DNS names and IP addresses a certificate is for (else its CN).
std::string NamesOf(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(dns->data),
                         static_cast<size_t>(dns->length));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = "";
      inet_ntop(ip->length == 16 ? AF_INET6 : AF_INET, ip->data, text,
                sizeof(text));
      names.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(sans);
  if (names.empty()) {
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                              sizeof(cn));
    names.emplace_back(cn);
  }
  return absl::StrJoin(names, ", ");
}

std::string NotAfter(X509* cert) {
  std::string text;
  BIO* bio = BIO_new(BIO_s_mem());
  if (ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    text.assign(data, static_cast<size_t>(size));
  }
  BIO_free(bio);
  return text;
}

}  // namespace

absl::Status UseTls(const std::string& ca_file) {
  const std::string path =
      ca_file.empty() ? std::string(kSystemRoots) : ca_file;
  std::ifstream in(path);
  std::stringstream pem;
  pem << in.rdbuf();
  if (!in || !absl::StrContains(pem.str(), "-----BEGIN CERTIFICATE-----")) {
    return absl::InvalidArgumentError(
        ca_file.empty()
            ? absl::StrCat("cannot read the system's trusted CAs in ", path,
                           " (install ca-certificates, or give --tls_ca)")
            : absl::StrCat("--tls_ca ", path,
                           ": cannot read a PEM certificate from it"));
  }
  absl::MutexLock lock(&setting_mu);
  delete setting;
  setting = new TlsSetting{true, pem.str()};
  return absl::OkStatus();
}

bool TlsEnabled() { return Setting().enabled; }

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() {
  TlsSetting s = Setting();
  if (!s.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = s.roots;
  return grpc::SslCredentials(options);
}

void ExpectPeerName(SSL* ssl, const std::string& host) {
  in6_addr ip;
  const bool is_ip = inet_pton(AF_INET, host.c_str(), &ip) == 1 ||
                     inet_pton(AF_INET6, host.c_str(), &ip) == 1;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl, host.c_str());
  }
}

std::optional<std::string> DiagnoseTls(absl::string_view server) {
  const TlsSetting s = Setting();
  std::string host, port;
  SplitServer(server, &host, &port);
  const int fd = Connect(host, port);
  if (fd < 0) return std::nullopt;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  BIO* roots =
      BIO_new_mem_buf(s.roots.data(), static_cast<int>(s.roots.size()));
  while (X509* ca = PEM_read_bio_X509(roots, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
  }
  BIO_free(roots);
  ERR_clear_error();
  // Verify, but finish the handshake either way to read the result.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  ExpectPeerName(ssl, host);
  std::optional<std::string> why;
  if (SSL_connect(ssl) != 1) {
    why = "the server does not speak TLS on this port";
  } else if (X509* cert = SSL_get1_peer_certificate(ssl)) {
    const long result = SSL_get_verify_result(ssl);
    switch (result) {
      case X509_V_OK:
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
        why = absl::StrCat("the server's certificate has expired (not after ",
                           NotAfter(cert), ")");
        break;
      case X509_V_ERR_CERT_NOT_YET_VALID:
        why = "the server's certificate is not valid yet";
        break;
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        why = absl::StrCat("the server's certificate is not for ", host,
                           " (it names ", NamesOf(cert), ")");
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        why =
            "the server's certificate is not trusted: signed by an unknown CA "
            "(give it with --tls_ca)";
        break;
      default:
        why = absl::StrCat("the server's certificate is not trusted: ",
                           X509_verify_cert_error_string(result));
    }
    X509_free(cert);
  } else {
    why = "the server sent no certificate";
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return why;
}

}  // namespace chat

// chatctl's TLS: the credentials its channels use (--tls, --tls_ca,
// $CHATCTL_TLS_CA), and, when a TLS connection fails, a sentence that says
// why (expired, another host's, untrusted, not TLS at all), found by one
// direct OpenSSL handshake with the same roots and host name check.
//
// The setting is process-wide: set once, before any Dial (chatctl's command
// or bench flags), read by Dial from any thread after that.
#ifndef CHATROOM_CLI_TLS_CLIENT_H_
#define CHATROOM_CLI_TLS_CLIENT_H_

#include <grpcpp/grpcpp.h>
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace chat {

// Debian's bundle of the system's trusted roots (ca-certificates).
inline constexpr absl::string_view kSystemRoots =
    "/etc/ssl/certs/ca-certificates.crt";

// UseTls
//
// From now on channels use TLS, trusting the CAs in `ca_file` (PEM), or the
// system's roots when it is empty. INVALID_ARGUMENT when the file cannot be
// read or holds no certificate.
absl::Status UseTls(const std::string& ca_file);

// Whether UseTls was called.
bool TlsEnabled();

// ChannelCredentials
//
// TLS credentials after UseTls, else insecure ones.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials();

// DiagnoseTls
//
// After a failed connection over TLS: one handshake to `server` (HOST:PORT)
// with the same roots and host name check. Returns a sentence such as "the
// server's certificate has expired (not after Nov 28 16:15:43 2026 GMT)",
// "the server's certificate is not for chat.example.org (it names
// localhost, 127.0.0.1)", "the server's certificate is not trusted: signed
// by an unknown CA (give it with --tls_ca)", "the server does not speak TLS
// on this port"; nullopt when the handshake and the check pass or the
// server cannot be reached at all.
std::optional<std::string> DiagnoseTls(absl::string_view server);

// ExpectPeerName
//
// Makes `ssl`'s handshake check that the server's certificate names `host`:
// an IP address (IPv4 or IPv6) against the certificate's IP addresses, a
// host name against its DNS names, which is also sent as SNI.
void ExpectPeerName(SSL* ssl, const std::string& host);

}  // namespace chat

#endif  // CHATROOM_CLI_TLS_CLIENT_H_

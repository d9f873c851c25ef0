#include "service/grpc_peer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace chat {

PeerInfo ParseGrpcPeer(absl::string_view peer) {
  PeerInfo info;
  info.connection = std::string(peer);
  info.address = std::string(peer);
  absl::string_view rest = peer;
  const bool v4 = absl::ConsumePrefix(&rest, "ipv4:");
  const bool v6 = !v4 && absl::ConsumePrefix(&rest, "ipv6:");
  if (!v4 && !v6) return info;
  std::string decoded =
      absl::StrReplaceAll(rest, {{"%5B", "["}, {"%5D", "]"}, {"%25", "%"}});
  absl::string_view host = decoded;
  const size_t colon = host.rfind(':');
  if (colon == absl::string_view::npos) return info;
  const absl::string_view port = host.substr(colon + 1);
  host = host.substr(0, colon);
  if (v6 &&
      !(absl::ConsumePrefix(&host, "[") && absl::ConsumeSuffix(&host, "]"))) {
    return info;
  }
  if (host.empty()) return info;
  info.ip = std::string(host);
  info.address =
      v6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
  return info;
}

}  // namespace chat

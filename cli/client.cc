#include "cli/client.h"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/tls_client.h"
#include "service/grpc_keepalive.h"

namespace chat {
namespace {

std::chrono::system_clock::time_point DeadlineIn(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

// Why a connection failed, from gRPC's error text, in a few words.
std::string ConnectReason(absl::string_view message) {
  const std::string lower = absl::AsciiStrToLower(message);
  if (absl::StrContains(lower, "connection refused")) {
    return "connection refused";
  }
  if (absl::StrContains(lower, "dns") ||
      absl::StrContains(lower, "name resolution") ||
      absl::StrContains(lower, "resolve")) {
    return "cannot resolve the host name";
  }
  if (absl::StrContains(lower, "deadline") ||
      absl::StrContains(lower, "timeout") ||
      absl::StrContains(lower, "timed out")) {
    return "no answer";
  }
  if (absl::StrContains(lower, "connection reset") ||
      absl::StrContains(lower, "socket closed") ||
      absl::StrContains(lower, "eof")) {
    return "connection closed";
  }
  if (absl::StrContains(lower, "network is unreachable")) {
    return "network is unreachable";
  }
  return std::string(message.empty() ? "unavailable" : message);
}

}  // namespace

std::string DefaultServer() {
  const char* env = std::getenv("CHATCTL_SERVER");
  if (env != nullptr && *env != '\0') return env;
  return std::string(kDefaultServer);
}

absl::Status CheckServerAddress(absl::string_view server,
                                absl::string_view source) {
  auto wrong = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " \"", server, "\" ", what,
        ": give HOST:PORT, e.g. 127.0.0.1:50051 or chat.example.org:50051"));
  };
  if (server.find("://") != absl::string_view::npos) {
    return wrong("is a URL");
  }
  if (std::any_of(server.begin(), server.end(), [](char c) {
        return absl::ascii_isspace(static_cast<unsigned char>(c));
      })) {
    return wrong("has spaces in it");
  }
  const size_t colon = server.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return wrong("has no port");
  }
  const absl::string_view host = server.substr(0, colon);
  const absl::string_view port = server.substr(colon + 1);
  int n = 0;
  if (!absl::SimpleAtoi(port, &n) || n < 1 || n > 65535 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) {
    return wrong("has no port");
  }
  // A bare IPv6 address needs brackets: "[::1]:50051".
  if (host.find(':') != absl::string_view::npos &&
      !(absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))) {
    return wrong("has an IPv6 address without brackets");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ParseServerList(
    absl::string_view list, absl::string_view source) {
  std::vector<std::string> servers = absl::StrSplit(list, ',');
  if (servers.size() == 1) {
    if (absl::Status s = CheckServerAddress(servers[0], source); !s.ok()) {
      return s;
    }
    return servers;
  }
  for (size_t i = 0; i < servers.size(); ++i) {
    const std::string entry = absl::StrCat(source, " entry ", i + 1);
    if (servers[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, " \"", list, "\" has an empty entry (", i + 1,
                       "): give HOST:PORT[,HOST:PORT...], e.g. "
                       "10.0.0.1:50051,10.0.0.2:50051"));
    }
    if (absl::Status s = CheckServerAddress(servers[i], entry); !s.ok()) {
      return s;
    }
  }
  return servers;
}

std::shared_ptr<grpc::Channel> Dial(const std::string& server,
                                    absl::Duration keepalive) {
  grpc::ChannelArguments args;
  // Reconnect quickly once the server is back; chatctl has its own backoff.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Notice a dead connection within 80 s rather than hours, pinging no more
  // often than chat-service allows (more often draws GOAWAY too_many_pings).
  const int ping_ms = static_cast<int>(absl::ToInt64Milliseconds(keepalive));
  for (const auto& [name, value] : ClientKeepaliveArgs(ping_ms)) {
    args.SetInt(name, value);
  }
  return grpc::CreateCustomChannel(server, ChannelCredentials(), args);
}

absl::Status WaitForServer(grpc::Channel* channel, absl::string_view server,
                           absl::Duration timeout) {
  // Wait while connecting, but give up at the first failure (a refused
  // connection fails at once rather than at the deadline).
  const auto deadline = DeadlineIn(timeout);
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY &&
         state != GRPC_CHANNEL_TRANSIENT_FAILURE &&
         state != GRPC_CHANNEL_SHUTDOWN) {
    if (!channel->WaitForStateChange(state, deadline)) break;
    state = channel->GetState(/*try_to_connect=*/true);
  }
  if (state == GRPC_CHANNEL_READY) return absl::OkStatus();
  // Ask once more, failing fast, to learn why.
  v1::ChatRoom::Stub stub(channel->shared_from_this());
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(absl::Seconds(1)));
  v1::ListMembersRequest request;
  v1::ListMembersResponse response;
  grpc::Status s = stub.ListMembers(&context, request, &response);
  if (s.ok()) return absl::OkStatus();  // It came up just now.
  if (TlsEnabled() && s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    if (std::optional<std::string> why = DiagnoseTls(server)) {
      return absl::UnavailableError(absl::StrCat(
          "cannot reach chat-service at ", server, " over TLS: ", *why));
    }
  }
  const std::string reason =
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
          ? absl::StrCat("no answer within ", absl::FormatDuration(timeout))
          : ConnectReason(s.error_message());
  return absl::UnavailableError(
      absl::StrCat("cannot reach chat-service at ", server, " (", reason, ")"));
}

absl::StatusOr<ConnectedServer> ConnectFirst(
    const std::vector<std::string>& servers, absl::Duration timeout) {
  std::vector<std::string> why;
  for (size_t i = 0; i < servers.size(); ++i) {
    std::shared_ptr<grpc::Channel> channel = Dial(servers[i]);
    absl::Status s = WaitForServer(channel.get(), servers[i], timeout);
    if (s.ok()) return ConnectedServer{std::move(channel), i};
    if (servers.size() == 1) return s;
    why.push_back(std::string(s.message()));
  }
  if (why.empty()) return absl::InvalidArgumentError("no server given");
  return absl::UnavailableError(absl::StrJoin(why, "; "));
}

absl::Status FromGrpc(const grpc::Status& status, absl::string_view server) {
  if (status.ok()) return absl::OkStatus();
  const absl::StatusCode code =
      static_cast<absl::StatusCode>(status.error_code());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      // The server's own shutdown sentence, or a transport failure.
      if (absl::StrContains(status.error_message(), "chat-service")) {
        return absl::Status(code, status.error_message());
      }
      // A TLS port's answer to a plaintext client (the connection was
      // never up, so it was not lost).
      if (absl::StrContains(status.error_message(), "serves TLS only")) {
        return absl::Status(code,
                            absl::StrCat("chat-service at ", server,
                                         " refused: ", status.error_message()));
      }
      return absl::Status(
          code, absl::StrCat("lost the connection to chat-service at ", server,
                             " (", ConnectReason(status.error_message()), ")"));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::Status(code, absl::StrCat("chat-service at ", server,
                                             " did not answer in time"));
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::Status(
          code, absl::StrCat(server, " does not serve chat.v1.ChatRoom (",
                             status.error_message(), ")"));
    default:
      return absl::Status(code, status.error_message());
  }
}

void AddToken(grpc::ClientContext* context, absl::string_view token) {
  if (!token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
}

absl::StatusOr<v1::ListMembersResponse> ListMembers(
    v1::ChatRoom::StubInterface* stub, absl::string_view server,
    absl::string_view room, absl::string_view token) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kConnectTimeout));
  AddToken(&context, token);
  v1::ListMembersRequest request;
  request.set_room(std::string(room));
  v1::ListMembersResponse response;
  absl::Status s =
      FromGrpc(stub->ListMembers(&context, request, &response), server);
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::GetHistoryResponse> GetHistory(
    v1::ChatRoom::StubInterface* stub, absl::string_view server,
    const v1::GetHistoryRequest& request, absl::string_view token) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(kConnectTimeout));
  AddToken(&context, token);
  v1::GetHistoryResponse response;
  absl::Status s =
      FromGrpc(stub->GetHistory(&context, request, &response), server);
  if (!s.ok()) return s;
  return response;
}

}  // namespace chat

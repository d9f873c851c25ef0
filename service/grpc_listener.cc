#include "service/grpc_listener.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/request_limits.h"

namespace chat {
namespace {

ChatServiceOptions ServiceOptions(const GrpcListenerOptions& options,
                                  const GrpcAcceptor* acceptor) {
  ChatServiceOptions service;
  service.join_timeout = options.join_timeout;
  service.peer = [acceptor](absl::string_view peer) {
    return acceptor->Peer(peer);
  };
  return service;
}

}  // namespace

IntChannelArgs GrpcServerArgs(const GrpcListenerOptions& options) {
  // At least a second: pings faster than that would be traffic of their own.
  const int ping_ms = static_cast<int>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(options.keepalive), 1000, INT_MAX));
  IntChannelArgs args = ServerKeepaliveArgs(ping_ms);
  const int64_t min_ping_ms = std::clamp<int64_t>(
      absl::ToInt64Milliseconds(options.min_client_ping_interval), 0, INT_MAX);
  for (auto& [name, value] : args) {
    if (name == GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS) {
      value = static_cast<int>(min_ping_ms);
    }
  }
  args.emplace_back(
      GRPC_ARG_MAX_CONCURRENT_STREAMS,
      static_cast<int>(std::min<uint32_t>(
          std::max<uint32_t>(options.max_streams_per_connection, 1), INT_MAX)));
  return args;
}

GrpcListener::GrpcListener(Hub* hub, GrpcListenerOptions options)
    : hub_(hub),
      options_(std::move(options)),
      acceptor_({.address = options_.address,
                 .max_connections = options_.max_connections,
                 .max_connections_per_ip = options_.max_connections_per_ip,
                 .tls = options_.tls}),
      service_(hub, ServiceOptions(options_, &acceptor_)) {}

GrpcListener::~GrpcListener() { Shutdown(absl::ZeroDuration()); }

absl::Status GrpcListener::Start() {
  if (server_ != nullptr) {
    return absl::FailedPreconditionError("the gRPC listener started twice");
  }
  if (absl::Status s = acceptor_.Bind(); !s.ok()) return s;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.RegisterService(&service_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(
      MaxRequestBytes(hub_->options().max_message_bytes), INT_MAX)));
  for (const auto& [name, value] : GrpcServerArgs(options_)) {
    builder.AddChannelArgument(name, value);
  }
  // No listening port: the acceptor hands connections over.
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) {
    acceptor_.Stop();
    return absl::UnavailableError(
        absl::StrCat("cannot start the gRPC server for ", options_.address));
  }
  acceptor_.Start(server_.get());
  bound_ = acceptor_.address();
  return absl::OkStatus();
}

void GrpcListener::Shutdown(absl::Duration grace) {
  acceptor_.Stop();
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  acceptor_.StopBridges(absl::Milliseconds(500));
  server_.reset();
}

}  // namespace chat

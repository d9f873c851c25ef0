#include "service/grpc_listener.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace chat {
namespace {

// "127.0.0.1:0" with port 54321 -> "127.0.0.1:54321".
std::string WithPort(const std::string& addr, int port) {
  const size_t colon = addr.rfind(':');
  return absl::StrCat(colon == std::string::npos ? addr : addr.substr(0, colon),
                      ":", port);
}

}  // namespace

GrpcListener::GrpcListener(Hub* hub, std::string address)
    : requested_(std::move(address)), service_(hub) {}

GrpcListener::~GrpcListener() { Shutdown(absl::ZeroDuration()); }

absl::Status GrpcListener::Start() {
  if (server_ != nullptr) {
    return absl::FailedPreconditionError("the gRPC listener started twice");
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(requested_, grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", requested_));
  }
  bound_ = WithPort(requested_, port);
  return absl::OkStatus();
}

void GrpcListener::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(grace));
  server_.reset();
}

}  // namespace chat

#include "testing/in_process_server.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"

namespace chat {

InProcessServer::InProcessServer(HubOptions hub_options,
                                 ChatServiceOptions service_options)
    : hub_(std::make_unique<Hub>(std::move(hub_options))),
      service_(std::make_unique<ChatRoomService>(hub_.get(),
                                                 std::move(service_options))) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr) port_ = 0;
}

InProcessServer::~InProcessServer() { Shutdown("test over"); }

std::string InProcessServer::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::shared_ptr<grpc::Channel> InProcessServer::channel() const {
  return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
}

void InProcessServer::Shutdown(const std::string& why) {
  if (down_) return;
  down_ = true;
  hub_->Shutdown(why);
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  for (const std::unique_ptr<Listener>& listener : listeners_) {
    listener->Shutdown(absl::Seconds(1));
  }
}

}  // namespace chat

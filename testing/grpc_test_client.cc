#include "testing/grpc_test_client.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "service/format.h"

namespace chat {

GrpcTestClient GrpcTestClient::Open(
    const std::shared_ptr<grpc::Channel>& channel, absl::Duration deadline,
    const std::string& authorization) {
  GrpcTestClient c;
  c.stub_ = v1::ChatRoom::NewStub(channel);
  c.context_ = std::make_unique<grpc::ClientContext>();
  c.context_->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!authorization.empty()) {
    c.context_->AddMetadata("authorization", authorization);
  }
  c.stream_ = c.stub_->Chat(c.context_.get());
  return c;
}

GrpcTestClient GrpcTestClient::Join(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& name,
    const std::string& room, absl::Duration deadline) {
  GrpcTestClient c = Open(channel, deadline);
  c.SendJoin(name, room);
  c.ReadUntil("-- " + name + " joined");
  return c;
}

bool GrpcTestClient::Write(const v1::ChatRequest& request) {
  return stream_->Write(request);
}

void GrpcTestClient::SendJoin(const std::string& name,
                              const std::string& room) {
  v1::ChatRequest request;
  request.mutable_join()->set_name(name);
  request.mutable_join()->set_room(room);
  EXPECT_TRUE(Write(request)) << name << ": the join was not sent";
}

void GrpcTestClient::Say(const std::string& text, bool action) {
  v1::ChatRequest request;
  request.mutable_say()->set_text(text);
  request.mutable_say()->set_action(action);
  EXPECT_TRUE(Write(request)) << "say \"" << text << "\" was not sent";
}

v1::ChatResponse GrpcTestClient::Read() {
  v1::ChatResponse r;
  EXPECT_TRUE(stream_->Read(&r)) << "stream ended early";
  return r;
}

v1::ChatResponse GrpcTestClient::ReadUntil(
    const std::function<bool(const v1::ChatResponse&)>& match) {
  v1::ChatResponse r;
  std::vector<std::string> seen;
  while (stream_->Read(&r)) {
    if (match(r)) return r;
    seen.push_back(FormatEventLine(r));
  }
  ADD_FAILURE() << "no matching event before the stream ended; saw:\n  "
                << absl::StrJoin(seen, "\n  ");
  return r;
}

v1::ChatResponse GrpcTestClient::ReadUntil(absl::string_view text) {
  v1::ChatResponse r;
  std::vector<std::string> seen;
  while (stream_->Read(&r)) {
    std::string line = FormatEventLine(r);
    if (absl::StrContains(line, text)) return r;
    seen.push_back(std::move(line));
  }
  ADD_FAILURE() << "no event with \"" << text
                << "\" before the stream ended; saw:\n  "
                << absl::StrJoin(seen, "\n  ");
  return r;
}

std::optional<std::string> GrpcTestClient::NextLine() {
  v1::ChatResponse r;
  if (!stream_->Read(&r)) return std::nullopt;
  return FormatEventLine(r);
}

grpc::Status GrpcTestClient::Finish() {
  stream_->WritesDone();
  v1::ChatResponse r;
  while (stream_->Read(&r)) {
  }
  return stream_->Finish();
}

}  // namespace chat

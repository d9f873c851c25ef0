// GrpcTestClient: one Chat stream, driven synchronously from a test thread:
// join, say, and read events one by one, or as their text lines
// (service/format.h) until one matches. Every stream has a deadline (20 s by
// default), so a read that waits for an event that never comes ends the stream
// instead of hanging the test.
//
// Example:
//   GrpcTestClient alice = GrpcTestClient::Join(channel, "alice");
//   alice.Say("hello");
//   alice.ReadUntil("<alice> hello");
//
// Not thread-safe: one test thread per client (gRPC allows one reader and
// one writer at a time).
#ifndef CHATROOM_TESTING_GRPC_TEST_CLIENT_H_
#define CHATROOM_TESTING_GRPC_TEST_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"

namespace chat {

class GrpcTestClient {
 public:
  using Stream = grpc::ClientReaderWriter<v1::ChatRequest, v1::ChatResponse>;

  // Open
  //
  // Opens a Chat stream and sends nothing yet; with `authorization`
  // metadata when it is not empty ("Bearer TOKEN").
  static GrpcTestClient Open(const std::shared_ptr<grpc::Channel>& channel,
                             absl::Duration deadline = absl::Seconds(20),
                             const std::string& authorization = "");

  // Join
  //
  // Opens a stream, joins `room` ("" is the lobby) as `name` and reads up to
  // the member's own "-- NAME joined" (a test failure when it does not come).
  static GrpcTestClient Join(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& name,
                             const std::string& room = "",
                             absl::Duration deadline = absl::Seconds(20));

  GrpcTestClient(GrpcTestClient&&) = default;
  GrpcTestClient& operator=(GrpcTestClient&&) = default;

  // Sends a request; false when the stream is broken.
  bool Write(const v1::ChatRequest& request);
  // Sends a join of `room` ("" is the lobby) as `name`, and reads nothing;
  // a test failure when it cannot be sent.
  void SendJoin(const std::string& name, const std::string& room = "");
  void Say(const std::string& text, bool action = false);

  // The next event; a test failure when the stream ended (then an empty
  // response).
  v1::ChatResponse Read();
  // Reads until an event whose line (FormatEventLine) contains `text`, and
  // returns it; a test failure when the stream ends first.
  v1::ChatResponse ReadUntil(absl::string_view text);
  // Reads until an event for which `match` holds, and returns it; a test
  // failure when the stream ends first.
  //
  //   alice.ReadUntil([](const v1::ChatResponse& r) {
  //     return r.has_member_left();
  //   });
  v1::ChatResponse ReadUntil(
      const std::function<bool(const v1::ChatResponse&)>& match);
  // The next event as its line; nullopt when the stream ended.
  std::optional<std::string> NextLine();

  // Half-closes and returns the stream's status (reading what is left).
  grpc::Status Finish();

  grpc::ClientContext* context() { return context_.get(); }
  Stream* stream() { return stream_.get(); }

 private:
  GrpcTestClient() = default;

  std::unique_ptr<v1::ChatRoom::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<Stream> stream_;
};

}  // namespace chat

#endif  // CHATROOM_TESTING_GRPC_TEST_CLIENT_H_

// chatctl bench's gRPC members: each member is one Chat stream, a
// callback-API reactor (gRPC's threads run it), and the members share
// --channels connections (0: one each). TLS after --tls / --tls_ca
// (cli/tls_client.h).
//
// A member reads every event (checking messages when it is a receiver) and
// writes its join, then whatever the pacer hands it, one write in flight.
//
// With several servers, each member goes to the server it is given, and
// each server has its own --channels connections.
#ifndef CHATROOM_CLI_BENCH_GRPC_H_
#define CHATROOM_CLI_BENCH_GRPC_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"
#include "cli/bench_member.h"

namespace chat {
namespace bench {

class GrpcMember;  // One Chat stream; defined in bench_grpc.cc.

// GrpcMembers: every gRPC member of a run and the channels they share.
//
// Thread-safety: Add and CancelAll are for the main thread. size, joined,
// channels and ended may be called from any thread.
class GrpcMembers {
 public:
  // `targets`: the servers (HOST:PORT), at least one. `members`: how many
  // will be added, to spread them over `channels` per server (0: one
  // each).
  GrpcMembers(std::vector<std::string> targets, int channels, int members);
  ~GrpcMembers();  // CancelAll(10 s).

  GrpcMembers(const GrpcMembers&) = delete;
  GrpcMembers& operator=(const GrpcMembers&) = delete;

  // Starts one member's stream to targets[server], which joins `room` as
  // `name`. `receiver` (null for senders and idle members) must outlive
  // this object. Returns the member, owned by this object.
  GrpcMember* Add(uint32_t run, uint32_t index, size_t size, Receiver* receiver,
                  const std::string& name, const std::string& room,
                  size_t server = 0);

  size_t size() const { return members_.size(); }
  // Members that have been welcomed.
  size_t joined() const { return joined_.load(std::memory_order_acquire); }
  // Channels opened so far, over every server.
  size_t channels() const;
  // Members whose stream is done.
  size_t ended() const;

  // Cancels every stream and waits (bounded) until each is done. A stream
  // that does not finish in time is leaked rather than freed under gRPC.
  void CancelAll(absl::Duration wait);

 private:
  const std::vector<std::string> targets_;
  const size_t channels_;  // Per server.
  // Per server: its channels' stubs, and the members added to it.
  std::vector<std::vector<std::unique_ptr<v1::ChatRoom::Stub>>> stubs_;
  std::vector<size_t> added_;
  std::vector<std::unique_ptr<GrpcMember>> members_;
  std::atomic<size_t> joined_{0};
};

// GrpcSender: posts through one gRPC member (made by GrpcMembers::Add),
// which writes from gRPC's threads.
class GrpcSender final : public Sender {
 public:
  GrpcSender(uint32_t run, uint32_t index, size_t size, GrpcMember* member)
      : Sender(run, index, size), member_(member) {}
  void Send(uint64_t n) override;
  void SendSync(uint64_t token) override;

 private:
  GrpcMember* const member_;
};

}  // namespace bench
}  // namespace chat

#endif  // CHATROOM_CLI_BENCH_GRPC_H_

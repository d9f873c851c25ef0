// GrpcUser: a simulated user on one chat.v1.ChatRoom/Chat stream, driven by
// the gRPC callback API (no thread of its own).
//
// Reads: one read in flight, restarted from OnReadDone unless the user is
// paused (then gRPC's flow control pushes back on the server, as a client
// that stopped reading would). Every event is recorded as its
// FormatEventLine text with its seq, and checked: after a welcome, replayed
// events have increasing seqs (contiguous after a resume), the first live
// event is the user's own member_joined with seq last_seq + 1, and every
// live event has the next seq. Every welcome names an epoch; a resume whose
// resume_epoch is not the welcome's gets a "history was reset" notice before
// any room event (and is then a plain join), and only such a resume gets
// one. A broken rule becomes a violation.
//
// Writes: a queue with one write in flight. A hold keeps OnDone from running
// while the runner may still start an operation; it is released once the
// stream ended, was killed, or the user is destroyed.
//
// Threads: reactions run on gRPC's threads; the runner thread calls the
// public methods. The destructor cancels the call and waits for OnDone.
#ifndef CHATROOM_INTEGRATION_TESTS_GRPC_USER_H_
#define CHATROOM_INTEGRATION_TESTS_GRPC_USER_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "chat/v1/chat.grpc.pb.h"
#include "integration_tests/user.h"

namespace chat {

class GrpcUser final
    : public User,
      public grpc::ClientBidiReactor<v1::ChatRequest, v1::ChatResponse> {
 public:
  // `channel` may be shared with other users.
  GrpcUser(std::string alias, absl::Time epoch,
           std::shared_ptr<grpc::Channel> channel);
  ~GrpcUser() override;

  // Opens the stream and sends `join` as its first request.
  void Start(const v1::Join& join);

  absl::Status Say(const std::string& text) override;
  absl::Status Me(const std::string& text) override;
  absl::Status Nick(const std::string& name) override;
  absl::Status Join(const std::string& room, uint32_t history) override;
  absl::Status Leave(const std::string& reason) override;
  absl::Status Kill() override;
  absl::Status Close() override;
  absl::Status SendRaw(const std::string& bytes) override;
  void Pause() override;
  void Resume() override;

  // Reactions (gRPC's threads).
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  // Queues a request (and then a half-close, with `close`).
  absl::Status Send(v1::ChatRequest request, bool close);
  // Starts the next write or half-close if none is in flight.
  void Pump();
  // Ends an operation start begun under io_mu_; releases the hold if asked.
  void DoneStarting();
  // Asks for the hold to be released once no operation is being started.
  void RequestRelease();
  bool TakeReleaseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_mu_);
  // Checks the seq rules for one event (reaction thread only).
  void Check(const v1::ChatResponse& r, const std::string& line);

  std::unique_ptr<v1::ChatRoom::Stub> stub_;
  grpc::ClientContext context_;
  v1::ChatResponse response_;  // Owned by the read in flight.
  v1::ChatRequest current_;    // Owned by the write in flight.

  absl::Mutex io_mu_;
  bool started_ ABSL_GUARDED_BY(io_mu_) = false;
  std::deque<v1::ChatRequest> queue_ ABSL_GUARDED_BY(io_mu_);
  bool writing_ ABSL_GUARDED_BY(io_mu_) = false;
  bool close_requested_ ABSL_GUARDED_BY(io_mu_) = false;
  bool closed_ ABSL_GUARDED_BY(io_mu_) = false;  // WritesDone started.
  bool write_failed_ ABSL_GUARDED_BY(io_mu_) = false;
  bool paused_ ABSL_GUARDED_BY(io_mu_) = false;
  bool reading_ ABSL_GUARDED_BY(io_mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(io_mu_) = false;
  bool killed_ ABSL_GUARDED_BY(io_mu_) = false;
  int starting_ ABSL_GUARDED_BY(io_mu_) = 0;
  bool release_wanted_ ABSL_GUARDED_BY(io_mu_) = false;
  bool released_ ABSL_GUARDED_BY(io_mu_) = false;
  bool done_ ABSL_GUARDED_BY(io_mu_) = false;

  // Seq checking state, touched by OnReadDone only (reads are serial).
  bool have_welcome_ = false;
  uint64_t resume_ = 0;  // resume_after_seq of the current join.
  uint64_t base_ = 0;    // The welcome's last_seq.
  uint64_t next_ = 0;    // The next live seq expected.
  uint64_t replay_prev_ = 0;
  bool live_ = false;
  bool lost_ = false;            // A "no longer held" notice came.
  std::string resume_epoch_;     // resume_epoch of the first join.
  std::string welcome_epoch_;    // The last welcome's epoch.
  bool reset_expected_ = false;  // Resumed with another epoch than it.
  bool reset_seen_ = false;      // A "history was reset" notice came.
  std::string own_name_;
};

// "RESOURCE_EXHAUSTED" for grpc::StatusCode::RESOURCE_EXHAUSTED, etc.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace chat

#endif  // CHATROOM_INTEGRATION_TESTS_GRPC_USER_H_

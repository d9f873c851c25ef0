#include "cli/bench_grpc.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "chat/v1/chat.grpc.pb.h"
#include "cli/bench_stats.h"
#include "cli/tls_client.h"

namespace chat {
namespace bench {

// GrpcMember: one Chat stream. Reads every event (checking messages when it
// is a receiver); writes the join, then whatever the pacer hands it.
class GrpcMember final
    : public grpc::ClientBidiReactor<v1::ChatRequest, v1::ChatResponse> {
 public:
  GrpcMember(uint32_t run, uint32_t index, size_t size, Receiver* receiver,
             std::atomic<size_t>* joined_count)
      : run_(run),
        index_(index),
        size_(size),
        receiver_(receiver),
        joined_count_(joined_count) {}

  void Start(v1::ChatRoom::Stub* stub, const std::string& name,
             const std::string& room) {
    write_.mutable_join()->set_name(name);
    write_.mutable_join()->set_room(room);
    stub->async()->Chat(&context_, this);
    writing_ = true;
    StartWrite(&write_);
    StartRead(&read_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows.
    switch (read_.event_case()) {
      case v1::ChatResponse::kMessage:
        if (receiver_ != nullptr)
          receiver_->OnText(read_.message().text(), NowNs());
        break;
      case v1::ChatResponse::kWelcome:
        if (!joined_.exchange(true, std::memory_order_acq_rel)) {
          joined_count_->fetch_add(1, std::memory_order_release);
        }
        if (receiver_ != nullptr) {
          // Senders would be refused; a stuck run then says why.
          if (read_.welcome().limits().flood_rate() > 0) {
            receiver_->SetNotice(
                absl::StrCat("the server has flood control on (",
                             read_.welcome().limits().flood_rate(),
                             " messages a second): start chat-service with "
                             "--flood_rate=0 to bench it"));
          }
          receiver_->SetJoined();
        }
        break;
      case v1::ChatResponse::kNotice:
        if (receiver_ != nullptr) receiver_->SetNotice(read_.notice().text());
        break;
      default:
        break;
    }
    StartRead(&read_);
  }

  void OnWriteDone(bool ok) override {
    bool more;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        credits_ = 0;
        syncs_.clear();
        return;
      }
      more = NextWriteLocked();
    }
    if (more) StartWrite(&write_);
  }

  void OnDone(const grpc::Status& status) override {
    if (receiver_ != nullptr) {
      receiver_->SetEnded(
          status.ok() ? "the server ended the stream"
                      : absl::StrCat("stream ended: ", status.error_message()));
    }
    {
      absl::MutexLock lock(&mu_);
      status_ = status;
    }
    done_.store(true, std::memory_order_release);
  }

  // Hands the member `n` more messages to post.
  void Send(uint64_t n) {
    bool start;
    {
      absl::MutexLock lock(&mu_);
      credits_ += n;
      start = !writing_ && NextWriteLocked();
    }
    if (start) StartWrite(&write_);
  }

  void SendSync(uint64_t token) {
    bool start;
    {
      absl::MutexLock lock(&mu_);
      syncs_.push_back(token);
      start = !writing_ && NextWriteLocked();
    }
    if (start) StartWrite(&write_);
  }

  void Cancel() { context_.TryCancel(); }
  bool joined() const { return joined_.load(std::memory_order_acquire); }
  bool done() const { return done_.load(std::memory_order_acquire); }

 private:
  bool NextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string* text = write_.mutable_say()->mutable_text();
    text->clear();
    if (!syncs_.empty()) {
      *text = SyncText(run_, syncs_.front());
      syncs_.erase(syncs_.begin());
    } else if (credits_ > 0) {
      --credits_;
      Stamp stamp;
      stamp.run = run_;
      stamp.sender = index_;
      stamp.seq = next_seq_++;
      stamp.sent_ns = NowNs();
      AppendMessageText(stamp, size_, text);
    } else {
      return false;
    }
    writing_ = true;
    return true;
  }

  const uint32_t run_;
  const uint32_t index_;
  const size_t size_;
  Receiver* const receiver_;
  std::atomic<size_t>* const joined_count_;
  grpc::ClientContext context_;
  v1::ChatResponse read_;  // Owned by the read in flight.
  std::atomic<bool> joined_{false};
  std::atomic<bool> done_{false};

  absl::Mutex mu_;
  v1::ChatRequest write_ ABSL_GUARDED_BY(mu_);  // Owned by the write in flight.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t credits_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> syncs_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

void GrpcSender::Send(uint64_t n) { member_->Send(n); }
void GrpcSender::SendSync(uint64_t token) { member_->SendSync(token); }

GrpcMembers::GrpcMembers(std::vector<std::string> targets, int channels,
                         int members)
    : targets_(std::move(targets)),
      channels_(channels > 0 ? std::min(channels, std::max(members, 1))
                             : std::max(members, 1)),
      stubs_(targets_.size()),
      added_(targets_.size(), 0) {}

GrpcMembers::~GrpcMembers() { CancelAll(absl::Seconds(10)); }

GrpcMember* GrpcMembers::Add(uint32_t run, uint32_t index, size_t size,
                             Receiver* receiver, const std::string& name,
                             const std::string& room, size_t server) {
  std::vector<std::unique_ptr<v1::ChatRoom::Stub>>& stubs = stubs_[server];
  const size_t slot = added_[server]++ % channels_;
  if (slot >= stubs.size()) {
    grpc::ChannelArguments args;
    // A channel of its own connection: no sharing of subchannels.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("chatctl.bench_channel", static_cast<int>(channels()));
    // TLS after --tls / --tls_ca (cli/tls_client.h).
    auto channel =
        grpc::CreateCustomChannel(targets_[server], ChannelCredentials(), args);
    stubs.push_back(v1::ChatRoom::NewStub(channel));
  }
  auto m = std::make_unique<GrpcMember>(run, index, size, receiver, &joined_);
  GrpcMember* raw = m.get();
  members_.push_back(std::move(m));
  raw->Start(stubs[slot].get(), name, room);
  return raw;
}

size_t GrpcMembers::channels() const {
  size_t n = 0;
  for (const auto& stubs : stubs_) n += stubs.size();
  return n;
}

size_t GrpcMembers::ended() const {
  size_t n = 0;
  for (const auto& m : members_) n += m->done();
  return n;
}

void GrpcMembers::CancelAll(absl::Duration wait) {
  for (const auto& m : members_) m->Cancel();
  const absl::Time deadline = absl::Now() + wait;
  for (;;) {
    bool all = true;
    for (const auto& m : members_) all = all && m->done();
    if (all) break;
    if (absl::Now() > deadline) {
      for (auto& m : members_) {
        if (!m->done()) m.release();
      }
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  members_.clear();
}

}  // namespace bench
}  // namespace chat

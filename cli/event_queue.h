// EventQueue: the bounded hand-off from a ChatSession's reader thread to
// chatctl's UI thread, with a pipe the UI thread can poll(2) next to stdin.
//
// The reader thread pushes (OnSessionEvent) and blocks while the queue is
// full; the UI thread polls wake_fd() and takes what is queued. A full queue
// thus stops the reader, and gRPC flow control holds the server back.
//
// Thread-safety: OnSessionEvent from one producer thread, Take and Close
// from the UI thread; WakeFromSignal from a signal handler.
#ifndef CHATROOM_CLI_EVENT_QUEUE_H_
#define CHATROOM_CLI_EVENT_QUEUE_H_

#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "cli/session.h"

namespace chat {

class EventQueue final : public SessionListener {
 public:
  explicit EventQueue(size_t capacity);
  ~EventQueue() override;

  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Readable when events are queued (or a signal woke it).
  int wake_fd() const { return pipe_[0]; }
  // The write end, for a signal handler: write(2) one byte to it.
  int signal_fd() const { return pipe_[1]; }

  // Queues `event`; blocks while the queue is full, unless closed (then the
  // event is dropped).
  void OnSessionEvent(SessionEvent event) override;

  // Empties the wake pipe and returns every queued event, oldest first.
  std::vector<SessionEvent> Take();

  // Unblocks the producer for good; later events are dropped.
  void Close();

 private:
  const size_t capacity_;
  int pipe_[2] = {-1, -1};

  absl::Mutex mu_;
  std::deque<SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace chat

#endif  // CHATROOM_CLI_EVENT_QUEUE_H_

#include "cli/event_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace chat {

EventQueue::EventQueue(size_t capacity) : capacity_(capacity) {
  if (pipe(pipe_) == 0) {
    for (int fd : pipe_) {
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
}

EventQueue::~EventQueue() {
  for (int fd : pipe_) {
    if (fd >= 0) close(fd);
  }
}

void EventQueue::OnSessionEvent(SessionEvent event) {
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closed_ || events_.size() < capacity_;
    };
    mu_.Await(absl::Condition(&room));
    if (closed_) return;
    wake = events_.empty();
    events_.push_back(std::move(event));
  }
  if (wake) {
    const char byte = 'e';
    // A full pipe already wakes the UI thread.
    (void)!write(pipe_[1], &byte, 1);
  }
}

std::vector<SessionEvent> EventQueue::Take() {
  char buf[64];
  while (read(pipe_[0], buf, sizeof(buf)) > 0) {
  }
  std::vector<SessionEvent> out;
  absl::MutexLock lock(&mu_);
  out.reserve(events_.size());
  for (SessionEvent& e : events_) out.push_back(std::move(e));
  events_.clear();
  return out;
}

void EventQueue::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

}  // namespace chat

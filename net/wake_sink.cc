#include "net/wake_sink.h"

namespace chat {
namespace {

thread_local WakeBatch* current_batch = nullptr;

}  // namespace

WakeBatch::WakeBatch() : outer_(current_batch) {
  if (outer_ == nullptr) current_batch = this;
}

WakeBatch::~WakeBatch() {
  if (outer_ != nullptr) return;
  current_batch = nullptr;
  Flush();
}

WakeBatch* WakeBatch::Current() { return current_batch; }

void WakeBatch::Add(const Connection::Executor& executor,
                    std::shared_ptr<void> target, void (*run)(void*)) {
  for (PerThread& thread : threads_) {
    if (thread.executor == executor) {
      thread.wakes.push_back({std::move(target), run});
      return;
    }
  }
  threads_.push_back({executor, {}});
  threads_.back().wakes.push_back({std::move(target), run});
}

void WakeBatch::Flush() {
  for (PerThread& thread : threads_) {
    asio::post(thread.executor, [wakes = std::move(thread.wakes)] {
      for (const Wake& wake : wakes) wake.run(wake.target.get());
    });
  }
  threads_.clear();
}

}  // namespace chat

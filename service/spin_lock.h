// SpinLock: a lock for critical sections of a few dozen instructions that
// never block, such as an outbox's push and drain.
//
// An uncontended lock and unlock are one atomic exchange and one store
// (absl::Mutex costs about six times the instructions). Under contention the
// waiter spins briefly, then yields the CPU, so a holder that was preempted
// gets to run. Do not hold it across anything that can block or take long.
#ifndef CHATROOM_SERVICE_SPIN_LOCK_H_
#define CHATROOM_SERVICE_SPIN_LOCK_H_

#include <sched.h>

#include <atomic>

#include "absl/base/thread_annotations.h"

namespace chat {

class ABSL_LOCKABLE SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      // Wait on a plain load, so waiting does not bounce the cache line.
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          CpuRelax();
        } else {
          sched_yield();
        }
      }
    }
  }

  void Unlock() ABSL_UNLOCK_FUNCTION() {
    locked_.store(false, std::memory_order_release);
  }

 private:
  // Tells the CPU this is a spin-wait loop (x86's PAUSE, ARM's YIELD).
  static void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<bool> locked_{false};
};

// SpinLockHolder: holds a SpinLock for its scope.
class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock* lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock)
      : lock_(lock) {
    lock_->Lock();
  }
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { lock_->Unlock(); }

  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock* const lock_;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_SPIN_LOCK_H_

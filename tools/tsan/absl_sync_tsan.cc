// absl_sync_tsan.cc: makes Debian's prebuilt Abseil synchronization visible
// to ThreadSanitizer. Linked into every executable of a
// -DCHAT_SANITIZE=thread build, and into nothing else.
//
// Why: Abseil calls ThreadSanitizer's mutex annotations only when Abseil
// itself is compiled with -fsanitize=thread. Debian's libabsl_synchronization
// is not, so TSan never sees absl::Mutex lock or unlock, and reports a race
// on every field guarded by one (tried: two threads incrementing an int under
// absl::MutexLock are reported). Rebuilding Abseil would not help alone:
// Debian's gRPC links the shared libabsl.
//
// How: this file defines the public members of absl::Mutex, absl::CondVar,
// absl::Notification and absl::BlockingCounter, and the SpinLockWait that
// absl::call_once waits in, again, in the executable. The dynamic linker
// binds every call to them (ours, and those inside libabsl and libgrpc, which
// go through the PLT) to these definitions; each tells TSan what happens and
// calls the real function, found with dlsym(RTLD_NEXT).
//  - Calls from our code (the executable) get the annotations Abseil makes in
//    a TSan build of its own: TSan sees each lock, checks lock order and
//    misuse, and everything the real function does, the evaluation of
//    absl::Condition callbacks included, runs in TSan's ignore region.
//  - Calls from the uninstrumented libraries (gRPC's own locks, Abseil's
//    internals) only add the happens-before edge of the lock (release before
//    unlock, acquire after lock): TSan cannot check their memory, but our
//    objects handed across threads through gRPC's queues are ordered.
// The executable must export these symbols (-rdynamic, set with this file in
// the top-level CMakeLists.txt).
//
// It hides nothing of ours: it only adds the happens-before edges that the
// locks really create. Tied to Abseil 20220623's ABI (checked below); a
// missing symbol aborts at the first call, naming it.
#include <dlfcn.h>
#include <link.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/base/internal/spinlock_wait.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#ifndef ABSL_HAVE_THREAD_SANITIZER
#error "absl_sync_tsan.cc is only for -fsanitize=thread builds"
#endif

static_assert(ABSL_LTS_RELEASE_VERSION == 20220623,
              "absl_sync_tsan.cc follows Abseil 20220623's absl::Mutex");
static_assert(sizeof(absl::Mutex) == sizeof(intptr_t),
              "absl::Mutex is expected to be one word, mu_");
static_assert(sizeof(absl::Notification) == 2 * sizeof(intptr_t),
              "absl::Notification is expected to be {Mutex; atomic<bool>}");

namespace {

#define CHAT_TSAN_STR2(x) #x
#define CHAT_TSAN_STR(x) CHAT_TSAN_STR2(x)

// The Itanium-mangled name of absl::<inline namespace>::<member>, where
// `member` is already mangled ("5Mutex4LockEv"); `is_const` for const
// members.
std::string AbslSymbol(bool is_const, const char* member) {
  std::string name = is_const ? "_ZNK4absl" : "_ZN4absl";
#if defined(ABSL_OPTION_USE_INLINE_NAMESPACE) && \
    ABSL_OPTION_USE_INLINE_NAMESPACE
  const char* ns = CHAT_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  name += std::to_string(std::strlen(ns)) + ns;
#endif
  return name + member;
}

// The real function, from the shared library after this executable.
template <typename Fn>
Fn Real(bool is_const, const char* member) {
  const std::string name = AbslSymbol(is_const, member);
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "absl_sync_tsan: %s not found: %s\n", name.c_str(),
                 dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

// The executable's code: its executable PT_LOAD segments.
using Ranges = std::vector<std::pair<uintptr_t, uintptr_t>>;

Ranges MainProgramCode() {
  Ranges ranges;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        // The first object is the main program.
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
          const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
          static_cast<Ranges*>(out)->emplace_back(start, start + ph.p_memsz);
        }
        return 1;
      },
      &ranges);
  return ranges;
}

bool FromOurCode(const void* return_address) {
  static const Ranges* ranges = new Ranges(MainProgramCode());
  const auto pc = reinterpret_cast<uintptr_t>(return_address);
  for (const auto& [start, end] : *ranges) {
    if (pc >= start && pc < end) return true;
  }
  return false;
}

// Some real functions call others of this file through the PLT
// (CondVar::WaitWithTimeout calls WaitWithDeadline, Notification::Notify
// locks its Mutex): only the outermost call is annotated. `depth` counts the
// calls of this file under way on this thread.
thread_local int depth = 0;

struct Nested {
  Nested() { ++depth; }
  ~Nested() { --depth; }
  Nested(const Nested&) = delete;
  Nested& operator=(const Nested&) = delete;
};

enum class Mode {
  kFull,   // Called from our code: a lock TSan tracks.
  kEdges,  // Called from a library: happens-before edges only.
};

// Declares `real`, the real function, and `mode`; calls the real function
// and returns at once when this call is nested in another of this file.
// Must be expanded in the wrapper itself (it reads its return address).
#define CHAT_REAL(type, is_const, member, ...)                               \
  static const auto real = Real<type>(is_const, member);                     \
  if (depth > 0) return real(__VA_ARGS__);                                   \
  const Mode mode =                                                          \
      FromOurCode(__builtin_return_address(0)) ? Mode::kFull : Mode::kEdges; \
  Nested nested

void BeforeLock(Mode mode, void* mu, unsigned flags) {
  if (mode == Mode::kFull) __tsan_mutex_pre_lock(mu, flags);
}

void AfterLock(Mode mode, void* mu, unsigned flags, bool locked = true) {
  if (mode == Mode::kFull) {
    __tsan_mutex_post_lock(
        mu, flags | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
  } else if (locked) {
    __tsan_acquire(mu);
  }
}

void BeforeUnlock(Mode mode, void* mu, unsigned flags) {
  if (mode == Mode::kFull) {
    __tsan_mutex_pre_unlock(mu, flags);
  } else {
    __tsan_release(mu);
  }
}

void AfterUnlock(Mode mode, void* mu, unsigned flags) {
  if (mode == Mode::kFull) __tsan_mutex_post_unlock(mu, flags);
}

// absl::Mutex's word: a writer holds it (Abseil 20220623's kMuWriter).
constexpr intptr_t kMuWriter = 0x0008;

// How the calling thread holds `mu` (it must hold it): 0 for a writer,
// __tsan_mutex_read_lock for a reader.
unsigned HeldFlags(const absl::Mutex* mu) {
  const auto* word = reinterpret_cast<const std::atomic<intptr_t>*>(mu);
  return (word->load(std::memory_order_relaxed) & kMuWriter) != 0
             ? 0
             : __tsan_mutex_read_lock;
}

// Runs `wait`, which releases `mu` and takes it again before returning, as
// Await and CondVar::Wait do.
template <typename F>
auto ReleaseAndRetake(Mode mode, absl::Mutex* mu, F wait) {
  const unsigned flags = mode == Mode::kFull ? HeldFlags(mu) : 0;
  BeforeUnlock(mode, mu, flags);
  AfterUnlock(mode, mu, flags);
  BeforeLock(mode, mu, flags);
  auto r = wait();
  AfterLock(mode, mu, flags);
  return r;
}

constexpr unsigned kRead = __tsan_mutex_read_lock;

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// --- Mutex ---------------------------------------------------------------

Mutex::~Mutex() {
  static const auto real = Real<void (*)(Mutex*)>(false, "5MutexD2Ev");
  if (depth == 0 && FromOurCode(__builtin_return_address(0))) {
    __tsan_mutex_destroy(this, 0);
  }
  Nested nested;
  real(this);
}

void Mutex::Lock() {
  CHAT_REAL(void (*)(Mutex*), false, "5Mutex4LockEv", this);
  BeforeLock(mode, this, 0);
  real(this);
  AfterLock(mode, this, 0);
}

void Mutex::ReaderLock() {
  CHAT_REAL(void (*)(Mutex*), false, "5Mutex10ReaderLockEv", this);
  BeforeLock(mode, this, kRead);
  real(this);
  AfterLock(mode, this, kRead);
}

bool Mutex::TryLock() {
  CHAT_REAL(bool (*)(Mutex*), false, "5Mutex7TryLockEv", this);
  BeforeLock(mode, this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  AfterLock(mode, this, __tsan_mutex_try_lock, locked);
  return locked;
}

bool Mutex::ReaderTryLock() {
  CHAT_REAL(bool (*)(Mutex*), false, "5Mutex13ReaderTryLockEv", this);
  BeforeLock(mode, this, __tsan_mutex_try_read_lock);
  const bool locked = real(this);
  AfterLock(mode, this, __tsan_mutex_try_read_lock, locked);
  return locked;
}

void Mutex::Unlock() {
  CHAT_REAL(void (*)(Mutex*), false, "5Mutex6UnlockEv", this);
  BeforeUnlock(mode, this, 0);
  real(this);
  AfterUnlock(mode, this, 0);
}

void Mutex::ReaderUnlock() {
  CHAT_REAL(void (*)(Mutex*), false, "5Mutex12ReaderUnlockEv", this);
  BeforeUnlock(mode, this, kRead);
  real(this);
  AfterUnlock(mode, this, kRead);
}

void Mutex::LockWhen(const Condition& cond) {
  CHAT_REAL(void (*)(Mutex*, const Condition&), false,
            "5Mutex8LockWhenERKNS0_9ConditionE", this, cond);
  BeforeLock(mode, this, 0);
  real(this, cond);
  AfterLock(mode, this, 0);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  CHAT_REAL(void (*)(Mutex*, const Condition&), false,
            "5Mutex14ReaderLockWhenERKNS0_9ConditionE", this, cond);
  BeforeLock(mode, this, kRead);
  real(this, cond);
  AfterLock(mode, this, kRead);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  CHAT_REAL(bool (*)(Mutex*, const Condition&, Duration), false,
            "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", this,
            cond, timeout);
  BeforeLock(mode, this, 0);
  const bool r = real(this, cond, timeout);
  AfterLock(mode, this, 0);
  return r;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  CHAT_REAL(bool (*)(Mutex*, const Condition&, Duration), false,
            "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_"
            "8DurationE",
            this, cond, timeout);
  BeforeLock(mode, this, kRead);
  const bool r = real(this, cond, timeout);
  AfterLock(mode, this, kRead);
  return r;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  CHAT_REAL(bool (*)(Mutex*, const Condition&, Time), false,
            "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", this,
            cond, deadline);
  BeforeLock(mode, this, 0);
  const bool r = real(this, cond, deadline);
  AfterLock(mode, this, 0);
  return r;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  CHAT_REAL(bool (*)(Mutex*, const Condition&, Time), false,
            "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
            this, cond, deadline);
  BeforeLock(mode, this, kRead);
  const bool r = real(this, cond, deadline);
  AfterLock(mode, this, kRead);
  return r;
}

void Mutex::Await(const Condition& cond) {
  CHAT_REAL(void (*)(Mutex*, const Condition&), false,
            "5Mutex5AwaitERKNS0_9ConditionE", this, cond);
  ReleaseAndRetake(mode, this, [&] {
    real(this, cond);
    return true;
  });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  CHAT_REAL(bool (*)(Mutex*, const Condition&, Duration), false,
            "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE", this,
            cond, timeout);
  return ReleaseAndRetake(mode, this,
                          [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  CHAT_REAL(bool (*)(Mutex*, const Condition&, Time), false,
            "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE", this, cond,
            deadline);
  return ReleaseAndRetake(mode, this,
                          [&] { return real(this, cond, deadline); });
}

// --- CondVar -------------------------------------------------------------

void CondVar::Wait(Mutex* mu) {
  CHAT_REAL(void (*)(CondVar*, Mutex*), false, "7CondVar4WaitEPNS0_5MutexE",
            this, mu);
  ReleaseAndRetake(mode, mu, [&] {
    real(this, mu);
    return true;
  });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  CHAT_REAL(bool (*)(CondVar*, Mutex*, Duration), false,
            "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE", this, mu,
            timeout);
  return ReleaseAndRetake(mode, mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  CHAT_REAL(bool (*)(CondVar*, Mutex*, Time), false,
            "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE", this, mu,
            deadline);
  return ReleaseAndRetake(mode, mu, [&] { return real(this, mu, deadline); });
}

// --- Notification ----------------------------------------------------------
// The notified flag is read without the lock (HasBeenNotified, inline in our
// code, and the fast path inside the library): release on the object and on
// the flag, acquire on the object after a wait that saw it set.

void Notification::Notify() {
  CHAT_REAL(void (*)(Notification*), false, "12Notification6NotifyEv", this);
  static_cast<void>(mode);
  __tsan_release(this);
  __tsan_release(reinterpret_cast<char*>(this) + sizeof(Mutex));
  real(this);
}

void Notification::WaitForNotification() const {
  CHAT_REAL(void (*)(const Notification*), true,
            "12Notification19WaitForNotificationEv", this);
  static_cast<void>(mode);
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  CHAT_REAL(bool (*)(const Notification*, Duration), true,
            "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
            this, timeout);
  static_cast<void>(mode);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  CHAT_REAL(bool (*)(const Notification*, Time), true,
            "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE", this,
            deadline);
  static_cast<void>(mode);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

// --- BlockingCounter -------------------------------------------------------
// Every decrement but the last is a lock-free atomic inside the library.

bool BlockingCounter::DecrementCount() {
  CHAT_REAL(bool (*)(BlockingCounter*), false,
            "15BlockingCounter14DecrementCountEv", this);
  static_cast<void>(mode);
  __tsan_release(this);
  return real(this);
}

void BlockingCounter::Wait() {
  CHAT_REAL(void (*)(BlockingCounter*), false, "15BlockingCounter4WaitEv",
            this);
  static_cast<void>(mode);
  real(this);
  __tsan_acquire(this);
}

// --- call_once -------------------------------------------------------------
// absl::call_once is inline (so TSan sees its fast path and the release of
// the done state), except when a second caller waits for the first: then the
// acquire of the done state happens in SpinLockWait, in the library, and TSan
// would take what the first caller made for a race.

namespace base_internal {

uint32_t SpinLockWait(std::atomic<uint32_t>* w, int n,
                      const SpinLockWaitTransition trans[],
                      SchedulingMode scheduling_mode) {
  CHAT_REAL(uint32_t(*)(std::atomic<uint32_t>*, int,
                        const SpinLockWaitTransition*, SchedulingMode),
            false,
            "13base_internal12SpinLockWaitEPSt6atomicIjEiPKNS1_"
            "22SpinLockWaitTransitionENS1_14SchedulingModeE",
            w, n, trans, scheduling_mode);
  static_cast<void>(mode);
  const uint32_t r = real(w, n, trans, scheduling_mode);
  __tsan_acquire(w);
  return r;
}

}  // namespace base_internal

ABSL_NAMESPACE_END
}  // namespace absl

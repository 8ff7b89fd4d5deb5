// Linux futexes: sleep while a 32-bit word holds a value, and wake its sleepers. Internal.
//
// The engine's locks and its condition are built on them rather than on pthreads: every
// send and receive takes the locks, and a futex-based lock taken without contention is one
// atomic instruction with no library call, in 4 bytes instead of a pthread mutex's 40.
// ThreadSanitizer does not see the system calls, and need not: every hand-over between
// threads goes through the word's atomic operations, which it does see.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>

namespace syncws::detail::futex {

static_assert(sizeof(std::atomic<int>) == sizeof(int) && std::atomic<int>::is_always_lock_free,
              "a futex is a plain 32-bit word");

inline int* word_of(std::atomic<int>& word) noexcept { return reinterpret_cast<int*>(&word); }

/// Sleeps while word holds expected, until woken (or spuriously), or until deadline (on
/// steady_clock, which is CLOCK_MONOTONIC on Linux, the clock FUTEX_WAIT_BITSET uses).
/// Returns false once the deadline has passed. Thread-safety: any thread.
inline bool wait_until(std::atomic<int>& word, int expected,
                       std::chrono::steady_clock::time_point deadline) noexcept {
    if (deadline == std::chrono::steady_clock::time_point::max()) {
        ::syscall(SYS_futex, word_of(word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
        return true;
    }
    const auto since_epoch = deadline.time_since_epoch();
    if (since_epoch <= std::chrono::steady_clock::duration::zero()) return false;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    timespec at{};
    at.tv_sec = static_cast<time_t>(seconds.count());
    at.tv_nsec = static_cast<long>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds).count());
    const long result = ::syscall(SYS_futex, word_of(word), FUTEX_WAIT_BITSET_PRIVATE, expected,
                                  &at, nullptr, FUTEX_BITSET_MATCH_ANY);
    return !(result == -1 && errno == ETIMEDOUT);
}

/// Wakes up to count threads asleep on word. Thread-safety: any thread.
inline void wake(std::atomic<int>& word, int count = INT_MAX) noexcept {
    ::syscall(SYS_futex, word_of(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

}  // namespace syncws::detail::futex

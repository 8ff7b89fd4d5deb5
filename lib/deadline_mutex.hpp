// A mutex whose lock can be waited for until a deadline. Internal.
//
// Both locks of every connection are of this kind, and each send and receive takes them: so
// the uncontended lock and unlock are one atomic instruction each, with no library call,
// and the mutex is one 32-bit word (a futex) instead of a pthread mutex's 40 bytes. Only a
// thread that finds it taken sleeps, in the kernel; the unlocking thread makes the system
// call that wakes it only when somebody may sleep.
//
// Not std::timed_mutex: its try_lock_until() goes through pthread_mutex_clocklock, which
// GCC 12's ThreadSanitizer does not intercept (every unlock is then reported as a bug), and
// the blocking layer must stay checkable under TSan. TSan sees this one's atomics.
#pragma once

#include <atomic>
#include <chrono>

#include "futex.hpp"

namespace syncws::detail {

/// Meets the TimedLockable requirements (with steady_clock deadlines), so std::unique_lock
/// works with it. Thread-safety: it is a mutex.
class deadline_mutex {
public:
    void lock() noexcept {
        if (!try_lock()) wait_for_lock(std::chrono::steady_clock::time_point::max());
    }

    bool try_lock() noexcept {
        int expected = unlocked;
        return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                              std::memory_order_relaxed);
    }

    bool try_lock_until(std::chrono::steady_clock::time_point deadline) noexcept {
        return try_lock() || wait_for_lock(deadline);
    }

    void unlock() noexcept {
        if (state_.exchange(unlocked, std::memory_order_release) == contended) futex::wake(state_, 1);
    }

private:
    // The word's states (Drepper, "Futexes Are Tricky", mutex 2): a thread about to sleep
    // marks the mutex contended, so that its unlock wakes one sleeper.
    static constexpr int unlocked = 0, locked = 1, contended = 2;

    bool wait_for_lock(std::chrono::steady_clock::time_point deadline) noexcept {
        // Taking it as contended may make one unlock wake nobody; it never loses a wake-up.
        while (state_.exchange(contended, std::memory_order_acquire) != unlocked)
            if (!futex::wait_until(state_, contended, deadline)) return try_lock();
        return true;
    }

    std::atomic<int> state_{unlocked};
};

}  // namespace syncws::detail

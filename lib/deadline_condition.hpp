// A condition variable for deadline_mutex. Internal.
//
// One 32-bit word counting notifications: a sleeper notes the count while it holds the
// mutex and sleeps only while the count is unchanged, so a notification made under the
// mutex after the sleeper released it is never lost.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>

#include "deadline_mutex.hpp"
#include "futex.hpp"

namespace syncws::detail {

/// Thread-safety: wait_until() and notify_all() from any threads, each holding the mutex.
class deadline_condition {
public:
    /// Releases lk, sleeps until notified (or spuriously) or until deadline (max(): none),
    /// then takes lk again. Returns false once the deadline has passed.
    bool wait_until(std::unique_lock<deadline_mutex>& lk, std::chrono::steady_clock::time_point deadline) {
        const int seen = notifications_.load(std::memory_order_relaxed);
        lk.unlock();
        const bool woken = futex::wait_until(notifications_, seen, deadline);
        lk.lock();
        return woken;
    }

    /// Wakes every sleeper. Called with the mutex held, after the change they wait for.
    void notify_all() noexcept {
        notifications_.fetch_add(1, std::memory_order_relaxed);
        futex::wake(notifications_);
    }

private:
    std::atomic<int> notifications_{0};
};

}  // namespace syncws::detail

// A mutex whose lock can be waited for until a deadline. Internal.
//
// Every send takes it, so the uncontended lock and unlock are one atomic operation each:
// no system call and no pthread mutex. Only a thread that finds it taken sleeps, on a
// condition variable; the unlocking thread touches that only when somebody sleeps.
//
// Not std::timed_mutex: its try_lock_until() goes through pthread_mutex_clocklock, which
// GCC 12's ThreadSanitizer does not intercept (every unlock is then reported as a bug), and
// the blocking layer must stay checkable under TSan.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

namespace syncws::detail {

/// Meets the TimedLockable requirements, so std::unique_lock works with it.
/// Thread-safety: it is a mutex.
class deadline_mutex {
public:
    void lock() {
        if (!try_lock()) wait_for_lock(std::optional<std::chrono::steady_clock::time_point>());
    }

    bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }

    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        return try_lock() || wait_for_lock(std::optional(deadline));
    }

    void unlock() {
        // Dekker-style with wait_for_lock(): this thread stores locked_ then reads sleepers_,
        // a sleeper stores sleepers_ then reads locked_ (all sequentially consistent), so
        // at least one of the two sees the other and no wake-up is lost.
        locked_.store(false, std::memory_order_seq_cst);
        if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
        // A sleeper holds mutex_ from announcing itself until it sleeps: once we hold it,
        // the sleeper is asleep and the notification reaches it.
        { std::lock_guard<std::mutex> lk(mutex_); }
        released_.notify_one();
    }

private:
    template <class TimePoint>
    bool wait_for_lock(const std::optional<TimePoint>& deadline) {
        std::unique_lock<std::mutex> lk(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        bool locked = false;
        for (;;) {
            if (!locked_.exchange(true, std::memory_order_seq_cst)) {
                locked = true;
                break;
            }
            if (!deadline)
                released_.wait(lk);
            else if (released_.wait_until(lk, *deadline) == std::cv_status::timeout) {
                locked = !locked_.exchange(true, std::memory_order_seq_cst);
                break;
            }
        }
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        // Another sleeper may have been woken for a release this thread took: it re-checks
        // and sleeps again, and is woken by this thread's unlock.
        return locked;
    }

    std::atomic<bool> locked_{false};
    std::atomic<int> sleepers_{0};
    std::mutex mutex_;
    std::condition_variable released_;
};

}  // namespace syncws::detail

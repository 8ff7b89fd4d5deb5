// A mutex whose lock can be waited for until a deadline. Internal.
//
// std::timed_mutex would do, but its try_lock_until() goes through
// pthread_mutex_clocklock, which GCC 12's ThreadSanitizer does not intercept: every unlock
// is then reported as a bug, and the blocking layer must stay checkable under TSan.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace syncws::detail {

/// Meets the TimedLockable requirements, so std::unique_lock works with it.
/// Thread-safety: it is a mutex.
class deadline_mutex {
public:
    void lock() {
        std::unique_lock<std::mutex> lk(mutex_);
        released_.wait(lk, [this] { return !locked_; });
        locked_ = true;
    }

    bool try_lock() {
        std::lock_guard<std::mutex> lk(mutex_);
        if (locked_) return false;
        locked_ = true;
        return true;
    }

    template <class Clock, class Duration>
    bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
        std::unique_lock<std::mutex> lk(mutex_);
        if (!released_.wait_until(lk, deadline, [this] { return !locked_; })) return false;
        locked_ = true;
        return true;
    }

    void unlock() {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            locked_ = false;
        }
        released_.notify_one();
    }

private:
    std::mutex mutex_;
    std::condition_variable released_;
    bool locked_ = false;
};

}  // namespace syncws::detail

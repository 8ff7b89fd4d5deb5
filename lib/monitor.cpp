#include "monitor.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "connection_engine.hpp"

namespace syncws::detail {

namespace {

// The tick bounds how late a keepalive ping or a close deadline can be, and how soon a
// connection that nobody reads gets watched.
constexpr clock::duration tick = std::chrono::milliseconds(25);
// With no connection left for this long, the thread ends (a new one starts when needed).
constexpr clock::duration linger = std::chrono::seconds(1);

class monitor {
public:
    monitor() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {}

    ~monitor() {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            stopping_ = true;
        }
        if (thread_.joinable()) thread_.join();
        if (epoll_fd_ >= 0) ::close(epoll_fd_);
    }

    void add(std::shared_ptr<connection_engine> engine) {
        std::lock_guard<std::mutex> lk(mutex_);
        engines_.push_back(std::move(engine));
        if (running_) return;
        if (thread_.joinable()) thread_.join();  // the previous thread already decided to end
        running_ = true;
        thread_ = std::thread([this] { run(); });
    }

private:
    void run() {
        epoll_event events[64];
        std::vector<std::shared_ptr<connection_engine>> snapshot;
        clock::time_point next_tick = clock::now();
        clock::time_point empty_since = clock::now();
        for (;;) {
            const int n = ::epoll_wait(epoll_fd_, events, 64,
                                       static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(tick).count()));
            // Engines stay alive while listed in engines_, and only this thread unlists them,
            // so the pointers in these events are valid.
            for (int i = 0; i < n; ++i) static_cast<connection_engine*>(events[i].data.ptr)->on_readable();

            const clock::time_point now = clock::now();
            if (now < next_tick) continue;
            next_tick = now + tick;
            {
                std::lock_guard<std::mutex> lk(mutex_);
                snapshot = engines_;
            }
            std::vector<connection_engine*> finished;
            for (const auto& engine : snapshot)
                if (!engine->on_tick(now, epoll_fd_)) finished.push_back(engine.get());
            snapshot.clear();

            std::lock_guard<std::mutex> lk(mutex_);
            engines_.erase(std::remove_if(engines_.begin(), engines_.end(),
                                          [&](const auto& e) {
                                              return std::find(finished.begin(), finished.end(),
                                                               e.get()) != finished.end();
                                          }),
                           engines_.end());
            if (!engines_.empty()) empty_since = now;
            if (stopping_ || (engines_.empty() && now - empty_since >= linger)) {
                running_ = false;
                return;
            }
        }
    }

    int epoll_fd_;
    std::mutex mutex_;
    std::vector<std::shared_ptr<connection_engine>> engines_;
    std::thread thread_;
    bool running_ = false;
    bool stopping_ = false;
};

monitor& the_monitor() {
    static monitor instance;
    return instance;
}

}  // namespace

void monitor_connection(std::shared_ptr<connection_engine> engine) {
    the_monitor().add(std::move(engine));
}

}  // namespace syncws::detail

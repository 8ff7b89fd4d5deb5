#include "monitor.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection_engine.hpp"

namespace syncws::detail {

namespace {

// The tick bounds how late a keepalive ping or a close deadline can be, and how soon a
// connection that nobody reads gets watched.
constexpr clock::duration tick = std::chrono::milliseconds(25);
// With no connection left for this long, the thread ends (a new one starts when needed).
constexpr clock::duration linger = std::chrono::seconds(1);

// The monitor holds connections weakly: the last reference to a connection is its
// application's (a server's worker, a client's connection object), and it ends and frees the
// connection on that thread. Were the monitor to hold it, a busy server's finished
// connections would be closed and freed here in bursts of hundreds per tick, stalling every
// other connection's keepalive and deadlines behind them (the connection-rate benchmark saw
// its p99 double).
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

    void add(const std::shared_ptr<connection_engine>& engine) {
        std::lock_guard<std::mutex> lk(mutex_);
        incoming_.emplace_back(engine->id(), engine);
        if (running_) return;
        if (thread_.joinable()) thread_.join();  // the previous thread already decided to end
        running_ = true;
        thread_ = std::thread([this] { run(); });
    }

private:
    using watched = std::unordered_map<std::uint64_t, std::weak_ptr<connection_engine>>;
    using additions = std::vector<std::pair<std::uint64_t, std::weak_ptr<connection_engine>>>;

    void run() {
        epoll_event events[64];
        clock::time_point next_tick = clock::now();
        clock::time_point empty_since = clock::now();
        for (;;) {
            const int n = ::epoll_wait(epoll_fd_, events, 64,
                                       static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(tick).count()));
            // An event names its connection by id (see on_tick()): the connection may have
            // ended on another thread since, and then there is nothing to read for.
            for (int i = 0; i < n; ++i) {
                const auto it = engines_.find(events[i].data.u64);
                if (it == engines_.end()) continue;
                if (const auto engine = it->second.lock()) engine->on_readable();
            }

            const clock::time_point now = clock::now();
            if (now < next_tick) continue;
            next_tick = now + tick;
            take_incoming();
            for (auto it = engines_.begin(); it != engines_.end();) {
                const auto engine = it->second.lock();
                if (engine && engine->on_tick(now, epoll_fd_))
                    ++it;
                else
                    it = engines_.erase(it);  // ended (and unwatched), or freed by its owner
            }

            std::lock_guard<std::mutex> lk(mutex_);
            if (!engines_.empty() || !incoming_.empty()) empty_since = now;
            if (stopping_ || (engines_.empty() && incoming_.empty() && now - empty_since >= linger)) {
                engines_.clear();
                running_ = false;
                return;
            }
        }
    }

    void take_incoming() {
        additions added;
        {
            std::lock_guard<std::mutex> lk(mutex_);
            added.swap(incoming_);
        }
        for (auto& entry : added) engines_.insert(std::move(entry));
    }

    int epoll_fd_;
    watched engines_;  // only the monitor thread uses it
    std::mutex mutex_;
    additions incoming_;  // under mutex_
    std::thread thread_;
    bool running_ = false;  // under mutex_
    bool stopping_ = false;  // under mutex_
};

monitor& the_monitor() {
    static monitor instance;
    return instance;
}

}  // namespace

void monitor_connection(const std::shared_ptr<connection_engine>& engine) {
    the_monitor().add(engine);
}

}  // namespace syncws::detail

// Counters of the data messages a server's connections send and receive. Internal.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace syncws::detail {

/// One connection's counters, shared by the server's ledger and the connection's engine
/// (which may outlive the server, when a handler moves the connection elsewhere). Touched
/// once per message or fragment, never per byte, and only under the engine's lock, so an
/// increment is a plain load and store, not a locked instruction on every send and receive;
/// they are atomics for the ledger, which reads them from other threads (relaxed: nothing
/// orders by them, and a snapshot may be a message behind). A cache line of its own: the
/// threads of different connections never wait for each other's increments.
struct alignas(64) traffic_counters {
    std::atomic<std::uint64_t> messages_received{0};
    std::atomic<std::uint64_t> bytes_received{0};
    std::atomic<std::uint64_t> messages_sent{0};
    std::atomic<std::uint64_t> bytes_sent{0};

    /// bytes of payload arrived; whole_message when they end a message.
    /// Thread-safety: one thread at a time (the engine's lock), concurrently with totals.
    void received(std::size_t bytes, bool whole_message) noexcept {
        add(messages_received, whole_message ? 1 : 0);
        add(bytes_received, bytes);
    }
    /// As received(), for payload sent.
    void sent(std::size_t bytes, bool whole_message) noexcept {
        add(messages_sent, whole_message ? 1 : 0);
        add(bytes_sent, bytes);
    }

private:
    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

/// Plain sums of traffic_counters.
struct traffic_totals {
    std::uint64_t messages_received = 0, bytes_received = 0, messages_sent = 0, bytes_sent = 0;

    void add(const traffic_counters& c) noexcept {
        messages_received += c.messages_received.load(std::memory_order_relaxed);
        bytes_received += c.bytes_received.load(std::memory_order_relaxed);
        messages_sent += c.messages_sent.load(std::memory_order_relaxed);
        bytes_sent += c.bytes_sent.load(std::memory_order_relaxed);
    }
};

/// A server's traffic: each connection counts into counters of its own (a broadcast too,
/// in the counters of every connection it reaches), and totals() adds them up. One set
/// shared by all connections made every message of every thread an increment of the same
/// cache lines, bouncing between cores.
/// Thread-safety: every function may be called from any thread.
class traffic_ledger {
public:
    /// Counters for a new connection.
    std::shared_ptr<traffic_counters> open() {
        auto counters = std::make_shared<traffic_counters>();
        std::lock_guard<std::mutex> lk(mutex_);
        // Folding the counters of connections that are gone keeps the list as long as the
        // connections alive, at an amortized constant cost per connection.
        if (live_.size() >= 2 * live_after_fold_ + 16) fold_finished();
        live_.push_back(counters);
        return counters;
    }

    /// Every connection's counts so far, gone or alive.
    traffic_totals totals() {
        std::lock_guard<std::mutex> lk(mutex_);
        fold_finished();
        traffic_totals sum = finished_;
        for (const auto& counters : live_) sum.add(*counters);
        return sum;
    }

private:
    // A connection whose counters only the ledger still holds is gone: its counts are final.
    void fold_finished() {
        const auto gone = [this](const std::shared_ptr<traffic_counters>& c) {
            if (c.use_count() != 1) return false;
            // Pairs with the release of the connection's last reference: its counts are seen.
            std::atomic_thread_fence(std::memory_order_acquire);
            finished_.add(*c);
            return true;
        };
        live_.erase(std::remove_if(live_.begin(), live_.end(), gone), live_.end());
        live_after_fold_ = live_.size();
    }

    std::mutex mutex_;
    std::vector<std::shared_ptr<traffic_counters>> live_;  // under mutex_
    std::size_t live_after_fold_ = 0;                       // under mutex_
    traffic_totals finished_;                                // under mutex_
};

}  // namespace syncws::detail

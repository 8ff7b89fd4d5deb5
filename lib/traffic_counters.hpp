// Counters of the data messages a server's connections send and receive. Internal.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace syncws::detail {

/// Shared by a server and the connections it hands to handlers (which may outlive it, when a
/// handler moves its connection elsewhere). Relaxed atomics, touched once per message or
/// fragment, never per byte: nothing orders by them, and a snapshot may be a message behind.
struct traffic_counters {
    std::atomic<std::uint64_t> messages_received{0};
    std::atomic<std::uint64_t> bytes_received{0};
    std::atomic<std::uint64_t> messages_sent{0};
    std::atomic<std::uint64_t> bytes_sent{0};

    /// bytes of payload arrived; whole_message when they end a message.
    void received(std::size_t bytes, bool whole_message) noexcept {
        if (whole_message) messages_received.fetch_add(1, std::memory_order_relaxed);
        if (bytes != 0) bytes_received.fetch_add(bytes, std::memory_order_relaxed);
    }
    void sent(std::size_t bytes, bool whole_message) noexcept {
        if (whole_message) messages_sent.fetch_add(1, std::memory_order_relaxed);
        if (bytes != 0) bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
    }
};

}  // namespace syncws::detail

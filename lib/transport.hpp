// The byte stream under a connection: TCP, Unix socket, and TLS over either. Internal.
//
// Every blocking call takes a deadline, because Asio's synchronous operations have none:
// on EAGAIN they wait forever. Implementations therefore use the socket's native handle:
// a call that does not block (MSG_DONTWAIT), and only when it would block a poll() until
// the deadline, so the fast path is one system call. The monitor thread, which must never
// block, uses the non-blocking calls alone.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace syncws::detail {

using clock = std::chrono::steady_clock;
/// No deadline.
inline constexpr clock::time_point no_deadline = clock::time_point::max();

/// now + wait (now for a negative wait), and no deadline for a wait too long to add to now:
/// duration::max() would overflow into the past.
inline clock::time_point after_waiting(clock::duration wait) {
    const clock::time_point now = clock::now();
    if (wait <= clock::duration::zero()) return now;
    return wait < no_deadline - now ? now + wait : no_deadline;
}

/// now + timeout, or no deadline for a zero (or negative) timeout.
inline clock::time_point deadline_after(clock::duration timeout) {
    return timeout > clock::duration::zero() ? after_waiting(timeout) : no_deadline;
}

/// A deadline that starts counting when it is first asked for: a send's timeout runs from
/// the moment it has to wait (for the write lock, or for the socket to take its bytes), so
/// the fast path, where it waits for neither, never reads the clock.
class lazy_deadline {
public:
    /// timeout from the first get(); zero means none. Never later than cap.
    explicit lazy_deadline(clock::duration timeout, clock::time_point cap = no_deadline)
        : timeout_(timeout), cap_(cap) {}
    /// Already fixed.
    static lazy_deadline at(clock::time_point deadline) { return lazy_deadline({}, deadline); }

    clock::time_point get() {
        if (!fixed_) {
            at_ = std::min(cap_, deadline_after(timeout_));
            fixed_ = true;
        }
        return at_;
    }

private:
    clock::duration timeout_;
    clock::time_point cap_;
    clock::time_point at_{};
    bool fixed_ = false;
};

/// Outcome of a read.
enum class read_status { data, eof, timeout, would_block };

struct read_result {
    read_status status;
    std::size_t size = 0;  ///< bytes read, for read_status::data
};

/// A connected byte stream.
/// Thread-safety: one reader and one writer may run at the same time (from two threads);
/// abort() may be called from any thread at any time and wakes both.
class transport {
public:
    virtual ~transport() = default;

    /// Reads up to size bytes, blocking until at least one arrives, the stream ends, or the
    /// deadline passes. Throws syncws::error on a network error (reset, TLS failure).
    virtual read_result read(char* buffer, std::size_t size, clock::time_point deadline) = 0;
    /// Bytes certain to come before anything else is needed (the rest of a frame), until
    /// told otherwise: whoever waits for the socket to become readable, read() or the
    /// monitor's poll, may then sleep until that many have arrived instead of waking for each
    /// piece; 0 wakes for any byte. Never more than is certain to come, or a wait would be for
    /// bytes the peer has no reason to send. Thread-safety: the reader's, as read().
    virtual void expect_input(std::uint64_t bytes) { static_cast<void>(bytes); }
    /// Reads what is available without blocking (would_block when nothing is).
    virtual read_result try_read(char* buffer, std::size_t size) = 0;
    /// Writes every piece, in order, blocking until done. Throws timeout_error when the
    /// deadline passes first (the stream is then unusable), syncws::error on a network error.
    virtual void write(const std::vector<std::string_view>& pieces, clock::time_point deadline) = 0;
    /// Writes what it can without blocking; returns how many bytes of pieces it took (0 when
    /// the socket buffer is full). For the monitor thread, which must never block. With no
    /// pieces, it only pushes on what has_buffered_output() reports.
    virtual std::size_t try_write(const std::vector<std::string_view>& pieces) = 0;
    /// Ends our direction of the stream (TCP FIN; TLS close_notify then FIN). Never blocks:
    /// what the socket cannot take now waits in has_buffered_output(), FIN behind it.
    virtual void shutdown_write() noexcept = 0;
    /// Input that a layer inside the transport (TLS) already took from the socket: there
    /// is something to read although the socket is not readable, so readiness polling must
    /// not be the only trigger to read. Thread-safety: any thread.
    virtual bool has_buffered_input() const { return false; }
    /// Output accepted by try_write() (or produced while reading: TLS alerts, key updates) or
    /// shutdown_write() that the socket could not take yet: try_write() must be called again,
    /// also with no pieces, until this is false. Thread-safety: any thread.
    virtual bool has_buffered_output() const { return false; }
    /// Stops all I/O at once: blocked reads and writes return (eof / error). Idempotent.
    virtual void abort() noexcept = 0;
    /// The socket's file descriptor, for the monitor's readiness polling.
    virtual int native_handle() const noexcept = 0;
    /// "127.0.0.1:8765", "[::1]:8765" or a Unix socket path.
    virtual std::string local_address() const = 0;
    virtual std::string remote_address() const = 0;
};

}  // namespace syncws::detail

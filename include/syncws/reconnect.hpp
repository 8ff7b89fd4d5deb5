// Connecting with retries and exponential backoff, and reconnecting when the server goes away:
//
//     for (auto& ws : syncws::reconnecting_client("ws://example.com/feed")) {
//         try {
//             for (auto& m : ws) handle(m);        // until the server closes or goes away
//         } catch (const syncws::connection_closed&) {
//         }                                        // then the loop connects again
//     }
//
// Modelled on Python websockets' `for websocket in connect(uri)`: a failed attempt is retried
// after a growing, jittered delay when the error may go away by itself (the server is down,
// restarting or overloaded), and thrown when it will not (a 403, an untrusted certificate).
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "syncws/client.hpp"
#include "syncws/options.hpp"

namespace syncws {

namespace detail {
struct stop_state;
struct stop_access;
}

/// A flag that tells a retry loop to give up, set from any thread. Copies share one flag (as
/// std::stop_source), so keep one copy and hand another to retry_options::stop.
/// Thread-safety: every member function is safe from any thread.
class stop_source {
public:
    stop_source();

    /// Sets the flag (idempotent). Wakes every connect_with_retry() waiting between attempts
    /// with this source, which then returns an empty optional, and closes (1001 "client
    /// stopping") every connection a reconnecting_client with this source is handing out, so
    /// that a thread blocked in its recv() wakes with connection_closed. A connection attempt
    /// in progress is not interrupted: it ends within open_timeout, then the loop stops.
    void request_stop();
    /// True once request_stop() was called.
    bool stop_requested() const noexcept;

private:
    friend struct detail::stop_access;
    std::shared_ptr<detail::stop_state> state_;
};

/// How connect_with_retry() and reconnecting_client retry. Delays are steady-clock durations.
///
/// After the n-th failed attempt in a row (n = 1, 2, ...) the wait is
/// min(max_delay, initial_delay * factor^(n-1)), of which a random share up to `jitter` is
/// taken off, so that clients cut off together by one server restart do not come back
/// together. A server's Retry-After (seconds, on a 429 or 503) raises that wait, up to
/// max_delay. With the defaults: about 0.5-1 s, 1-2 s, 2-4 s ... up to 30-60 s.
struct retry_options {
    /// The delay after the first failure.
    duration initial_delay = std::chrono::seconds(1);
    /// The longest delay between two attempts.
    duration max_delay = std::chrono::seconds(60);
    /// Each failure multiplies the delay by this (>= 1; 1 gives a constant delay).
    double factor = 2.0;
    /// The largest share of each delay taken off at random, in [0, 1]: 0 waits exactly the
    /// delay, 1 waits anywhere from 0 to the delay ("full jitter").
    double jitter = 0.5;
    /// Attempts in a row before the last error is thrown; 0 tries forever. A
    /// reconnecting_client counts afresh after each connection that opened.
    int max_attempts = 0;
    /// Set it from another thread to stop waiting (see stop_source::request_stop()).
    stop_source stop;
    /// Decides whether an error is worth another attempt; empty means is_transient_error.
    /// Called on the connecting thread.
    std::function<bool(const std::exception& error)> retry_if;
    /// Called on the connecting thread before each wait, with the error, the number of
    /// attempts failed in a row so far (1, 2, ...) and the delay about to be waited. Empty
    /// logs one line at log_level::info through the client_options' logger.
    std::function<void(const std::exception& error, int failed_attempts, duration delay)> on_retry;
};

/// The default retry_if: true for failures that may go away by themselves, which are network
/// errors (refused, reset, unreachable, name not resolved), timeout_error, a connection closed
/// or a response cut short during the opening handshake (invalid_handshake that is not
/// invalid_status), TLS handshake and record errors (tls_error handshake_failed, io), and
/// the HTTP statuses 408, 429, 500, 502, 503 and 504. False for everything else: other
/// statuses (401, 403, 404 ... will not change by asking again), certificate verification
/// failures and unreadable certificate files, invalid_uri, invalid_argument, programming
/// errors (invalid_state, concurrency_error) and exceptions not derived from syncws::error.
/// Thread-safety: pure function.
bool is_transient_error(const std::exception& error) noexcept;

/// The wait after `failed_attempts` failures in a row (1, 2 ...), before jitter: the formula
/// of retry_options. Throws invalid_argument for options that make no sense (a negative
/// or zero initial_delay, max_delay < initial_delay, factor < 1, jitter outside [0, 1],
/// max_attempts < 0, failed_attempts < 1).
/// Thread-safety: pure function.
duration backoff_delay(const retry_options& retry, int failed_attempts);

/// syncws::connect() until it succeeds: a failure that retry_if calls transient is followed
/// by a wait (see retry_options) and another attempt; any other failure is thrown at once,
/// as is the last error once max_attempts attempts failed. Returns an empty optional only
/// when retry.stop was requested (before an attempt or while waiting). Each attempt has the
/// whole open_timeout of options. Throws invalid_argument for unusable retry options (see
/// backoff_delay) before any attempt.
/// Thread-safety: safe from any thread; the callbacks run on the calling thread.
std::optional<client_connection> connect_with_retry(std::string_view uri,
                                                    const client_options& options,
                                                    const retry_options& retry);
std::optional<client_connection> connect_with_retry(std::string_view uri,
                                                    const client_options& options);
std::optional<client_connection> connect_with_retry(std::string_view uri);

/// A range of connections to one URI: each step of a range-for connects (with
/// connect_with_retry, so failures are retried with backoff) and hands out the connection;
/// the next step closes it (if still open) and connects again, at once the first time, since
/// a connection that had opened may find the server back already. Backoff starts afresh
/// after each connection that opened. The loop ends when retry.stop is requested; an error
/// that is not transient, or max_attempts failures in a row, is thrown from the range-for
/// (begin() or ++). An exception thrown in the loop's body leaves the loop as usual, so
/// catch connection_closed there to reconnect, and let other errors end it.
///
/// Thread-safety: one thread at a time may use the object (construct, iterate, destroy);
/// the connection handed out has connection's thread-safety, and request_stop() on
/// retry.stop may be called from any thread. Destroying it closes the current connection.
class reconnecting_client {
public:
    reconnecting_client(std::string uri, client_options options, retry_options retry);
    reconnecting_client(std::string uri, client_options options);
    explicit reconnecting_client(std::string uri);
    ~reconnecting_client();
    reconnecting_client(const reconnecting_client&) = delete;
    reconnecting_client& operator=(const reconnecting_client&) = delete;

    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = client_connection;
        using difference_type = std::ptrdiff_t;
        using pointer = client_connection*;
        using reference = client_connection&;

        iterator() = default;
        reference operator*() const;
        pointer operator->() const;
        /// Closes the current connection (if still open) and connects again.
        iterator& operator++();
        bool operator==(const iterator& other) const { return owner_ == other.owner_; }
        bool operator!=(const iterator& other) const { return owner_ != other.owner_; }

    private:
        friend class reconnecting_client;
        explicit iterator(reconnecting_client* owner) : owner_(owner) {}
        reconnecting_client* owner_ = nullptr;
    };

    /// Closes the current connection if there is one, connects (with retries) and returns an
    /// iterator to the new connection, or end() if retry.stop was requested.
    iterator begin();
    iterator end() { return iterator(); }

    /// Connections opened so far.
    /// Thread-safety: the iterating thread only.
    int connections_opened() const noexcept { return opened_; }

private:
    bool advance();   // closes the current connection and opens the next; false when stopped
    void release();   // closes and forgets the current connection

    std::string uri_;
    client_options options_;
    retry_options retry_;
    std::optional<client_connection> current_;
    int opened_ = 0;
};

}  // namespace syncws

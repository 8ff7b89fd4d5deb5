// A blocking, thread-pool WebSocket server: an accept thread hands each connection to a
// reusable worker thread, which runs the opening handshake and then the handler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "syncws/connection.hpp"
#include "syncws/message.hpp"
#include "syncws/options.hpp"

namespace syncws {

namespace detail {
class server_engine;
}

/// The server side of a connection, as the handler sees it.
/// Thread-safety: as connection.
class server_connection : public connection {
public:
    explicit server_connection(std::shared_ptr<detail::connection_engine> engine)
        : connection(std::move(engine)) {}
};

/// A snapshot of a server's counters, from server::stats(): a plain copy, made while the
/// server runs. The counts start at 0 when the server is constructed and never go down,
/// except open_connections.
struct server_stats {
    /// Connections taken from the listening socket, whatever became of them.
    std::uint64_t accepted = 0;
    /// Opening handshakes that succeeded (101 sent).
    std::uint64_t opened = 0;
    /// WebSocket connections open now: as server::connection_count().
    std::uint64_t open_connections = 0;
    /// Data messages, and their payload bytes as the application sent or received them
    /// (before compression, without frame headers), over every connection. A message sent
    /// or received in fragments counts once, when its last fragment passes; control frames
    /// (ping, pong, close) are not counted. broadcast() counts one message per connection
    /// reached.
    std::uint64_t messages_received = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t messages_sent = 0;
    std::uint64_t bytes_sent = 0;

    /// Accepted connections that never became WebSocket connections, by cause. Each counts
    /// once, so when no connection is in its handshake,
    /// accepted == opened + handshake_failures.total().
    struct failures {
        /// Not a valid opening request (answered 400, 405, 426, 431, 505 ...), including a
        /// client that closed before sending a whole request (a load balancer's TCP check).
        std::uint64_t invalid_request = 0;
        /// Answered 403 because the Origin is not in allowed_origins.
        std::uint64_t forbidden_origin = 0;
        /// Answered by process_request with plain HTTP (health checks, 401, a page ...).
        std::uint64_t process_request = 0;
        /// The TLS handshake failed (wss:// servers).
        std::uint64_t tls = 0;
        /// No complete opening request (or TLS handshake) within open_timeout.
        std::uint64_t timeout = 0;
        /// Answered 503 past max_connections (or when no worker thread could be started).
        std::uint64_t over_limit = 0;
        /// Anything else: a hook that threw (500), a response that could not be sent, a
        /// socket that could not be set up, a handshake cut short by shutdown().
        std::uint64_t other = 0;

        std::uint64_t total() const noexcept {
            return invalid_request + forbidden_origin + process_request + tls + timeout +
                   over_limit + other;
        }
    };
    failures handshake_failures;
};

/// The counters as one JSON object, for a health-check or metrics endpoint:
/// {"accepted":3,"opened":1,...,"handshake_failures":{"invalid_request":0,...}}.
/// Thread-safety: safe from any thread.
std::string to_json(const server_stats& stats);

/// What runs for each connection, on a worker thread. When it returns, the connection is
/// closed (1000) if it is still open. An exception that escapes is logged (level error,
/// through the connection's logger) and the connection closed with 1011; connection_closed
/// escaping from recv() after the peer left is how a handler may end, and is not an error.
/// Thread-safety: runs on many worker threads at once, one call per connection; so do the
/// hooks of server_options (process_request, select_subprotocol) and the logger.
using handler = std::function<void(server_connection& connection)>;

/// A listening server.
///
/// An accept thread waits for clients; each goes to a worker thread taken from a pool
/// (idle workers are reused, new ones start when all are busy, and spare ones end after
/// idle_worker_timeout, 30 s by default), which runs the opening handshake under
/// open_timeout and then the handler.
/// A client slow to send its request only holds its own worker. Past max_connections
/// (counted from accept until the connection ends) a new client is answered
/// `503 Service Unavailable` with `Retry-After: 1` by the accept thread, without blocking.
///
/// Thread-safety: every member function is safe from any thread, also from a handler
/// (a handler may call shutdown()). The server must not be destroyed from one of its own
/// handlers.
class server {
public:
    /// Binds and listens at once (so port() is known), but accepts nothing until
    /// serve_forever() or start(). host "" listens on every interface (dual-stack IPv6, or
    /// IPv4 where the host has no IPv6); a name is resolved and bound to one of its
    /// addresses, IPv4 first. A stale Unix socket file is replaced; a live server's is not.
    /// Throws syncws::error if the address cannot be bound ("cannot listen on
    /// 127.0.0.1:80: Permission denied") or if extra_response_headers cannot be sent, and
    /// tls_error(certificate_file) if options.tls names files that cannot be loaded (or a
    /// key that does not match its certificate). With options.tls, the server speaks wss://
    /// only: each client's TLS handshake runs on a worker under open_timeout, and one that
    /// fails is logged (log_level::info) with its cause.
    server(server_options options, handler on_connection);
    /// Shuts down (as shutdown() with its default timeout) if still running.
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Accepts connections on the calling thread until shutdown(), then returns (at once if
    /// the server was already shut down). Throws invalid_state if serve_forever() or start()
    /// was already called.
    void serve_forever();
    /// Accepts connections on a background thread; returns at once. Throws invalid_state if
    /// serve_forever() or start() was already called, or after shutdown().
    void start();
    /// Stops accepting (a Unix socket file is removed), closes every open connection with
    /// 1001 "server shutting down" (in parallel, each close bounded by close_timeout), waits
    /// up to timeout for the handlers to return, aborts the connections left (a handler's
    /// next call on its connection then throws), and joins every thread it started. A
    /// handler that ignores its connection and never returns keeps shutdown() waiting for
    /// it. A zero timeout aborts at once. Idempotent; concurrent calls wait for the first.
    /// Called from a handler, it does not wait for that handler, and returns at once if
    /// another thread is already shutting down; the handler's thread is joined by a later
    /// shutdown() from outside (the destructor).
    void shutdown(duration timeout = std::chrono::seconds(10));

    /// The port it listens on (the one the OS chose for port 0); 0 for a Unix socket.
    std::uint16_t port() const;
    /// "127.0.0.1:8765", "[::]:8765" or the Unix socket path.
    std::string address() const;
    /// Connections open now: handshake done, handler running or connection closing.
    std::size_t connection_count() const;
    /// The server's counters (see server_stats). Cheap enough to call on every request of a
    /// health check: the counts are relaxed atomics, read one by one, so a snapshot taken
    /// while connections come and go may be a message or a connection off between two
    /// fields; once traffic stops it is exact.
    server_stats stats() const;
    /// Sends the message to every open connection, one after another on the calling thread;
    /// a connection that fails is skipped. A client that does not read delays the others by
    /// up to send_timeout, after which its connection is failed and skipped from then on.
    void broadcast(const message& m);

private:
    std::unique_ptr<detail::server_engine> engine_;
};

/// Runs a server until the process ends: syncws::serve({.port = 8765}, handler).
void serve(server_options options, handler on_connection);

}  // namespace syncws

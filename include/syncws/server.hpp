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

/// What runs for each connection, on a worker thread. When it returns, the connection is
/// closed (1000) if it is still open. An exception that escapes is logged and the
/// connection closed with 1011.
using handler = std::function<void(server_connection& connection)>;

/// A listening server.
/// Thread-safety: every member function is safe from any thread.
class server {
public:
    /// Binds and listens at once (so port() is known), but accepts nothing until
    /// serve_forever() or start(). Throws syncws::error if the address cannot be bound.
    server(server_options options, handler on_connection);
    /// Shuts down (as shutdown()) if still running.
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Accepts connections on the calling thread until shutdown().
    void serve_forever();
    /// Accepts connections on a background thread; returns at once.
    void start();
    /// Stops accepting, closes every open connection with 1001 (going away), waits up to
    /// timeout for handlers to return, and joins every thread it started.
    void shutdown(duration timeout = std::chrono::seconds(10));

    /// The port it listens on (the one the OS chose for port 0); 0 for a Unix socket.
    std::uint16_t port() const;
    /// "127.0.0.1:8765", "[::]:8765" or the Unix socket path.
    std::string address() const;
    /// Connections open now (handshake done, handler running).
    std::size_t connection_count() const;
    /// Sends the message to every open connection; a connection that fails is skipped.
    void broadcast(const message& m);

private:
    std::unique_ptr<detail::server_engine> engine_;
};

/// Runs a server until the process ends: syncws::serve({.port = 8765}, handler).
void serve(server_options options, handler on_connection);

}  // namespace syncws

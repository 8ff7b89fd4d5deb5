// A WebSocket connection with blocking calls. Shared by both sides: client_connection
// (syncws::connect) and server_connection (handed to a server's handler).
#pragma once

#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncws/core/close.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/protocol.hpp"
#include "syncws/message.hpp"
#include "syncws/options.hpp"

namespace syncws {

/// Whether a message may be compressed: compression::automatic or compression::never.
using core::compression;

namespace detail {
class connection_engine;
struct pong_state;
}  // namespace detail

class connection;

/// Waits for the pong that answers one ping.
/// Thread-safety: wait() and ready() may be called from any thread.
class pong_waiter {
public:
    /// Blocks until the pong arrives and returns the round-trip time. Throws timeout_error
    /// after timeout (the connection stays usable) and connection_closed if the connection
    /// closes first. A zero timeout means the connection's ping_timeout.
    duration wait(duration timeout = duration::zero()) const;
    /// True once the pong arrived.
    bool ready() const;

private:
    friend class connection;
    pong_waiter(std::shared_ptr<detail::connection_engine> engine,
                std::shared_ptr<detail::pong_state> state);
    std::shared_ptr<detail::connection_engine> engine_;
    std::shared_ptr<detail::pong_state> state_;
};

/// A WebSocket connection with blocking calls, every one bounded by a deadline.
///
/// Thread-safety: send(), send_fragment(), send_fragments(), ping(), pong() and close() are
/// safe from any thread, also while another thread is blocked in recv(). One thread at a
/// time may receive (recv, recv_fragment, iteration): a second concurrent receiver gets
/// concurrency_error. The accessors are safe from any thread. While nobody is in recv(),
/// pings are still answered and a close from the peer still completes.
///
/// A connection is a handle: it can be moved, not copied. Destroying an open connection
/// closes it (1000) and waits up to close_timeout.
class connection {
public:
    connection(connection&&) noexcept;
    connection& operator=(connection&&) noexcept;
    virtual ~connection();

    // ---- sending: each returns once the frame is handed to the kernel ----

    /// Sends a text message. Throws protocol_error if text is not UTF-8 (send it as
    /// binary), connection_closed if the connection is closed, timeout_error if the peer
    /// does not read for send_timeout (the connection is then failed). With
    /// permessage-deflate negotiated, messages from deflate_options::threshold bytes up are
    /// compressed unless mode is compression::never.
    void send(std::string_view text, compression mode = compression::automatic);
    void send(const char* text) { send(std::string_view(text)); }
    void send(const std::string& text) { send(std::string_view(text)); }
    /// Sends a binary message: ws.send(syncws::binary(bytes)). Data that is already
    /// compressed (images, archives) is better sent with compression::never.
    void send(binary data, compression mode = compression::automatic);
    /// Sends a message of either type (for echoing what recv() returned).
    void send(const message& m, compression mode = compression::automatic);
    /// Sends one message made of several fragments, one frame each.
    void send_fragments(const std::vector<std::string_view>& parts,
                        message_type type = message_type::text);
    /// Sends one fragment; the first fragment's type sets the message's type, fin = true
    /// ends the message. Other threads' messages wait until it ends.
    void send_fragment(std::string_view data, bool fin, message_type type = message_type::text);

    // ---- receiving: one thread at a time ----

    /// Blocks until a whole message arrives. Throws connection_closed once the connection
    /// is closed (connection_closed_ok after a clean close), concurrency_error if another
    /// thread is receiving.
    message recv();
    /// As recv(), into a message the caller keeps from one call to the next: its storage
    /// takes the new message, so that a receive loop does not allocate for each message
    /// (storage up to 64 KiB is reused; a larger message's is let go). When it throws
    /// because the connection closed, into may have been emptied.
    void recv(message& into);
    /// As recv(), but returns an empty optional if nothing came within timeout; the
    /// connection stays usable.
    std::optional<message> recv(duration timeout);
    /// Streaming receive: the next fragment of the current or next message, as soon as its
    /// frame is complete, without waiting for the whole message.
    fragment recv_fragment();
    std::optional<fragment> recv_fragment(duration timeout);

    /// Iterates over messages until the connection closes cleanly; a close with an error
    /// is thrown as connection_closed_error. `for (auto& m : ws) ws.send(m);` Each step
    /// replaces the message, and reuses its storage for the next one: keep a message beyond
    /// its step by moving it out.
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = message;
        using difference_type = std::ptrdiff_t;
        using pointer = message*;
        using reference = message&;

        iterator() = default;
        reference operator*() { return current_; }
        pointer operator->() { return &current_; }
        iterator& operator++();
        bool operator==(const iterator& other) const { return owner_ == other.owner_; }
        bool operator!=(const iterator& other) const { return owner_ != other.owner_; }

    private:
        friend class connection;
        explicit iterator(connection* owner);
        connection* owner_ = nullptr;
        message current_;
    };
    iterator begin() { return iterator(this); }
    iterator end() { return iterator(); }

    // ---- ping / pong ----

    /// Sends a ping and returns a waiter for its pong. An empty payload is replaced by 4
    /// random bytes so that several pings can be told apart.
    pong_waiter ping(std::string_view payload = {});
    /// Sends an unsolicited pong (a one-way heartbeat).
    void pong(std::string_view payload = {});

    // ---- closing ----

    /// Starts the closing handshake and waits up to close_timeout for the peer's close frame
    /// and for the end of the stream, then closes the socket. Returns at once if already
    /// closed. Wakes a thread blocked in recv(), which then throws connection_closed.
    void close(std::uint16_t code = core::close_code::normal, std::string_view reason = {});

    // ---- state: safe from any thread ----

    core::state state() const;
    /// The close frames sent and received, once there were any.
    std::optional<core::close_frame> close_sent() const;
    std::optional<core::close_frame> close_received() const;
    /// The peer's close code (1006 if it sent none) and reason, once closed.
    std::uint16_t close_code() const;
    std::string close_reason() const;
    /// The negotiated subprotocol, if any.
    std::optional<std::string> subprotocol() const;
    /// The opening handshake's request and response.
    const core::http_request& request() const;
    const core::http_response& response() const;
    /// "127.0.0.1:8765", "[::1]:8765" or a Unix socket path.
    std::string local_address() const;
    std::string remote_address() const;
    /// A number unique within the process (1, 2, 3 ...), for logs: their lines name the
    /// connection "c42" (see connection_name()) and give remote_address().
    std::uint64_t id() const;

protected:
    explicit connection(std::shared_ptr<detail::connection_engine> engine);
    std::shared_ptr<detail::connection_engine> engine_;

private:
    void close_if_open() noexcept;
};

}  // namespace syncws

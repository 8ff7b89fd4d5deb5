// The exception hierarchy shared by every layer of syncws.
//
// It lives in the core because the core is the lowest layer and builds some of these
// errors itself (invalid_uri, invalid_handshake, the close frames of connection_closed);
// the blocking layer throws the rest. Everything derives from syncws::error, so one
// catch clause is enough for a script.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "syncws/core/close.hpp"

namespace syncws {

/// Base of every exception syncws throws for a network, peer or usage problem.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A value passed by the caller cannot be used: a header value with CR or LF (which would let
/// a peer read a different request), a method or field name that is not a token.
class invalid_argument : public error {
public:
    using error::error;
};

/// A ws:// or wss:// URI that cannot be used; the message names what is wrong.
class invalid_uri : public error {
public:
    using error::error;
};

/// The opening handshake failed. On the server side, status() is the HTTP status that the
/// server should answer with (400, 403, 405, 414, 426, 431, 505 ...); on the client side it
/// is 0 unless a response status was involved.
class invalid_handshake : public error {
public:
    explicit invalid_handshake(const std::string& what, int status = 400)
        : error(what), status_(status) {}
    int status() const noexcept { return status_; }

private:
    int status_;
};

/// A deadline expired: open, send, close or ping.
class timeout_error : public error {
public:
    using error::error;
};

/// The peer broke RFC 6455 or RFC 7692 (or a local call was invalid in the current state of
/// the protocol, see invalid_state).
class protocol_error : public error {
public:
    using error::error;
};

/// A message or frame exceeded the configured maximum size (close code 1009).
class payload_too_big : public error {
public:
    using error::error;
};

/// A call that is not allowed in the connection's current state, such as sending after the
/// close handshake started. This is a programming error in the caller, not a network fault.
class invalid_state : public error {
public:
    using error::error;
};

/// Two threads did something that must be done by one at a time, such as two concurrent
/// recv() calls.
class concurrency_error : public error {
public:
    using error::error;
};

/// The connection is closed. Carries the close frames sent and received (either may be
/// missing) so that the user sees what each side said.
class connection_closed : public error {
public:
    /// detail: why the connection ended, when more is known than the close frames say
    /// ("connection reset by peer", "keepalive ping timeout ..."); added to what().
    connection_closed(std::optional<core::close_frame> sent,
                      std::optional<core::close_frame> received,
                      bool received_then_sent, const std::string& detail = {});

    /// The close frame this side sent, if any.
    const std::optional<core::close_frame>& sent() const noexcept { return sent_; }
    /// The close frame the peer sent, if any.
    const std::optional<core::close_frame>& received() const noexcept { return received_; }
    /// True when the peer started the closing handshake.
    bool received_then_sent() const noexcept { return received_then_sent_; }
    /// The peer's close code, or 1006 when no close frame was received.
    std::uint16_t code() const noexcept;
    /// The peer's close reason, or "" when no close frame was received.
    const std::string& reason() const noexcept;
    /// True when both close frames were exchanged with 1000, 1001 or 1005.
    bool clean() const noexcept { return is_clean(sent_, received_); }
    /// The same test, for a connection that has not thrown (yet).
    static bool is_clean(const std::optional<core::close_frame>& sent,
                         const std::optional<core::close_frame>& received) noexcept;

    /// Builds connection_closed_ok or connection_closed_error, whichever applies, and
    /// throws it.
    [[noreturn]] static void raise(std::optional<core::close_frame> sent,
                                   std::optional<core::close_frame> received,
                                   bool received_then_sent, const std::string& detail = {});

private:
    std::optional<core::close_frame> sent_;
    std::optional<core::close_frame> received_;
    bool received_then_sent_;
};

/// The connection closed with a clean close handshake (codes 1000, 1001 or 1005 both ways).
class connection_closed_ok : public connection_closed {
public:
    using connection_closed::connection_closed;
};

/// The connection closed with an error, or without a close handshake (1006).
class connection_closed_error : public connection_closed {
public:
    using connection_closed::connection_closed;
};

}  // namespace syncws

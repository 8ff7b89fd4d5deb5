// The client side of the protocol: the opening request and the server's response
// (RFC 6455 §4.1), then the shared data-transfer state machine.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "syncws/core/handshake.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/protocol.hpp"
#include "syncws/core/uri.hpp"

namespace syncws::core {

/// A client connection's protocol, starting in the connecting state.
/// Thread-safety: none; one thread at a time.
class client_protocol : public protocol {
public:
    /// key: the Sec-WebSocket-Key to use; empty means a fresh random one (tests pin it).
    explicit client_protocol(uri target, client_handshake_config handshake = {},
                             protocol_config config = {}, std::string key = {});

    /// The opening request; the caller may add headers (User-Agent ...) before sending it.
    http_request connect() const;
    /// Queues the request's bytes for the transport.
    void send_request(const http_request& request);

    /// Why the handshake failed (invalid_status for a non-101 answer, invalid_handshake for
    /// anything else), or null. Set when the http_response event arrives, or at EOF.
    const std::exception_ptr& handshake_error() const noexcept { return handshake_error_; }
    /// What was negotiated, once the state is open.
    const client_handshake_result& handshake_result() const noexcept { return result_; }
    const uri& target() const noexcept { return target_; }

protected:
    std::size_t receive_handshake(std::string_view data) override;
    void receive_handshake_eof() override;

private:
    void finish_handshake();
    void accept_extensions();
    void fail_handshake(std::exception_ptr error);

    uri target_;
    client_handshake_config handshake_;
    std::string key_;
    http_response_parser parser_;
    client_handshake_result result_;
    std::exception_ptr handshake_error_;
};

}  // namespace syncws::core

// The server side of the protocol: the client's opening request and our answer
// (RFC 6455 §4.2), then the shared data-transfer state machine.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncws/core/handshake.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/protocol.hpp"

namespace syncws::core {

/// Chooses a subprotocol among those the client offered, or none.
using subprotocol_selector =
    std::function<std::optional<std::string>(const std::vector<std::string>& offered)>;

/// A server connection's protocol, starting in the connecting state. The first event is the
/// client's http_request; answer it with send_response(accept(request)) or
/// send_response(reject(...)). A request that cannot be parsed is answered by the protocol
/// itself (400, 414, 431 or 505) and the transport closed.
/// Thread-safety: none; one thread at a time.
class server_protocol : public protocol {
public:
    explicit server_protocol(server_handshake_config handshake = {}, protocol_config config = {});

    /// Validates the request and returns the response to send: a 101 with the chosen
    /// subprotocol, or the error response (400, 403, 405, 426, 505 ...) saying what was wrong,
    /// in which case handshake_error() is set. The caller may add headers before sending.
    http_response accept(const http_request& request);
    /// Any other response, e.g. 401 or a plain HTTP answer to a health check.
    http_response reject(int status, http_headers headers = {}, std::string body = {}) const;
    /// Queues the response; a 101 opens the connection, anything else ends it. The
    /// permessage-deflate that accept() agreed to is turned on if the response still
    /// carries it.
    void send_response(const http_response& response);

    /// Replaces the default choice (the server's first preference the client offered).
    void set_subprotocol_selector(subprotocol_selector selector) { selector_ = std::move(selector); }

    /// Why the handshake failed, or null.
    const std::exception_ptr& handshake_error() const noexcept { return handshake_error_; }
    /// The subprotocol in the 101 response that was sent, if any.
    const std::optional<std::string>& subprotocol() const noexcept { return subprotocol_; }

protected:
    std::size_t receive_handshake(std::string_view data) override;
    void receive_handshake_eof() override;

private:
    void keep_early_data(std::string_view data);

    server_handshake_config handshake_;
    subprotocol_selector selector_;
    http_request_parser parser_;
    bool request_received_ = false;
    std::string early_data_;  // frames that arrived before send_response()
    std::optional<std::string> subprotocol_;
    std::optional<deflate_agreement> deflate_agreement_;  // from the last accept()
    std::exception_ptr handshake_error_;
};

}  // namespace syncws::core

// The opening handshake (RFC 6455 §4): building and checking the HTTP request and response
// for both roles. Pure functions over http_request / http_response; no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "syncws/core/deflate.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/uri.hpp"

namespace syncws {

/// The server answered the opening handshake with a status other than 101. The whole
/// response (status, headers, body) is kept so the client can show what the server said.
class invalid_status : public invalid_handshake {
public:
    explicit invalid_status(core::http_response response);
    const core::http_response& response() const noexcept { return response_; }

private:
    core::http_response response_;
};

}  // namespace syncws

namespace syncws::core {

/// A fresh Sec-WebSocket-Key: 16 random bytes from the CSPRNG, base64-encoded.
/// Thread-safety: safe from any thread.
std::string generate_key();

/// Sec-WebSocket-Accept for a key: base64(SHA-1(key + the RFC 6455 GUID)).
/// Thread-safety: pure function.
std::string accept_key(std::string_view key);

/// One Sec-WebSocket-Extensions element, parsed: the extension's name and its parameters in
/// the order written, each with its value (a quoted-string value unquoted) or without one.
struct extension_element {
    std::string name;
    std::vector<std::pair<std::string, std::optional<std::string>>> parameters;
};

/// Parses one element ("permessage-deflate; client_max_window_bits=\"10\""). Throws
/// syncws::invalid_handshake (status 400) saying what is malformed.
/// Thread-safety: pure function.
extension_element parse_extension_element(std::string_view element);

/// What a client puts in its opening request besides the mandatory fields.
struct client_handshake_config {
    std::optional<std::string> origin;
    std::vector<std::string> subprotocols;       ///< offered, in order of preference
    std::vector<std::string> extension_offers;   ///< each a Sec-WebSocket-Extensions element
    /// Added last (e.g. User-Agent, cookies). A field named like one the handshake generates
    /// replaces it (Authorization: Bearer instead of the URI's credentials, another Origin).
    http_headers extra_headers;
    /// permessage-deflate to offer (client_protocol adds the offer and checks the answer).
    std::optional<deflate_options> deflate;
};

/// What the client learned from a successful handshake.
struct client_handshake_result {
    std::optional<std::string> subprotocol;
    /// The extensions the server accepted: every element of its Sec-WebSocket-Extensions,
    /// in order ("permessage-deflate; server_no_context_takeover"). Each one's name was
    /// offered; its parameters are checked by the extension itself.
    std::vector<std::string> extensions;
};

/// Builds the client's opening request for target with the given key: GET resource,
/// Host (with the port when not the default), Upgrade, Connection, Sec-WebSocket-Key,
/// Sec-WebSocket-Version: 13, Origin, Sec-WebSocket-Protocol, Sec-WebSocket-Extensions,
/// Authorization: Basic when the URI has user info, then the extra headers.
/// Throws syncws::invalid_uri when the user name contains ':' (Basic cannot carry it), and
/// syncws::invalid_handshake (status 0) when a subprotocol is not a token or is offered twice,
/// or an extension offer is not exactly one well-formed element.
/// Thread-safety: pure function.
http_request build_client_request(const uri& target, const client_handshake_config& config,
                                  std::string_view key);

/// Checks the server's response to a request built with key and config: status 101
/// (otherwise throws syncws::invalid_status with the response), Upgrade: websocket,
/// Connection: upgrade, exactly one and the right Sec-WebSocket-Accept, at most one subprotocol
/// and only one that was offered (compared exactly), well-formed extension elements whose
/// names were offered (compared exactly). Throws syncws::invalid_handshake (status 0) naming
/// the problem.
/// Thread-safety: pure function.
client_handshake_result check_server_response(const http_response& response,
                                              std::string_view key,
                                              const client_handshake_config& config);

/// What a server checks and answers besides the mandatory fields.
struct server_handshake_config {
    /// Subprotocols the server supports, in order of preference.
    std::vector<std::string> subprotocols;
    /// Origins allowed; empty means any origin (and no Origin) is allowed. The literal
    /// entry "" allows a request without Origin (non-browser clients).
    std::vector<std::string> allowed_origins;
    /// permessage-deflate to accept (server_protocol answers the client's offers).
    std::optional<deflate_options> deflate;
};

/// What the server learned from a valid opening request.
struct server_handshake_request {
    std::string key;                          ///< Sec-WebSocket-Key as sent
    std::vector<std::string> subprotocols;    ///< offered by the client, in order
    std::vector<std::string> extension_offers;///< Sec-WebSocket-Extensions elements, in order
    std::optional<std::string> origin;
};

/// Validates a client's opening request (RFC 6455 §4.2.1), in this order: method GET (else
/// 405), HTTP/1.1 or later (else 505), exactly one Host (else 400), Upgrade: websocket and
/// Connection: upgrade tokens (else 426), exactly Sec-WebSocket-Version: 13 (else 426),
/// exactly one key that decodes to 16 bytes (else 400), no request body (else 400), at most
/// one Origin (else 400) and an allowed one (else 403), well-formed Sec-WebSocket-Extensions
/// (else 400). Throws syncws::invalid_handshake whose status() is the status to answer and
/// whose message says what is wrong; build_error_response turns it into the answer.
/// Linear in the size of the request, whatever its fields hold.
/// Thread-safety: pure function.
server_handshake_request check_client_request(const http_request& request,
                                              const server_handshake_config& config);

/// The first subprotocol in the server's preference order that the client offered, compared
/// exactly (subprotocol names are case-sensitive).
/// Thread-safety: pure function.
std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered,
                                              const std::vector<std::string>& supported);

/// The 101 response accepting a request with this key, naming the chosen subprotocol and
/// the accepted extensions (each an element of Sec-WebSocket-Extensions).
/// Thread-safety: pure function.
http_response build_accept_response(std::string_view key,
                                    const std::optional<std::string>& subprotocol,
                                    const std::vector<std::string>& extensions);

/// Any other response: status, reason phrase, the given headers, Connection: close (added to
/// the options of a given Connection field), Content-Type: text/plain; charset=utf-8 when
/// there is a body and no Content-Type, and Content-Length from the body (replacing a given
/// Content-Length or Transfer-Encoding). 1xx, 204 and 304 get no Content-Length and cannot
/// take a body: throws syncws::error if one is given.
/// Thread-safety: pure function.
http_response build_reject_response(int status, http_headers headers, std::string body);

/// The response for a failed handshake: build_reject_response(error.status(), ...) with the
/// error's message as body, plus Upgrade: websocket, Sec-WebSocket-Version: 13 and
/// Connection: Upgrade for 426, and Allow: GET for 405. A status outside 400-599 (a
/// client-side error has 0) becomes 500.
/// Thread-safety: pure function.
http_response build_error_response(const invalid_handshake& error);

}  // namespace syncws::core

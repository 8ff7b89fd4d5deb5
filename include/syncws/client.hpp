// Opening a client connection.
#pragma once

#include <memory>
#include <string_view>

#include "syncws/connection.hpp"
#include "syncws/core/uri.hpp"
#include "syncws/options.hpp"

namespace syncws {

/// The client side of a connection.
/// Thread-safety: as connection.
class client_connection : public connection {
public:
    /// The URI it connected to.
    const core::uri& uri() const;

private:
    friend client_connection connect(std::string_view uri, const client_options& options);
    explicit client_connection(std::shared_ptr<detail::connection_engine> engine, core::uri target);
    core::uri uri_;
};

/// Opens a connection to a ws:// or wss:// URI: resolves the host, tries every address in
/// turn, sets TCP_NODELAY, runs the TLS handshake for wss:// (see tls_client_options) and
/// the opening handshake, all within open_timeout. Throws invalid_uri, timeout_error,
/// tls_error (naming the cause: untrusted issuer, host-name mismatch, expired, handshake
/// failure, a certificate file that cannot be loaded), invalid_handshake (invalid_status
/// when the server answered something other than 101: its status, headers and body are in
/// the exception) or syncws::error naming the network failure.
/// Thread-safety: safe from any thread.
client_connection connect(std::string_view uri, const client_options& options);
/// connect() with the default options. (An overload rather than a default argument: GCC 12
/// warns falsely about the std::function inside a defaulted options temporary.)
client_connection connect(std::string_view uri);

}  // namespace syncws

#include "syncws/client.hpp"

#include <string>

#include "connection_engine.hpp"
#include "peer_logger.hpp"
#include "proxy.hpp"
#include "redirect.hpp"
#include "tcp_connect.hpp"
#include "tls_context.hpp"
#include "tls_transport.hpp"

namespace syncws {

namespace {

using detail::clock;

// The byte stream to the server: a Unix socket, a tunnel through a proxy, or TCP; then TLS
// for wss:// (inside the tunnel when there is one).
std::unique_ptr<detail::transport> open_stream(const core::uri& target, const client_options& options,
                                               clock::time_point deadline) {
    std::unique_ptr<detail::transport> stream;
    if (!options.unix_socket.empty()) {
        stream = detail::open_unix(options.unix_socket, deadline);
    } else if (const auto proxy = detail::choose_proxy(target, options.proxy)) {
        stream = detail::open_tunnel(*proxy, target, deadline);
    } else {
        stream = detail::open_tcp(target.host, target.port, deadline);
    }
    if (!target.secure) return stream;
    return detail::tls_connect(std::move(stream), detail::client_context(options.tls), target.host,
                               !options.tls.insecure, deadline);
}

// One attempt: connection and opening handshake with target.
client_connection connect_to(const core::uri& target, const client_options& options,
                             clock::time_point deadline,
                             client_connection (*make)(std::shared_ptr<detail::connection_engine>,
                                                       core::uri)) {
    const connection_settings& settings = options.settings;
    core::client_handshake_config handshake;
    handshake.origin = options.origin;
    handshake.subprotocols = options.subprotocols;
    handshake.extra_headers = options.extra_headers;
    if (!options.user_agent.empty() && !handshake.extra_headers.contains("User-Agent"))
        handshake.extra_headers.add("User-Agent", options.user_agent);
    if (options.compression.enabled) handshake.deflate = options.compression;

    const core::protocol_config config = detail::protocol_config_for(settings);
    // Built before connecting, so that bad options fail without touching the network.
    auto protocol = std::make_unique<core::client_protocol>(target, std::move(handshake), config);
    const core::http_request request = protocol->connect();

    std::unique_ptr<detail::transport> stream = open_stream(target, options, deadline);
    // The engine names its connection in log lines; this names the peer (or proxy) too.
    connection_settings named = settings;
    named.logger = detail::for_peer(settings.logger, stream->remote_address());
    auto engine = std::make_shared<detail::connection_engine>(std::move(protocol), std::move(stream),
                                                              std::move(named));
    engine->run_client_handshake(request, deadline);
    return make(std::move(engine), target);
}

}  // namespace

client_connection::client_connection(std::shared_ptr<detail::connection_engine> engine,
                                     core::uri target)
    : connection(std::move(engine)), uri_(std::move(target)) {}

const core::uri& client_connection::uri() const { return uri_; }

client_connection connect(std::string_view text) { return connect(text, client_options()); }

client_connection connect(std::string_view text, const client_options& options) {
    const clock::time_point deadline = detail::deadline_after(options.settings.open_timeout);
    core::uri target = core::parse_uri(text);
    const auto make = [](std::shared_ptr<detail::connection_engine> engine, core::uri where) {
        return client_connection(std::move(engine), std::move(where));
    };
    for (int redirects = 0;; ++redirects) {
        try {
            return connect_to(target, options, deadline, make);
        } catch (const invalid_status& e) {
            // Redirects turned off: the caller sees the 3xx response itself.
            if (options.max_redirects <= 0) throw;
            std::optional<core::uri> next = detail::redirect_target(target, e.response());
            if (!next) throw;
            if (redirects >= options.max_redirects)
                throw invalid_handshake("too many redirects: gave up after " +
                                            std::to_string(redirects) + " (the last one from " +
                                            target.to_display_string() + " to " + next->to_display_string() + ")",
                                        0);
            target = std::move(*next);
        }
    }
}

}  // namespace syncws

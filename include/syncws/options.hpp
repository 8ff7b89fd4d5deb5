// Options of clients and servers. Plain structs with safe defaults, so that C++20 code can
// write syncws::connect(uri, {.open_timeout = 5s}) and C++17 code can set fields by name.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "syncws/core/deflate.hpp"
#include "syncws/core/http.hpp"
#include "syncws/logger.hpp"
#include "syncws/tls.hpp"
#include "syncws/version.hpp"

namespace syncws {

/// Timeouts are steady-clock durations; any std::chrono duration converts (500ms, 10s).
using duration = std::chrono::steady_clock::duration;

/// Settings every connection has, client or server side. A zero ping_interval turns the
/// keepalive off; a zero timeout means no deadline for that step.
struct connection_settings {
    /// DNS + TCP connect + opening handshake together (client); handshake (server).
    duration open_timeout = std::chrono::seconds(10);
    /// How long close() waits for the peer's close frame and end of stream.
    duration close_timeout = std::chrono::seconds(10);
    /// How long one send may wait for a peer that does not read; then the connection fails.
    /// It counts from the moment the send first has to wait (for another thread's send, or
    /// for room in the socket buffer).
    duration send_timeout = std::chrono::seconds(30);
    /// A keepalive ping is sent this often...
    duration ping_interval = std::chrono::seconds(20);
    /// ...and the connection fails with 1011 if its pong does not come within this.
    duration ping_timeout = std::chrono::seconds(20);
    /// Largest incoming message; larger ones fail the connection with 1009.
    std::size_t max_message_size = 16 * 1024 * 1024;
    /// Incoming bytes buffered beyond what recv() took; when full, the socket is not read,
    /// so TCP pushes back on the peer.
    std::size_t max_queue = 16 * 1024 * 1024;
    /// Where log lines go; empty means warnings and errors to stderr.
    syncws::logger logger;
};

/// Options of syncws::connect().
struct client_options {
    connection_settings settings;
    /// Subprotocols to offer, in order of preference.
    std::vector<std::string> subprotocols;
    /// The Origin header, if any.
    std::optional<std::string> origin;
    /// Headers added to the opening request (cookies, tokens ...).
    core::http_headers extra_headers;
    /// The User-Agent header; empty sends none.
    std::string user_agent = "syncws/" SYNCWS_VERSION;
    /// Connect to this Unix-domain socket instead of the URI's host and port (the URI still
    /// gives the Host header and the resource).
    std::string unix_socket;
    /// Certificate verification and client certificates for wss://.
    tls_client_options tls;
    /// HTTP CONNECT proxy: unset means from the environment, as curl reads it (wss_proxy,
    /// https_proxy / HTTPS_PROXY for wss://; ws_proxy, http_proxy for ws://; then all_proxy;
    /// no_proxy lists hosts, domain suffixes and IP addresses or CIDR ranges to reach
    /// directly); "" means never a proxy; otherwise a URL such as
    /// "http://user:password@proxy:3128".
    std::optional<std::string> proxy;
    /// Redirects (301, 302, 303, 307, 308) followed before giving up; 0 follows none.
    int max_redirects = 10;
    /// permessage-deflate: offered by default; compression.enabled = false turns it off.
    core::deflate_options compression;
};

/// Options of syncws::server / syncws::serve().
struct server_options {
    /// Address to listen on: "" means every interface (IPv6 dual-stack where available),
    /// "127.0.0.1", "::1", "localhost" ...
    std::string host;
    /// 0 lets the OS choose a free port; server::port() tells which.
    std::uint16_t port = 0;
    /// Listen on this Unix-domain socket path instead of host and port.
    std::string unix_socket;
    /// SO_REUSEPORT (TCP only): several servers, in one process or several, that all set it
    /// may listen on the same host and port, and the kernel spreads new connections among
    /// them (Linux: by a hash of the client's address and port). Lets a new process start
    /// before the old one stops, or one process per core share a port. Only servers of the
    /// same user may share a port.
    bool reuse_port = false;
    connection_settings settings;
    /// Past this many open connections, new clients get HTTP 503 with Retry-After.
    std::size_t max_connections = 1024;
    /// How long a spare worker thread (its connection over, no client waiting) stays for
    /// the next client before it ends. A warm worker spares a new client the start of a
    /// thread; each one left holds its stack. Zero, like the timeouts in settings, means no
    /// limit: spare workers stay (at most 64 of them; beyond, a worker ends with its
    /// connection).
    duration idle_worker_timeout = std::chrono::seconds(30);
    /// Subprotocols supported, in order of preference.
    std::vector<std::string> subprotocols;
    /// Chooses among the subprotocols a client offered; replaces the default choice.
    std::function<std::optional<std::string>(const std::vector<std::string>& offered)>
        select_subprotocol;
    /// Origins allowed (403 otherwise); empty allows any. "" allows requests without Origin.
    std::vector<std::string> allowed_origins;
    /// Headers added to every handshake response.
    core::http_headers extra_response_headers;
    /// The Server header; empty sends none.
    std::string server_header = "syncws/" SYNCWS_VERSION;
    /// Called with each opening request before the handshake. Return a response to answer
    /// plain HTTP on the same port (a health check, a 401, a page) instead of upgrading.
    std::function<std::optional<core::http_response>(const core::http_request& request)>
        process_request;
    /// wss://: set tls.cert_file and tls.key_file (or tls.context).
    tls_server_options tls;
    /// permessage-deflate: accepted by default with a 12-bit window and memLevel 5;
    /// compression.enabled = false turns it off.
    core::deflate_options compression = core::deflate_options::for_server();
};

}  // namespace syncws

// HTTP CONNECT proxies: choosing one for a target (options or environment) and opening a
// tunnel through it. Internal.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "syncws/core/uri.hpp"
#include "transport.hpp"

namespace syncws::detail {

/// A proxy to go through.
struct proxy_server {
    std::string host;       ///< lowercase name or IP literal, IPv6 without brackets
    std::uint16_t port = 8080;
    std::string user_info;  ///< "user:password", percent-encoded, or empty
    std::string url;        ///< "http://host:port", never with credentials: for messages
};

/// Reads an environment variable; replaced in tests.
using environment = std::function<std::optional<std::string>(const char* name)>;
/// The process environment (getenv).
/// Thread-safety: safe from any thread, except while another thread calls setenv/putenv.
std::optional<std::string> process_environment(const char* name);

/// The proxy for target, or nothing for a direct connection.
///
/// configured "" means no proxy; any other configured value is the proxy for every target
/// (no_proxy does not apply to it: the caller named it explicitly). Unset means the
/// environment, read as curl 8 reads it:
/// - wss://: wss_proxy, WSS_PROXY, https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY;
///   ws://: ws_proxy, WS_PROXY, http_proxy, all_proxy, ALL_PROXY. The first variable that is
///   set decides, even when empty (then: no proxy). Uppercase HTTP_PROXY is never read: CGI
///   servers fill it from a request's "Proxy:" header ("httpoxy").
/// - no_proxy, else NO_PROXY: entries separated by commas or blanks, case-insensitive;
///   "*" matches every host; a host name matches itself and the names under it
///   ("example.com", ".example.com" and "*.example.com" all match example.com and
///   a.example.com, not badexample.com); an IPv4 or IPv6 address ("::1" or "[::1]") matches
///   itself, a CIDR range ("10.0.0.0/8", "fd00::/8") the addresses in it; "host:port" and
///   "[v6]:port" match that port only. Names are not resolved: "localhost" does not match
///   127.0.0.1. Loopback targets are not excluded unless no_proxy says so (as curl and
///   Python's requests; Go excludes them by itself). Entries that mean nothing are ignored.
///
/// A proxy URL is "http://[user:password@]host[:port][/]" or the same without "http://";
/// the default port is 80, as for any http:// URL (curl alone assumes 1080, a SOCKS habit).
/// Credentials are percent-decoded and sent with Basic authentication.
/// Throws invalid_uri, naming the variable or option but never the credentials, for a
/// proxy URL that cannot be used: https:// (TLS to the proxy) and socks:// are not
/// supported. Thread-safety: safe from any thread if env is.
std::optional<proxy_server> choose_proxy(const core::uri& target,
                                         const std::optional<std::string>& configured,
                                         const environment& env = process_environment);

/// Connects to the proxy and asks it for a tunnel to target's host and port (CONNECT, with
/// Proxy-Authorization: Basic when the proxy URL has credentials), all before deadline. The
/// answer's head is read and nothing after it; a 2xx answer followed by more bytes is an
/// error (we speak first in the tunnel). Returns the stream, now the tunnel (the caller adds
/// TLS for wss://).
/// Throws syncws::error naming the proxy's refusal ("the proxy http://p:3128 refused the
/// tunnel to example.com:443: 407 Proxy Authentication Required (it wants credentials and
/// none were given ...)"), a proxy that cannot be reached or answers nonsense;
/// timeout_error when the deadline passes. Messages never show credentials.
/// Thread-safety: safe from any thread.
std::unique_ptr<transport> open_tunnel(const proxy_server& proxy, const core::uri& target,
                                       clock::time_point deadline);

}  // namespace syncws::detail

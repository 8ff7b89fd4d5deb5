// ws:// and wss:// URIs (RFC 6455 §3).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace syncws::core {

/// A parsed WebSocket URI.
struct uri {
    bool secure = false;        ///< wss://
    std::string host;           ///< lowercase host name or IP literal, IPv6 without brackets
    std::uint16_t port = 80;    ///< explicit port, or 80 / 443 by default
    std::string resource = "/"; ///< path + "?" + query, percent-encoding kept; never empty
    std::string user_info;      ///< "user:password" percent-encoded as resource is, or empty

    /// True when host is an IPv6 literal (it needs brackets in Host and in URIs).
    bool is_ipv6() const;
    /// True when port is the default for the scheme (80 for ws, 443 for wss).
    bool has_default_port() const;
    /// The Host header value: host, with brackets for IPv6, and ":port" unless default.
    std::string host_header() const;
    /// The user name from user_info, percent-decoded.
    std::string username() const;
    /// The password from user_info, percent-decoded ("" when there is none).
    std::string password() const;
    /// The URI written back out: scheme://[user_info@]host[:port]resource.
    std::string to_string() const;
    /// The URI without its credentials, for messages and logs.
    std::string to_display_string() const;
};

/// Parses a ws:// or wss:// URI. The scheme is case-insensitive and the host is lowercased.
/// In the resource and user info, valid %XX escapes are kept as written and every byte that
/// RFC 3986 does not allow there (non-ASCII, and ASCII such as '"', '<', '{', '|') is
/// percent-encoded, so the resource is always a valid request target.
/// The host is a DNS name (letters, digits, '-', '.', '_', '~'), a strict dotted quad (no
/// leading zeros, which some resolvers read as octal), or a bracketed IPv6 literal.
/// Throws syncws::invalid_uri naming what is wrong: a scheme other than ws/wss (http and
/// https included), an empty host, a bad or out-of-range port (1-65535), a fragment (RFC 6455
/// §3), white space or control characters, a bad percent escape, an unclosed or invalid IPv6
/// literal, an IPv6 zone id ("%25eth0", not supported), a non-ASCII or percent-encoded host
/// name (use punycode), more than one '@'.
/// Thread-safety: pure function.
uri parse_uri(std::string_view text);

/// Percent-decodes text ("%41" -> "A"). Throws syncws::invalid_uri on a bad escape.
/// Thread-safety: pure function.
std::string percent_decode(std::string_view text);

}  // namespace syncws::core

#include "proxy.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "syncws/core/base64.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/http.hpp"
#include "tcp_connect.hpp"

namespace syncws::detail {

namespace {

// ------------------------------------------------------------------ addresses

// "host:port", with brackets around an IPv6 literal: a CONNECT target and the proxy's URL.
std::string authority(const std::string& host, std::uint16_t port) {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// An IPv4 or IPv6 address in network byte order; size 0 when the text is not one.
struct ip_address {
    std::array<unsigned char, 16> bytes{};
    std::size_t size = 0;
};

ip_address parse_ip(const std::string& text) {
    ip_address ip;
    if (::inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) {
        ip.size = 4;
    } else if (::inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) {
        ip.size = 16;
    }
    return ip;
}

// True when the first `bits` bits of a and b agree (both of the same family).
bool same_prefix(const ip_address& a, const ip_address& b, std::size_t bits) {
    if (a.size == 0 || a.size != b.size || bits > a.size * 8) return false;
    const std::size_t whole = bits / 8;
    if (std::memcmp(a.bytes.data(), b.bytes.data(), whole) != 0) return false;
    const std::size_t rest = bits % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
    return ((a.bytes[whole] ^ b.bytes[whole]) & mask) == 0;
}

// ------------------------------------------------------------------ no_proxy

// What a no_proxy rule is checked against.
struct destination {
    std::string name;  // host name without a trailing dot ("" for an IP address)
    ip_address ip;
    std::uint16_t port;
};

// The port of a no_proxy entry: -1 when it is not a port number, so that it matches nothing.
long entry_port(std::string_view text) {
    long value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9' || value > 65535) return -1;
        value = value * 10 + (c - '0');
    }
    return text.empty() || value == 0 || value > 65535 ? -1 : value;
}

// Splits a no_proxy entry "host", "host:port", "[v6]" or "[v6]:port" (port 0: none given).
// A bare IPv6 address has several colons and no port.
std::pair<std::string_view, long> split_host_port(std::string_view entry) {
    if (!entry.empty() && entry.front() == '[') {
        const std::size_t close = entry.find(']');
        if (close == std::string_view::npos) return {entry, -1};
        const std::string_view rest = entry.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return {entry, -1};
        return {entry.substr(1, close - 1), rest.empty() ? 0 : entry_port(rest.substr(1))};
    }
    const std::size_t colon = entry.find(':');
    if (colon == std::string_view::npos || entry.find(':', colon + 1) != std::string_view::npos)
        return {entry, 0};
    return {entry.substr(0, colon), entry_port(entry.substr(colon + 1))};
}

// "10.0.0.0/8", "fe80::/10", "[fe80::]/10": true when to's address is in the range.
bool cidr_matches(std::string_view entry, const destination& to) {
    const std::size_t slash = entry.find('/');
    std::string network(entry.substr(0, slash));
    if (network.size() > 2 && network.front() == '[' && network.back() == ']')
        network = network.substr(1, network.size() - 2);
    std::size_t bits = 0;
    for (const char c : entry.substr(slash + 1)) {
        if (c < '0' || c > '9' || bits > 128) return false;
        bits = bits * 10 + static_cast<std::size_t>(c - '0');
    }
    return slash + 1 < entry.size() && same_prefix(to.ip, parse_ip(network), bits);
}

// A host name rule matches the name itself and every name under it, case-insensitively; a
// leading "." or "*." changes nothing (curl reads ".example.com" as "example.com" too).
bool name_matches(std::string_view rule, std::string_view name) {
    if (rule.substr(0, 2) == "*.") rule.remove_prefix(1);
    if (!rule.empty() && rule.front() == '.') rule.remove_prefix(1);
    if (!rule.empty() && rule.back() == '.') rule.remove_suffix(1);
    if (rule.empty() || name.empty() || rule.size() > name.size()) return false;
    const std::size_t start = name.size() - rule.size();
    return core::iequals(name.substr(start), rule) && (start == 0 || name[start - 1] == '.');
}

// One entry of no_proxy, without the separators around it.
bool entry_matches(std::string_view entry, const destination& to) {
    if (entry == "*") return true;
    if (entry.find('/') != std::string_view::npos) return cidr_matches(entry, to);
    const auto [host, port] = split_host_port(entry);
    if (port < 0 || (port > 0 && port != to.port)) return false;
    const ip_address ip = parse_ip(std::string(host));
    if (ip.size != 0) return same_prefix(to.ip, ip, ip.size * 8);
    return name_matches(host, to.name);
}

// True when no_proxy (comma- or blank-separated entries, as curl reads them) says to reach
// target directly.
bool bypasses_proxy(const core::uri& target, std::string_view no_proxy) {
    destination to{{}, parse_ip(target.host), target.port};
    if (to.ip.size == 0) {
        to.name = target.host;
        if (!to.name.empty() && to.name.back() == '.') to.name.pop_back();
    }
    std::size_t pos = 0;
    while (pos < no_proxy.size()) {
        const std::size_t end = std::min(no_proxy.find_first_of(", \t", pos), no_proxy.size());
        if (end > pos && entry_matches(no_proxy.substr(pos, end - pos), to)) return true;
        pos = end + 1;
    }
    return false;
}

// ------------------------------------------------------------------ proxy URLs

[[noreturn]] void bad_proxy_url(const std::string& source, const std::string& what) {
    throw invalid_uri("cannot use the proxy " + source + ": " + what);
}

// Parses "http://[user:password@]host[:port][/]" or the same without "http://"; source names
// where it came from in errors. The URI parser of the core checks the authority: the proxy
// URL is read as a ws:// URI, whose default port (80) is also http's.
proxy_server parse_proxy_url(std::string_view text, const std::string& source) {
    for (const char c : text)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F)
            bad_proxy_url(source, "the URL holds white space or a control character");
    std::string_view rest = text;
    const std::size_t separator = text.find("://");
    // Only letters, digits, '+', '-' and '.' make a scheme (RFC 3986 §3.1); this keeps a
    // "://" inside a password out of the error messages below.
    const bool has_scheme = separator != std::string_view::npos && separator > 0 &&
                            std::all_of(text.begin(), text.begin() + separator, [](char c) {
                                return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
                            });
    if (has_scheme) {
        const std::string_view scheme = text.substr(0, separator);
        if (core::iequals(scheme, "https"))
            bad_proxy_url(source, "https:// proxies (TLS to the proxy itself) are not supported; use an "
                                  "http:// proxy (wss:// still runs TLS end to end inside the tunnel)");
        if (!core::iequals(scheme, "http"))
            bad_proxy_url(source, "unsupported proxy scheme '" + std::string(scheme) +
                                      "': only http:// proxies are supported");
        rest = text.substr(separator + 3);
    }
    core::uri parsed;
    try {
        parsed = core::parse_uri("ws://" + std::string(rest));
    } catch (const invalid_uri& e) {
        std::string what = e.what();
        const std::string_view prefix = "invalid WebSocket URI: ";
        if (what.compare(0, prefix.size(), prefix) == 0) what.erase(0, prefix.size());
        bad_proxy_url(source, what);
    }
    if (parsed.username().find(':') != std::string::npos)
        bad_proxy_url(source, "the user name contains ':', which Basic authentication cannot carry");
    proxy_server proxy;
    proxy.host = parsed.host;
    proxy.port = parsed.port;
    proxy.user_info = parsed.user_info;
    proxy.url = "http://" + authority(proxy.host, proxy.port);
    return proxy;
}

// The first of names that is set, and which one it was.
std::optional<std::pair<const char*, std::string>> first_set(const std::vector<const char*>& names,
                                                             const environment& env) {
    for (const char* name : names)
        if (std::optional<std::string> value = env(name)) return std::make_pair(name, std::move(*value));
    return std::nullopt;
}

// ------------------------------------------------------------------ CONNECT

core::http_request connect_request(const proxy_server& proxy, const std::string& target) {
    core::http_request request;
    request.method = "CONNECT";
    request.target = target;
    request.headers.add("Host", target);
    if (!proxy.user_info.empty()) {
        const std::string_view info = proxy.user_info;
        const std::size_t colon = info.find(':');
        const std::string user = core::percent_decode(info.substr(0, colon));
        const std::string password =
            colon == std::string_view::npos ? std::string() : core::percent_decode(info.substr(colon + 1));
        request.headers.add("Proxy-Authorization", "Basic " + core::base64_encode(user + ":" + password));
    }
    return request;
}

// Reads the proxy's answer to CONNECT up to the empty line that ends its head. The core's
// parser would go on to read a body, but a 2xx answer to CONNECT has none: the tunnel starts
// right after the head (RFC 9112 §6.3). So the end of the head is found here and the parser
// is given the head only. extra_bytes counts what came after it.
core::http_response read_connect_response(transport& stream, clock::time_point deadline,
                                          std::size_t& extra_bytes) {
    core::http_response_parser parser;
    std::string received;
    char buffer[4096];
    for (;;) {
        const read_result got = stream.read(buffer, sizeof buffer, deadline);
        if (got.status == read_status::timeout) throw timeout_error("timed out waiting for the answer to CONNECT");
        if (got.status != read_status::data)
            throw error(received.empty() ? "the proxy closed the connection without answering CONNECT"
                                         : "the proxy closed the connection in the middle of its answer to CONNECT");
        const std::size_t fresh = received.size();
        received.append(buffer, got.size);
        const std::size_t blank = received.find("\r\n\r\n", fresh >= 3 ? fresh - 3 : 0);
        const std::size_t head_end = blank == std::string::npos ? received.size() : blank + 4;
        std::size_t consumed = 0;
        if (parser.feed(std::string_view(received).substr(fresh, head_end - fresh), &consumed) ==
            core::parse_status::failed)
            throw error("the answer to CONNECT is not valid HTTP: " + parser.error());
        if (blank != std::string::npos) {
            extra_bytes = received.size() - head_end;
            return std::move(parser.response());
        }
    }
}

// Why the proxy said no, in words, with what to do about it when we can tell.
std::string refusal(const proxy_server& proxy, const std::string& target, const core::http_response& response) {
    const int status = response.status;
    const std::string reason =
        response.reason.empty() ? std::string(core::reason_phrase(status)) : response.reason;
    std::string text = "the proxy " + proxy.url + (status >= 500 ? " could not open a tunnel to " : " refused the tunnel to ") +
                       target + ": " + std::to_string(status) + (reason.empty() ? "" : " " + reason);
    // Some proxies (tinyproxy 1.11) answer wrong credentials with 401 and WWW-Authenticate.
    if (status == 407 || status == 401) {
        text += proxy.user_info.empty()
                    ? " (it wants credentials and none were given: put them in the proxy URL, "
                      "http://user:password@host:port)"
                    : " (it rejected the credentials in the proxy URL)";
        const auto challenges =
            response.headers.get_all(status == 407 ? "Proxy-Authenticate" : "WWW-Authenticate");
        for (std::size_t i = 0; i < challenges.size(); ++i)
            text += (i == 0 ? "; it asks for " : ", ") + std::string(challenges[i]);
    } else if (status == 403) {
        text += " (the proxy does not allow tunnels to this host or port)";
    } else if (status == 405 || status == 501) {
        text += " (the proxy does not support CONNECT tunnels)";
    }
    return text;
}

}  // namespace

std::optional<std::string> process_environment(const char* name) {
    // getenv is safe alongside other getenv calls; setenv at the same time is not (POSIX).
    if (const char* value = std::getenv(name)) return std::string(value);
    return std::nullopt;
}

std::optional<proxy_server> choose_proxy(const core::uri& target, const std::optional<std::string>& configured,
                                         const environment& env) {
    if (configured) {
        if (configured->empty()) return std::nullopt;
        return parse_proxy_url(*configured, "given in client_options::proxy");
    }
    // curl's order. Uppercase HTTP_PROXY is never read: CGI servers put a request's "Proxy:"
    // header into HTTP_PROXY, which would let any client pick our proxy ("httpoxy").
    const auto proxy_variable =
        target.secure ? first_set({"wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}, env)
                      : first_set({"ws_proxy", "WS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"}, env);
    if (!proxy_variable || proxy_variable->second.empty()) return std::nullopt;
    if (const auto no_proxy = first_set({"no_proxy", "NO_PROXY"}, env))
        if (bypasses_proxy(target, no_proxy->second)) return std::nullopt;
    return parse_proxy_url(proxy_variable->second, std::string("from ") + proxy_variable->first);
}

std::unique_ptr<transport> open_tunnel(const proxy_server& proxy, const core::uri& target,
                                       clock::time_point deadline) {
    const std::string destination = authority(target.host, target.port);
    const std::string context = "cannot open a tunnel to " + destination + " through the proxy " + proxy.url + ": ";
    std::unique_ptr<transport> stream;
    core::http_response response;
    std::size_t extra_bytes = 0;
    try {
        stream = open_tcp(proxy.host, proxy.port, deadline);
        stream->write({connect_request(proxy, destination).serialize()}, deadline);
        response = read_connect_response(*stream, deadline, extra_bytes);
    } catch (const timeout_error& e) {
        throw timeout_error(context + e.what());
    } catch (const error& e) {
        throw error(context + e.what());
    }
    if (response.status < 200 || response.status > 299) throw error(refusal(proxy, destination, response));
    // We speak first in the tunnel (the WebSocket request or the TLS ClientHello), so these
    // bytes cannot come from the server: the proxy broke the protocol.
    if (extra_bytes != 0)
        throw error(context + "the proxy sent " + std::to_string(extra_bytes) +
                    " unexpected bytes after its " + std::to_string(response.status) + " answer");
    return stream;
}

}  // namespace syncws::detail

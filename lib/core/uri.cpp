#include "syncws/core/uri.hpp"

#include <cstddef>
#include <string>

#include "syncws/core/error.hpp"

namespace syncws::core {

namespace {

constexpr char hex_upper[] = "0123456789ABCDEF";

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = to_lower(c);
    return out;
}

// Bytes RFC 3986 allows as they are in a path, a query or user info ("pchar" plus "/" and
// "?"; ":" and "@" are pchars). '%' is checked separately as the start of an escape.
bool is_uri_char(char c) noexcept {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
    case '-': case '.': case '_': case '~':                                  // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')':             // sub-delims
    case '*': case '+': case ',': case ';': case '=':
    case ':': case '@': case '/': case '?':
        return true;
    default:
        return false;
    }
}

[[noreturn]] void fail(const std::string& what) {
    throw invalid_uri("invalid WebSocket URI: " + what);
}

std::string describe_byte(unsigned char c) {
    std::string out = "0x";
    out += hex_upper[c >> 4];
    out += hex_upper[c & 0xF];
    return out;
}

// Rejects white space and control characters anywhere, before anything else is looked at:
// they are never valid in a URI and, in a request line, would allow header injection.
void check_no_space_or_control(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == ' ' || c == '\t')
            fail("white space at position " + std::to_string(i) + " (percent-encode it as %" +
                 describe_byte(c).substr(2) + ")");
        if (c < 0x20 || c == 0x7F)
            fail("control character " + describe_byte(c) + " at position " + std::to_string(i));
    }
}

// Appends part to out with valid %XX escapes kept as written, bytes that RFC 3986 does not
// allow here (non-ASCII, and ASCII such as '"' or '{') percent-encoded, so that the result is
// always a valid request target. `where` names the part in error messages.
void append_encoded(std::string& out, std::string_view part, const char* where) {
    for (std::size_t i = 0; i < part.size(); ++i) {
        const char c = part[i];
        if (c == '%') {
            if (i + 2 >= part.size() || hex_value(part[i + 1]) < 0 ||
                hex_value(part[i + 2]) < 0)
                fail(std::string("bad percent escape in the ") + where + ": '%' must be followed "
                     "by two hex digits (write a literal '%' as %25)");
            out.append(part.substr(i, 3));
            i += 2;
        } else if (is_uri_char(c)) {
            out += c;
        } else {
            const auto b = static_cast<unsigned char>(c);
            out += '%';
            out += hex_upper[b >> 4];
            out += hex_upper[b & 0xF];
        }
    }
}

// Parses a dotted quad strictly: four decimal octets 0-255 without leading zeros, which
// resolvers would otherwise read as octal (RFC 3986 §3.2.2 dec-octet).
bool is_ipv4(std::string_view s) noexcept {
    int octets = 0;
    std::size_t i = 0;
    while (true) {
        std::size_t start = i;
        int value = 0;
        while (i < s.size() && is_digit(s[i]) && i - start < 4) value = value * 10 + (s[i++] - '0');
        const std::size_t digits = i - start;
        if (digits == 0 || digits > 3 || value > 255 || (digits > 1 && s[start] == '0'))
            return false;
        ++octets;
        if (i == s.size()) return octets == 4;
        if (s[i] != '.' || octets == 4) return false;
        ++i;
    }
}

// RFC 4291 §2.2 text forms: eight groups of 1-4 hex digits, one "::" standing for one or more
// zero groups, and optionally a dotted quad in place of the last two groups.
bool is_ipv6(std::string_view s) noexcept {
    int groups = 0;
    bool compressed = false;
    std::size_t i = 0;
    if (s.substr(0, 2) == "::") {
        compressed = true;
        i = 2;
        if (i == s.size()) return true;
    } else if (!s.empty() && s[0] == ':') {
        return false;
    }
    while (i < s.size()) {
        std::size_t start = i;
        while (i < s.size() && hex_value(s[i]) >= 0 && i - start < 5) ++i;
        if (i < s.size() && s[i] == '.') {
            // An embedded IPv4 address ends the literal and counts as two groups.
            if (!is_ipv4(s.substr(start))) return false;
            groups += 2;
            break;
        }
        const std::size_t digits = i - start;
        if (digits == 0 || digits > 4) return false;
        ++groups;
        if (i == s.size()) break;
        if (s[i] != ':') return false;
        ++i;
        if (i < s.size() && s[i] == ':') {
            if (compressed) return false;
            compressed = true;
            ++i;
            if (i == s.size()) break;
        } else if (i == s.size()) {
            return false;  // a single trailing ':'
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

bool is_host_name_char(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Validates and normalizes a host that is not in brackets: a dotted quad or a DNS name.
std::string parse_reg_host(std::string_view host) {
    if (host.empty()) fail("empty host");
    bool only_digits_and_dots = true;
    for (char c : host) {
        if (c == ':')
            fail("IPv6 addresses must be enclosed in brackets, as in ws://[::1]:8080/");
        if (c == '%')
            fail("percent-encoded host names are not supported: write the host as plain "
                 "ASCII (punycode for international names)");
        if (!is_host_name_char(c)) {
            const auto b = static_cast<unsigned char>(c);
            fail(b >= 0x80 ? std::string("non-ASCII character in host; use the punycode "
                                         "(xn--) form of international host names")
                           : std::string("invalid character '") + c + "' in host");
        }
        if (!is_digit(c) && c != '.') only_digits_and_dots = false;
    }
    // Anything that looks numeric must be a strict dotted quad: "1.2.3" or "010.0.0.1" mean
    // different hosts to different resolvers.
    if (only_digits_and_dots && !is_ipv4(host))
        fail("invalid IPv4 address '" + std::string(host) +
             "': expected four decimal numbers 0-255 without leading zeros");
    return lowercase(host);
}

std::uint16_t parse_port(std::string_view text) {
    if (text.empty()) fail("empty port after ':'");
    unsigned long value = 0;
    for (char c : text) {
        if (!is_digit(c)) fail("port '" + std::string(text) + "' is not a number");
        if (value <= 65535) value = value * 10 + static_cast<unsigned long>(c - '0');
    }
    if (value == 0 || value > 65535)
        fail("port " + std::string(text) + " is out of range 1-65535");
    return static_cast<std::uint16_t>(value);
}

}  // namespace

bool uri::is_ipv6() const { return host.find(':') != std::string::npos; }

bool uri::has_default_port() const { return port == (secure ? 443 : 80); }

std::string uri::host_header() const {
    std::string out;
    if (is_ipv6()) {
        out = "[" + host + "]";
    } else {
        out = host;
    }
    if (!has_default_port()) out += ":" + std::to_string(port);
    return out;
}

std::string uri::username() const {
    return percent_decode(std::string_view(user_info).substr(0, user_info.find(':')));
}

std::string uri::password() const {
    const std::size_t colon = user_info.find(':');
    if (colon == std::string::npos) return {};
    return percent_decode(std::string_view(user_info).substr(colon + 1));
}

std::string uri::to_string() const {
    std::string out = secure ? "wss://" : "ws://";
    if (!user_info.empty()) out += user_info + "@";
    out += host_header();
    out += resource;
    return out;
}

std::string uri::to_display_string() const {
    return std::string(secure ? "wss://" : "ws://") + host_header() + resource;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        const int high = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
        const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
        if (high < 0 || low < 0)
            throw invalid_uri("bad percent escape at position " + std::to_string(i) +
                              ": '%' must be followed by two hex digits");
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

uri parse_uri(std::string_view text) {
    check_no_space_or_control(text);

    const std::size_t colon = text.find(':');
    const std::size_t first_slash = text.find('/');
    if (colon == std::string_view::npos || colon == 0 ||
        (first_slash != std::string_view::npos && first_slash < colon))
        fail("missing scheme: expected ws://host/ or wss://host/");
    const std::string scheme = lowercase(text.substr(0, colon));
    uri result;
    if (scheme == "wss") {
        result.secure = true;
        result.port = 443;
    } else if (scheme == "ws") {
        result.port = 80;
    } else if (scheme == "http" || scheme == "https") {
        fail("scheme '" + std::string(text.substr(0, colon)) +
             "' is not allowed: WebSocket URIs use ws:// or wss:// (parse_uri does not accept "
             "http/https)");
    } else {
        fail("unsupported scheme '" + std::string(text.substr(0, colon)) +
             "': only ws:// and wss:// are allowed");
    }
    if (text.substr(colon + 1, 2) != "//")
        fail("expected '//' after '" + std::string(text.substr(0, colon)) + ":'");

    // RFC 6455 §3: "Fragment identifiers are meaningless in the context of WebSocket URIs
    // and MUST NOT be used on these URIs."
    if (text.find('#') != std::string_view::npos)
        fail("fragment ('#') is not allowed in WebSocket URIs (RFC 6455 §3); percent-encode a "
             "literal '#' as %23");

    const std::size_t authority_start = colon + 3;
    std::size_t authority_end = text.find_first_of("/?", authority_start);
    if (authority_end == std::string_view::npos) authority_end = text.size();
    std::string_view authority = text.substr(authority_start, authority_end - authority_start);

    const std::size_t at = authority.find('@');
    if (at != std::string_view::npos) {
        if (authority.find('@', at + 1) != std::string_view::npos)
            fail("more than one '@' in the authority; percent-encode an '@' in the user name "
                 "or password as %40");
        append_encoded(result.user_info, authority.substr(0, at), "user info");
        authority.remove_prefix(at + 1);
    }

    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority[0] == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) fail("unclosed '[' in IPv6 host");
        const std::string_view literal = authority.substr(1, close - 1);
        if (literal.empty()) fail("empty IPv6 address in '[]'");
        if (literal.find('%') != std::string_view::npos)
            fail("IPv6 zone identifiers ('%25...') are not supported in WebSocket URIs");
        if (!is_ipv6(literal))
            fail("invalid IPv6 address '" + std::string(literal) + "'");
        result.host = lowercase(literal);
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':')
                fail("unexpected '" + std::string(rest) + "' after ']': expected ':port' or '/'");
            has_port = true;
            port_text = rest.substr(1);
        }
    } else {
        const std::size_t port_colon = authority.find(':');
        std::string_view host = authority.substr(0, port_colon);
        if (port_colon != std::string_view::npos) {
            if (authority.find(':', port_colon + 1) != std::string_view::npos)
                fail("IPv6 addresses must be enclosed in brackets, as in ws://[::1]:8080/");
            has_port = true;
            port_text = authority.substr(port_colon + 1);
        }
        if (host.empty()) fail("empty host");
        result.host = parse_reg_host(host);
    }
    if (has_port) result.port = parse_port(port_text);

    std::string resource;
    const std::string_view rest = text.substr(authority_end);
    if (rest.empty() || rest[0] == '?') resource = "/";
    append_encoded(resource, rest, "path or query");
    result.resource = std::move(resource);
    return result;
}

}  // namespace syncws::core

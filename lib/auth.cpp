#include "syncws/auth.hpp"

#include <openssl/crypto.h>

#include <utility>

#include "syncws/core/base64.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/handshake.hpp"

namespace syncws {

namespace {

using hook = std::function<std::optional<core::http_response>(const core::http_request&)>;

bool is_control(char c) noexcept {
    const auto b = static_cast<unsigned char>(c);
    return b < 0x20 || b == 0x7F;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The realm as an HTTP quoted-string (RFC 9110 §5.6.4): '"' and '\' escaped. A control
// character cannot be written in one at all.
std::string quoted(std::string_view realm) {
    std::string out = "\"";
    for (const char c : realm) {
        if (is_control(c) && c != '\t')
            throw invalid_argument("the realm of basic_auth contains a control character");
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

core::http_response unauthorized(const std::string& challenge, bool had_credentials) {
    core::http_headers headers;
    headers.add("WWW-Authenticate", challenge);
    return core::build_reject_response(401, std::move(headers),
                                       had_credentials ? "invalid credentials\n" : "credentials required\n");
}

}  // namespace

std::optional<basic_credentials> parse_basic_authorization(const core::http_request& request) {
    // Two Authorization fields could be read differently by a proxy in front of us.
    if (request.headers.count("Authorization") != 1) return std::nullopt;
    const std::string_view value = trim(*request.headers.get("Authorization"));
    const std::size_t space = value.find(' ');
    if (space == std::string_view::npos || !core::iequals(value.substr(0, space), "Basic")) return std::nullopt;
    const std::optional<std::string> decoded = core::base64_decode(trim(value.substr(space + 1)));
    if (!decoded) return std::nullopt;
    const std::size_t colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    // RFC 7617 §2: neither part may contain control characters, so none reach a log line.
    for (const char c : *decoded)
        if (is_control(c)) return std::nullopt;
    return basic_credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

bool constant_time_equals(std::string_view a, std::string_view b) noexcept {
    // CRYPTO_memcmp reads every byte whatever it finds, and the optimizer cannot shortcut it.
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

hook basic_auth(std::string realm, credential_check check, hook next) {
    if (!check) throw invalid_argument("basic_auth needs a credential check");
    // Built once, so that a bad realm fails when the server is set up, not per request.
    std::string challenge = "Basic realm=" + quoted(realm) + ", charset=\"UTF-8\"";
    return [challenge = std::move(challenge), check = std::move(check),
            next = std::move(next)](const core::http_request& request) -> std::optional<core::http_response> {
        const std::optional<basic_credentials> credentials = parse_basic_authorization(request);
        if (!credentials || !check(credentials->user, credentials->password))
            return unauthorized(challenge, request.headers.contains("Authorization"));
        if (next) return next(request);
        return std::nullopt;
    };
}

}  // namespace syncws

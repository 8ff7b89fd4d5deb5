#include "redirect.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include "syncws/core/error.hpp"

namespace syncws::detail {

namespace {

bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The parts of a URI reference (RFC 3986 Appendix B). The fragment is dropped: it never
// goes on the wire, and WebSocket URIs cannot have one (RFC 6455 §3).
struct reference {
    std::optional<std::string_view> scheme;
    std::optional<std::string_view> authority;
    std::string_view path;
    std::optional<std::string_view> query;
};

reference split_reference(std::string_view text) {
    reference r;
    text = text.substr(0, text.find('#'));
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && colon != 0 && colon < text.find_first_of("/?")) {
        r.scheme = text.substr(0, colon);
        text.remove_prefix(colon + 1);
    }
    if (text.substr(0, 2) == "//") {
        const std::size_t end = std::min(text.find_first_of("/?", 2), text.size());
        r.authority = text.substr(2, end - 2);
        text.remove_prefix(end);
    }
    const std::size_t question = text.find('?');
    r.path = text.substr(0, question);
    if (question != std::string_view::npos) r.query = text.substr(question + 1);
    return r;
}

// RFC 3986 §5.2.4: resolves "." and ".." segments ("/a/b/../c/./d" -> "/a/c/d").
std::string remove_dot_segments(std::string_view in) {
    std::string out;
    const auto drop_last_segment = [&out] {
        const std::size_t slash = out.rfind('/');
        out.erase(slash == std::string::npos ? 0 : slash);
    };
    while (!in.empty()) {
        if (in.substr(0, 3) == "../") {
            in.remove_prefix(3);
        } else if (in.substr(0, 2) == "./" || in.substr(0, 3) == "/./") {
            in.remove_prefix(2);
        } else if (in == "/.") {
            in = "/";
        } else if (in.substr(0, 4) == "/../") {
            in.remove_prefix(3);
            drop_last_segment();
        } else if (in == "/..") {
            in = "/";
            drop_last_segment();
        } else if (in == "." || in == "..") {
            in = {};
        } else {
            const std::size_t next = std::min(in.find('/', 1), in.size());
            out.append(in.substr(0, next));
            in.remove_prefix(next);
        }
    }
    return out;
}

// The scheme a WebSocket client uses for a Location's scheme: http and https name the same
// server and port as ws and wss (RFC 6455 §3 reuses their ports).
std::string websocket_scheme(std::string_view scheme, const std::string& context) {
    if (core::iequals(scheme, "ws") || core::iequals(scheme, "http")) return "ws";
    if (core::iequals(scheme, "wss") || core::iequals(scheme, "https")) return "wss";
    throw invalid_handshake(context + "its Location has the scheme '" + std::string(scheme) +
                                "', which a WebSocket client cannot follow (ws, wss, http, https)",
                            0);
}

// RFC 3986 §5.2.2: the absolute URI that the reference r names, seen from base. A relative
// reference gets base's host and port but not its user info (keeps_credentials decides).
// context starts the messages of errors.
std::string resolve(const core::uri& base, const reference& r, const std::string& context) {
    const std::string_view base_resource = base.resource;
    const std::size_t base_question = base_resource.find('?');
    const std::string_view base_path = base_resource.substr(0, base_question);

    std::string scheme = base.secure ? "wss" : "ws";
    std::string authority;
    std::string path;
    std::optional<std::string_view> query = r.query;
    if (r.scheme) {
        scheme = websocket_scheme(*r.scheme, context);
        if (!r.authority)
            throw invalid_handshake(context + "its Location has no host after '" + std::string(*r.scheme) + ":'", 0);
    }
    if (r.authority) {
        authority = std::string(*r.authority);
        path = remove_dot_segments(r.path);
    } else {
        authority = (base.is_ipv6() ? "[" + base.host + "]" : base.host) + ":" + std::to_string(base.port);
        if (r.path.empty()) {
            path = std::string(base_path);
            if (!query && base_question != std::string_view::npos) query = base_resource.substr(base_question + 1);
        } else if (r.path.front() == '/') {
            path = remove_dot_segments(r.path);
        } else {  // §5.2.3 merge: the base path up to its last '/', then the reference
            path = remove_dot_segments(std::string(base_path.substr(0, base_path.rfind('/') + 1)) + std::string(r.path));
        }
    }
    return scheme + "://" + authority + path + (query ? "?" + std::string(*query) : "");
}

// Credentials go along only where they were meant to: the same host and port, or the same
// host moving from ws's default port to wss's (the upgrade that Python's requests also
// allows). curl and requests drop them when the host changes.
bool keeps_credentials(const core::uri& from, const core::uri& to) {
    if (from.host != to.host) return false;
    return from.port == to.port || (!from.secure && from.port == 80 && to.secure && to.port == 443);
}

}  // namespace

std::optional<core::uri> redirect_target(const core::uri& from, const core::http_response& response) {
    if (!is_redirect(response.status)) return std::nullopt;
    const std::string context = "cannot follow the " + std::to_string(response.status) + " redirect from " +
                                from.to_display_string() + ": ";
    const auto locations = response.headers.get_all("Location");
    if (locations.empty() || locations.front().empty())
        throw invalid_handshake(context + "the response has no Location", 0);
    if (locations.size() > 1) throw invalid_handshake(context + "the response has more than one Location", 0);

    const reference r = split_reference(locations.front());
    const std::string absolute = resolve(from, r, context);
    core::uri to;
    try {
        to = core::parse_uri(absolute);
    } catch (const invalid_uri& e) {
        // The message of parse_uri never repeats the user info.
        throw invalid_handshake(context + "its Location is not a usable URI: " + e.what(), 0);
    }
    if (from.secure && !to.secure)
        throw invalid_handshake("refusing to follow the " + std::to_string(response.status) + " redirect from " +
                                    from.to_display_string() + " to " + to.to_display_string() +
                                    ": it would downgrade from TLS to an unencrypted connection",
                                0);
    if (to.user_info.empty() && keeps_credentials(from, to)) to.user_info = from.user_info;
    return to;
}

}  // namespace syncws::detail

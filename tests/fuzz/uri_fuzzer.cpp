// Target: the ws:// / wss:// URI parser. Only invalid_uri may be thrown; a parsed URI is
// normalised (lowercase host, port in range, resource starting with '/'), writes back to a
// string that parses to the same URI, and makes an opening request that a server parses
// back to the same target and Host.
//
// Input: the URI text, whole.
#include <exception>
#include <string>

#include "fuzz_support.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/handshake.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/uri.hpp"

using namespace syncws::core;

namespace {

bool same_uri(const uri& a, const uri& b) {
    return a.secure == b.secure && a.host == b.host && a.port == b.port &&
           a.resource == b.resource && a.user_info == b.user_info;
}

void check_parsed(const uri& u) {
    fuzz::check(!u.host.empty(), "empty host");
    for (const char c : u.host) fuzz::check(!(c >= 'A' && c <= 'Z'), "host not lowercase");
    fuzz::check(u.port != 0, "port 0");
    fuzz::check(!u.resource.empty() && u.resource.front() == '/', "resource not absolute",
                u.resource);
    fuzz::check(u.has_default_port() == (u.port == (u.secure ? 443 : 80)), "default port");
    for (const std::string* part : {&u.resource, &u.user_info})
        for (const char c : *part) {
            const auto b = static_cast<unsigned char>(c);
            fuzz::check(b > 0x20 && b < 0x7F && c != '#', "resource or user info not encoded",
                        *part);
        }

    // Written back, it reads the same; so does the form without credentials.
    const uri again = parse_uri(u.to_string());
    fuzz::check(same_uri(again, u), "to_string() does not parse back to the URI", u.to_string());
    uri shown = parse_uri(u.to_display_string());
    fuzz::check(shown.user_info.empty(), "to_display_string() shows credentials");
    shown.user_info = u.user_info;
    fuzz::check(same_uri(shown, u), "to_display_string() changes the URI");

    // The credentials decode: user info keeps only valid escapes.
    std::string user;
    try {
        user = u.username();
        (void)u.password();
    } catch (const std::exception& e) {
        fuzz::check(false, "credentials of a parsed URI do not decode", e.what());
    }

    // The opening request for it is well formed and reads back the same.
    http_request request;
    try {
        request = build_client_request(u, {}, "dGhlIHNhbXBsZSBub25jZQ==");
    } catch (const syncws::invalid_uri& e) {
        // Documented: Basic authentication cannot carry a user name with ':'.
        fuzz::check(user.find(':') != std::string::npos, "request refused", e.what());
        return;
    }
    const std::string text = request.serialize();
    http_request_parser parser(http_limits{1 << 30, 1 << 20, 1 << 30, 0});
    std::size_t used = 0;
    fuzz::check(parser.feed(text, &used) == parse_status::done && used == text.size(),
                "the opening request does not parse", parser.error());
    fuzz::check(parser.request().target == u.resource, "request target differs from resource");
    fuzz::check(parser.request().headers.get("Host") == u.host_header(), "Host differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    uri parsed;
    try {
        parsed = parse_uri(text);
    } catch (const syncws::invalid_uri& e) {
        fuzz::check(std::string_view(e.what()).rfind("invalid WebSocket URI: ", 0) == 0,
                    "error does not say what it is about", e.what());
        return 0;
    } catch (const std::exception& e) {
        fuzz::unexpected_exception("parse_uri", e.what());
    }
    try {
        check_parsed(parsed);
    } catch (const std::exception& e) {
        fuzz::unexpected_exception("a parsed URI's functions", e.what());
    }
    return 0;
}

#include "syncws/core/handshake.hpp"

#include <doctest.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "syncws/core/error.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/uri.hpp"

using namespace syncws::core;
using doctest::Contains;

// Checks that an error message contains part, showing the whole message when it does not.
#define CHECK_SAYS(text, part)                                                    \
    do {                                                                          \
        const std::string said_ = (text);                                         \
        CHECK_MESSAGE(said_.find(part) != std::string::npos, "message: ", said_); \
    } while (false)

namespace {

// RFC 6455 §1.2 and §1.3: the sample nonce and its accept value. Pinned so that request
// bytes can be compared exactly.
constexpr const char* sample_key = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr const char* sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

// The server response of RFC 6455 §1.2, without the subprotocol.
http_response sample_response() {
    http_response response;
    response.status = 101;
    response.reason = "Switching Protocols";
    response.headers.add("Upgrade", "websocket");
    response.headers.add("Connection", "Upgrade");
    response.headers.add("Sec-WebSocket-Accept", sample_accept);
    return response;
}

// The client request of RFC 6455 §1.2.
http_request sample_request() {
    http_request request;
    request.target = "/chat";
    request.headers.add("Host", "server.example.com");
    request.headers.add("Upgrade", "websocket");
    request.headers.add("Connection", "Upgrade");
    request.headers.add("Sec-WebSocket-Key", sample_key);
    request.headers.add("Origin", "http://example.com");
    request.headers.add("Sec-WebSocket-Protocol", "chat, superchat");
    request.headers.add("Sec-WebSocket-Version", "13");
    return request;
}

// The error check_server_response throws, so that a test can look at its message and status.
syncws::invalid_handshake response_error(const http_response& response,
                                         const client_handshake_config& config = {}) {
    try {
        check_server_response(response, sample_key, config);
    } catch (const syncws::invalid_handshake& e) {
        return e;
    }
    FAIL("check_server_response accepted the response");
    return syncws::invalid_handshake("unreachable", 0);
}

// The error check_client_request throws, so that a test can look at its message and status.
syncws::invalid_handshake request_error(const http_request& request,
                                        const server_handshake_config& config = {}) {
    try {
        check_client_request(request, config);
    } catch (const syncws::invalid_handshake& e) {
        return e;
    }
    FAIL("check_client_request accepted the request");
    return syncws::invalid_handshake("unreachable", 0);
}

std::string request_bytes(std::string_view target, const client_handshake_config& config = {}) {
    return build_client_request(parse_uri(target), config, sample_key).serialize();
}

// A list of n distinct elements joined by ", ": about 10 bytes each.
std::string long_list(std::size_t n, std::string_view prefix) {
    std::string value;
    for (std::size_t i = 0; i < n; ++i) {
        if (i) value += ", ";
        value += prefix;
        value += std::to_string(i);
    }
    return value;
}

}  // namespace

TEST_SUITE("RFC 6455 §1.3 accept key") {

TEST_CASE("the accept key of the RFC sample nonce is the one the RFC gives") {
    CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("the accept key depends on the key") {
    CHECK(accept_key("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST_CASE("the accept key hashes the key as sent, without decoding or trimming it") {
    CHECK(accept_key(" dGhlIHNhbXBsZSBub25jZQ==") != sample_accept);
    CHECK(accept_key("dGhlIHNhbXBsZSBub25jZQ") != sample_accept);
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §9.1 extension elements") {

using parameter_list = std::vector<std::pair<std::string, std::optional<std::string>>>;

// The message of the invalid_handshake that parse_extension_element throws, which must have
// status 400 (a server answers a malformed offer with it).
std::string element_error(std::string_view element) {
    try {
        const auto parsed = parse_extension_element(element);
        FAIL("parsed, with name ", parsed.name);
    } catch (const syncws::invalid_handshake& e) {
        CHECK(e.status() == 400);
        return e.what();
    }
    return {};
}

TEST_CASE("an element without parameters is its name") {
    const auto element = parse_extension_element("permessage-deflate");
    CHECK(element.name == "permessage-deflate");
    CHECK(element.parameters.empty());
}

TEST_CASE("parameters are kept in order, with a value or without") {
    const auto element = parse_extension_element(
        "permessage-deflate; client_max_window_bits; server_max_window_bits=10; "
        "server_no_context_takeover");
    CHECK(element.name == "permessage-deflate");
    CHECK(element.parameters == parameter_list{{"client_max_window_bits", std::nullopt},
                                               {"server_max_window_bits", "10"},
                                               {"server_no_context_takeover", std::nullopt}});
}

TEST_CASE("a quoted-string value is unquoted and unescaped") {
    const auto element =
        parse_extension_element("x; a=\"10\"; b=\"say \\\"hi\\\", \\\\ ok\"; c=\"\"");
    CHECK(element.parameters == parameter_list{{"a", "10"}, {"b", "say \"hi\", \\ ok"}, {"c", ""}});
}

TEST_CASE("whitespace around ';' and '=' is not part of names or values") {
    const auto element = parse_extension_element("x ;a = 1 ;\tb\t;  c=\"2\"  ");
    CHECK(element.name == "x");
    CHECK(element.parameters == parameter_list{{"a", "1"}, {"b", std::nullopt}, {"c", "2"}});
}

TEST_CASE("a parameter given twice is kept twice: the extension decides what that means") {
    const auto element = parse_extension_element("x; a; a=1");
    CHECK(element.parameters == parameter_list{{"a", std::nullopt}, {"a", "1"}});
}

TEST_CASE("names and values keep their case") {
    const auto element = parse_extension_element("Permessage-Deflate; Server_Max_Window_Bits=A");
    CHECK(element.name == "Permessage-Deflate");
    CHECK(element.parameters == parameter_list{{"Server_Max_Window_Bits", "A"}});
}

TEST_CASE("a malformed element throws invalid_handshake with status 400, saying what is wrong") {
    CHECK_SAYS(element_error(""), "expected an extension name");
    CHECK_SAYS(element_error(" x"), "expected an extension name");
    CHECK_SAYS(element_error("x;"), "a parameter name");
    CHECK_SAYS(element_error("x; =1"), "a parameter name");
    CHECK_SAYS(element_error("x; a="), "a parameter value");
    CHECK_SAYS(element_error("x; a=\"open"), "unterminated quoted string");
    CHECK_SAYS(element_error("x; a=\"a\\"), "unterminated quoted string");
    CHECK_SAYS(element_error("x; a=\"a\"b"), "';' or the end of the element");
    CHECK_SAYS(element_error("x y"), "';' or the end of the element");
    CHECK_SAYS(element_error("x, y"), "';' or the end of the element");
    CHECK_SAYS(element_error("x; a=1 2"), "';' or the end of the element");
}

TEST_CASE("parse_extension_element accepts exactly what the handshake checks accept") {
    // A request with the element passes check_client_request if and only if it parses.
    for (const char* element : {"x", "x; a", "x; a=1", "x; a=\"1, 2\"", "x;", "x; a=", "x y",
                                "x; a=\"1", "x; a=\"\\\"\"", "x ; a = \"\""}) {
        CAPTURE(element);
        auto request = sample_request();
        request.headers.add("Sec-WebSocket-Extensions", element);
        bool parses = true;
        try {
            parse_extension_element(element);
        } catch (const syncws::invalid_handshake&) {
            parses = false;
        }
        bool checks = true;
        try {
            check_client_request(request, {});
        } catch (const syncws::invalid_handshake&) {
            checks = false;
        }
        CHECK(parses == checks);
    }
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §4.1 client handshake") {

TEST_CASE("the request has the mandatory fields in a fixed order") {
    CHECK(request_bytes("ws://example.com/chat") ==
          "GET /chat HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "\r\n");
}

TEST_CASE("the request carries the resource with its query as written in the URI") {
    CHECK(request_bytes("ws://example.com") ==
          "GET / HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "\r\n");
    const auto request =
        build_client_request(parse_uri("ws://example.com/a%20b/c?x=1&y=%2F"), {}, sample_key);
    CHECK(request.target == "/a%20b/c?x=1&y=%2F");
}

TEST_CASE("the request adds Origin, subprotocols, extensions and extra headers in that order") {
    client_handshake_config config;
    config.origin = "https://example.com";
    config.subprotocols = {"chat", "superchat"};
    config.extension_offers = {"permessage-deflate; client_max_window_bits",
                               "x-custom; mode=\"a, b\""};
    config.extra_headers.add("User-Agent", "syncws/0.1");
    config.extra_headers.add("Cookie", "session=42");
    CHECK(request_bytes("ws://example.com/chat?room=1", config) ==
          "GET /chat?room=1 HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "Origin: https://example.com\r\n"
          "Sec-WebSocket-Protocol: chat, superchat\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, "
          "x-custom; mode=\"a, b\"\r\n"
          "User-Agent: syncws/0.1\r\n"
          "Cookie: session=42\r\n"
          "\r\n");
}

TEST_CASE("the request sends Basic credentials from the URI's user info, percent-decoded") {
    // "alice" / "p@ss:word": RFC 7617 allows a colon in the password.
    CHECK(request_bytes("ws://alice:p%40ss%3Aword@example.com/") ==
          "GET / HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "Authorization: Basic YWxpY2U6cEBzczp3b3Jk\r\n"
          "\r\n");
}

TEST_CASE("Basic credentials come after the extensions and before the extra headers") {
    client_handshake_config config;
    config.origin = "http://example.com";
    config.extension_offers = {"permessage-deflate"};
    config.extra_headers.add("User-Agent", "syncws/0.1");
    CHECK(request_bytes("ws://Aladdin:open%20sesame@example.com/", config) ==
          "GET / HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "Origin: http://example.com\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate\r\n"
          "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
          "User-Agent: syncws/0.1\r\n"
          "\r\n");
}

TEST_CASE("user info without a password sends an empty password") {
    const auto request = build_client_request(parse_uri("ws://alice@example.com/"), {}, sample_key);
    CHECK(request.headers.get("Authorization") == std::string_view("Basic YWxpY2U6"));
}

TEST_CASE("non-ASCII credentials are sent as UTF-8") {
    const auto request = build_client_request(
        parse_uri("ws://j%C3%BCrgen:p%C3%A4ss@example.com/"), {}, sample_key);
    CHECK(request.headers.get("Authorization") == std::string_view("Basic asO8cmdlbjpww6Rzcw=="));
}

TEST_CASE("a user name with a colon is refused because Basic authentication cannot carry it") {
    CHECK_THROWS_WITH_AS(build_client_request(parse_uri("ws://a%3Ab:pw@example.com/"), {},
                                              sample_key),
                         Contains("':'"), syncws::invalid_uri);
}

TEST_CASE("Host names the port only when it is not the scheme's default") {
    auto host = [](std::string_view target) {
        const auto request = build_client_request(parse_uri(target), {}, sample_key);
        CHECK(request.headers.count("Host") == 1);
        return std::string(request.headers.get("Host").value_or("(none)"));
    };
    CHECK(host("ws://example.com/") == "example.com");
    CHECK(host("ws://example.com:80/") == "example.com");
    CHECK(host("ws://example.com:8080/") == "example.com:8080");
    CHECK(host("ws://example.com:443/") == "example.com:443");
    CHECK(host("wss://example.com/") == "example.com");
    CHECK(host("wss://example.com:443/") == "example.com");
    CHECK(host("wss://example.com:80/") == "example.com:80");
}

TEST_CASE("an IPv6 host is written in brackets, with the port when not the default") {
    CHECK(request_bytes("ws://[::1]:9000/x?y=1") ==
          "GET /x?y=1 HTTP/1.1\r\n"
          "Host: [::1]:9000\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "\r\n");
    const auto request =
        build_client_request(parse_uri("wss://[2001:db8::1]/"), {}, sample_key);
    CHECK(request.headers.get("Host") == std::string_view("[2001:db8::1]"));
}

TEST_CASE("an extra header named like a generated one replaces it") {
    client_handshake_config config;
    config.origin = "http://a.example";
    config.extra_headers.add("authorization", "Bearer t0k3n");
    config.extra_headers.add("Origin", "http://b.example");
    CHECK(request_bytes("ws://alice:pw@example.com/", config) ==
          "GET / HTTP/1.1\r\n"
          "Host: example.com\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "authorization: Bearer t0k3n\r\n"
          "Origin: http://b.example\r\n"
          "\r\n");
}

TEST_CASE("an extra header given twice is sent twice") {
    client_handshake_config config;
    config.extra_headers.add("X-Trace", "1");
    config.extra_headers.add("X-Trace", "2");
    const auto request = build_client_request(parse_uri("ws://example.com/"), config, sample_key);
    CHECK(request.headers.get_all("X-Trace") == std::vector<std::string_view>{"1", "2"});
}

TEST_CASE("the request uses the key it is given") {
    const auto request = build_client_request(parse_uri("ws://example.com/"), {},
                                              "x3JJHMbDL1EzLkh9GBhXDw==");
    CHECK(request.headers.get("Sec-WebSocket-Key") ==
          std::string_view("x3JJHMbDL1EzLkh9GBhXDw=="));
}

TEST_CASE("a subprotocol that is not a token is refused before anything is sent") {
    client_handshake_config config;
    config.subprotocols = {"chat, superchat"};
    CHECK_THROWS_WITH_AS(build_client_request(parse_uri("ws://example.com/"), config, sample_key),
                         Contains("\"chat, superchat\""), syncws::invalid_handshake);
    config.subprotocols = {""};
    CHECK_THROWS_AS(build_client_request(parse_uri("ws://example.com/"), config, sample_key),
                    syncws::invalid_handshake);
}

TEST_CASE("a subprotocol offered twice is refused before anything is sent") {
    client_handshake_config config;
    config.subprotocols = {"chat", "superchat", "chat"};
    CHECK_THROWS_WITH_AS(build_client_request(parse_uri("ws://example.com/"), config, sample_key),
                         Contains("twice"), syncws::invalid_handshake);
}

TEST_CASE("an extension offer that is not one well-formed element is refused") {
    client_handshake_config config;
    config.extension_offers = {"a, b"};
    CHECK_THROWS_AS(build_client_request(parse_uri("ws://example.com/"), config, sample_key),
                    syncws::invalid_handshake);
    config.extension_offers = {"permessage-deflate; x=\"unterminated"};
    CHECK_THROWS_AS(build_client_request(parse_uri("ws://example.com/"), config, sample_key),
                    syncws::invalid_handshake);
    config.extension_offers = {""};
    CHECK_THROWS_AS(build_client_request(parse_uri("ws://example.com/"), config, sample_key),
                    syncws::invalid_handshake);
}

TEST_CASE("the RFC sample response is accepted") {
    const auto result = check_server_response(sample_response(), sample_key, {});
    CHECK_FALSE(result.subprotocol.has_value());
    CHECK(result.extensions.empty());
}

TEST_CASE("a status other than 101 throws invalid_status carrying the whole response") {
    http_response response;
    response.status = 403;
    response.reason = "Forbidden";
    response.headers.add("Content-Type", "text/plain");
    response.body = "origin not allowed\n";
    try {
        check_server_response(response, sample_key, {});
        FAIL("a 403 was accepted");
    } catch (const syncws::invalid_status& e) {
        CHECK(e.status() == 403);
        CHECK(e.response().status == 403);
        CHECK(e.response().reason == "Forbidden");
        CHECK(e.response().headers.get("Content-Type") == std::string_view("text/plain"));
        CHECK(e.response().body == "origin not allowed\n");
        CHECK(std::string(e.what()) ==
              "the server rejected the WebSocket handshake with HTTP 403 Forbidden: "
              "origin not allowed");
    }
}

TEST_CASE("invalid_status names a redirect's target and keeps long bodies short") {
    http_response response;
    response.status = 301;
    response.reason = "Moved Permanently";
    response.headers.add("Location", "wss://example.com/new");
    response.body = std::string(10000, 'x');
    const syncws::invalid_status e(response);
    CHECK_SAYS(e.what(), "HTTP 301 Moved Permanently (Location: wss://example.com/new)");
    CHECK(std::string(e.what()).size() < 400);
    CHECK(e.response().body.size() == 10000);
}

TEST_CASE("a 200 response to the upgrade is an invalid status, not a success") {
    auto response = sample_response();
    response.status = 200;
    response.reason = "OK";
    CHECK_THROWS_AS(check_server_response(response, sample_key, {}), syncws::invalid_status);
}

TEST_CASE("a 101 without Upgrade fails") {
    auto response = sample_response();
    response.headers.remove("Upgrade");
    const auto e = response_error(response);
    CHECK_SAYS(e.what(), "no Upgrade header");
    CHECK(e.status() == 0);
}

TEST_CASE("a 101 that upgrades to another protocol fails") {
    auto response = sample_response();
    response.headers.set("Upgrade", "h2c");
    CHECK_SAYS(response_error(response).what(), "Upgrade: h2c");
    response.headers.set("Upgrade", "websocket, h2c");
    CHECK_SAYS(response_error(response).what(), "Upgrade: websocket, h2c");
}

TEST_CASE("Upgrade and Connection tokens are matched case-insensitively") {
    auto response = sample_response();
    response.headers.set("Upgrade", "WebSocket");
    response.headers.set("Connection", "keep-alive, UPGRADE");
    CHECK_NOTHROW(check_server_response(response, sample_key, {}));
}

TEST_CASE("a 101 without Connection: upgrade fails") {
    auto response = sample_response();
    response.headers.set("Connection", "keep-alive");
    CHECK_SAYS(response_error(response).what(), "Connection: keep-alive");
    response.headers.remove("Connection");
    CHECK_SAYS(response_error(response).what(), "no Connection header");
}

TEST_CASE("a 101 without Sec-WebSocket-Accept fails") {
    auto response = sample_response();
    response.headers.remove("Sec-WebSocket-Accept");
    CHECK_SAYS(response_error(response).what(), "no Sec-WebSocket-Accept");
}

TEST_CASE("a 101 with a wrong Sec-WebSocket-Accept fails, naming the expected value") {
    auto response = sample_response();
    response.headers.set("Sec-WebSocket-Accept", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    const std::string what = response_error(response).what();
    CHECK_SAYS(what, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    CHECK_SAYS(what, sample_accept);
}

TEST_CASE("Sec-WebSocket-Accept is compared exactly, not case-insensitively") {
    auto response = sample_response();
    response.headers.set("Sec-WebSocket-Accept", "S3PPLMBITXAQ9KYGZZHZRBK+XOO=");
    response_error(response);
}

TEST_CASE("a 101 with two Sec-WebSocket-Accept fields fails even if one is right") {
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Accept", sample_accept);
    CHECK_SAYS(response_error(response).what(), "2 Sec-WebSocket-Accept");
}

TEST_CASE("the subprotocol the server selected among those offered is returned") {
    client_handshake_config config;
    config.subprotocols = {"chat", "superchat"};
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Protocol", "superchat");
    CHECK(check_server_response(response, sample_key, config).subprotocol == "superchat");
}

TEST_CASE("a server may select no subprotocol even when some were offered") {
    client_handshake_config config;
    config.subprotocols = {"chat"};
    CHECK_FALSE(check_server_response(sample_response(), sample_key, config).subprotocol);
}

TEST_CASE("a subprotocol that was not offered fails") {
    client_handshake_config config;
    config.subprotocols = {"chat", "superchat"};
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Protocol", "Chat");
    const std::string what = response_error(response, config).what();
    CHECK_SAYS(what, "\"Chat\"");
    CHECK_SAYS(what, "chat, superchat");
}

TEST_CASE("a subprotocol when none was offered fails") {
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Protocol", "chat");
    CHECK_SAYS(response_error(response).what(), "offered none");
}

TEST_CASE("two subprotocols in one field fail") {
    client_handshake_config config;
    config.subprotocols = {"chat", "superchat"};
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Protocol", "chat, superchat");
    CHECK_SAYS(response_error(response, config).what(), "several subprotocols");
}

TEST_CASE("two subprotocol fields fail even when they name the same subprotocol") {
    client_handshake_config config;
    config.subprotocols = {"chat"};
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Protocol", "chat");
    response.headers.add("Sec-WebSocket-Protocol", "chat");
    CHECK_SAYS(response_error(response, config).what(), "several subprotocols");
}

TEST_CASE("accepted extensions are returned element by element across fields, in order") {
    client_handshake_config config;
    config.extension_offers = {"permessage-deflate; client_max_window_bits", "x-custom"};
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Extensions",
                         "permessage-deflate ; server_no_context_takeover, x-custom; q=\"a,b\"");
    response.headers.add("Sec-WebSocket-Extensions", " x-custom ");
    CHECK(check_server_response(response, sample_key, config).extensions ==
          std::vector<std::string>{"permessage-deflate ; server_no_context_takeover",
                                   "x-custom; q=\"a,b\"", "x-custom"});
}

TEST_CASE("an extension whose name was not offered fails") {
    client_handshake_config config;
    config.extension_offers = {"permessage-deflate"};
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Extensions", "permessage-deflate, x-webkit-deflate-frame");
    CHECK_SAYS(response_error(response, config).what(), "\"x-webkit-deflate-frame\"");
}

TEST_CASE("an extension when none was offered fails") {
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Extensions", "permessage-deflate");
    CHECK_SAYS(response_error(response).what(), "offered none");
}

TEST_CASE("an extension name is matched exactly, not as a prefix of an offered one") {
    client_handshake_config config;
    config.extension_offers = {"permessage-deflate"};
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Extensions", "permessage");
    response_error(response, config);
}

TEST_CASE("a malformed Sec-WebSocket-Extensions field fails") {
    client_handshake_config config;
    config.extension_offers = {"permessage-deflate"};
    for (const char* value : {"permessage-deflate; x=\"open", "permessage-deflate;",
                              "; x", "permessage-deflate; =1", "permessage-deflate x",
                              "permessage-deflate; x=", "permessage-deflate; x=\"a\"b",
                              "permessage-deflate; x=\"a\\"}) {
        CAPTURE(value);
        auto response = sample_response();
        response.headers.add("Sec-WebSocket-Extensions", value);
        CHECK_SAYS(response_error(response, config).what(), "Sec-WebSocket-Extensions");
    }
}

TEST_CASE("a huge Sec-WebSocket-Extensions value is checked in linear time") {
    // 1 MiB of offered elements: a quadratic split would run for minutes.
    client_handshake_config config;
    config.extension_offers = {"x"};
    std::string value;
    while (value.size() < (1u << 20)) value += "x; a=\"q,\\\"\", ";
    value += "x";
    auto response = sample_response();
    response.headers.add("Sec-WebSocket-Extensions", value);
    const auto result = check_server_response(response, sample_key, config);
    CHECK(result.extensions.size() > 50000);
    CHECK(result.extensions.front() == "x; a=\"q,\\\"\"");
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §4.2 server handshake") {

TEST_CASE("the RFC sample request is accepted and its offers are returned") {
    const auto result = check_client_request(sample_request(), {});
    CHECK(result.key == sample_key);
    CHECK(result.subprotocols == std::vector<std::string>{"chat", "superchat"});
    CHECK(result.extension_offers.empty());
    CHECK(result.origin == "http://example.com");
}

TEST_CASE("a request built by the client passes the server's checks") {
    client_handshake_config client;
    client.origin = "https://example.com";
    client.subprotocols = {"chat"};
    client.extension_offers = {"permessage-deflate; client_max_window_bits"};
    const auto request = build_client_request(parse_uri("ws://example.com:8080/x"), client,
                                              sample_key);
    const auto result = check_client_request(request, {});
    CHECK(result.subprotocols == client.subprotocols);
    CHECK(result.extension_offers == client.extension_offers);
    CHECK(result.origin == client.origin);

    const auto response = build_accept_response(result.key, std::string("chat"),
                                                result.extension_offers);
    const auto checked = check_server_response(response, sample_key, client);
    CHECK(checked.subprotocol == "chat");
    CHECK(checked.extensions == client.extension_offers);
}

TEST_CASE("a method other than GET gets 405") {
    auto request = sample_request();
    request.method = "POST";
    const auto e = request_error(request);
    CHECK(e.status() == 405);
    CHECK_SAYS(e.what(), "POST");
}

TEST_CASE("HTTP/1.0 gets 505") {
    auto request = sample_request();
    request.version = "HTTP/1.0";
    const auto e = request_error(request);
    CHECK(e.status() == 505);
    CHECK_SAYS(e.what(), "HTTP/1.0");
}

TEST_CASE("HTTP versions after 1.1 are accepted") {
    auto request = sample_request();
    request.version = "HTTP/1.2";
    CHECK_NOTHROW(check_client_request(request, {}));
}

TEST_CASE("a request without Host gets 400") {
    auto request = sample_request();
    request.headers.remove("Host");
    const auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "Host");
}

TEST_CASE("a request with two Host fields gets 400") {
    auto request = sample_request();
    request.headers.add("Host", "evil.example");
    const auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "2 Host");
}

TEST_CASE("a plain GET without Upgrade gets 426 explaining that it needs a WebSocket client") {
    auto request = sample_request();
    request.headers.remove("Upgrade");
    const auto e = request_error(request);
    CHECK(e.status() == 426);
    CHECK_SAYS(e.what(), "expects a WebSocket upgrade");
    CHECK_SAYS(e.what(), "a browser cannot open ws:// URLs as pages");
}

TEST_CASE("an Upgrade to another protocol gets 426") {
    auto request = sample_request();
    request.headers.set("Upgrade", "h2c");
    const auto e = request_error(request);
    CHECK(e.status() == 426);
    CHECK_SAYS(e.what(), "Upgrade: h2c");
}

TEST_CASE("Upgrade may list websocket among other protocols, in any case") {
    auto request = sample_request();
    request.headers.set("Upgrade", "h2c, WebSocket");
    request.headers.set("Connection", "keep-alive, upgrade");
    CHECK_NOTHROW(check_client_request(request, {}));
}

TEST_CASE("a request without the upgrade token in Connection gets 426") {
    auto request = sample_request();
    request.headers.set("Connection", "keep-alive");
    const auto e = request_error(request);
    CHECK(e.status() == 426);
    CHECK_SAYS(e.what(), "Connection: keep-alive");
    request.headers.remove("Connection");
    CHECK(request_error(request).status() == 426);
}

TEST_CASE("a request without Sec-WebSocket-Version gets 426") {
    auto request = sample_request();
    request.headers.remove("Sec-WebSocket-Version");
    const auto e = request_error(request);
    CHECK(e.status() == 426);
    CHECK_SAYS(e.what(), "13");
}

TEST_CASE("a Sec-WebSocket-Version other than exactly 13 gets 426") {
    for (const char* version : {"8", "14", "13, 8", "013"}) {
        CAPTURE(version);
        auto request = sample_request();
        request.headers.set("Sec-WebSocket-Version", version);
        const auto e = request_error(request);
        CHECK(e.status() == 426);
        CHECK_SAYS(e.what(), version);
    }
    auto request = sample_request();
    request.headers.add("Sec-WebSocket-Version", "13");
    CHECK(request_error(request).status() == 426);
}

TEST_CASE("a request without Sec-WebSocket-Key gets 400") {
    auto request = sample_request();
    request.headers.remove("Sec-WebSocket-Key");
    const auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "no Sec-WebSocket-Key");
}

TEST_CASE("a key that decodes to 15 bytes gets 400") {
    auto request = sample_request();
    request.headers.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j");
    const auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "15 bytes");
}

TEST_CASE("a key that decodes to 17 bytes gets 400") {
    auto request = sample_request();
    request.headers.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZSE=");
    const auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "17 bytes");
}

TEST_CASE("a key that is not base64 gets 400") {
    for (const char* key : {"dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=!",
                            "dGhlIHNhbXBs ZSBub25jZQ==", "the sample nonce"}) {
        CAPTURE(key);
        auto request = sample_request();
        request.headers.set("Sec-WebSocket-Key", key);
        const auto e = request_error(request);
        CHECK(e.status() == 400);
        CHECK_SAYS(e.what(), "not base64");
    }
}

TEST_CASE("two keys get 400, as two fields or as one comma-separated field") {
    auto request = sample_request();
    request.headers.add("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==");
    auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "2 Sec-WebSocket-Key");

    request = sample_request();
    request.headers.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==, x3JJHMbDL1EzLkh9GBhXDw==");
    e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "several");
}

TEST_CASE("a request with a body gets 400") {
    auto request = sample_request();
    request.headers.add("Content-Length", "5");
    auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "Content-Length: 5");

    request = sample_request();
    request.headers.add("Transfer-Encoding", "chunked");
    e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "Transfer-Encoding: chunked");
}

TEST_CASE("Content-Length: 0 is not a body, however many zeros it has") {
    for (const char* length : {"0", "000"}) {
        CAPTURE(length);
        auto request = sample_request();
        request.headers.add("Content-Length", length);
        CHECK_NOTHROW(check_client_request(request, {}));
    }
}

TEST_CASE("an Origin outside the allowed list gets 403") {
    server_handshake_config config;
    config.allowed_origins = {"https://example.com", "http://example.org"};
    const auto e = request_error(sample_request(), config);
    CHECK(e.status() == 403);
    CHECK_SAYS(e.what(), "http://example.com");
}

TEST_CASE("an Origin in the allowed list is accepted") {
    server_handshake_config config;
    config.allowed_origins = {"https://example.com", "http://example.com"};
    CHECK(check_client_request(sample_request(), config).origin == "http://example.com");
}

TEST_CASE("a request without Origin gets 403 unless the allowed list holds the empty entry") {
    auto request = sample_request();
    request.headers.remove("Origin");
    server_handshake_config config;
    config.allowed_origins = {"http://example.com"};
    const auto e = request_error(request, config);
    CHECK(e.status() == 403);
    CHECK_SAYS(e.what(), "without an Origin");

    config.allowed_origins.push_back("");
    CHECK_FALSE(check_client_request(request, config).origin.has_value());
}

TEST_CASE("an empty allowed list accepts any Origin and none") {
    CHECK_NOTHROW(check_client_request(sample_request(), {}));
    auto request = sample_request();
    request.headers.remove("Origin");
    CHECK_NOTHROW(check_client_request(request, {}));
}

TEST_CASE("two Origin fields get 400") {
    auto request = sample_request();
    request.headers.add("Origin", "http://example.com");
    const auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "2 Origin");
}

TEST_CASE("subprotocols are gathered from every field and every comma list, in order") {
    auto request = sample_request();
    request.headers.add("Sec-WebSocket-Protocol", "v2.chat ,, mqtt");
    CHECK(check_client_request(request, {}).subprotocols ==
          std::vector<std::string>{"chat", "superchat", "v2.chat", "mqtt"});
}

TEST_CASE("extension offers are split at top-level commas, keeping quoted commas") {
    auto request = sample_request();
    request.headers.add("Sec-WebSocket-Extensions",
                        "permessage-deflate; client_max_window_bits, "
                        "x-custom; list=\"a, b\\\", c\"; flag ,  ,permessage-deflate");
    request.headers.add("Sec-WebSocket-Extensions", "x-other");
    CHECK(check_client_request(request, {}).extension_offers ==
          std::vector<std::string>{"permessage-deflate; client_max_window_bits",
                                   "x-custom; list=\"a, b\\\", c\"; flag",
                                   "permessage-deflate", "x-other"});
}

TEST_CASE("a malformed Sec-WebSocket-Extensions field gets 400") {
    auto request = sample_request();
    request.headers.add("Sec-WebSocket-Extensions", "permessage-deflate; x=\"a, b");
    const auto e = request_error(request);
    CHECK(e.status() == 400);
    CHECK_SAYS(e.what(), "Sec-WebSocket-Extensions");
}

TEST_CASE("checks run in the order of RFC 6455 §4.2.1, so the first problem is reported") {
    http_request request;
    request.method = "PUT";
    request.version = "HTTP/1.0";
    CHECK(request_error(request).status() == 405);
    request.method = "GET";
    CHECK(request_error(request).status() == 505);
    request.version = "HTTP/1.1";
    CHECK(request_error(request).status() == 400);
    request.headers.add("Host", "example.com");
    CHECK(request_error(request).status() == 426);
}

TEST_CASE("a huge Sec-WebSocket-Protocol value is processed in linear time") {
    // About 1 MiB in 100 000 elements: anything quadratic would run for minutes.
    auto request = sample_request();
    request.headers.set("Sec-WebSocket-Protocol", long_list(100000, "proto-"));
    const auto result = check_client_request(request, {});
    CHECK(result.subprotocols.size() == 100000);
    CHECK(select_subprotocol(result.subprotocols, {"chat", "proto-99999"}) == "proto-99999");
}

TEST_CASE("a huge Sec-WebSocket-Extensions value is processed in linear time") {
    auto request = sample_request();
    request.headers.add("Sec-WebSocket-Extensions", long_list(100000, "x-ext; p="));
    CHECK(check_client_request(request, {}).extension_offers.size() == 100000);

    // One quoted string a megabyte long, closed at the very end, and one never closed.
    std::string quoted = "x; p=\"" + std::string(1 << 20, ',') + "\"";
    request = sample_request();
    request.headers.add("Sec-WebSocket-Extensions", quoted);
    CHECK(check_client_request(request, {}).extension_offers.size() == 1);
    quoted.pop_back();
    request = sample_request();
    request.headers.add("Sec-WebSocket-Extensions", quoted);
    const auto e = request_error(request);
    CHECK(std::string(e.what()).size() < 1000);
}

TEST_CASE("select_subprotocol picks the server's favourite among those offered") {
    CHECK(select_subprotocol({"chat", "superchat"}, {"superchat", "chat"}) == "superchat");
    CHECK(select_subprotocol({"chat", "superchat"}, {"mqtt", "chat"}) == "chat");
}

TEST_CASE("select_subprotocol picks none when nothing matches exactly") {
    CHECK_FALSE(select_subprotocol({"Chat"}, {"chat"}).has_value());
    CHECK_FALSE(select_subprotocol({}, {"chat"}).has_value());
    CHECK_FALSE(select_subprotocol({"chat"}, {}).has_value());
}

TEST_CASE("the accept response carries the accept key, the subprotocol and the extensions") {
    CHECK(build_accept_response(sample_key, std::string("chat"),
                                {"permessage-deflate; server_no_context_takeover", "x-custom"})
              .serialize() ==
          "HTTP/1.1 101 Switching Protocols\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          "Sec-WebSocket-Protocol: chat\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover, x-custom\r\n"
          "\r\n");
}

TEST_CASE("the accept response without subprotocol or extensions has neither field") {
    CHECK(build_accept_response(sample_key, std::nullopt, {}).serialize() ==
          "HTTP/1.1 101 Switching Protocols\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          "\r\n");
}

TEST_CASE("a reject response closes the connection and describes its plain-text body") {
    http_headers headers;
    headers.add("WWW-Authenticate", "Basic realm=\"chat\"");
    CHECK(build_reject_response(401, headers, "log in first\n").serialize() ==
          "HTTP/1.1 401 Unauthorized\r\n"
          "WWW-Authenticate: Basic realm=\"chat\"\r\n"
          "Connection: close\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 13\r\n"
          "\r\n"
          "log in first\n");
}

TEST_CASE("a reject response keeps a given Content-Type and sets Content-Length from the body") {
    http_headers headers;
    headers.add("Content-Type", "text/html");
    headers.add("Content-Length", "999");
    const auto response = build_reject_response(404, headers, "<p>no</p>");
    CHECK(response.headers.get_all("Content-Type") == std::vector<std::string_view>{"text/html"});
    CHECK(response.headers.get_all("Content-Length") == std::vector<std::string_view>{"9"});
}

TEST_CASE("a reject response without a body says Content-Length: 0 and has no Content-Type") {
    CHECK(build_reject_response(503, {}, "").serialize() ==
          "HTTP/1.1 503 Service Unavailable\r\n"
          "Connection: close\r\n"
          "Content-Length: 0\r\n"
          "\r\n");
}

TEST_CASE("a reject response adds close to the connection options it is given") {
    http_headers headers;
    headers.add("Connection", "Upgrade");
    auto response = build_reject_response(400, headers, "");
    CHECK(response.headers.get_all("Connection") == std::vector<std::string_view>{"Upgrade, close"});
    headers.set("Connection", "Close");
    response = build_reject_response(400, headers, "");
    CHECK(response.headers.get_all("Connection") == std::vector<std::string_view>{"Close"});
}

TEST_CASE("a 204 or 304 reject response has no Content-Length and cannot take a body") {
    CHECK_FALSE(build_reject_response(204, {}, "").headers.contains("Content-Length"));
    CHECK_FALSE(build_reject_response(304, {}, "").headers.contains("Content-Length"));
    CHECK_THROWS_AS(build_reject_response(204, {}, "x"), syncws::error);
}

TEST_CASE("the error response for 426 names the protocol and version the server expects") {
    auto request = sample_request();
    request.headers.set("Sec-WebSocket-Version", "8");
    const auto response = build_error_response(request_error(request));
    CHECK(response.status == 426);
    CHECK(response.reason == "Upgrade Required");
    CHECK(response.headers.get("Upgrade") == std::string_view("websocket"));
    CHECK(response.headers.get("Sec-WebSocket-Version") == std::string_view("13"));
    CHECK(response.headers.has_token("Connection", "upgrade"));
    CHECK(response.headers.has_token("Connection", "close"));
    CHECK(response.headers.get("Content-Type") ==
          std::string_view("text/plain; charset=utf-8"));
    CHECK(response.body == std::string(request_error(request).what()) + "\n");
}

TEST_CASE("the error response for 405 says which method is allowed") {
    auto request = sample_request();
    request.method = "POST";
    const auto response = build_error_response(request_error(request));
    CHECK(response.status == 405);
    CHECK(response.headers.get("Allow") == std::string_view("GET"));
    CHECK_FALSE(response.headers.contains("Upgrade"));
}

TEST_CASE("the error response for 403 is plain: the message and Connection: close") {
    const auto response = build_error_response(syncws::invalid_handshake("go away", 403));
    CHECK(response.serialize() ==
          "HTTP/1.1 403 Forbidden\r\n"
          "Connection: close\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 8\r\n"
          "\r\n"
          "go away\n");
}

TEST_CASE("the error response for an error without an HTTP error status is a 500") {
    CHECK(build_error_response(syncws::invalid_handshake("client side", 0)).status == 500);
}

}  // TEST_SUITE

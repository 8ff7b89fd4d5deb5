// HTTP Basic authentication (RFC 7617): parsing Authorization headers, the basic_auth hook on
// its own, and end to end: credentials in our client's URI against syncws::server.
#include <doctest.h>

#include <mutex>
#include <string>
#include <vector>

#include "syncws/core/base64.hpp"
#include "syncws/syncws.hpp"

namespace {

syncws::core::http_request request_with(const std::vector<std::string>& authorizations,
                                        const std::string& target = "/") {
    syncws::core::http_request request;
    request.target = target;
    request.headers.add("Host", "localhost");
    for (const auto& value : authorizations) request.headers.add("Authorization", value);
    return request;
}

std::optional<syncws::basic_credentials> parse(const std::string& authorization) {
    return syncws::parse_basic_authorization(request_with({authorization}));
}

std::string basic(const std::string& user_colon_password) {
    return "Basic " + syncws::core::base64_encode(user_colon_password);
}

bool alice_only(std::string_view user, std::string_view password) {
    return syncws::constant_time_equals(user, "alice") && syncws::constant_time_equals(password, "s3cret");
}

void echo(syncws::server_connection& ws) {
    for (auto& m : ws) ws.send(m);
}

/// A server on 127.0.0.1 (OS-chosen port) whose process_request is hook.
syncws::server_options with_hook(
    std::function<std::optional<syncws::core::http_response>(const syncws::core::http_request&)> hook) {
    syncws::server_options options;
    options.host = "127.0.0.1";
    options.process_request = std::move(hook);
    return options;
}

std::string uri(const syncws::server& server, const std::string& user_info, const std::string& path = "/") {
    return "ws://" + (user_info.empty() ? "" : user_info + "@") + "127.0.0.1:" + std::to_string(server.port()) + path;
}

/// The response of a handshake that must fail with invalid_status.
syncws::core::http_response rejection(const std::string& where) {
    try {
        syncws::connect(where);
    } catch (const syncws::invalid_status& e) {
        return e.response();
    }
    FAIL("the handshake succeeded; a rejection was expected");
    return {};
}

}  // namespace

TEST_SUITE("auth: parsing Authorization") {

TEST_CASE("a Basic header gives the user name and password") {
    const auto credentials = parse("Basic YWxpY2U6czNjcmV0");  // alice:s3cret
    REQUIRE(credentials);
    CHECK(credentials->user == "alice");
    CHECK(credentials->password == "s3cret");
}

TEST_CASE("the scheme name is case-insensitive and blanks around the credentials are allowed") {
    for (const char* scheme : {"basic", "BASIC", "bAsIc"}) {
        CAPTURE(scheme);
        const auto credentials = parse(std::string(scheme) + " YWxpY2U6czNjcmV0");
        REQUIRE(credentials);
        CHECK(credentials->user == "alice");
    }
    REQUIRE(parse("Basic    YWxpY2U6czNjcmV0  "));
}

TEST_CASE("another scheme, a missing header or a repeated header give nothing") {
    CHECK_FALSE(parse("Bearer YWxpY2U6czNjcmV0"));
    CHECK_FALSE(parse("Basic"));
    CHECK_FALSE(parse("Basic "));
    CHECK_FALSE(parse("BasicYWxpY2U6czNjcmV0"));
    CHECK_FALSE(syncws::parse_basic_authorization(request_with({})));
    CHECK_FALSE(syncws::parse_basic_authorization(request_with({basic("alice:s3cret"), basic("bob:pw")})));
}

TEST_CASE("bad base64 gives nothing: wrong alphabet, missing padding, embedded blanks") {
    CHECK_FALSE(parse("Basic !!!!"));
    CHECK_FALSE(parse("Basic YWxpY2U6cw"));       // "alice:s" without its "=="
    CHECK_FALSE(parse("Basic YWxp Y2U6czNjcmV0"));
    CHECK_FALSE(parse("Basic YWxpY2U6czNjcmV0,"));
}

TEST_CASE("credentials without ':' give nothing") {
    CHECK_FALSE(parse(basic("alice")));
    CHECK_FALSE(parse(basic("")));
}

TEST_CASE("the user name ends at the first ':', so the password may hold ':' and be empty") {
    auto credentials = parse(basic("alice:pa:ss:"));
    REQUIRE(credentials);
    CHECK(credentials->user == "alice");
    CHECK(credentials->password == "pa:ss:");

    credentials = parse(basic("alice:"));
    REQUIRE(credentials);
    CHECK(credentials->password.empty());

    credentials = parse(basic(":only-a-password"));
    REQUIRE(credentials);
    CHECK(credentials->user.empty());
    CHECK(credentials->password == "only-a-password");
}

TEST_CASE("UTF-8 user names and passwords come back as their bytes") {
    const auto credentials = parse(basic("J\xC3\xB6rg:p\xC3\xA4ss\xE2\x82\xAC"));
    REQUIRE(credentials);
    CHECK(credentials->user == "J\xC3\xB6rg");
    CHECK(credentials->password == "p\xC3\xA4ss\xE2\x82\xAC");
}

TEST_CASE("a control character in the user name or password gives nothing (RFC 7617 section 2)") {
    CHECK_FALSE(parse(basic("al\nice:pw")));
    CHECK_FALSE(parse(basic("alice:p\rw")));
    CHECK_FALSE(parse(basic(std::string("alice:p\0w", 9))));
    CHECK_FALSE(parse(basic("alice:pw\x7F")));
}

}  // TEST_SUITE

TEST_SUITE("auth: constant_time_equals") {

TEST_CASE("equal strings compare equal and any difference, in content or length, does not") {
    CHECK(syncws::constant_time_equals("", ""));
    CHECK(syncws::constant_time_equals("s3cret", "s3cret"));
    CHECK_FALSE(syncws::constant_time_equals("s3cret", "s3creT"));
    CHECK_FALSE(syncws::constant_time_equals("s3cret", "S3cret"));
    CHECK_FALSE(syncws::constant_time_equals("s3cret", "s3cret "));
    CHECK_FALSE(syncws::constant_time_equals("s3cret", ""));
    CHECK(syncws::constant_time_equals(std::string("a\0b", 3), std::string("a\0b", 3)));
    CHECK_FALSE(syncws::constant_time_equals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

}  // TEST_SUITE

TEST_SUITE("auth: the basic_auth hook") {

TEST_CASE("right credentials pass the request on; the check sees them decoded") {
    std::vector<std::pair<std::string, std::string>> seen;
    const auto hook = syncws::basic_auth("chat", [&](std::string_view user, std::string_view password) {
        seen.emplace_back(user, password);
        return alice_only(user, password);
    });
    CHECK_FALSE(hook(request_with({basic("alice:s3cret")})));
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].first == "alice");
    CHECK(seen[0].second == "s3cret");
}

TEST_CASE("missing or wrong credentials get 401 with a Basic challenge, a short body and Connection: close") {
    const auto hook = syncws::basic_auth("chat", alice_only);
    const auto missing = hook(request_with({}));
    REQUIRE(missing);
    CHECK(missing->status == 401);
    CHECK(missing->headers.get("WWW-Authenticate") == "Basic realm=\"chat\", charset=\"UTF-8\"");
    CHECK(missing->headers.has_token("Connection", "close"));
    CHECK(missing->body == "credentials required\n");
    CHECK(missing->headers.get("Content-Length") == std::to_string(missing->body.size()));

    for (const std::string& wrong : {basic("alice:wrong"), basic("mallory:s3cret"), std::string("Basic !!"),
                                     std::string("Bearer token")}) {
        CAPTURE(wrong);
        const auto denied = hook(request_with({wrong}));
        REQUIRE(denied);
        CHECK(denied->status == 401);
        CHECK(denied->headers.get("WWW-Authenticate") == "Basic realm=\"chat\", charset=\"UTF-8\"");
        CHECK(denied->body == "invalid credentials\n");
    }
}

TEST_CASE("quotes and backslashes in the realm are escaped; a control character is refused") {
    const auto hook = syncws::basic_auth("the \"inner\" \\ room", alice_only);
    const auto denied = hook(request_with({}));
    REQUIRE(denied);
    CHECK(denied->headers.get("WWW-Authenticate") ==
          "Basic realm=\"the \\\"inner\\\" \\\\ room\", charset=\"UTF-8\"");
    CHECK_NOTHROW(denied->serialize());

    CHECK_THROWS_WITH_AS(syncws::basic_auth("bad\r\nSet-Cookie: x=y", alice_only),
                         doctest::Contains("control character"), syncws::invalid_argument);
}

TEST_CASE("basic_auth without a check is refused at once") {
    CHECK_THROWS_AS(syncws::basic_auth("chat", syncws::credential_check()), syncws::invalid_argument);
}

TEST_CASE("next is asked only about requests that passed, and its answer is the hook's") {
    int asked = 0;
    const auto hook = syncws::basic_auth("chat", alice_only,
                                         [&](const syncws::core::http_request& request) -> std::optional<syncws::core::http_response> {
                                             ++asked;
                                             if (request.target != "/admin") return std::nullopt;
                                             return syncws::core::build_reject_response(403, {}, "admins only\n");
                                         });
    CHECK(hook(request_with({}, "/admin"))->status == 401);
    CHECK(asked == 0);
    CHECK_FALSE(hook(request_with({basic("alice:s3cret")}, "/chat")));
    CHECK(hook(request_with({basic("alice:s3cret")}, "/admin"))->status == 403);
    CHECK(asked == 2);
}

}  // TEST_SUITE

TEST_SUITE("auth: end to end") {

TEST_CASE("credentials in the client's URI become Authorization: Basic and the server lets it in") {
    syncws::server server(with_hook(syncws::basic_auth("chat", alice_only)), echo);
    server.start();
    auto client = syncws::connect(uri(server, "alice:s3cret", "/chat"));
    client.send("hello");
    CHECK(client.recv().data == "hello");
}

TEST_CASE("percent-encoded and non-ASCII credentials in the URI reach the check decoded") {
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> seen;
    syncws::server server(with_hook(syncws::basic_auth("chat",
                                                       [&](std::string_view user, std::string_view password) {
                                                           std::lock_guard<std::mutex> lock(mutex);
                                                           seen.emplace_back(user, password);
                                                           return true;
                                                       })),
                          echo);
    server.start();
    // '@' and '/' must be escaped in user info; ':' after the first one belongs to the password;
    // the raw UTF-8 is percent-encoded by the URI parser and decoded again for the header.
    auto client = syncws::connect(uri(server, "b%40b:p%2Fa:ss\xE2\x82\xAC"));
    client.send("in");
    CHECK(client.recv().data == "in");
    std::lock_guard<std::mutex> lock(mutex);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].first == "b@b");
    CHECK(seen[0].second == "p/a:ss\xE2\x82\xAC");
}

TEST_CASE("wrong credentials get invalid_status 401 with the WWW-Authenticate header visible") {
    syncws::server server(with_hook(syncws::basic_auth("chat", alice_only)), echo);
    server.start();
    for (const char* wrong : {"alice:wrong", "bob:s3cret", "alice"}) {
        CAPTURE(wrong);
        const auto response = rejection(uri(server, wrong));
        CHECK(response.status == 401);
        CHECK(response.headers.get("WWW-Authenticate") == "Basic realm=\"chat\", charset=\"UTF-8\"");
        CHECK(response.body == "invalid credentials\n");
    }
}

TEST_CASE("no credentials get invalid_status 401 asking for them") {
    syncws::server server(with_hook(syncws::basic_auth("chat", alice_only)), echo);
    server.start();
    const auto response = rejection(uri(server, ""));
    CHECK(response.status == 401);
    CHECK(response.headers.get("WWW-Authenticate") == "Basic realm=\"chat\", charset=\"UTF-8\"");
    CHECK(response.body == "credentials required\n");
}

TEST_CASE("a chained next hook answers plain HTTP for authenticated requests") {
    const auto admins_only = [](const syncws::core::http_request& request) -> std::optional<syncws::core::http_response> {
        const auto credentials = syncws::parse_basic_authorization(request);
        if (request.target == "/admin" && credentials && credentials->user != "root")
            return syncws::core::build_reject_response(403, {}, "admins only\n");
        return std::nullopt;
    };
    const auto anyone_with_password = [](std::string_view, std::string_view password) {
        return syncws::constant_time_equals(password, "pw");
    };
    syncws::server server(with_hook(syncws::basic_auth("chat", anyone_with_password, admins_only)), echo);
    server.start();

    const auto forbidden = rejection(uri(server, "alice:pw", "/admin"));
    CHECK(forbidden.status == 403);
    CHECK(forbidden.body == "admins only\n");
    CHECK(rejection(uri(server, "root:wrong", "/admin")).status == 401);

    auto root = syncws::connect(uri(server, "root:pw", "/admin"));
    root.send("root");
    CHECK(root.recv().data == "root");
    auto alice = syncws::connect(uri(server, "alice:pw", "/chat"));
    alice.send("alice");
    CHECK(alice.recv().data == "alice");
}

TEST_CASE("an Authorization header in extra_headers replaces the one from the URI") {
    syncws::server server(with_hook(syncws::basic_auth("chat", alice_only)), echo);
    server.start();
    syncws::client_options options;
    options.extra_headers.add("Authorization", basic("alice:s3cret"));
    auto client = syncws::connect(uri(server, "mallory:guess"), options);
    client.send("replaced");
    CHECK(client.recv().data == "replaced");
}

}  // TEST_SUITE

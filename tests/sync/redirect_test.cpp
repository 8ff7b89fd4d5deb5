// Redirects during the opening handshake: redirect_target on its own (every status, every
// form of reference of RFC 3986 §5.4, downgrades, credentials), then end to end with servers
// whose process_request answers 3xx.
#include <doctest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "../../lib/redirect.hpp"
#include "syncws/core/base64.hpp"
#include "syncws/syncws.hpp"

namespace {

using syncws::core::parse_uri;
using syncws::detail::redirect_target;

syncws::core::http_response redirect(int status, const std::vector<std::string>& locations) {
    syncws::core::http_headers headers;
    for (const auto& location : locations) headers.add("Location", location);
    return syncws::core::build_reject_response(status, std::move(headers), "moved\n");
}

syncws::core::http_response redirect(int status, const std::string& location) {
    return redirect(status, std::vector<std::string>{location});
}

/// Where location sends a client that was at from, as a URI string (user info included).
std::string follow(const std::string& from, const std::string& location, int status = 302) {
    const auto to = redirect_target(parse_uri(from), redirect(status, location));
    REQUIRE(to);
    return to->to_string();
}

/// The message of the invalid_handshake (status 0) that following location throws.
std::string refusal(const std::string& from, const std::string& location, int status = 302) {
    try {
        redirect_target(parse_uri(from), redirect(status, location));
    } catch (const syncws::invalid_handshake& e) {
        CHECK(e.status() == 0);
        return e.what();
    }
    FAIL("the redirect was followed; a refusal was expected");
    return {};
}

void echo(syncws::server_connection& ws) {
    for (auto& m : ws) ws.send(m);
}

/// A server on 127.0.0.1 that redirects as its routes say and upgrades everything else. It
/// remembers the Authorization header of every request it saw.
class redirecting_server {
public:
    using route = std::function<std::optional<syncws::core::http_response>(const std::string& target)>;

    explicit redirecting_server(route routes) : routes_(std::move(routes)), server_(options(), echo) {
        server_.start();
    }

    std::string base() const { return "127.0.0.1:" + std::to_string(server_.port()); }
    std::uint16_t port() const { return server_.port(); }
    std::vector<std::string> authorizations() {
        std::lock_guard<std::mutex> lock(mutex_);
        return authorizations_;
    }
    std::vector<std::string> targets() {
        std::lock_guard<std::mutex> lock(mutex_);
        return targets_;
    }

private:
    syncws::server_options options() {
        syncws::server_options o;
        o.host = "127.0.0.1";
        o.process_request = [this](const syncws::core::http_request& request) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                targets_.push_back(request.target);
                authorizations_.emplace_back(request.headers.get("Authorization").value_or(""));
            }
            return routes_(request.target);
        };
        return o;
    }

    route routes_;
    std::mutex mutex_;
    std::vector<std::string> authorizations_;
    std::vector<std::string> targets_;
    syncws::server server_;  // last: it calls process_request, which uses the members above
};

void check_echo(syncws::client_connection& client) {
    client.send("after redirects");
    CHECK(client.recv().data == "after redirects");
}

}  // namespace

TEST_SUITE("redirect: redirect_target") {

TEST_CASE("301, 302, 303, 307 and 308 redirect; other statuses do not") {
    for (int status : {301, 302, 303, 307, 308}) {
        CAPTURE(status);
        CHECK(follow("ws://example.com/a", "ws://other.example/b", status) == "ws://other.example/b");
    }
    for (int status : {200, 300, 304, 305, 400, 401, 404, 500}) {
        CAPTURE(status);
        syncws::core::http_headers headers;
        headers.add("Location", "ws://other.example/b");
        syncws::core::http_response response;
        response.status = status;
        response.headers = headers;
        CHECK_FALSE(redirect_target(parse_uri("ws://example.com/a"), response));
    }
}

TEST_CASE("absolute ws, wss, http and https locations; http means ws and https means wss") {
    CHECK(follow("ws://example.com/", "ws://b.example:81/x?y") == "ws://b.example:81/x?y");
    CHECK(follow("ws://example.com/", "wss://b.example/x") == "wss://b.example/x");
    CHECK(follow("ws://example.com/", "http://b.example/x") == "ws://b.example/x");
    CHECK(follow("ws://example.com/", "https://b.example/x") == "wss://b.example/x");
    CHECK(follow("ws://example.com/", "HTTPS://B.Example:8443") == "wss://b.example:8443/");
    CHECK(follow("wss://example.com/", "https://b.example/x") == "wss://b.example/x");
    CHECK(follow("ws://example.com/", "http://[::1]:9000/v6") == "ws://[::1]:9000/v6");
    const auto to = redirect_target(parse_uri("ws://example.com/"), redirect(301, "https://b.example/x"));
    REQUIRE(to);
    CHECK(to->secure);
    CHECK(to->port == 443);
}

TEST_CASE("scheme-relative and absolute-path references keep the scheme, and the host for a path") {
    CHECK(follow("ws://example.com:8080/a/b", "//other.example:9000/p?q") == "ws://other.example:9000/p?q");
    CHECK(follow("wss://example.com/a/b", "//other.example/p") == "wss://other.example/p");
    CHECK(follow("ws://example.com:8080/a/b?old", "/new?y=2") == "ws://example.com:8080/new?y=2");
    CHECK(follow("wss://example.com/a/b", "/c/./d/../e") == "wss://example.com/c/e");
    CHECK(follow("ws://[::1]:9000/a/b", "c") == "ws://[::1]:9000/a/c");
}

// RFC 3986 §5.4.1 and §5.4.2, with base ws://a/b/c/d;p?q (fragments dropped: WebSocket URIs
// cannot have them).
TEST_CASE("relative references resolve as in RFC 3986 section 5.4") {
    const std::string base = "ws://a/b/c/d;p?q";
    const std::vector<std::pair<std::string, std::string>> cases = {
        // normal examples
        {"g", "ws://a/b/c/g"},
        {"./g", "ws://a/b/c/g"},
        {"g/", "ws://a/b/c/g/"},
        {"/g", "ws://a/g"},
        {"//g", "ws://g/"},
        {"?y", "ws://a/b/c/d;p?y"},
        {"g?y", "ws://a/b/c/g?y"},
        {"#s", "ws://a/b/c/d;p?q"},
        {"g#s", "ws://a/b/c/g"},
        {"g?y#s", "ws://a/b/c/g?y"},
        {";x", "ws://a/b/c/;x"},
        {"g;x", "ws://a/b/c/g;x"},
        {"g;x?y#s", "ws://a/b/c/g;x?y"},
        {".", "ws://a/b/c/"},
        {"./", "ws://a/b/c/"},
        {"..", "ws://a/b/"},
        {"../", "ws://a/b/"},
        {"../g", "ws://a/b/g"},
        {"../..", "ws://a/"},
        {"../../", "ws://a/"},
        {"../../g", "ws://a/g"},
        // abnormal examples
        {"../../../g", "ws://a/g"},
        {"../../../../g", "ws://a/g"},
        {"/./g", "ws://a/g"},
        {"/../g", "ws://a/g"},
        {"g.", "ws://a/b/c/g."},
        {".g", "ws://a/b/c/.g"},
        {"g..", "ws://a/b/c/g.."},
        {"..g", "ws://a/b/c/..g"},
        {"./../g", "ws://a/b/g"},
        {"./g/.", "ws://a/b/c/g/"},
        {"g/./h", "ws://a/b/c/g/h"},
        {"g/../h", "ws://a/b/c/h"},
        {"g;x=1/./y", "ws://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "ws://a/b/c/y"},
        {"g?y/./x", "ws://a/b/c/g?y/./x"},
        {"g?y/../x", "ws://a/b/c/g?y/../x"},
        {"ws:g", ""},  // a scheme without a host: refused (the strict reading of §5.4.2)
    };
    for (const auto& test_case : cases) {
        // Named, not structured bindings: CAPTURE's lambda cannot capture those in C++17.
        const std::string& reference = test_case.first;
        const std::string& expected = test_case.second;
        CAPTURE(reference);
        if (expected.empty()) {
            CHECK(refusal(base, reference).find("no host") != std::string::npos);
        } else {
            CHECK(follow(base, reference) == expected);
        }
    }
}

TEST_CASE("percent escapes are kept and bytes a URI cannot hold are encoded") {
    CHECK(follow("ws://example.com/", "/caf%C3%A9?q=%20") == "ws://example.com/caf%C3%A9?q=%20");
    CHECK(follow("ws://example.com/", "/caf\xC3\xA9") == "ws://example.com/caf%C3%A9");
}

TEST_CASE("a redirect from wss to ws or http is refused, naming both URIs without credentials") {
    const std::string message = refusal("wss://user:secret@example.com/feed", "ws://example.com/feed");
    CHECK(message.find("wss://example.com/feed") != std::string::npos);
    CHECK(message.find("ws://example.com/feed") != std::string::npos);
    CHECK(message.find("downgrade") != std::string::npos);
    CHECK(message.find("secret") == std::string::npos);
    CHECK(refusal("wss://example.com/", "http://example.com/").find("downgrade") != std::string::npos);
    CHECK(refusal("wss://example.com/", "ws://user:pw@other.example/").find("pw") == std::string::npos);
    // A relative reference stays on wss.
    CHECK(follow("wss://example.com/a", "b") == "wss://example.com/b");
}

TEST_CASE("a redirect without a usable Location is refused with a clear message") {
    CHECK(refusal("ws://example.com/", "").find("no Location") != std::string::npos);
    try {
        redirect_target(parse_uri("ws://example.com/"), redirect(302, std::vector<std::string>{}));
        FAIL("followed a redirect without Location");
    } catch (const syncws::invalid_handshake& e) {
        CHECK(std::string(e.what()).find("302 redirect from ws://example.com/: the response has no Location") !=
              std::string::npos);
    }
    try {
        redirect_target(parse_uri("ws://example.com/"), redirect(302, std::vector<std::string>{"/a", "/b"}));
        FAIL("followed a redirect with two Locations");
    } catch (const syncws::invalid_handshake& e) {
        CHECK(std::string(e.what()).find("more than one Location") != std::string::npos);
    }
    CHECK(refusal("ws://example.com/", "ftp://example.com/file").find("'ftp'") != std::string::npos);
    CHECK(refusal("ws://example.com/", "mailto:someone@example.com").find("'mailto'") != std::string::npos);
    CHECK(refusal("ws://example.com/", "ws://exa mple.com/").find("not a usable URI") != std::string::npos);
    CHECK(refusal("ws://example.com/", "ws://example.com:99999/").find("out of range") != std::string::npos);
    CHECK(refusal("ws://example.com/", "http:///path").find("empty host") != std::string::npos);
}

TEST_CASE("credentials go along to the same host and port only, or from ws:80 to wss:443") {
    const std::string from = "ws://user:pw@example.com/a";
    CHECK(follow(from, "/b") == "ws://user:pw@example.com/b");
    CHECK(follow(from, "b?x") == "ws://user:pw@example.com/b?x");
    CHECK(follow(from, "ws://EXAMPLE.com:80/c") == "ws://user:pw@example.com/c");
    CHECK(follow(from, "http://example.com/c") == "ws://user:pw@example.com/c");
    CHECK(follow(from, "wss://example.com/c") == "wss://user:pw@example.com/c");
    CHECK(follow(from, "ws://example.com:8080/c") == "ws://example.com:8080/c");
    CHECK(follow(from, "wss://example.com:8443/c") == "wss://example.com:8443/c");
    CHECK(follow(from, "ws://other.example/c") == "ws://other.example/c");
    CHECK(follow(from, "//sub.example.com/c") == "ws://sub.example.com/c");
    CHECK(follow("ws://user:pw@example.com:8080/a", "wss://example.com:8080/c") == "wss://user:pw@example.com:8080/c");
    // A Location with its own credentials keeps them.
    CHECK(follow(from, "ws://bob:other@other.example/c") == "ws://bob:other@other.example/c");
}

}  // TEST_SUITE

TEST_SUITE("redirect: end to end") {

TEST_CASE("the client follows every redirect status and every form of Location to the echo server") {
    std::atomic<std::uint16_t> port{0};
    redirecting_server server([&](const std::string& target) -> std::optional<syncws::core::http_response> {
        const std::string self = "127.0.0.1:" + std::to_string(port.load());
        if (target == "/301") return redirect(301, "/final");                        // absolute path
        if (target == "/302") return redirect(302, "http://" + self + "/final");     // http://
        if (target == "/303") return redirect(303, "ws://" + self + "/final?from=303");
        if (target == "/dir/307") return redirect(307, "../final");                  // relative path
        if (target == "/308") return redirect(308, "//" + self + "/final");          // scheme-relative
        return std::nullopt;
    });
    port = server.port();
    for (const std::string start : {"/301", "/302", "/303", "/dir/307", "/308"}) {
        CAPTURE(start);
        auto client = syncws::connect("ws://" + server.base() + start);
        CHECK(client.uri().resource.rfind("/final", 0) == 0);
        check_echo(client);
    }
}

TEST_CASE("a chain of 10 redirects is followed and one of 11 fails with too many redirects") {
    redirecting_server server([](const std::string& target) -> std::optional<syncws::core::http_response> {
        const int left = std::stoi(target.substr(1));
        if (left == 0) return std::nullopt;
        return redirect(302, "/" + std::to_string(left - 1));
    });
    auto client = syncws::connect("ws://" + server.base() + "/10");
    CHECK(client.uri().resource == "/0");
    check_echo(client);

    CHECK_THROWS_WITH_AS(syncws::connect("ws://" + server.base() + "/11"),
                         doctest::Contains("too many redirects"), syncws::invalid_handshake);
}

TEST_CASE("with max_redirects = 0 the 3xx is the client's invalid_status") {
    redirecting_server server([](const std::string& target) -> std::optional<syncws::core::http_response> {
        if (target == "/old") return redirect(301, "/new");
        return std::nullopt;
    });
    syncws::client_options options;
    options.max_redirects = 0;
    try {
        syncws::connect("ws://" + server.base() + "/old", options);
        FAIL("the redirect was followed");
    } catch (const syncws::invalid_status& e) {
        CHECK(e.response().status == 301);
        CHECK(e.response().headers.get("Location") == "/new");
    }
    options.max_redirects = 1;
    auto client = syncws::connect("ws://" + server.base() + "/old", options);
    check_echo(client);
}

TEST_CASE("a redirect loop stops at the limit") {
    redirecting_server server([](const std::string& target) -> std::optional<syncws::core::http_response> {
        return redirect(307, target == "/a" ? "/b" : "/a");
    });
    syncws::client_options options;
    options.max_redirects = 4;
    CHECK_THROWS_WITH_AS(syncws::connect("ws://" + server.base() + "/a", options),
                         doctest::Contains("too many redirects: gave up after 4"), syncws::invalid_handshake);
    CHECK(server.targets() == std::vector<std::string>{"/a", "/b", "/a", "/b", "/a"});
}

TEST_CASE("a 3xx without Location is a clear error") {
    redirecting_server server([](const std::string&) -> std::optional<syncws::core::http_response> {
        return syncws::core::build_reject_response(302, {}, "nowhere\n");
    });
    CHECK_THROWS_WITH_AS(syncws::connect("ws://" + server.base() + "/"),
                         doctest::Contains("302 redirect from ws://127.0.0.1:"), syncws::invalid_handshake);
    CHECK_THROWS_WITH_AS(syncws::connect("ws://" + server.base() + "/"), doctest::Contains("no Location"),
                         syncws::invalid_handshake);
}

TEST_CASE("credentials follow a redirect on the same server but not one to another server") {
    redirecting_server other([](const std::string&) { return std::optional<syncws::core::http_response>(); });
    const std::string other_base = other.base();
    redirecting_server first([&](const std::string& target) -> std::optional<syncws::core::http_response> {
        if (target == "/here") return redirect(302, "/there");
        if (target == "/away") return redirect(302, "ws://" + other_base + "/elsewhere");
        return std::nullopt;
    });
    const std::string basic = "Basic " + syncws::core::base64_encode("user:pw");

    auto same = syncws::connect("ws://user:pw@" + first.base() + "/here");
    check_echo(same);
    CHECK(first.authorizations() == std::vector<std::string>{basic, basic});

    auto moved_away = syncws::connect("ws://user:pw@" + first.base() + "/away");
    check_echo(moved_away);
    CHECK(moved_away.uri().user_info.empty());
    CHECK(other.authorizations() == std::vector<std::string>{""});
}

}  // TEST_SUITE

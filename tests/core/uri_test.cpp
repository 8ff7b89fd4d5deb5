#include "syncws/core/uri.hpp"

#include <doctest.h>

#include <string>
#include <vector>

#include "syncws/core/error.hpp"

using syncws::core::parse_uri;
using syncws::core::percent_decode;
using syncws::core::uri;

namespace {

struct valid_case {
    std::string input;
    bool secure;
    std::string host;
    std::uint16_t port;
    std::string resource;
    std::string user_info;
    std::string host_header;
    std::string canonical;  // to_string()
};

const std::vector<valid_case>& valid_cases() {
    static const std::vector<valid_case> cases = {
        {"ws://example.com", false, "example.com", 80, "/", "", "example.com",
         "ws://example.com/"},
        {"wss://example.com", true, "example.com", 443, "/", "", "example.com",
         "wss://example.com/"},
        {"ws://example.com/", false, "example.com", 80, "/", "", "example.com",
         "ws://example.com/"},
        {"ws://example.com/chat", false, "example.com", 80, "/chat", "", "example.com",
         "ws://example.com/chat"},
        {"ws://example.com/chat?room=1&x=y", false, "example.com", 80, "/chat?room=1&x=y", "",
         "example.com", "ws://example.com/chat?room=1&x=y"},
        {"ws://example.com?q=1", false, "example.com", 80, "/?q=1", "", "example.com",
         "ws://example.com/?q=1"},
        {"ws://example.com:8080/feed", false, "example.com", 8080, "/feed", "",
         "example.com:8080", "ws://example.com:8080/feed"},
        {"wss://example.com:8443", true, "example.com", 8443, "/", "", "example.com:8443",
         "wss://example.com:8443/"},
        {"ws://example.com:80/", false, "example.com", 80, "/", "", "example.com",
         "ws://example.com/"},
        {"wss://example.com:443/", true, "example.com", 443, "/", "", "example.com",
         "wss://example.com/"},
        {"ws://example.com:443/", false, "example.com", 443, "/", "", "example.com:443",
         "ws://example.com:443/"},
        {"wss://example.com:80/", true, "example.com", 80, "/", "", "example.com:80",
         "wss://example.com:80/"},
        {"ws://h:1", false, "h", 1, "/", "", "h:1", "ws://h:1/"},
        {"ws://h:65535", false, "h", 65535, "/", "", "h:65535", "ws://h:65535/"},
        {"ws://h:00080", false, "h", 80, "/", "", "h", "ws://h/"},
        {"WS://Example.COM/Path", false, "example.com", 80, "/Path", "", "example.com",
         "ws://example.com/Path"},
        {"WsS://EXAMPLE.com", true, "example.com", 443, "/", "", "example.com",
         "wss://example.com/"},
        {"ws://my_host-1.local./x", false, "my_host-1.local.", 80, "/x", "",
         "my_host-1.local.", "ws://my_host-1.local./x"},
        {"ws://localhost", false, "localhost", 80, "/", "", "localhost", "ws://localhost/"},
        {"ws://127.0.0.1:9000/", false, "127.0.0.1", 9000, "/", "", "127.0.0.1:9000",
         "ws://127.0.0.1:9000/"},
        {"ws://0.0.0.0", false, "0.0.0.0", 80, "/", "", "0.0.0.0", "ws://0.0.0.0/"},
        {"ws://255.255.255.255", false, "255.255.255.255", 80, "/", "", "255.255.255.255",
         "ws://255.255.255.255/"},
        {"ws://[::1]", false, "::1", 80, "/", "", "[::1]", "ws://[::1]/"},
        {"ws://[::1]/chat", false, "::1", 80, "/chat", "", "[::1]", "ws://[::1]/chat"},
        {"ws://[2001:db8::1]:8080", false, "2001:db8::1", 8080, "/", "", "[2001:db8::1]:8080",
         "ws://[2001:db8::1]:8080/"},
        {"wss://[2001:DB8::A]:443/x?y", true, "2001:db8::a", 443, "/x?y", "", "[2001:db8::a]",
         "wss://[2001:db8::a]/x?y"},
        {"ws://[::]", false, "::", 80, "/", "", "[::]", "ws://[::]/"},
        {"ws://[1:2:3:4:5:6:7:8]", false, "1:2:3:4:5:6:7:8", 80, "/", "", "[1:2:3:4:5:6:7:8]",
         "ws://[1:2:3:4:5:6:7:8]/"},
        {"ws://[::ffff:192.0.2.1]", false, "::ffff:192.0.2.1", 80, "/", "",
         "[::ffff:192.0.2.1]", "ws://[::ffff:192.0.2.1]/"},
        {"ws://[1::]", false, "1::", 80, "/", "", "[1::]", "ws://[1::]/"},
        {"ws://user:pass@example.com/", false, "example.com", 80, "/", "user:pass",
         "example.com", "ws://user:pass@example.com/"},
        {"wss://user@example.com:8443/a", true, "example.com", 8443, "/a", "user",
         "example.com:8443", "wss://user@example.com:8443/a"},
        {"ws://us%40er:p%3Ass@[::1]:81", false, "::1", 81, "/", "us%40er:p%3Ass", "[::1]:81",
         "ws://us%40er:p%3Ass@[::1]:81/"},
        {"ws://h/a%20b?c=%2F", false, "h", 80, "/a%20b?c=%2F", "", "h",
         "ws://h/a%20b?c=%2F"},
        {"ws://h/%e2%82%ac", false, "h", 80, "/%e2%82%ac", "", "h", "ws://h/%e2%82%ac"},
        {"ws://h/caf\xc3\xa9?q=\xe2\x82\xac", false, "h", 80, "/caf%C3%A9?q=%E2%82%AC", "",
         "h", "ws://h/caf%C3%A9?q=%E2%82%AC"},
        {"ws://h/a\"b<c>d{e}f|g\\h^i`j", false, "h", 80,
         "/a%22b%3Cc%3Ed%7Be%7Df%7Cg%5Ch%5Ei%60j", "", "h",
         "ws://h/a%22b%3Cc%3Ed%7Be%7Df%7Cg%5Ch%5Ei%60j"},
        {"ws://h/a:b@c!$&'()*+,;=-._~?/?", false, "h", 80, "/a:b@c!$&'()*+,;=-._~?/?", "", "h",
         "ws://h/a:b@c!$&'()*+,;=-._~?/?"},
        {"ws://h?", false, "h", 80, "/?", "", "h", "ws://h/?"},
    };
    return cases;
}

struct invalid_case {
    std::string input;
    std::string message_part;  // the message must name the problem
};

const std::vector<invalid_case>& invalid_cases() {
    static const std::vector<invalid_case> cases = {
        {"", "scheme"},
        {"example.com/chat", "missing scheme"},
        {"//example.com", "missing scheme"},
        {"://example.com", "missing scheme"},
        {"http://example.com", "'http' is not allowed"},
        {"https://example.com", "'https' is not allowed"},
        {"HTTP://example.com", "http/https"},
        {"ftp://example.com", "only ws:// and wss://"},
        {"ws:example.com", "'//'"},
        {"ws:/example.com", "'//'"},
        {"wss:", "'//'"},
        {"ws://", "empty host"},
        {"ws:///chat", "empty host"},
        {"ws://:80/", "empty host"},
        {"ws://user@/", "empty host"},
        {"ws://?q", "empty host"},
        {"ws://[]/", "empty IPv6"},
        {"ws://h:/", "empty port"},
        {"ws://h:", "empty port"},
        {"ws://h:abc/", "port 'abc' is not a number"},
        {"ws://h:8o/", "not a number"},
        {"ws://h:-1/", "not a number"},
        {"ws://h:+80/", "not a number"},
        {"ws://h:0/", "out of range"},
        {"ws://h:65536/", "out of range"},
        {"ws://h:99999999999999999999999/", "out of range"},
        {"ws://h/chat#frag", "fragment"},
        {"ws://h#", "fragment"},
        {"wss://h/?q=1#x", "RFC 6455"},
        {"ws://h/a b", "white space"},
        {" ws://h/", "white space"},
        {"ws://h/\t", "white space"},
        {"ws://h/\r\nX: y", "control character"},
        {std::string("ws://h/a\0b", 10), "control character"},
        {"ws://h/\x7f", "control character"},
        {"ws://h/%", "percent"},
        {"ws://h/%4", "percent"},
        {"ws://h/%zz", "percent"},
        {"ws://h/?q=%g1", "percent"},
        {"ws://us%er@h/", "percent"},
        {"ws://[::1/", "unclosed '['"},
        {"ws://[::1", "unclosed '['"},
        {"ws://[::1]x/", "after ']'"},
        {"ws://[::1]:/", "empty port"},
        {"ws://[fe80::1%25eth0]/", "zone"},
        {"ws://[1:2:3:4:5:6:7:8:9]/", "IPv6"},
        {"ws://[1::2::3]/", "IPv6"},
        {"ws://[12345::]/", "IPv6"},
        {"ws://[g::]/", "IPv6"},
        {"ws://[v1.x]/", "IPv6"},
        {"ws://[1:2:3:4:5:6:7]/", "IPv6"},
        {"ws://[::1.2.3.4.5]/", "IPv6"},
        {"ws://[:1]/", "IPv6"},
        {"ws://[1:]/", "IPv6"},
        {"ws://::1/", "brackets"},
        {"ws://h:80:80/", "brackets"},
        {"ws://a@b@h/", "'@'"},
        {"ws://ex[ample.com/", "host"},
        {"ws://exa%41mple.com/", "host"},
        {"ws://ex\xc3\xa9.com/", "host"},
        {"ws://256.0.0.1/", "IPv4"},
        {"ws://1.2.3/", "IPv4"},
        {"ws://010.0.0.1/", "IPv4"},
        {"ws://1.2.3.4.5/", "IPv4"},
    };
    return cases;
}

}  // namespace

TEST_SUITE("RFC 6455 §3 URIs") {

TEST_CASE("every valid ws and wss URI parses into its scheme, host, port, resource and user info") {
    for (const auto& c : valid_cases()) {
        CAPTURE(c.input);
        const uri u = parse_uri(c.input);
        CHECK(u.secure == c.secure);
        CHECK(u.host == c.host);
        CHECK(u.port == c.port);
        CHECK(u.resource == c.resource);
        CHECK(u.user_info == c.user_info);
        CHECK(u.host_header() == c.host_header);
        CHECK(u.to_string() == c.canonical);
    }
}

TEST_CASE("to_string output parses back into the same URI") {
    for (const auto& c : valid_cases()) {
        CAPTURE(c.input);
        const uri u = parse_uri(c.input);
        const uri again = parse_uri(u.to_string());
        CHECK(again.secure == u.secure);
        CHECK(again.host == u.host);
        CHECK(again.port == u.port);
        CHECK(again.resource == u.resource);
        CHECK(again.user_info == u.user_info);
        CHECK(again.to_string() == u.to_string());
    }
}

TEST_CASE("every malformed URI throws invalid_uri whose message names the problem") {
    for (const auto& c : invalid_cases()) {
        CAPTURE(c.input);
        std::string message;
        try {
            parse_uri(c.input);
            FAIL_CHECK("no exception for a malformed URI");
            continue;
        } catch (const syncws::invalid_uri& e) {
            message = e.what();
        }
        CAPTURE(message);
        CHECK(message.find(c.message_part) != std::string::npos);
    }
}

TEST_CASE("invalid_uri is a syncws::error so one catch clause is enough") {
    CHECK_THROWS_AS(parse_uri("http://example.com"), syncws::error);
}

TEST_CASE("the message for a rejected http scheme says which schemes are allowed") {
    try {
        parse_uri("https://example.com/");
        FAIL("no exception");
    } catch (const syncws::invalid_uri& e) {
        const std::string message = e.what();
        CHECK(message.find("ws://") != std::string::npos);
        CHECK(message.find("wss://") != std::string::npos);
    }
}

TEST_CASE("is_ipv6 is true only for IPv6 literals") {
    CHECK(parse_uri("ws://[::1]").is_ipv6());
    CHECK_FALSE(parse_uri("ws://127.0.0.1").is_ipv6());
    CHECK_FALSE(parse_uri("ws://example.com").is_ipv6());
}

TEST_CASE("has_default_port compares the port with the default of the scheme") {
    CHECK(parse_uri("ws://h").has_default_port());
    CHECK(parse_uri("wss://h").has_default_port());
    CHECK(parse_uri("ws://h:80").has_default_port());
    CHECK_FALSE(parse_uri("ws://h:443").has_default_port());
    CHECK_FALSE(parse_uri("wss://h:80").has_default_port());
}

TEST_CASE("username and password are percent-decoded from user_info") {
    const uri u = parse_uri("ws://al%20ice:p%40ss%3Aw0rd@h/");
    CHECK(u.user_info == "al%20ice:p%40ss%3Aw0rd");
    CHECK(u.username() == "al ice");
    CHECK(u.password() == "p@ss:w0rd");
}

TEST_CASE("a password is empty when user_info has no colon and may be empty after one") {
    CHECK(parse_uri("ws://bob@h/").username() == "bob");
    CHECK(parse_uri("ws://bob@h/").password().empty());
    CHECK(parse_uri("ws://bob:@h/").password().empty());
    CHECK(parse_uri("ws://:secret@h/").username().empty());
    CHECK(parse_uri("ws://:secret@h/").password() == "secret");
    CHECK(parse_uri("ws://h/").username().empty());
}

TEST_CASE("non-ASCII bytes in user info are percent-encoded and decode back") {
    const uri u = parse_uri("ws://j\xc3\xb6rg:\xe2\x82\xac@h/");
    CHECK(u.user_info == "j%C3%B6rg:%E2%82%AC");
    CHECK(u.username() == "j\xc3\xb6rg");
    CHECK(u.password() == "\xe2\x82\xac");
}

TEST_CASE("host_header brackets IPv6 and adds the port only when it is not the default") {
    uri u;
    u.host = "::1";
    u.port = 80;
    CHECK(u.host_header() == "[::1]");
    u.port = 8080;
    CHECK(u.host_header() == "[::1]:8080");
    u.secure = true;
    u.port = 443;
    CHECK(u.host_header() == "[::1]");
    u.host = "example.com";
    CHECK(u.host_header() == "example.com");
}

TEST_CASE("a default-constructed uri is ws on port 80 with resource /") {
    const uri u;
    CHECK_FALSE(u.secure);
    CHECK(u.port == 80);
    CHECK(u.resource == "/");
    CHECK(u.has_default_port());
}

}  // TEST_SUITE

TEST_SUITE("RFC 3986 §2.1 percent-encoding") {

TEST_CASE("percent_decode turns valid escapes into bytes in either case of hex digit") {
    CHECK(percent_decode("") == "");
    CHECK(percent_decode("abc") == "abc");
    CHECK(percent_decode("%41%42c") == "ABc");
    CHECK(percent_decode("%e2%82%AC") == "\xe2\x82\xac");
    CHECK(percent_decode("%00") == std::string(1, '\0'));
    CHECK(percent_decode("%25") == "%");
    CHECK(percent_decode("a+b") == "a+b");
}

TEST_CASE("percent_decode rejects a percent sign not followed by two hex digits") {
    for (const char* bad : {"%", "%4", "a%", "%G0", "%0g", "%%41"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(percent_decode(bad), syncws::invalid_uri);
    }
}

TEST_CASE("valid escapes in the resource are kept as written, not normalized") {
    CHECK(parse_uri("ws://h/%7e%7E%41").resource == "/%7e%7E%41");
}

}  // TEST_SUITE

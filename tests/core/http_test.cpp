#include "syncws/core/error.hpp"
#include "syncws/core/http.hpp"

#include <doctest.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using syncws::core::http_headers;
using syncws::core::http_limits;
using syncws::core::http_request;
using syncws::core::http_request_parser;
using syncws::core::http_response;
using syncws::core::http_response_parser;
using syncws::core::iequals;
using syncws::core::parse_status;
using syncws::core::reason_phrase;

namespace {

const char* name_of(parse_status s) {
    switch (s) {
    case parse_status::need_more: return "need_more";
    case parse_status::done: return "done";
    case parse_status::failed: return "failed";
    }
    return "?";
}

std::string describe_headers(const http_headers& headers) {
    std::string out;
    for (const auto& [name, value] : headers) out += "[" + name + "|" + value + "]";
    return out;
}

// Everything a parse produced, as one string, so that two runs compare in one CHECK and a
// difference shows up readably.
struct request_outcome {
    parse_status status = parse_status::need_more;
    std::size_t consumed = 0;
    std::string error;
    int error_status = 0;
    http_request request;

    std::string describe() const {
        std::string out = std::string(name_of(status)) + " consumed=" + std::to_string(consumed);
        if (status == parse_status::failed)
            return out + " status=" + std::to_string(error_status) + " error=" + error;
        if (status == parse_status::done)
            out += " " + request.method + " " + request.target + " " + request.version + " " +
                   describe_headers(request.headers);
        return out;
    }
};

struct response_outcome {
    parse_status status = parse_status::need_more;
    std::size_t consumed = 0;
    std::string error;
    http_response response;

    std::string describe() const {
        std::string out = std::string(name_of(status)) + " consumed=" + std::to_string(consumed);
        if (status == parse_status::failed) return out + " error=" + error;
        if (status == parse_status::done)
            out += " " + response.version + " " + std::to_string(response.status) + " " +
                   response.reason + " " + describe_headers(response.headers) +
                   " body=" + response.body;
        return out;
    }
};

// Feeds input cut at the given (increasing) positions and checks the feed() contract on the
// way: need_more consumes everything; once done or failed nothing more is fed.
request_outcome feed_request(std::string_view input, const std::vector<std::size_t>& cuts,
                             const http_limits& limits) {
    http_request_parser parser(limits);
    request_outcome out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t end = i < cuts.size() ? cuts[i] : input.size();
        const std::string_view piece = input.substr(start, end - start);
        std::size_t consumed = piece.size() + 1;
        out.status = parser.feed(piece, &consumed);
        REQUIRE(consumed <= piece.size());
        out.consumed += consumed;
        if (out.status == parse_status::need_more) REQUIRE(consumed == piece.size());
        if (out.status != parse_status::need_more) break;
        start = end;
    }
    if (out.status == parse_status::done) out.request = parser.request();
    if (out.status == parse_status::failed) {
        out.error = parser.error();
        out.error_status = parser.error_status();
    }
    return out;
}

response_outcome feed_response(std::string_view input, const std::vector<std::size_t>& cuts,
                               const http_limits& limits, bool eof) {
    http_response_parser parser(limits);
    response_outcome out;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t end = i < cuts.size() ? cuts[i] : input.size();
        const std::string_view piece = input.substr(start, end - start);
        std::size_t consumed = piece.size() + 1;
        out.status = parser.feed(piece, &consumed);
        REQUIRE(consumed <= piece.size());
        out.consumed += consumed;
        if (out.status == parse_status::need_more) REQUIRE(consumed == piece.size());
        if (out.status != parse_status::need_more) break;
        start = end;
    }
    if (eof && out.status == parse_status::need_more) out.status = parser.feed_eof();
    if (out.status == parse_status::done) out.response = parser.response();
    if (out.status == parse_status::failed) out.error = parser.error();
    return out;
}

std::vector<std::size_t> every_byte(std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < size; ++i) cuts.push_back(i);
    return cuts;
}

// Parses input whole, split in two at every byte position, and one byte at a time, checks
// that every run gives the same outcome, and returns it.
request_outcome parse_request(std::string_view input, const http_limits& limits = {}) {
    const request_outcome whole = feed_request(input, {}, limits);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        CAPTURE(cut);
        CHECK(feed_request(input, {cut}, limits).describe() == whole.describe());
    }
    CHECK(feed_request(input, every_byte(input.size()), limits).describe() == whole.describe());
    return whole;
}

response_outcome parse_response(std::string_view input, bool eof = false,
                                const http_limits& limits = {}) {
    const response_outcome whole = feed_response(input, {}, limits, eof);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
        CAPTURE(cut);
        CHECK(feed_response(input, {cut}, limits, eof).describe() == whole.describe());
    }
    CHECK(feed_response(input, every_byte(input.size()), limits, eof).describe() ==
          whole.describe());
    return whole;
}

bool contains(const std::string& text, std::string_view part) {
    return text.find(part) != std::string::npos;
}

// RFC 6455 §1.2 opening handshake, followed by the first frame (a masked text "Hello").
const std::string handshake_request =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";
const std::string first_frame = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";

const std::string handshake_response =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: chat\r\n"
    "\r\n";

struct bad_request {
    std::string input;
    int status;
    std::string message_part;
};

}  // namespace

TEST_SUITE("RFC 9112 request parsing") {

TEST_CASE("the RFC 6455 handshake request parses and the first frame after it is not consumed") {
    const auto out = parse_request(handshake_request + first_frame);
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == handshake_request.size());
    CHECK(out.request.method == "GET");
    CHECK(out.request.target == "/chat");
    CHECK(out.request.version == "HTTP/1.1");
    CHECK(out.request.headers.size() == 7);
    CHECK(out.request.headers.get("host") == "server.example.com");
    CHECK(out.request.headers.get("SEC-WEBSOCKET-KEY") == "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK(out.request.headers.has_token("connection", "upgrade"));
    const auto protocols = out.request.headers.list("Sec-WebSocket-Protocol");
    REQUIRE(protocols.size() == 2);
    CHECK(protocols[0] == "chat");
    CHECK(protocols[1] == "superchat");
}

TEST_CASE("a head without anything after it is consumed entirely") {
    const auto out = parse_request(handshake_request);
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == handshake_request.size());
}

TEST_CASE("field names keep their case, compare case-insensitively and repeats stay in order") {
    const auto out = parse_request(
        "GET / HTTP/1.1\r\nX-A: 1\r\nx-b: 2\r\nX-A: 3\r\nx-a: 4\r\n\r\n");
    REQUIRE(out.status == parse_status::done);
    CHECK(describe_headers(out.request.headers) == "[X-A|1][x-b|2][X-A|3][x-a|4]");
    const auto all = out.request.headers.get_all("x-A");
    REQUIRE(all.size() == 3);
    CHECK(all[0] == "1");
    CHECK(all[1] == "3");
    CHECK(all[2] == "4");
    CHECK(out.request.headers.count("X-a") == 3);
}

TEST_CASE("optional white space around field values is trimmed and inner white space kept") {
    const auto out = parse_request(
        "GET / HTTP/1.1\r\nA:x\r\nB: \t y  z \t \r\nC:\r\nD:   \r\n\r\n");
    REQUIRE(out.status == parse_status::done);
    CHECK(describe_headers(out.request.headers) == "[A|x][B|y  z][C|][D|]");
}

TEST_CASE("obs-text bytes are allowed in field values") {
    const auto out = parse_request("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.request.headers.get("x") == "caf\xc3\xa9");
}

TEST_CASE("HTTP/1.0 requests and any token as method are accepted by the parser") {
    const auto out = parse_request("M-SEARCH * HTTP/1.0\r\n\r\n");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.request.method == "M-SEARCH");
    CHECK(out.request.target == "*");
    CHECK(out.request.version == "HTTP/1.0");
    CHECK(out.request.headers.empty());
}

TEST_CASE("an absolute-form target with a query is kept as written") {
    const auto out = parse_request("GET ws://h:1/a?b=%20c HTTP/1.1\r\n\r\n");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.request.target == "ws://h:1/a?b=%20c");
}

TEST_CASE("each malformed request fails with 400 or 505 and a message naming the problem") {
    const std::vector<bad_request> cases = {
        {"GET /\r\n\r\n", 400, "request line"},
        {"GET\r\n\r\n", 400, "request line"},
        {"GET  / HTTP/1.1\r\n\r\n", 400, "empty request target"},
        {"GET / HTTP/1.1 \r\n\r\n", 400, "space"},
        {"GET /a b HTTP/1.1\r\n\r\n", 400, "space"},
        {" GET / HTTP/1.1\r\n\r\n", 400, "method"},
        {"G(T / HTTP/1.1\r\n\r\n", 400, "method"},
        {"\r\nGET / HTTP/1.1\r\n\r\n", 400, "empty request line"},
        {"GET /a\x01 HTTP/1.1\r\n\r\n", 400, "control character"},
        {"GET /a\x7f HTTP/1.1\r\n\r\n", 400, "control character"},
        {"GET / HTTP/1.1x\r\n\r\n", 400, "malformed HTTP version"},
        {"GET / HTTP/11\r\n\r\n", 400, "malformed HTTP version"},
        {"GET / http/1.1\r\n\r\n", 400, "malformed HTTP version"},
        {"GET / HTTP/1.a\r\n\r\n", 400, "malformed HTTP version"},
        {"GET / HTTP/2.0\r\n\r\n", 505, "unsupported HTTP version"},
        {"GET / HTTP/1.2\r\n\r\n", 505, "unsupported HTTP version"},
        {"GET / HTTP/0.9\r\n\r\n", 505, "unsupported HTTP version"},
        {"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "obs-fold"},
        {"GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400, "obs-fold"},
        {"GET / HTTP/1.1\r\n X: a\r\n\r\n", 400, "obs-fold"},
        {"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "bare CR"},
        {"GET / HTTP/1.1\r\nX: a\r\r\n\r\n", 400, "bare CR"},
        {"GET /\r HTTP/1.1\r\n\r\n", 400, "bare CR"},
        {"GET / HTTP/1.1\r\nX: a\r\n\r\r\n", 400, "bare CR"},
        {"GET / HTTP/1.1\n\n", 400, "bare LF"},
        {"GET / HTTP/1.1\r\nX: a\n\r\n", 400, "bare LF"},
        {"GET / HTTP/1.1\r\nX: a\r\n\n", 400, "bare LF"},
        {"GET / HTTP/1.1\r\nX : a\r\n\r\n", 400, "white space between the field name and"},
        {"GET / HTTP/1.1\r\nX\t: a\r\n\r\n", 400, "white space between the field name and"},
        {"GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "empty field name"},
        {"GET / HTTP/1.1\r\nX\r\n\r\n", 400, "no colon"},
        {"GET / HTTP/1.1\r\nX(: a\r\n\r\n", 400, "invalid character"},
        {"GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n", 400, "invalid character"},
        {std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27), 400, "NUL"},
        {"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 400, "control character"},
        {"GET / HTTP/1.1\r\nX: a\x1b[0m\r\n\r\n", 400, "control character"},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
         "both Content-Length and Transfer-Encoding"},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
         "conflicting Content-Length"},
        {"GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", 400, "conflicting Content-Length"},
        {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
        {"GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, "invalid Content-Length"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.input);
        const auto out = parse_request(c.input + first_frame);
        CAPTURE(out.error);
        REQUIRE(out.status == parse_status::failed);
        CHECK(out.error_status == c.status);
        CHECK(contains(out.error, c.message_part));
    }
}

TEST_CASE("identical repeated Content-Length values are accepted in a request") {
    const auto out =
        parse_request("GET / HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 0, 0\r\n\r\n");
    CHECK(out.status == parse_status::done);
}

TEST_CASE("a parser that is done or failed consumes nothing more and keeps its result") {
    http_request_parser done_parser;
    std::size_t consumed = 99;
    REQUIRE(done_parser.feed("GET / HTTP/1.1\r\n\r\n", &consumed) == parse_status::done);
    CHECK(done_parser.feed("GET /x HTTP/1.1\r\n\r\n", &consumed) == parse_status::done);
    CHECK(consumed == 0);
    CHECK(done_parser.request().target == "/");
    CHECK(done_parser.error().empty());
    CHECK(done_parser.error_status() == 0);

    http_request_parser failed_parser;
    REQUIRE(failed_parser.feed("BAD\r\n", &consumed) == parse_status::failed);
    const std::string error = failed_parser.error();
    CHECK(failed_parser.feed("GET / HTTP/1.1\r\n\r\n", &consumed) == parse_status::failed);
    CHECK(consumed == 0);
    CHECK(failed_parser.error() == error);
    CHECK(failed_parser.error_status() == 400);
}

TEST_CASE("empty feeds consume nothing and change nothing") {
    http_request_parser parser;
    std::size_t consumed = 99;
    CHECK(parser.feed("", &consumed) == parse_status::need_more);
    CHECK(consumed == 0);
    CHECK(parser.feed("GET / HTTP/1.1\r\n", &consumed) == parse_status::need_more);
    CHECK(parser.feed("", &consumed) == parse_status::need_more);
    CHECK(parser.feed("\r\n", &consumed) == parse_status::done);
    CHECK(consumed == 2);
}

}  // TEST_SUITE

TEST_SUITE("RFC 9112 head limits") {

TEST_CASE("a line at exactly max_line_bytes is accepted and one byte more fails") {
    http_limits limits;
    limits.max_line_bytes = 20;
    const std::string field_20 = "X: " + std::string(17, 'v');  // 20 bytes without CRLF
    CHECK(parse_request("GET / HTTP/1.1\r\n" + field_20 + "\r\n\r\n", limits).status ==
          parse_status::done);
    const auto over = parse_request("GET / HTTP/1.1\r\n" + field_20 + "v\r\n\r\n", limits);
    REQUIRE(over.status == parse_status::failed);
    CHECK(over.error_status == 431);
    CHECK(contains(over.error, "max_line_bytes"));

    const std::string line_20 = "GET /" + std::string(6, 'a') + " HTTP/1.1";
    REQUIRE(line_20.size() == 20);
    CHECK(parse_request(line_20 + "\r\n\r\n", limits).status == parse_status::done);
    const auto long_line = parse_request("GET /" + std::string(7, 'a') + " HTTP/1.1\r\n\r\n",
                                         limits);
    REQUIRE(long_line.status == parse_status::failed);
    CHECK(long_line.error_status == 414);
}

TEST_CASE("a line over the limit fails as soon as the limit is passed, without its end") {
    http_limits limits;
    limits.max_line_bytes = 20;
    // The line may take 20 bytes plus CRLF, so 22 bytes without an LF prove it too long.
    const std::string start = "GET / HTTP/1.1\r\n";
    const auto out = parse_request(start + std::string(100, 'x'), limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(out.error_status == 431);
    CHECK(out.consumed == start.size() + 22);
}

TEST_CASE("a head at exactly max_head_bytes is accepted and one byte more fails with 431") {
    http_limits limits;
    limits.max_head_bytes = 64;
    const std::string start = "GET / HTTP/1.1\r\n";  // 16
    // 16 + 46 + 2 = 64: the field line takes 44 bytes plus CRLF.
    const std::string exact = start + "X: " + std::string(41, 'v') + "\r\n\r\n";
    REQUIRE(exact.size() == 64);
    const auto ok = parse_request(exact + first_frame, limits);
    REQUIRE(ok.status == parse_status::done);
    CHECK(ok.consumed == 64);

    const std::string over = start + "X: " + std::string(42, 'v') + "\r\n\r\n";
    const auto out = parse_request(over, limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(out.error_status == 431);
    CHECK(contains(out.error, "max_head_bytes"));
    CHECK(out.consumed == 64);
}

TEST_CASE("a request line over max_head_bytes fails with 414") {
    http_limits limits;
    limits.max_head_bytes = 32;
    const auto out = parse_request("GET /" + std::string(40, 'a') + " HTTP/1.1\r\n\r\n", limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(out.error_status == 414);
}

TEST_CASE("a 1 MiB field line fails with 431 after about 8 KiB, before the rest is fed") {
    http_request_parser parser;
    std::size_t consumed = 0;
    const std::string start = "GET / HTTP/1.1\r\nX-Long: ";
    REQUIRE(parser.feed(start, &consumed) == parse_status::need_more);
    std::size_t total = consumed;
    const std::string kib(1024, 'a');
    parse_status status = parse_status::need_more;
    std::size_t chunks_fed = 0;
    while (status == parse_status::need_more && chunks_fed < 1024) {
        status = parser.feed(kib, &consumed);
        total += consumed;
        ++chunks_fed;
    }
    REQUIRE(status == parse_status::failed);
    CHECK(chunks_fed <= 9);
    CHECK(total <= 16 + 8 * 1024 + 2);
    CHECK(parser.error_status() == 431);
    CHECK(contains(parser.error(), "8192"));
}

TEST_CASE("a request line of 1 MiB fails with 414 after about 8 KiB, fed a byte at a time") {
    http_request_parser parser;
    std::size_t consumed = 0;
    REQUIRE(parser.feed("GET /", &consumed) == parse_status::need_more);
    std::size_t bytes_fed = 5;
    parse_status status = parse_status::need_more;
    while (status == parse_status::need_more && bytes_fed < 1024 * 1024) {
        status = parser.feed("a", &consumed);
        ++bytes_fed;
    }
    REQUIRE(status == parse_status::failed);
    CHECK(bytes_fed == 8 * 1024 + 2);  // 8192 + CRLF bytes seen, none of them LF
    CHECK(parser.error_status() == 414);
}

TEST_CASE("10,000 header fields fail with 431 at field 129, wherever the input is cut") {
    std::string head = "GET / HTTP/1.1\r\n";
    const std::size_t start = head.size();
    std::vector<std::size_t> line_ends;
    for (int i = 0; i < 10000; ++i) {
        head += "X-" + std::to_string(i) + ": v\r\n";
        line_ends.push_back(head.size());
    }
    head += "\r\n";
    REQUIRE(line_ends[128] > start);
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{100},
                                    std::size_t{4096}, head.size()}) {
        CAPTURE(chunk);
        std::vector<std::size_t> cuts;
        for (std::size_t at = chunk; at < head.size(); at += chunk) cuts.push_back(at);
        const auto out = feed_request(head, cuts, {});
        REQUIRE(out.status == parse_status::failed);
        CHECK(out.error_status == 431);
        CHECK(contains(out.error, "128"));
        CHECK(out.consumed == line_ends[128]);  // the end of field 129
    }
}

TEST_CASE("exactly max_headers fields are accepted") {
    http_limits limits;
    limits.max_headers = 3;
    CHECK(parse_request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits).status ==
          parse_status::done);
    const auto out = parse_request("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
                                   limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(out.error_status == 431);
    CHECK(contains(out.error, "max_headers"));
}

TEST_CASE("twenty 1 KiB fields fail with 431 once the 16 KiB head limit is passed") {
    std::string head = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 20; ++i)
        head += "X-" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
    head += "\r\n";
    const auto out = feed_request(head, every_byte(head.size()), {});
    REQUIRE(out.status == parse_status::failed);
    CHECK(out.error_status == 431);
    CHECK(out.consumed == 16 * 1024);
    CHECK(feed_request(head, {}, {}).describe() == out.describe());
}

}  // TEST_SUITE

TEST_SUITE("RFC 9112 response parsing") {

TEST_CASE("a 101 response stops right after the head and leaves the first frame unconsumed") {
    const std::string frame = "\x81\x05Hello";
    const auto out = parse_response(handshake_response + frame);
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == handshake_response.size());
    CHECK(out.response.status == 101);
    CHECK(out.response.reason == "Switching Protocols");
    CHECK(out.response.version == "HTTP/1.1");
    CHECK(out.response.headers.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(out.response.body.empty());
}

TEST_CASE("1xx, 204 and 304 responses have no body even with Content-Length") {
    for (const char* status : {"101", "100", "204", "304"}) {
        CAPTURE(status);
        const std::string head =
            std::string("HTTP/1.1 ") + status + " X\r\nContent-Length: 5\r\n\r\n";
        const auto out = parse_response(head + "hello");
        REQUIRE(out.status == parse_status::done);
        CHECK(out.consumed == head.size());
        CHECK(out.response.body.empty());
    }
}

TEST_CASE("a Content-Length body is read and the bytes after it are not consumed") {
    const std::string message = "HTTP/1.1 403 Forbidden\r\nContent-Length: 11\r\n\r\nhello world";
    const auto out = parse_response(message + "HTTP/1.1 200 OK\r\n");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == message.size());
    CHECK(out.response.status == 403);
    CHECK(out.response.body == "hello world");
}

TEST_CASE("a zero Content-Length completes the response at the end of the head") {
    const std::string message = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    const auto out = parse_response(message + "tail");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == message.size());
    CHECK(out.response.body.empty());
}

TEST_CASE("identical repeated Content-Length values are accepted in a response") {
    const auto out = parse_response(
        "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.response.body == "abc");
}

TEST_CASE("a chunked body with extensions and trailers is decoded and trailers are dropped") {
    const std::string message =
        "HTTP/1.1 400 Bad Request\r\n"
        "Transfer-Encoding: Chunked\r\n"
        "\r\n"
        "5\r\nhello\r\n"
        "6 ; name=\"v;a\" ; x\r\n world\r\n"
        "00A\r\n0123456789\r\n"
        "1f\r\n" + std::string(31, 'z') + "\r\n"
        "0\r\n"
        "Trailer-Field: x\r\n"
        "\r\n";
    const auto out = parse_response(message + "after");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == message.size());
    CHECK(out.response.body == "hello world0123456789" + std::string(31, 'z'));
    CHECK_FALSE(out.response.headers.contains("Trailer-Field"));
}

TEST_CASE("a chunked body without trailers ends at the empty line after the last chunk") {
    const std::string message = "HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    const auto out = parse_response(message + "x");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == message.size());
    CHECK(out.response.body.empty());
}

TEST_CASE("a body without length is read until feed_eof") {
    const std::string message =
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno way\r\n";
    const auto out = parse_response(message, true);
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == message.size());
    CHECK(out.response.body == "no way\r\n");
    // Without the end of the stream, the body is never complete.
    CHECK(feed_response(message, {}, {}, false).status == parse_status::need_more);
}

TEST_CASE("a status line without a reason phrase is accepted") {
    const auto out = parse_response("HTTP/1.1 101\r\n\r\n");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.response.status == 101);
    CHECK(out.response.reason.empty());
    const auto empty_reason = parse_response("HTTP/1.0 101 \r\n\r\n");
    REQUIRE(empty_reason.status == parse_status::done);
    CHECK(empty_reason.response.reason.empty());
    CHECK(empty_reason.response.version == "HTTP/1.0");
    CHECK(parse_response("HTTP/1.1 101 a  b\t c\r\n\r\n").response.reason == "a  b\t c");
}

TEST_CASE("each malformed response fails with a message naming the problem") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"HTTP/1.1 20 OK\r\n\r\n", "status code"},
        {"HTTP/1.1 2000 OK\r\n\r\n", "status code"},
        {"HTTP/1.1 099 OK\r\n\r\n", "status code"},
        {"HTTP/1.1 600 OK\r\n\r\n", "status code"},
        {"HTTP/1.1 1a1 OK\r\n\r\n", "status code"},
        {"HTTP/1.1  101 OK\r\n\r\n", "status code"},
        {"HTTP/1.1\r\n\r\n", "status line"},
        {"HTTP/2 101\r\n\r\n", "malformed HTTP version"},
        {"HTTP/2.0 101 OK\r\n\r\n", "unsupported HTTP version"},
        {"ICY 200 OK\r\n\r\n", "malformed HTTP version"},
        {"HTTP/1.1 101 OK\x01\r\n\r\n", "control character"},
        {"HTTP/1.1 101 OK\r\nX: a\r\n b\r\n\r\n", "obs-fold"},
        {"HTTP/1.1 101 OK\r\nX: a\rb\r\n\r\n", "bare CR"},
        {"HTTP/1.1 101 OK\n\n", "bare LF"},
        {"HTTP/1.1 101 OK\r\nX : a\r\n\r\n", "white space between the field name"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
         "both Content-Length and Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
         "conflicting Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "invalid Content-Length"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
         "max_body_bytes"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         "unsupported Transfer-Encoding"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
         "unsupported Transfer-Encoding"},
        {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.0"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nx\r\n", "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n",
         "chunk size"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n",
         "not followed by CRLF"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
         "not followed by CRLF"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY",
         "not followed by CRLF"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", "bare LF"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT : x\r\n\r\n",
         "white space between the field name"},
    };
    for (const auto& test_case : cases) {
        // Named copies, not structured bindings: CAPTURE's lambda cannot capture those in C++17.
        const std::string& input = test_case.first;
        const std::string& message_part = test_case.second;
        CAPTURE(input);
        const auto out = parse_response(input + "more bytes", true);
        CAPTURE(out.error);
        REQUIRE(out.status == parse_status::failed);
        CHECK(contains(out.error, message_part));
    }
}

TEST_CASE("the end of the stream before the end of a head or delimited body is an error") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", "before the response head"},
        {"HTTP/1.1 101 Switching", "before the end of the response head"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
         "before the end of the response head"},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", "5 of 10 body bytes"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "chunked body"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "chunked body"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", "chunked body"},
    };
    for (const auto& test_case : cases) {
        // Named copies, not structured bindings: CAPTURE's lambda cannot capture those in C++17.
        const std::string& input = test_case.first;
        const std::string& message_part = test_case.second;
        CAPTURE(input);
        const auto out = parse_response(input, true);
        CAPTURE(out.error);
        REQUIRE(out.status == parse_status::failed);
        CHECK(contains(out.error, message_part));
    }
}

TEST_CASE("feed_eof after done keeps done and after failed keeps failed") {
    http_response_parser parser;
    std::size_t consumed = 0;
    REQUIRE(parser.feed("HTTP/1.1 101 OK\r\n\r\n", &consumed) == parse_status::done);
    CHECK(parser.feed_eof() == parse_status::done);
    http_response_parser bad;
    REQUIRE(bad.feed("nonsense\r\n", &consumed) == parse_status::failed);
    CHECK(bad.feed_eof() == parse_status::failed);
}

}  // TEST_SUITE

TEST_SUITE("RFC 9112 response body limits") {

TEST_CASE("a Content-Length over max_body_bytes fails at the end of the head") {
    http_limits limits;
    limits.max_body_bytes = 10;
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
    const auto out = parse_response(head + "0123456789a", false, limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(out.consumed == head.size());
    CHECK(contains(out.error, "max_body_bytes"));
    const auto exact = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
                                      false, limits);
    REQUIRE(exact.status == parse_status::done);
    CHECK(exact.response.body == "0123456789");
}

TEST_CASE("a chunked body over max_body_bytes fails at the chunk size that passes the limit") {
    http_limits limits;
    limits.max_body_bytes = 10;
    const std::string before =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n";
    const auto out = parse_response(before + "5\r\nghijk\r\n0\r\n\r\n", false, limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(contains(out.error, "max_body_bytes"));
    CHECK(out.consumed <= before.size() + 3);
    const auto huge = parse_response(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n",
        false, limits);
    REQUIRE(huge.status == parse_status::failed);
    CHECK(contains(huge.error, "max_body_bytes"));
    const auto exact = parse_response(before + "4\r\nghij\r\n0\r\n\r\n", false, limits);
    REQUIRE(exact.status == parse_status::done);
    CHECK(exact.response.body == "abcdefghij");
}

TEST_CASE("a body read until the end of the stream fails once it passes max_body_bytes") {
    http_limits limits;
    limits.max_body_bytes = 10;
    const std::string head = "HTTP/1.1 200 OK\r\n\r\n";
    const auto out = parse_response(head + "0123456789a", true, limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(contains(out.error, "max_body_bytes"));
    CHECK(out.consumed <= head.size() + 11);
    const auto exact = parse_response(head + "0123456789", true, limits);
    REQUIRE(exact.status == parse_status::done);
    CHECK(exact.response.body == "0123456789");
}

TEST_CASE("trailer fields are held to the field count limit") {
    http_limits limits;
    limits.max_headers = 2;
    const auto out = parse_response(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
        false, limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(contains(out.error, "max_headers"));
}

TEST_CASE("a never-ending chunk size line fails after max_line_bytes") {
    http_limits limits;
    limits.max_line_bytes = 32;
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const auto out = parse_response(head + "1;" + std::string(100, 'e'), false, limits);
    REQUIRE(out.status == parse_status::failed);
    CHECK(contains(out.error, "max_line_bytes"));
    CHECK(out.consumed == head.size() + 34);
}

}  // TEST_SUITE

TEST_SUITE("RFC 9112 serialization") {

TEST_CASE("a request serializes to the exact request line, fields and empty line") {
    http_request request;
    CHECK(request.serialize() == "GET / HTTP/1.1\r\n\r\n");
    request.target = "/chat?x=1";
    request.headers.add("Host", "example.com");
    request.headers.add("Upgrade", "websocket");
    request.headers.add("X", "");
    CHECK(request.serialize() ==
          "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nX: \r\n\r\n");
}

TEST_CASE("a response serializes with its reason, or the standard one when none is given") {
    http_response response;
    response.status = 101;
    response.headers.add("Upgrade", "websocket");
    CHECK(response.serialize() == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
    response.reason = "Go Ahead";
    CHECK(response.serialize() == "HTTP/1.1 101 Go Ahead\r\nUpgrade: websocket\r\n\r\n");
    http_response unknown;
    unknown.status = 599;
    CHECK(unknown.serialize() == "HTTP/1.1 599 \r\n\r\n");
}

TEST_CASE("a response body gets a Content-Length unless one or Transfer-Encoding is given") {
    http_response response;
    response.status = 403;
    response.body = "no";
    CHECK(response.serialize() == "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno");
    response.headers.add("content-length", "2");
    CHECK(response.serialize() == "HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno");
    http_response chunked;
    chunked.status = 500;
    chunked.headers.add("Transfer-Encoding", "chunked");
    chunked.body = "2\r\nno\r\n0\r\n\r\n";
    CHECK(chunked.serialize() ==
          "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
          "2\r\nno\r\n0\r\n\r\n");
    http_response empty;
    empty.status = 503;
    empty.headers.add("Retry-After", "1");
    CHECK(empty.serialize() == "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n");
}

TEST_CASE("serialize refuses CR, LF or NUL in fields so that no header can be injected") {
    http_request request;
    request.headers.add("X", "a\r\nInjected: yes");
    CHECK_THROWS_AS(request.serialize(), syncws::invalid_argument);
    http_request bad_name;
    bad_name.headers.add("X Y", "a");
    CHECK_THROWS_AS(bad_name.serialize(), syncws::invalid_argument);
    http_request bad_target;
    bad_target.target = "/ HTTP/1.1\r\nX: y\r\n\r\nGET /";
    CHECK_THROWS_AS(bad_target.serialize(), syncws::invalid_argument);
    http_request bad_method;
    bad_method.method = "";
    CHECK_THROWS_AS(bad_method.serialize(), syncws::invalid_argument);
    http_response bad_reason;
    bad_reason.reason = "OK\r\nX: y";
    CHECK_THROWS_AS(bad_reason.serialize(), syncws::invalid_argument);
    http_response nul_value;
    nul_value.headers.add("X", std::string("a\0b", 3));
    CHECK_THROWS_AS(nul_value.serialize(), syncws::invalid_argument);
    http_response bad_status;
    bad_status.status = 1000;
    CHECK_THROWS_AS(bad_status.serialize(), syncws::invalid_argument);
    http_response body_101;
    body_101.status = 101;
    body_101.body = "x";
    CHECK_THROWS_AS(body_101.serialize(), syncws::invalid_argument);
}

TEST_CASE("a serialized request parses back into the same request") {
    http_request request;
    request.method = "GET";
    request.target = "/a/b?c=d%20e";
    request.headers.add("Host", "[::1]:8080");
    request.headers.add("Connection", "keep-alive, Upgrade");
    request.headers.add("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits");
    request.headers.add("X-Repeat", "1");
    request.headers.add("x-repeat", "2");
    request.headers.add("X-Empty", "");
    const std::string wire = request.serialize();
    const auto out = parse_request(wire + first_frame);
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == wire.size());
    CHECK(out.request.method == request.method);
    CHECK(out.request.target == request.target);
    CHECK(out.request.version == request.version);
    CHECK(describe_headers(out.request.headers) == describe_headers(request.headers));
    CHECK(out.request.serialize() == wire);
}

TEST_CASE("a serialized response with a body parses back into the same response") {
    http_response response;
    response.status = 426;
    response.reason = "Upgrade Required";
    response.headers.add("Sec-WebSocket-Version", "13");
    response.body = "This service requires use of the WebSocket protocol\n";
    const std::string wire = response.serialize();
    const auto out = parse_response(wire + "junk");
    REQUIRE(out.status == parse_status::done);
    CHECK(out.consumed == wire.size());
    CHECK(out.response.status == 426);
    CHECK(out.response.reason == "Upgrade Required");
    CHECK(out.response.body == response.body);
    CHECK(out.response.headers.get("Content-Length") ==
          std::to_string(response.body.size()));
    CHECK(out.response.serialize() == wire);
}

TEST_CASE("reason_phrase knows the common statuses and returns empty for others") {
    CHECK(reason_phrase(100) == "Continue");
    CHECK(reason_phrase(101) == "Switching Protocols");
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(301) == "Moved Permanently");
    CHECK(reason_phrase(308) == "Permanent Redirect");
    CHECK(reason_phrase(400) == "Bad Request");
    CHECK(reason_phrase(401) == "Unauthorized");
    CHECK(reason_phrase(403) == "Forbidden");
    CHECK(reason_phrase(404) == "Not Found");
    CHECK(reason_phrase(405) == "Method Not Allowed");
    CHECK(reason_phrase(414) == "URI Too Long");
    CHECK(reason_phrase(426) == "Upgrade Required");
    CHECK(reason_phrase(429) == "Too Many Requests");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(500) == "Internal Server Error");
    CHECK(reason_phrase(503) == "Service Unavailable");
    CHECK(reason_phrase(505) == "HTTP Version Not Supported");
    CHECK(reason_phrase(511) == "Network Authentication Required");
    CHECK(reason_phrase(0) == "");
    CHECK(reason_phrase(299) == "");
    CHECK(reason_phrase(512) == "");
    CHECK(reason_phrase(-1) == "");
}

}  // TEST_SUITE

TEST_SUITE("RFC 9110 §5 header fields") {

TEST_CASE("iequals compares ASCII letters case-insensitively and nothing else") {
    CHECK(iequals("Upgrade", "uPGRADE"));
    CHECK(iequals("", ""));
    CHECK_FALSE(iequals("Upgrade", "Upgrades"));
    CHECK_FALSE(iequals("a", "b"));
    CHECK_FALSE(iequals("\xc4", "\xe4"));  // Latin-1 'Ä' and 'ä' are not ASCII letters
    CHECK_FALSE(iequals("@", "`"));        // 0x40 and 0x60 differ by 0x20 but are not letters
    CHECK_FALSE(iequals("[", "{"));
}

TEST_CASE("get, contains, count, set and remove match names case-insensitively") {
    http_headers headers;
    CHECK_FALSE(headers.get("x").has_value());
    headers.add("X-A", "1");
    headers.add("Other", "o");
    headers.add("x-a", "2");
    CHECK(headers.get("x-A") == "1");
    CHECK(headers.contains("X-a"));
    CHECK(headers.count("X-A") == 2);
    headers.set("X-a", "3");
    CHECK(describe_headers(headers) == "[X-a|3][Other|o]");
    headers.set("New", "n");
    CHECK(describe_headers(headers) == "[X-a|3][Other|o][New|n]");
    headers.remove("x-A");
    CHECK(describe_headers(headers) == "[Other|o][New|n]");
    CHECK_FALSE(headers.contains("X-A"));
    CHECK(headers.size() == 2);
}

TEST_CASE("list splits Connection: keep-alive, Upgrade into trimmed elements") {
    http_headers headers;
    headers.add("Connection", "keep-alive, Upgrade");
    const auto elements = headers.list("connection");
    REQUIRE(elements.size() == 2);
    CHECK(elements[0] == "keep-alive");
    CHECK(elements[1] == "Upgrade");
    CHECK(headers.has_token("Connection", "upgrade"));
    CHECK(headers.has_token("CONNECTION", "KEEP-ALIVE"));
    CHECK_FALSE(headers.has_token("Connection", "close"));
    CHECK_FALSE(headers.has_token("Connection", "Upgrad"));
    CHECK_FALSE(headers.has_token("Upgrade", "Upgrade"));
}

TEST_CASE("list joins the elements of repeated fields in order") {
    http_headers headers;
    headers.add("Sec-WebSocket-Protocol", "a, b");
    headers.add("Other", "x");
    headers.add("sec-websocket-protocol", "c");
    const auto elements = headers.list("Sec-WebSocket-Protocol");
    REQUIRE(elements.size() == 3);
    CHECK(elements[0] == "a");
    CHECK(elements[1] == "b");
    CHECK(elements[2] == "c");
    CHECK(headers.has_token("sec-websocket-protocol", "C"));
}

TEST_CASE("list drops empty elements and trims spaces and tabs") {
    http_headers headers;
    headers.add("X", " , ,\ta ,, \t b\t,");
    headers.add("X", "");
    headers.add("X", ",");
    const auto elements = headers.list("X");
    REQUIRE(elements.size() == 2);
    CHECK(elements[0] == "a");
    CHECK(elements[1] == "b");
    CHECK_FALSE(headers.has_token("X", ""));
}

TEST_CASE("commas inside quoted strings do not split list elements") {
    http_headers headers;
    headers.add("X", R"(a; p="1,2", b; q="x\"," , c)");
    const auto elements = headers.list("X");
    REQUIRE(elements.size() == 3);
    CHECK(elements[0] == R"(a; p="1,2")");
    CHECK(elements[1] == R"(b; q="x\",")");
    CHECK(elements[2] == "c");
}

TEST_CASE("list and has_token handle a 1 MiB value of commas in one pass") {
    http_headers headers;
    headers.add("Connection", std::string(1024 * 1024, ','));
    CHECK(headers.list("Connection").empty());
    CHECK_FALSE(headers.has_token("Connection", "Upgrade"));

    std::string many;
    for (int i = 0; i < 256 * 1024; ++i) many += "ab,";
    many += "Upgrade";
    headers.set("Connection", many);
    const auto elements = headers.list("Connection");
    CHECK(elements.size() == 256 * 1024 + 1);
    CHECK(headers.has_token("Connection", "upgrade"));

    // A long run of white space and an unclosed quote are single elements, not backtracking.
    headers.set("Connection", "a" + std::string(1024 * 1024, ' ') + "b");
    CHECK(headers.list("Connection").size() == 1);
    headers.set("Connection", "\"" + std::string(1024 * 1024, '\\'));
    CHECK(headers.list("Connection").size() == 1);
}

}  // TEST_SUITE

#include <doctest.h>

#include <string>
#include <variant>

#include "syncws/core/client_protocol.hpp"
#include "syncws/core/error.hpp"
#include "test_support.hpp"

using namespace syncws::core;
using test::events_of;
using test::frame;
using test::output_of;

namespace {

// RFC 6455 §1.3's example key and the accept value that goes with it.
const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
const std::string accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

client_protocol make_client(client_handshake_config handshake = {}, protocol_config config = {}) {
    return client_protocol(parse_uri("ws://example.com/chat"), std::move(handshake),
                           test::pinned_config(config), key);
}

std::string switching_protocols(const std::string& extra = "") {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " + accept + "\r\n" + extra + "\r\n";
}

template <class E>
void check_handshake_error(const client_protocol& p) {
    REQUIRE(p.handshake_error());
    CHECK_THROWS_AS(std::rethrow_exception(p.handshake_error()), E);
    CHECK(p.current_state() == state::connecting);
    CHECK(p.transport_close_requested());
}

}  // namespace

TEST_SUITE("RFC 6455 §4.1 client protocol") {

TEST_CASE("the client starts connecting and sends the request it built") {
    client_protocol p = make_client();
    CHECK(p.current_state() == state::connecting);
    const http_request request = p.connect();
    CHECK(request.headers.get("Sec-WebSocket-Key") == key);
    p.send_request(request);
    CHECK(output_of(p) == request.serialize());
}

TEST_CASE("a valid 101 response opens the connection and is reported") {
    client_protocol p = make_client();
    p.send_request(p.connect());
    output_of(p);
    p.receive_data(switching_protocols());
    CHECK(p.current_state() == state::open);
    CHECK_FALSE(p.handshake_error());
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(std::get<http_response>(events[0]).status == 101);
}

TEST_CASE("a frame that arrives with the response is kept, wherever the input is split") {
    const std::string input = switching_protocols() + frame(opcode::text, "first", false);
    test::for_each_split(input, [&](const std::vector<std::string_view>& pieces) {
        client_protocol p = make_client();
        for (std::string_view piece : pieces) p.receive_data(piece);
        const auto events = events_of(p);
        REQUIRE(events.size() == 2);
        CHECK(std::holds_alternative<http_response>(events[0]));
        CHECK(std::get<message_event>(events[1]).data == "first");
    });
}

TEST_CASE("the negotiated subprotocol is reported") {
    client_handshake_config handshake;
    handshake.subprotocols = {"chat", "superchat"};
    client_protocol p = make_client(handshake);
    p.receive_data(switching_protocols("Sec-WebSocket-Protocol: superchat\r\n"));
    CHECK(p.current_state() == state::open);
    CHECK(p.handshake_result().subprotocol == "superchat");
}

TEST_CASE("a non-101 response fails with invalid_status carrying status and body") {
    client_protocol p = make_client();
    p.receive_data("HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\n\r\nnot you");
    check_handshake_error<syncws::invalid_status>(p);
    try {
        std::rethrow_exception(p.handshake_error());
    } catch (const syncws::invalid_status& e) {
        CHECK(e.response().status == 403);
        CHECK(e.response().body == "not you");
    }
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(std::get<http_response>(events[0]).status == 403);
}

TEST_CASE("a response body delimited by the end of the stream completes at EOF") {
    client_protocol p = make_client();
    p.receive_data("HTTP/1.1 500 Internal Server Error\r\n\r\nsorry");
    CHECK_FALSE(p.handshake_error());
    p.receive_eof();
    REQUIRE(p.handshake_error());
    CHECK_THROWS_AS(std::rethrow_exception(p.handshake_error()), syncws::invalid_status);
}

TEST_CASE("a wrong Sec-WebSocket-Accept fails the handshake") {
    client_protocol p = make_client();
    p.receive_data("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: wrong=\r\n\r\n");
    check_handshake_error<syncws::invalid_handshake>(p);
    CHECK(p.close_expected() == false);  // nothing to wait for: the client closes at once
}

TEST_CASE("a malformed response fails the handshake") {
    client_protocol p = make_client();
    p.receive_data("HTTP/1.1 101\r\nbad header line\r\n\r\n");
    check_handshake_error<syncws::invalid_handshake>(p);
}

TEST_CASE("end of stream before the response fails the handshake") {
    client_protocol p = make_client();
    p.receive_data("HTTP/1.1 101 Switching");
    p.receive_eof();
    REQUIRE(p.handshake_error());
    CHECK_THROWS_AS(std::rethrow_exception(p.handshake_error()), syncws::invalid_handshake);
    CHECK(p.current_state() == state::closed);
}

TEST_CASE("input after a failed handshake is ignored") {
    client_protocol p = make_client();
    p.receive_data("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" +
                   frame(opcode::text, "ignored", false));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(std::holds_alternative<http_response>(events[0]));
}

TEST_CASE("data cannot be sent before the handshake completes") {
    client_protocol p = make_client();
    CHECK_THROWS_AS(p.send_text("early"), syncws::invalid_state);
}

}  // TEST_SUITE

#include <doctest.h>

#include <stdexcept>
#include <string>
#include <variant>

#include "syncws/core/error.hpp"
#include "syncws/core/server_protocol.hpp"
#include "test_support.hpp"

using namespace syncws::core;
using test::events_of;
using test::frame;
using test::output_of;

namespace {

const std::string request_text =
    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n";

http_request receive_request(server_protocol& p, const std::string& input = request_text) {
    p.receive_data(input);
    auto events = events_of(p);
    REQUIRE(events.size() >= 1);
    REQUIRE(std::holds_alternative<http_request>(events[0]));
    return std::get<http_request>(events[0]);
}

int status_of(const std::string& response_bytes) {
    REQUIRE(response_bytes.size() > 12);
    return std::stoi(response_bytes.substr(9, 3));
}

}  // namespace

TEST_SUITE("RFC 6455 §4.2 server protocol") {

TEST_CASE("the opening request is reported and accepted with a 101") {
    server_protocol p;
    const http_request request = receive_request(p);
    CHECK(request.target == "/chat");
    const http_response response = p.accept(request);
    CHECK(response.status == 101);
    CHECK(response.headers.get("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    p.send_response(response);
    CHECK(p.current_state() == state::open);
    CHECK(output_of(p) == response.serialize());
}

TEST_CASE("the server's first preferred subprotocol that the client offered is chosen") {
    server_handshake_config handshake;
    handshake.subprotocols = {"superchat", "chat"};
    server_protocol p(handshake);
    p.send_response(p.accept(receive_request(p)));
    CHECK(p.subprotocol() == "superchat");
}

TEST_CASE("a custom selector chooses the subprotocol") {
    server_protocol p;
    p.set_subprotocol_selector([](const std::vector<std::string>& offered) {
        return std::optional<std::string>(offered.back());
    });
    p.send_response(p.accept(receive_request(p)));
    CHECK(p.subprotocol() == "superchat");
}

TEST_CASE("a selector that throws gives a 500 and keeps the error") {
    server_protocol p;
    p.set_subprotocol_selector([](const std::vector<std::string>&) -> std::optional<std::string> {
        throw std::runtime_error("database down");
    });
    const http_response response = p.accept(receive_request(p));
    CHECK(response.status == 500);
    CHECK(response.body.find("database") == std::string::npos);  // details stay on the server
    CHECK(p.handshake_error());
}

TEST_CASE("a request with the wrong version is answered 426 with the supported version") {
    server_protocol p;
    std::string text = request_text;
    text.replace(text.find("Version: 13"), 11, "Version: 8");
    const http_response response = p.accept(receive_request(p, text));
    CHECK(response.status == 426);
    CHECK(response.headers.get("Sec-WebSocket-Version") == "13");
    CHECK(p.handshake_error());
    p.send_response(response);
    CHECK(p.transport_close_requested());
    CHECK(p.current_state() == state::connecting);
}

TEST_CASE("a frame that arrives with the request is kept until the connection opens") {
    const std::string input = request_text + frame(opcode::text, "early", true);
    test::for_each_split(input, [&](const std::vector<std::string_view>& pieces) {
        server_protocol p;
        for (std::string_view piece : pieces) p.receive_data(piece);
        auto events = events_of(p);
        REQUIRE(events.size() == 1);
        p.send_response(p.accept(std::get<http_request>(events[0])));
        events = events_of(p);
        REQUIRE(events.size() == 1);
        CHECK(std::get<message_event>(events[0]).data == "early");
    });
}

TEST_CASE("too much data glued to the request is answered 400, not accepted") {
    server_protocol p;
    const http_request request = receive_request(p, request_text + std::string(17000, 'x'));
    REQUIRE(p.handshake_error());
    const http_response response = p.accept(request);
    CHECK(response.status == 400);
    p.send_response(response);
    CHECK(p.current_state() != state::open);
    CHECK(p.transport_close_requested());
}

TEST_CASE("a malformed request is answered 400 by the protocol and the transport closed") {
    server_protocol p;
    p.receive_data("GET /chat HTTP/1.1\r\n bad fold\r\n\r\n");
    CHECK(events_of(p).empty());
    CHECK(status_of(output_of(p)) == 400);
    CHECK(p.transport_close_requested());
    CHECK(p.handshake_error());
}

TEST_CASE("too many headers are answered 431") {
    protocol_config config;
    config.http.max_headers = 4;
    server_protocol p({}, config);
    p.receive_data(request_text);
    CHECK(events_of(p).empty());
    CHECK(status_of(output_of(p)) == 431);
}

TEST_CASE("reject sends any response and ends the connection") {
    server_protocol p;
    receive_request(p);
    http_headers headers;
    headers.add("WWW-Authenticate", "Basic realm=\"syncws\"");
    const http_response response = p.reject(401, headers, "who are you?\n");
    p.send_response(response);
    const std::string out = output_of(p);
    CHECK(status_of(out) == 401);
    CHECK(out.find("WWW-Authenticate: Basic realm=\"syncws\"\r\n") != std::string::npos);
    CHECK(out.find("who are you?\n") != std::string::npos);
    CHECK(p.transport_close_requested());
}

TEST_CASE("end of stream before a complete request is a handshake error") {
    server_protocol p;
    p.receive_data("GET /chat HTTP/1.1\r\nHost: x\r\n");
    p.receive_eof();
    CHECK(p.handshake_error());
    CHECK(p.current_state() == state::closed);
}

TEST_CASE("send_response cannot be called twice") {
    server_protocol p;
    p.send_response(p.accept(receive_request(p)));
    CHECK_THROWS_AS(p.send_response(p.reject(500)), syncws::invalid_state);
}

TEST_CASE("an open server connection echoes a client's text") {
    server_protocol p;
    p.send_response(p.accept(receive_request(p)));
    output_of(p);
    p.receive_data(frame(opcode::text, "hello", true));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    const auto& message = std::get<message_event>(events[0]);
    p.send_text(message.data);
    CHECK(output_of(p) == frame(opcode::text, "hello", false));
}

}  // TEST_SUITE

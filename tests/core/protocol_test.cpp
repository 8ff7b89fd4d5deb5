#include <doctest.h>

#include <random>
#include <string>
#include <variant>
#include <vector>

#include "syncws/core/client_protocol.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/protocol.hpp"
#include "syncws/core/server_protocol.hpp"
#include "syncws/core/utf8.hpp"
#include "test_support.hpp"

using namespace syncws::core;
using test::bytes;
using test::events_of;
using test::frame;
using test::output_of;

namespace {

// A server-side protocol that receives masked frames from a client, and a client-side one
// that receives unmasked frames; `to(p, ...)` builds a frame as p's peer would send it.
protocol server(protocol_config config = {}) { return protocol(role::server, test::pinned_config(config)); }
protocol client(protocol_config config = {}) { return protocol(role::client, test::pinned_config(config)); }

std::string to(const protocol& p, opcode op, std::string_view payload, bool fin = true,
               bool rsv1 = false) {
    return frame(op, payload, p.side() == role::server, fin, rsv1);
}

// What a protocol sent, as frames it would write: unmasked for a server, masked with the
// pinned key for a client.
std::string from(const protocol& p, opcode op, std::string_view payload, bool fin = true) {
    return frame(op, payload, p.side() == role::client, fin);
}

std::string close_payload(std::uint16_t code, std::string_view reason = "") {
    return close_frame{code, std::string(reason)}.serialize();
}

const message_event& as_message(const event& e) {
    REQUIRE(std::holds_alternative<message_event>(e));
    return std::get<message_event>(e);
}

// Asserts that p failed the connection with this close code (its close frame is in the
// output) and stopped reading.
void check_failed_with(protocol& p, std::uint16_t code) {
    REQUIRE(p.failure());
    CHECK(p.failure()->code == code);
    REQUIRE(p.close_sent());
    CHECK(p.close_sent()->code == code);
    const std::string out = output_of(p);
    CHECK(out.find(from(p, opcode::close, close_payload(code, p.close_sent()->reason))) !=
          std::string::npos);
    CHECK(p.current_state() == state::closing);
}

}  // namespace

TEST_SUITE("RFC 6455 §5.6 data frames") {

TEST_CASE("a text frame becomes a text message") {
    for (role r : {role::server, role::client}) {
        protocol p(r, test::pinned_config());
        p.receive_data(to(p, opcode::text, "Hello"));
        const auto events = events_of(p);
        REQUIRE(events.size() == 1);
        CHECK(as_message(events[0]).text);
        CHECK(as_message(events[0]).data == "Hello");
        CHECK(as_message(events[0]).fin);
        CHECK(output_of(p).empty());
    }
}

TEST_CASE("a binary frame becomes a binary message") {
    protocol p = server();
    p.receive_data(to(p, opcode::binary, bytes({0, 1, 2, 0xff})));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK_FALSE(as_message(events[0]).text);
    CHECK(as_message(events[0]).data == bytes({0, 1, 2, 0xff}));
}

TEST_CASE("payloads of every length encoding arrive intact") {
    for (std::size_t size : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 200000u}) {
        CAPTURE(size);
        std::string payload(size, '\0');
        for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 7);
        protocol p = server();
        p.receive_data(to(p, opcode::binary, payload));
        const auto events = events_of(p);
        REQUIRE(events.size() == 1);
        CHECK(as_message(events[0]).data == payload);
    }
}

TEST_CASE("several frames in one read become several messages in order") {
    protocol p = client();
    p.receive_data(to(p, opcode::text, "one") + to(p, opcode::binary, "two") +
                   to(p, opcode::text, "three"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 3);
    CHECK(as_message(events[0]).data == "one");
    CHECK(as_message(events[1]).data == "two");
    CHECK(as_message(events[2]).data == "three");
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §5.2 framing errors") {

TEST_CASE("a server fails the connection with 1002 on an unmasked client frame") {
    protocol p = server();
    p.receive_data(frame(opcode::text, "hi", false));
    check_failed_with(p, close_code::protocol_error);
    CHECK(p.transport_close_requested());
    CHECK(events_of(p).empty());
}

TEST_CASE("a client fails the connection with 1002 on a masked server frame") {
    protocol p = client();
    p.receive_data(frame(opcode::text, "hi", true));
    check_failed_with(p, close_code::protocol_error);
    CHECK_FALSE(p.transport_close_requested());  // the client waits for the server to close
    CHECK(p.close_expected());
}

TEST_CASE("reserved bits without an extension fail the connection with 1002") {
    for (int bits : {0x40, 0x20, 0x10}) {
        CAPTURE(bits);
        protocol p = client();
        std::string wire = to(p, opcode::text, "x");
        wire[0] = static_cast<char>(wire[0] | bits);
        p.receive_data(wire);
        check_failed_with(p, close_code::protocol_error);
    }
}

TEST_CASE("reserved opcodes fail the connection with 1002") {
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        CAPTURE(op);
        protocol p = client();
        p.receive_data(bytes({0x80 | op, 0x00}));
        check_failed_with(p, close_code::protocol_error);
    }
}

TEST_CASE("a 64-bit length with the most significant bit set fails the connection with 1002") {
    protocol p = client();
    p.receive_data(bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}));
    check_failed_with(p, close_code::protocol_error);
}

TEST_CASE("a control frame over 125 bytes fails the connection with 1002") {
    protocol p = client();
    p.receive_data(to(p, opcode::ping, std::string(126, 'x')));
    check_failed_with(p, close_code::protocol_error);
}

TEST_CASE("a fragmented control frame fails the connection with 1002") {
    protocol p = client();
    p.receive_data(to(p, opcode::ping, "x", false));
    check_failed_with(p, close_code::protocol_error);
}

TEST_CASE("input after a failure is ignored") {
    protocol p = client();
    p.receive_data(bytes({0x83, 0x00}) + to(p, opcode::text, "ignored"));
    CHECK(events_of(p).empty());
    output_of(p);
    p.receive_data(to(p, opcode::ping, "ignored too"));
    CHECK(events_of(p).empty());
    CHECK(output_of(p).empty());
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §5.4 fragmentation") {

TEST_CASE("fragments are assembled into one message") {
    protocol p = server();
    p.receive_data(to(p, opcode::text, "Hel", false) + to(p, opcode::continuation, "lo ", false) +
                   to(p, opcode::continuation, "world"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).text);
    CHECK(as_message(events[0]).data == "Hello world");
}

TEST_CASE("control frames interleaved with fragments are handled at once") {
    protocol p = server();
    p.receive_data(to(p, opcode::binary, "ab", false) + to(p, opcode::ping, "p") +
                   to(p, opcode::continuation, "cd"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 2);
    REQUIRE(std::holds_alternative<ping_event>(events[0]));
    CHECK(std::get<ping_event>(events[0]).payload == "p");
    CHECK(as_message(events[1]).data == "abcd");
    CHECK(output_of(p) == from(p, opcode::pong, "p"));
}

TEST_CASE("take_events hands every event over in arrival order, then none are left") {
    protocol p = server();
    p.receive_data(to(p, opcode::binary, "ab", false) + to(p, opcode::ping, "p") +
                   to(p, opcode::continuation, "cd") + to(p, opcode::text, "ef"));
    std::vector<std::string> seen;
    p.take_events([&](event& e) {
        if (auto* m = std::get_if<message_event>(&e))
            seen.push_back(std::move(m->data));  // the handler may move from the event
        else if (auto* ping = std::get_if<ping_event>(&e))
            seen.push_back("ping " + ping->payload);
    });
    CHECK(seen == std::vector<std::string>{"ping p", "abcd", "ef"});
    CHECK_FALSE(p.has_events());
    CHECK_FALSE(p.next_event());
    // The next read starts a fresh batch.
    p.receive_data(to(p, opcode::text, "gh"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == "gh");
}

TEST_CASE("a continuation frame with no message in progress fails with 1002") {
    protocol p = server();
    p.receive_data(to(p, opcode::continuation, "x"));
    check_failed_with(p, close_code::protocol_error);
}

TEST_CASE("a new data frame before the last fragment fails with 1002") {
    protocol p = server();
    p.receive_data(to(p, opcode::text, "a", false) + to(p, opcode::text, "b"));
    check_failed_with(p, close_code::protocol_error);
    CHECK(events_of(p).empty());
}

TEST_CASE("in streaming mode each fragment is handed out as it completes") {
    protocol_config config;
    config.stream_fragments = true;
    protocol p = server(config);
    p.receive_data(to(p, opcode::binary, "ab", false));
    auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == "ab");
    CHECK_FALSE(as_message(events[0]).fin);
    p.receive_data(to(p, opcode::continuation, "cd", false) + to(p, opcode::continuation, "ef"));
    events = events_of(p);
    REQUIRE(events.size() == 2);
    CHECK(as_message(events[0]).data == "cd");
    CHECK_FALSE(as_message(events[0]).fin);
    CHECK(as_message(events[1]).data == "ef");
    CHECK(as_message(events[1]).fin);
    CHECK_FALSE(as_message(events[1]).text);
}

TEST_CASE("sending fragments writes a first frame, continuations and a final frame") {
    protocol p = server();
    p.send_text("Hel", false);
    p.send_continuation("lo", true);
    CHECK(output_of(p) ==
          frame(opcode::text, "Hel", false, false) + frame(opcode::continuation, "lo", false, true));
}

TEST_CASE("a new message cannot start while a fragmented one is being sent") {
    protocol p = server();
    p.send_binary("a", false);
    CHECK_THROWS_AS(p.send_binary("b"), syncws::invalid_state);
    CHECK_THROWS_AS(p.send_text("b"), syncws::invalid_state);
    p.send_continuation("c", true);
    CHECK_THROWS_AS(p.send_continuation("d", true), syncws::invalid_state);
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §5.6 text is UTF-8") {

TEST_CASE("invalid UTF-8 in a single text frame fails with 1007") {
    protocol p = server();
    p.receive_data(to(p, opcode::text, "\xce\xba\xff"));
    check_failed_with(p, close_code::invalid_payload);
    CHECK(events_of(p).empty());
}

TEST_CASE("a bad byte in the first fragment fails with 1007 before the last fragment arrives") {
    protocol p = server();
    p.receive_data(to(p, opcode::text, "ok \xf4\x90", false));
    check_failed_with(p, close_code::invalid_payload);
}

TEST_CASE("a bad byte fails with 1007 as soon as it arrives, mid-frame") {
    protocol p = server();
    const std::string wire = to(p, opcode::text, "valid\xc0" + std::string(1000, 'x'));
    p.receive_data(wire.substr(0, 4 + 4 + 6));  // header, key and "valid\xc0" only
    check_failed_with(p, close_code::invalid_payload);
}

TEST_CASE("a code point split across fragments is valid") {
    protocol p = server();
    p.receive_data(to(p, opcode::text, "\xf0\x9f", false) + to(p, opcode::continuation, "\x98\x80"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == "\xf0\x9f\x98\x80");
}

TEST_CASE("a text message ending inside a code point fails with 1007") {
    protocol p = server();
    p.receive_data(to(p, opcode::text, "\xf0\x9f", false) + to(p, opcode::continuation, "\x98"));
    check_failed_with(p, close_code::invalid_payload);
}

TEST_CASE("binary messages are not checked as UTF-8") {
    protocol p = server();
    p.receive_data(to(p, opcode::binary, "\xff\xfe"));
    CHECK(events_of(p).size() == 1);
    CHECK_FALSE(p.failure());
}

TEST_CASE("sending text that is not UTF-8 throws and sends nothing") {
    protocol p = server();
    CHECK_THROWS_AS(p.send_text("\xff"), syncws::protocol_error);
    CHECK_THROWS_AS(p.send_text("\xe2\x82"), syncws::protocol_error);
    CHECK(output_of(p).empty());
    p.send_text("\xe2\x82", false);
    CHECK_THROWS_AS(p.send_continuation("\xff", true), syncws::protocol_error);
    p.send_continuation("\xac", true);
    CHECK(output_of(p) == frame(opcode::text, "\xe2\x82", false, false) +
                              frame(opcode::continuation, "\xac", false, true));
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §10.4 size limits") {

TEST_CASE("a frame announcing more than the limit fails with 1009 before its payload arrives") {
    protocol_config config;
    config.max_message_size = 1000;
    protocol p = server(config);
    const std::string wire = to(p, opcode::binary, std::string(1001, 'x'));
    p.receive_data(wire.substr(0, 8));  // header and mask key only
    check_failed_with(p, close_code::message_too_big);
    CHECK(p.partial_message_size() == 0);
}

TEST_CASE("a frame announcing 2^63-1 bytes fails with 1009 at once") {
    protocol p = client();
    p.receive_data(bytes({0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    check_failed_with(p, close_code::message_too_big);
}

TEST_CASE("fragments adding up to more than the message limit fail with 1009") {
    protocol_config config;
    config.max_message_size = 10;
    protocol p = server(config);
    p.receive_data(to(p, opcode::text, "123456", false));
    CHECK_FALSE(p.failure());
    p.receive_data(to(p, opcode::continuation, "12345").substr(0, 6));
    check_failed_with(p, close_code::message_too_big);
}

TEST_CASE("a message of exactly the limit is accepted") {
    protocol_config config;
    config.max_message_size = 10;
    protocol p = server(config);
    p.receive_data(to(p, opcode::text, "12345", false) + to(p, opcode::continuation, "67890"));
    CHECK(events_of(p).size() == 1);
    CHECK_FALSE(p.failure());
}

TEST_CASE("the frame limit applies to each frame of a message") {
    protocol_config config;
    config.max_message_size = 100;
    config.max_frame_size = 4;
    protocol p = server(config);
    p.receive_data(to(p, opcode::text, "1234", false) + to(p, opcode::continuation, "1234", false));
    CHECK_FALSE(p.failure());
    p.receive_data(to(p, opcode::continuation, "12345"));
    check_failed_with(p, close_code::message_too_big);
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §5.5.2 ping and §5.5.3 pong") {

TEST_CASE("a ping is answered with a pong carrying the same payload") {
    for (role r : {role::server, role::client}) {
        protocol p(r, test::pinned_config());
        p.receive_data(to(p, opcode::ping, "are you there"));
        CHECK(output_of(p) == from(p, opcode::pong, "are you there"));
        const auto events = events_of(p);
        REQUIRE(events.size() == 1);
        CHECK(std::get<ping_event>(events[0]).payload == "are you there");
    }
}

TEST_CASE("a pong is matched to the ping that sent its payload") {
    protocol p = client();
    const std::uint64_t first = p.send_ping("1");
    const std::uint64_t second = p.send_ping("2");
    CHECK(first != second);
    CHECK(output_of(p) == from(p, opcode::ping, "1") + from(p, opcode::ping, "2"));
    p.receive_data(to(p, opcode::pong, "1"));
    auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(std::get<pong_event>(events[0]).acknowledged_ping == first);
    p.receive_data(to(p, opcode::pong, "2"));
    events = events_of(p);
    CHECK(std::get<pong_event>(events[0]).acknowledged_ping == second);
}

TEST_CASE("a pong for a later ping acknowledges the earlier ones too") {
    protocol p = client();
    p.send_ping("1");
    const std::uint64_t second = p.send_ping("2");
    p.receive_data(to(p, opcode::pong, "2") + to(p, opcode::pong, "1"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 2);
    CHECK(std::get<pong_event>(events[0]).acknowledged_ping == second);
    CHECK_FALSE(std::get<pong_event>(events[1]).acknowledged_ping);  // "1" was already answered
}

TEST_CASE("an unsolicited pong is reported and acknowledges nothing") {
    protocol p = server();
    p.receive_data(to(p, opcode::pong, "heartbeat"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(std::get<pong_event>(events[0]).payload == "heartbeat");
    CHECK_FALSE(std::get<pong_event>(events[0]).acknowledged_ping);
    CHECK(output_of(p).empty());
}

TEST_CASE("a second ping with the payload of an unanswered one is refused") {
    protocol p = client();
    p.send_ping("same");
    CHECK_THROWS_AS(p.send_ping("same"), syncws::invalid_state);
}

TEST_CASE("a ping payload over 125 bytes is refused") {
    protocol p = client();
    CHECK_THROWS_AS(p.send_ping(std::string(126, 'x')), syncws::protocol_error);
    CHECK_THROWS_AS(p.send_pong(std::string(126, 'x')), syncws::protocol_error);
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §7 closing the connection") {

TEST_CASE("a close frame received in the open state is echoed and the state becomes closing") {
    protocol p = client();
    p.receive_data(to(p, opcode::close, close_payload(1001, "bye")));
    CHECK(output_of(p) == from(p, opcode::close, close_payload(1001, "bye")));
    CHECK(p.current_state() == state::closing);
    CHECK(p.close_received_then_sent());
    REQUIRE(p.close_received());
    CHECK(p.close_received()->code == 1001);
    CHECK(p.close_received()->reason == "bye");
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(std::get<close_event>(events[0]).frame.code == 1001);
}

TEST_CASE("an empty close frame is echoed empty and reported as 1005") {
    protocol p = server();
    p.receive_data(to(p, opcode::close, ""));
    CHECK(output_of(p) == from(p, opcode::close, ""));
    CHECK(p.close_received()->code == close_code::no_status_received);
}

TEST_CASE("the server closes the transport once the close frames are exchanged") {
    protocol p = server();
    p.send_close(1000, "done");
    CHECK(output_of(p) == from(p, opcode::close, close_payload(1000, "done")));
    CHECK(p.current_state() == state::closing);
    CHECK(p.close_expected());
    CHECK_FALSE(p.transport_close_requested());
    p.receive_data(to(p, opcode::close, close_payload(1000)));
    CHECK(output_of(p).empty());  // nothing to echo: we started it
    CHECK(p.transport_close_requested());
    p.receive_eof();
    CHECK(p.current_state() == state::closed);
    CHECK_FALSE(p.close_received_then_sent());
    CHECK_THROWS_AS(p.raise_closed(), syncws::connection_closed_ok);
}

TEST_CASE("the client waits for the server to close the transport") {
    protocol p = client();
    p.send_close();
    p.receive_data(to(p, opcode::close, close_payload(1000)));
    CHECK_FALSE(p.transport_close_requested());
    CHECK(p.close_expected());
    p.receive_eof();
    CHECK(p.current_state() == state::closed);
    CHECK(p.transport_close_requested());
    CHECK_FALSE(p.close_expected());
}

TEST_CASE("a server that receives a close echoes it and closes the transport") {
    protocol p = server();
    p.receive_data(to(p, opcode::close, close_payload(1000)));
    CHECK(output_of(p) == from(p, opcode::close, close_payload(1000)));
    CHECK(p.transport_close_requested());
}

TEST_CASE("end of stream without a close frame is an abnormal closure (1006)") {
    protocol p = client();
    p.receive_eof();
    CHECK(p.current_state() == state::closed);
    CHECK(output_of(p).empty());
    REQUIRE(p.failure());
    CHECK(p.failure()->code == close_code::abnormal_closure);
    try {
        p.raise_closed();
        FAIL("raise_closed returned");
    } catch (const syncws::connection_closed_error& e) {
        CHECK(e.code() == close_code::abnormal_closure);
    }
}

TEST_CASE("end of stream in the middle of a frame says so, also in the error the user sees") {
    protocol p = server();
    p.receive_data(to(p, opcode::binary, "abcdef").substr(0, 9));
    p.receive_eof();
    REQUIRE(p.failure());
    CHECK(p.failure()->reason == "connection lost in the middle of a frame");
    try {
        p.raise_closed();
        FAIL("raise_closed returned");
    } catch (const syncws::connection_closed_error& e) {
        CHECK(std::string(e.what()).find("in the middle of a frame") != std::string::npos);
    }
}

TEST_CASE("data after a close frame is ignored") {
    protocol p = client();
    p.receive_data(to(p, opcode::close, close_payload(1000)) + to(p, opcode::text, "late") +
                   to(p, opcode::ping, "late"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(std::holds_alternative<close_event>(events[0]));
    CHECK(output_of(p) == from(p, opcode::close, close_payload(1000)));
}

TEST_CASE("a close frame with an invalid code fails with 1002") {
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000}) {
        CAPTURE(code);
        protocol p = server();
        p.receive_data(to(p, opcode::close, bytes({code >> 8, code & 0xff})));
        check_failed_with(p, close_code::protocol_error);
    }
}

TEST_CASE("a close frame with a 1-byte payload fails with 1002") {
    protocol p = server();
    p.receive_data(to(p, opcode::close, bytes({0x03})));
    check_failed_with(p, close_code::protocol_error);
}

TEST_CASE("a close reason that is not UTF-8 fails with 1007") {
    protocol p = server();
    p.receive_data(to(p, opcode::close, close_payload(1000) + "\xff"));
    check_failed_with(p, close_code::invalid_payload);
}

TEST_CASE("send_close refuses codes that may not be sent and bad reasons") {
    protocol p = server();
    for (int code : {999, 1004, 1006, 1015, 2000, 5000})
        CHECK_THROWS_AS(p.send_close(static_cast<std::uint16_t>(code)), syncws::protocol_error);
    CHECK_THROWS_AS(p.send_close(1000, std::string(124, 'x')), syncws::protocol_error);
    CHECK_THROWS_AS(p.send_close(1000, "\xff"), syncws::protocol_error);
    CHECK_THROWS_AS(p.send_close(close_code::no_status_received, "reason"), syncws::protocol_error);
    CHECK(output_of(p).empty());
    CHECK(p.current_state() == state::open);
}

TEST_CASE("send_close with 1005 sends an empty close frame") {
    protocol p = server();
    p.send_close(close_code::no_status_received);
    CHECK(output_of(p) == from(p, opcode::close, ""));
}

TEST_CASE("nothing but control frames may be sent after the close handshake started") {
    protocol p = server();
    p.send_close();
    CHECK_THROWS_AS(p.send_text("x"), syncws::invalid_state);
    CHECK_THROWS_AS(p.send_binary("x"), syncws::invalid_state);
    CHECK_THROWS_AS(p.send_close(), syncws::invalid_state);
    p.send_ping("still allowed");
    p.receive_eof();
    CHECK_THROWS_AS(p.send_ping("x"), syncws::invalid_state);
}

TEST_CASE("data frames received while closing are still delivered") {
    protocol p = client();
    p.send_close();
    p.receive_data(to(p, opcode::text, "in flight") + to(p, opcode::close, close_payload(1000)));
    const auto events = events_of(p);
    REQUIRE(events.size() == 2);
    CHECK(as_message(events[0]).data == "in flight");
}

TEST_CASE("fail sends the close frame once and keeps the first reason") {
    protocol p = server();
    p.fail(close_code::internal_error, "boom");
    p.fail(close_code::protocol_error, "second");
    CHECK(output_of(p) == from(p, opcode::close, close_payload(1011, "boom")));
    CHECK(p.failure()->reason == "boom");
    CHECK(p.transport_close_requested());
}

TEST_CASE("fail with a reason over 123 bytes truncates it on a code point boundary") {
    protocol p = server();
    std::string reason(121, 'x');
    reason += "\xe2\x82\xac";  // a 3-byte euro sign straddling byte 123
    p.fail(close_code::internal_error, reason);
    REQUIRE(p.close_sent());
    CHECK(p.close_sent()->reason == std::string(121, 'x'));
}

TEST_CASE("both close frames are kept for the error the user will see") {
    protocol p = client();
    p.send_close(1000, "bye");
    p.receive_data(to(p, opcode::close, close_payload(4000, "later")));
    p.receive_eof();
    try {
        p.raise_closed();
        FAIL("raise_closed returned");
    } catch (const syncws::connection_closed_error& e) {  // 4000 is not a clean code
        REQUIRE(e.sent());
        CHECK(e.sent()->reason == "bye");
        REQUIRE(e.received());
        CHECK(e.received()->code == 4000);
        CHECK(e.code() == 4000);
    }
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §5.3 masking of sent frames") {

TEST_CASE("a client masks what it sends with a fresh key per frame") {
    protocol p(role::client);
    p.send_binary(std::string(64, 'a'));
    p.send_binary(std::string(64, 'a'));
    const std::string out = output_of(p);
    REQUIRE(out.size() == 2 * (2 + 4 + 64));
    CHECK((static_cast<unsigned char>(out[1]) & 0x80) != 0);
    CHECK(out.substr(2, 4) != out.substr(70 + 2, 4));  // 2^-32 chance of a false failure
}

TEST_CASE("a client's frame is masked with the pinned key exactly") {
    protocol p = client();
    p.send_text("Hello");
    CHECK(output_of(p) == bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST_CASE("a server sends unmasked frames and borrows large payloads") {
    protocol p = server();
    const std::string payload(5000, 'z');
    p.send_binary(payload);
    output_queue out;
    p.take_output(out);
    std::vector<std::string_view> pieces;
    out.gather(pieces);
    REQUIRE(pieces.size() == 2);
    CHECK(pieces[0] == bytes({0x82, 0x7e, 0x13, 0x88}));
    CHECK(pieces[1].data() == payload.data());
}

}  // TEST_SUITE

TEST_SUITE("resumable parsing") {

// A conversation covering every frame kind and both short length encodings, as seen by the
// receiving role.
std::string conversation(const protocol& p) {
    return to(p, opcode::text, "Hello") + to(p, opcode::binary, std::string(300, 'b')) +
           to(p, opcode::text, "\xce\xba\xe1\xbd", false) + to(p, opcode::ping, "ping") +
           to(p, opcode::continuation, "\xb9\xcf\x83\xce\xbc\xce\xb5") +
           to(p, opcode::binary, "c") + to(p, opcode::pong, "") +
           to(p, opcode::close, close_payload(1000, "bye"));
}

TEST_CASE("input split at every byte position gives the same events and output, both roles") {
    for (role r : {role::server, role::client}) {
        protocol whole(r, test::pinned_config());
        const std::string input = conversation(whole);
        whole.receive_data(input);
        const std::string expected_output = output_of(whole);
        const auto expected = events_of(whole);
        REQUIRE(expected.size() == 7);

        test::for_each_split(input, [&](const std::vector<std::string_view>& pieces) {
            protocol p(r, test::pinned_config());
            for (std::string_view piece : pieces) p.receive_data(piece);
            CHECK(output_of(p) == expected_output);
            const auto events = events_of(p);
            REQUIRE(events.size() == expected.size());
            for (std::size_t i = 0; i < events.size(); ++i) CHECK(events[i].index() == expected[i].index());
            CHECK(as_message(events[3]).data == "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
            CHECK(as_message(events[4]).data == "c");
            CHECK(std::get<close_event>(events[6]).frame.reason == "bye");
        });
    }
}

TEST_CASE("a frame with a 64-bit length split at every header byte is parsed once, both roles") {
    for (role r : {role::server, role::client}) {
        protocol probe(r);
        const std::string payload(65536, 'L');
        const std::string input = to(probe, opcode::binary, payload) + to(probe, opcode::text, "next");
        for (std::size_t cut = 0; cut <= 20; ++cut) {
            CAPTURE(cut);
            protocol p(r, test::pinned_config());
            p.receive_data(input.substr(0, cut));
            p.receive_data(input.substr(cut));
            const auto events = events_of(p);
            REQUIRE(events.size() == 2);
            CHECK(as_message(events[0]).data == payload);
            CHECK(as_message(events[1]).data == "next");
        }
    }
}

TEST_CASE("reading through prepare_receive in random chunk sizes gives the same messages") {
    std::mt19937 random(12345);
    for (role r : {role::server, role::client}) {
        protocol reference(r, test::pinned_config());
        const std::string input =
            to(reference, opcode::binary, std::string(70000, 'd')) + conversation(reference);
        reference.receive_data(input);
        const auto expected = events_of(reference);
        for (int round = 0; round < 50; ++round) {
            protocol p(r, test::pinned_config());
            std::size_t pos = 0;
            small_read_buffer lent;
            while (pos < input.size()) {
                const receive_buffer region = p.prepare_receive(lent);
                std::size_t n = std::uniform_int_distribution<std::size_t>(1, 9000)(random);
                n = std::min({n, region.size, input.size() - pos});
                std::copy_n(input.data() + pos, n, region.data);
                p.commit_receive(n);
                pos += n;
            }
            const auto events = events_of(p);
            REQUIRE(events.size() == expected.size());
            CHECK(as_message(events[0]).data == std::string(70000, 'd'));
            CHECK(as_message(events[1]).data == "Hello");
            CHECK(as_message(events[2]).data == std::string(300, 'b'));
            CHECK(as_message(events[4]).data == as_message(expected[4]).data);
            CHECK(as_message(events[5]).data == "c");
            CHECK(std::holds_alternative<close_event>(events[7]));
        }
    }
}

TEST_CASE("a large payload is read directly into the message buffer") {
    protocol p = server();
    const std::string payload(100000, 'q');
    const std::string input = to(p, opcode::binary, payload);
    p.receive_data(input.substr(0, 18));  // 14 header bytes and 4 payload bytes
    small_read_buffer lent;
    const receive_buffer region = p.prepare_receive(lent);
    CHECK(region.size == input.size() - 18);  // exactly the rest of this frame's payload
    std::copy_n(input.data() + 18, region.size, region.data);
    p.commit_receive(region.size);
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == payload);
}

TEST_CASE("the bytes still to come are the rest of the frame being read, and none between frames") {
    protocol p = server();
    CHECK(p.frame_bytes_to_come() == 0);
    const std::string input = to(p, opcode::binary, std::string(100000, 'q')) + to(p, opcode::text, "next");
    p.receive_data(input.substr(0, 10));  // part of the 14-byte header: the length is not known yet
    CHECK(p.frame_bytes_to_come() == 0);
    p.receive_data(input.substr(10, 4 + 1000));
    CHECK(p.frame_bytes_to_come() == 99000);
    small_read_buffer lent;
    const receive_buffer region = p.prepare_receive(lent);  // read directly: counted once committed
    std::copy_n(input.data() + 1014, 500, region.data);
    CHECK(p.frame_bytes_to_come() == 99000);
    p.commit_receive(500);
    CHECK(p.frame_bytes_to_come() == 98500);
    p.receive_data(input.substr(1514, 98500));
    CHECK(p.frame_bytes_to_come() == 0);  // the next frame has not started
    p.receive_data(input.substr(100014, 9));  // a 6-byte header and 3 of the 4 payload bytes
    CHECK(p.frame_bytes_to_come() == 1);
    p.receive_data(input.substr(100023));
    CHECK(p.frame_bytes_to_come() == 0);
    const auto events = events_of(p);
    REQUIRE(events.size() == 2);
    CHECK(as_message(events[1]).data == "next");
}

TEST_CASE("no bytes are promised once input is discarded after a close") {
    protocol p = server();
    p.receive_data(to(p, opcode::close, close_payload(1000)));
    const std::string big = to(p, opcode::binary, std::string(100000, 'q'));
    p.receive_data(big.substr(0, 20));
    CHECK(p.frame_bytes_to_come() == 0);
}

TEST_CASE("reads start in the caller's small buffer and grow to the receive buffer once one fills it") {
    protocol p = server();
    small_read_buffer lent;
    receive_buffer region = p.prepare_receive(lent);
    const std::size_t small = region.size;
    CHECK(region.data == lent.bytes);  // the protocol keeps no small buffer of its own
    CHECK(small == sizeof lent.bytes);
    REQUIRE(small < protocol_config{}.receive_buffer_size);
    // A read that fills the small region: the next region is the full receive buffer.
    const std::string input = to(p, opcode::binary, std::string(3000, 'x'));
    std::copy_n(input.data(), small, region.data);
    p.commit_receive(small);
    region = p.prepare_receive(lent);
    CHECK(region.size == protocol_config{}.receive_buffer_size);
    CHECK(region.data != lent.bytes);
    const std::size_t rest = input.size() - small;
    std::copy_n(input.data() + small, rest, region.data);
    p.commit_receive(rest);
    CHECK(as_message(events_of(p).at(0)).data == std::string(3000, 'x'));
    // A read of less than the small region's size: back to the small region.
    const std::string little = to(p, opcode::text, "hi");
    region = p.prepare_receive(lent);
    std::copy_n(little.data(), little.size(), region.data);
    p.commit_receive(little.size());
    CHECK(as_message(events_of(p).at(0)).data == "hi");
    region = p.prepare_receive(lent);
    CHECK(region.size == small);
    CHECK(region.data == lent.bytes);
}

TEST_CASE("committing bytes that no prepare_receive asked for is a usage error") {
    protocol p = server();
    CHECK_THROWS_AS(p.commit_receive(5), syncws::invalid_state);
    p.commit_receive(0);  // a read that timed out, with nothing to commit: harmless
    small_read_buffer lent;
    const std::string frame = to(p, opcode::text, "ok");
    const receive_buffer region = p.prepare_receive(lent);
    std::copy_n(frame.data(), frame.size(), region.data);
    p.commit_receive(frame.size());
    CHECK(as_message(events_of(p).at(0)).data == "ok");
    CHECK_THROWS_AS(p.commit_receive(5), syncws::invalid_state);  // the lent buffer was given back
}

TEST_CASE("after a large frame the next header is read alone, so its payload is read directly") {
    protocol p = server();
    const std::string big(70000, 'q');
    p.receive_data(to(p, opcode::binary, big));
    CHECK(as_message(events_of(p).at(0)).data == big);

    // The next read asks for one header's worth of bytes only ...
    const std::string second = to(p, opcode::binary, big);  // 14-byte header
    small_read_buffer lent;
    receive_buffer region = p.prepare_receive(lent);
    REQUIRE(region.size == max_frame_header_size);
    std::copy_n(second.data(), region.size, region.data);
    p.commit_receive(region.size);
    // ... and the one after it gets the whole payload, in the message's own buffer.
    region = p.prepare_receive(lent);
    REQUIRE(region.size == big.size());
    std::copy_n(second.data() + max_frame_header_size, region.size, region.data);
    p.commit_receive(region.size);
    CHECK(as_message(events_of(p).at(0)).data == big);

    // A small frame ends it: reads take whole buffers again.
    p.receive_data(to(p, opcode::text, "small"));
    events_of(p);
    CHECK(p.prepare_receive(lent).size > max_frame_header_size);
}

}  // TEST_SUITE

// ------------------------------------------------------------------ permessage-deflate

namespace {

// A client and a server protocol that negotiated permessage-deflate through a real opening
// handshake, with every message compressed (threshold 0) unless a test says otherwise.
struct deflate_pair {
    client_protocol client;
    server_protocol server;

    deflate_pair(deflate_options client_options, deflate_options server_options,
                 protocol_config server_config = {})
        : client(parse_uri("ws://example.com/"), client_handshake(client_options),
                 test::pinned_config()),
          server(server_handshake(server_options), server_config) {
        client.send_request(client.connect());
        server.receive_data(output_of(client));
        auto request = events_of(server);
        REQUIRE(request.size() == 1);
        server.send_response(server.accept(std::get<http_request>(request[0])));
        client.receive_data(output_of(server));
        REQUIRE(client.current_state() == state::open);
        events_of(client);
    }

    static client_handshake_config client_handshake(deflate_options options) {
        client_handshake_config config;
        config.deflate = options;
        return config;
    }
    static server_handshake_config server_handshake(deflate_options options) {
        server_handshake_config config;
        config.deflate = options;
        return config;
    }
};

deflate_options every_message() {
    deflate_options options;
    options.threshold = 0;
    return options;
}

deflate_options server_every_message() {
    deflate_options options = deflate_options::for_server();
    options.threshold = 0;
    return options;
}

// The RFC 7692 §7.2.3.1 "Hello", compressed, as a client would send it (masked).
std::string client_frame(std::string_view payload, bool rsv1, bool fin = true,
                         opcode op = opcode::text) {
    return frame(op, payload, true, fin, rsv1);
}

const std::string compressed_hello = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});

}  // namespace

TEST_SUITE("RFC 7692 permessage-deflate in the protocol") {

TEST_CASE("both sides turn compression on when the handshake negotiated it") {
    deflate_pair pair(deflate_options{}, deflate_options::for_server());
    REQUIRE(pair.client.deflate());
    REQUIRE(pair.server.deflate());
    CHECK(pair.client.deflate()->parameters().our_window_bits == 12);
    CHECK(pair.server.deflate()->parameters().peer_window_bits == 12);
    CHECK(pair.server.deflate()->parameters().our_window_bits == 12);
}

TEST_CASE("no compression when the server does not accept the offer") {
    deflate_options off = deflate_options::for_server();
    off.enabled = false;
    deflate_pair pair(deflate_options{}, off);
    CHECK(!pair.client.deflate());
    CHECK(!pair.server.deflate());
}

TEST_CASE("the server inflates the RFC 7692 example \"Hello\" and the client sends it the same way") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.receive_data(client_frame(compressed_hello, true));
    auto events = events_of(pair.server);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == "Hello");

    pair.server.send_text("Hello");
    CHECK(output_of(pair.server) == bytes({0xc1, 0x07}) + compressed_hello);
}

TEST_CASE("with context takeover a repeated message compresses to the RFC 7692 second form") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.send_text("Hello");
    output_of(pair.server);
    pair.server.send_text("Hello");
    CHECK(output_of(pair.server) == bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}));
}

TEST_CASE("without context takeover every message compresses alike") {
    deflate_options server = server_every_message();
    server.no_context_takeover = true;
    deflate_pair pair(every_message(), server);
    for (int i = 0; i < 3; ++i) {
        pair.server.send_text("Hello");
        CHECK(output_of(pair.server) == bytes({0xc1, 0x07}) + compressed_hello);
    }
}

TEST_CASE("a compressed message split into fragments is reassembled (RFC 7692 §7.2.3.1)") {
    deflate_pair pair(every_message(), server_every_message());
    const std::string input = client_frame(bytes({0xf2, 0x48}), true, false) +
                              client_frame(bytes({0xcd, 0xc9, 0xc9, 0x07, 0x00}), false, true,
                                           opcode::continuation);
    test::for_each_split(input, [&](const std::vector<std::string_view>& pieces) {
        deflate_pair fresh(every_message(), server_every_message());
        for (auto piece : pieces) fresh.server.receive_data(piece);
        auto events = events_of(fresh.server);
        REQUIRE(events.size() == 1);
        CHECK(as_message(events[0]).data == "Hello");
    });
}

TEST_CASE("messages travel both ways compressed, every size, fragmented or not") {
    deflate_pair pair(every_message(), server_every_message());
    std::mt19937 random(7);
    for (std::size_t size : {0u, 1u, 100u, 5000u, 70000u, 300000u}) {
        std::string text;
        while (text.size() < size) text += "{\"id\": " + std::to_string(random() % 1000) + ", \"name\": \"αβγ\"}";
        text.resize(size);
        while (!is_valid_utf8(text)) text.pop_back();

        pair.client.send_text(text);
        const std::string wire = output_of(pair.client);
        if (size > 1000) CHECK(wire.size() < text.size() / 2);
        pair.server.receive_data(wire);
        auto at_server = events_of(pair.server);
        REQUIRE(at_server.size() == 1);
        CHECK(as_message(at_server[0]).data == text);

        const std::size_t half = text.size() / 2;
        pair.server.send_binary(std::string_view(text).substr(0, half), false);
        pair.server.send_continuation(std::string_view(text).substr(half), true);
        pair.client.receive_data(output_of(pair.server));
        auto at_client = events_of(pair.client);
        REQUIRE(at_client.size() == 1);
        CHECK(as_message(at_client[0]).data == text);
        CHECK(!as_message(at_client[0]).text);
    }
}

TEST_CASE("RSV1 is set on the first frame of a compressed message only") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.send_binary("first part", false);
    const std::string first = output_of(pair.server);
    pair.server.send_continuation("second part", true);
    const std::string second = output_of(pair.server);
    CHECK((static_cast<unsigned char>(first[0]) & 0x40) != 0);
    CHECK((static_cast<unsigned char>(second[0]) & 0x40) == 0);
}

TEST_CASE("small messages and messages marked compression::never are sent as they are") {
    deflate_pair pair(deflate_options{}, deflate_options::for_server());
    pair.server.send_text("short");  // under the 128-byte threshold
    CHECK(output_of(pair.server) == frame(opcode::text, "short", false));
    const std::string big(1000, 'x');
    pair.server.send_binary(big, true, compression::never);
    CHECK(output_of(pair.server) == frame(opcode::binary, big, false));
    pair.server.send_binary(big);
    const std::string compressed = output_of(pair.server);
    CHECK(compressed.size() < 100);
    CHECK((static_cast<unsigned char>(compressed[0]) & 0x40) != 0);
}

TEST_CASE("control frames are never compressed") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.send_ping("ping payload");
    CHECK(output_of(pair.server) == frame(opcode::ping, "ping payload", false));
    pair.server.send_close(close_code::normal, "bye");
    CHECK(output_of(pair.server) == frame(opcode::close, close_payload(1000, "bye"), false));
}

TEST_CASE("RSV1 on a continuation frame fails the connection with 1002") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.receive_data(client_frame("ab", false, false) +
                             client_frame(compressed_hello, true, true, opcode::continuation));
    check_failed_with(pair.server, close_code::protocol_error);
}

TEST_CASE("RSV1 on a control frame fails the connection with 1002") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.receive_data(client_frame("", true, true, opcode::ping));
    check_failed_with(pair.server, close_code::protocol_error);
}

TEST_CASE("data that is not deflate fails the connection with 1007") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.receive_data(client_frame(bytes({0xff, 0xff, 0xff, 0xff, 0xff}), true));
    check_failed_with(pair.server, close_code::invalid_payload);
}

TEST_CASE("compressed text that inflates to invalid UTF-8 fails the connection with 1007") {
    deflate_pair pair(every_message(), server_every_message());
    pair.client.send_binary(bytes({'o', 'k', 0xc3, 0x28}));  // compressed, but sent as binary
    std::string wire = output_of(pair.client);
    wire[0] = static_cast<char>((wire[0] & 0xf0) | 0x01);    // relabelled as text
    pair.server.receive_data(wire);
    check_failed_with(pair.server, close_code::invalid_payload);
}

TEST_CASE("a small frame that inflates past the limit fails with 1009 without using the memory") {
    protocol_config limited;
    limited.max_message_size = 1024 * 1024;
    for (bool streaming : {false, true}) {
        CAPTURE(streaming);
        limited.stream_fragments = streaming;
        deflate_pair pair(every_message(), server_every_message(), limited);
        // 64 MiB of zeros, compressed by our own client to about 64 KiB, in 1 MiB fragments.
        const std::string zeros(1024 * 1024, '\0');
        for (int i = 0; i < 64; ++i) {
            if (i == 0)
                pair.client.send_binary(zeros, false);
            else
                pair.client.send_continuation(zeros, i == 63);
            pair.server.receive_data(output_of(pair.client));
            events_of(pair.server);
            CHECK(pair.server.partial_message_size() <= limited.max_message_size);
            if (pair.server.failure()) break;
        }
        check_failed_with(pair.server, close_code::message_too_big);
    }
}

TEST_CASE("an incompressible message of the largest size passes though deflate made it bigger") {
    protocol_config limited;
    limited.max_message_size = 65536;
    deflate_pair pair(every_message(), server_every_message(), limited);
    std::mt19937 random(3);
    std::string noise(limited.max_message_size, '\0');
    for (auto& c : noise) c = static_cast<char>(random());
    pair.client.send_binary(noise);
    const std::string wire = output_of(pair.client);
    CHECK(wire.size() > noise.size() + 14);  // the compressed frame is over the limit
    pair.server.receive_data(wire);
    auto events = events_of(pair.server);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == noise);
}

TEST_CASE("streamed fragments of a compressed message come out inflated, frame by frame") {
    protocol_config streaming;
    streaming.stream_fragments = true;
    deflate_pair pair(every_message(), server_every_message(), streaming);
    pair.client.send_text("first half, ", false);
    pair.client.send_continuation("second half", true);
    pair.server.receive_data(output_of(pair.client));
    std::string whole;
    for (const auto& e : events_of(pair.server)) whole += as_message(e).data;
    CHECK(whole == "first half, second half");
}

}  // TEST_SUITE

TEST_SUITE("deferred input failures (protocol_config::defer_input_failures)") {

namespace {
protocol deferring(role r) {
    protocol_config config;
    config.defer_input_failures = true;
    return protocol(r, test::pinned_config(config));
}
}  // namespace

TEST_CASE("bad input after a message leaves the connection open for the answer") {
    for (role r : {role::server, role::client}) {
        protocol p = deferring(r);
        // Autobahn 3.3: a valid message, a frame with a reserved bit, then a ping.
        p.receive_data(to(p, opcode::text, "Hello") + to(p, opcode::text, "x", true, true) +
                       to(p, opcode::ping, "p"));
        const auto events = events_of(p);
        REQUIRE(events.size() == 1);
        CHECK(as_message(events[0]).data == "Hello");
        CHECK(output_of(p).empty());  // no close frame yet, and the ping after it is not read
        REQUIRE(p.pending_failure());
        CHECK(p.pending_failure()->code == close_code::protocol_error);
        CHECK_FALSE(p.failure());
        CHECK(p.current_state() == state::open);
        CHECK_FALSE(p.transport_close_requested());

        p.send_text("Hello");
        CHECK(output_of(p) == from(p, opcode::text, "Hello"));

        p.fail_pending();
        CHECK_FALSE(p.pending_failure());
        check_failed_with(p, close_code::protocol_error);
        CHECK(p.transport_close_requested() == (r == role::server));
    }
}

TEST_CASE("input after the bad frame is ignored while the failure is pending") {
    protocol p = deferring(role::server);
    p.receive_data(to(p, opcode::continuation, "x"));
    REQUIRE(p.pending_failure());
    p.receive_data(to(p, opcode::text, "later") + to(p, opcode::close, close_payload(1000)));
    CHECK(events_of(p).empty());
    CHECK(output_of(p).empty());
    CHECK_FALSE(p.close_received());
}

TEST_CASE("every kind of input failure can be deferred, with its own close code") {
    struct bad_input {
        const char* what;
        std::string bytes;
        std::uint16_t code;
    };
    protocol reference = deferring(role::server);
    const std::vector<bad_input> inputs = {
        {"invalid UTF-8", to(reference, opcode::text, bytes({0xce, 0xba, 0xff})),
         close_code::invalid_payload},
        {"a text message ending inside a sequence", to(reference, opcode::text, bytes({0xce})),
         close_code::invalid_payload},
        {"a frame over the message limit",
         to(reference, opcode::binary, std::string(17 * 1024 * 1024, 'x')),
         close_code::message_too_big},
        {"a bad close payload", to(reference, opcode::close, bytes({0x03})),
         close_code::protocol_error},
        {"a new message inside a fragmented one",
         to(reference, opcode::text, "a", false) + to(reference, opcode::text, "b"),
         close_code::protocol_error},
    };
    for (const auto& input : inputs) {
        CAPTURE(input.what);
        protocol p = deferring(role::server);
        p.receive_data(input.bytes);
        REQUIRE(p.pending_failure());
        CHECK(p.pending_failure()->code == input.code);
        CHECK(output_of(p).empty());
        p.fail_pending();
        check_failed_with(p, input.code);
    }
}

TEST_CASE("closing with a failure pending sends the failure's close frame instead") {
    protocol p = deferring(role::server);
    p.receive_data(to(p, opcode::text, bytes({0xff})));
    REQUIRE(p.pending_failure());
    p.send_close(close_code::normal, "bye");
    check_failed_with(p, close_code::invalid_payload);
    CHECK_FALSE(p.pending_failure());
}

TEST_CASE("end of stream with a failure pending reports the failure, not 1006") {
    protocol p = deferring(role::client);
    p.receive_data(to(p, opcode::text, bytes({0xff})));
    p.receive_eof();
    REQUIRE(p.failure());
    CHECK(p.failure()->code == close_code::invalid_payload);
    CHECK_FALSE(p.pending_failure());
    CHECK(p.current_state() == state::closed);
    CHECK_THROWS_AS(p.raise_closed(), syncws::connection_closed_error);
}

TEST_CASE("an explicit fail() replaces the pending failure") {
    protocol p = deferring(role::server);
    p.receive_data(to(p, opcode::text, bytes({0xff})));
    p.fail(close_code::internal_error, "keepalive ping timeout");
    check_failed_with(p, close_code::internal_error);
    CHECK_FALSE(p.pending_failure());
    p.fail_pending();  // nothing left to do
    CHECK(p.failure()->code == close_code::internal_error);
}

TEST_CASE("without the setting, bad input fails the connection at once") {
    protocol p = server();
    p.receive_data(to(p, opcode::text, "Hello") + to(p, opcode::text, "x", true, true));
    CHECK_FALSE(p.pending_failure());
    check_failed_with(p, close_code::protocol_error);
}

}  // TEST_SUITE

TEST_SUITE("reusing message storage") {

TEST_CASE("the next message is assembled in the storage handed back with reuse_buffer") {
    protocol p = server();
    p.receive_data(to(p, opcode::binary, std::string(100, 'a')));
    auto first = events_of(p);
    REQUIRE(first.size() == 1);
    std::string storage = std::move(std::get<message_event>(first[0]).data);
    const char* const where = storage.data();
    p.reuse_buffer(std::move(storage));
    p.receive_data(to(p, opcode::text, "sixty bytes or so, less than the hundred of the first one"));
    const auto second = events_of(p);
    REQUIRE(second.size() == 1);
    CHECK(as_message(second[0]).text);
    CHECK(as_message(second[0]).data == "sixty bytes or so, less than the hundred of the first one");
    CHECK(as_message(second[0]).data.data() == where);
}

TEST_CASE("a message larger than the storage handed back arrives whole, fragmented or not") {
    protocol p = server();
    std::string storage(40, 'x');
    p.reuse_buffer(std::move(storage));
    const std::string payload(70000, 'y');
    p.receive_data(to(p, opcode::binary, payload));
    auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == payload);

    p.reuse_buffer(std::move(std::get<message_event>(events[0]).data));
    p.receive_data(to(p, opcode::text, "one ", false) + to(p, opcode::continuation, "two", true));
    events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == "one two");
}

// Feeds input through prepare_receive()/commit_receive() in reads of at most `most` bytes,
// as the blocking layer does (direct reads into the message buffer included), and hands
// each message's storage back as recv(m) does. Returns copies of the messages.
std::vector<std::string> read_through_regions(protocol& p, std::string_view input, std::size_t most) {
    std::vector<std::string> messages;
    small_read_buffer lent;
    while (!input.empty()) {
        const receive_buffer region = p.prepare_receive(lent);
        const std::size_t n = std::min({most, region.size, input.size()});
        std::copy_n(input.data(), n, region.data);
        p.commit_receive(n);
        input.remove_prefix(n);
        for (auto& e : events_of(p)) {
            if (!std::holds_alternative<message_event>(e)) continue;
            messages.push_back(as_message(e).data);
            p.reuse_buffer(std::move(std::get<message_event>(e).data));
        }
    }
    return messages;
}

TEST_CASE("a direct read goes into handed-back storage as it is, not zeroed first") {
    protocol p = server();
    std::string storage(60000, 'J');
    const char* const where = storage.data();
    p.reuse_buffer(std::move(storage));
    const std::string payload(50000, 'q');
    const std::string input = to(p, opcode::binary, payload) + to(p, opcode::text, "next");
    const std::size_t header = input.size() - payload.size() - 10;  // "next" framed: 10 bytes
    p.receive_data(input.substr(0, header));
    small_read_buffer lent;
    const receive_buffer region = p.prepare_receive(lent);
    CHECK(region.data == where);
    CHECK(region.size == payload.size());  // what the frame owes, though the storage has more
    CHECK(std::string(region.data, region.size) == std::string(payload.size(), 'J'));
    std::copy_n(input.data() + header, region.size, region.data);
    p.commit_receive(region.size);
    p.receive_data(input.substr(header + payload.size()));
    const auto events = events_of(p);
    REQUIRE(events.size() == 2);
    CHECK(as_message(events[0]).data == payload);
    CHECK(as_message(events[0]).data.data() == where);
    CHECK(as_message(events[1]).data == "next");
}

TEST_CASE("nothing of handed-back storage's old contents shows in a message") {
    for (const std::size_t most : {std::size_t{7}, std::size_t{1000}, std::size_t{100000}}) {
        CAPTURE(most);
        protocol p = server();
        const std::string big(10000, 'b');
        // A message read directly, then one much smaller read directly, then small ones
        // and fragmented ones (a direct frame, a small one, a control frame between).
        const std::string input =
            to(p, opcode::binary, std::string(60000, 'J')) + to(p, opcode::binary, big) +
            to(p, opcode::text, "hi") + to(p, opcode::binary, big, false) +
            to(p, opcode::continuation, "tail", false) + to(p, opcode::ping, "p") +
            to(p, opcode::continuation, std::string(5000, 'c')) + to(p, opcode::text, "");
        const std::vector<std::string> messages = read_through_regions(p, input, most);
        REQUIRE(messages.size() == 5);
        CHECK(messages[0] == std::string(60000, 'J'));
        CHECK(messages[1] == big);
        CHECK(messages[2] == "hi");
        CHECK(messages[3] == big + "tail" + std::string(5000, 'c'));
        CHECK(messages[4].empty());
    }
}

TEST_CASE("a compressed message in handed-back storage holds only what was inflated") {
    deflate_pair pair(every_message(), server_every_message());
    pair.server.reuse_buffer(std::string(60000, 'J'));
    pair.server.receive_data(client_frame(compressed_hello, true));
    const auto events = events_of(pair.server);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == "Hello");
}

TEST_CASE("a close frame inside a fragmented message leaves no partial message behind") {
    protocol p = server();
    // After a large message (its storage handed back), the next frame goes into that
    // storage: the few payload bytes read with its header copied in, the rest read there.
    REQUIRE(read_through_regions(p, to(p, opcode::binary, std::string(20000, 'J')), 100000).size() == 1);
    read_through_regions(p, to(p, opcode::binary, std::string(5000, 'a'), false), 100000);
    CHECK(p.partial_message_size() == 5000);
    read_through_regions(p, to(p, opcode::close, close_payload(1000)), 100000);
    CHECK(p.partial_message_size() == 0);
}

TEST_CASE("storage over max_reused_buffer is let go rather than kept for later") {
    protocol p = server();
    std::string big;
    big.reserve(protocol::max_reused_buffer + 1);
    p.reuse_buffer(std::move(big));
    p.receive_data(to(p, opcode::binary, "small"));
    const auto events = events_of(p);
    REQUIRE(events.size() == 1);
    CHECK(as_message(events[0]).data == "small");
    CHECK(as_message(events[0]).data.capacity() <= protocol::max_reused_buffer);
}

}  // TEST_SUITE

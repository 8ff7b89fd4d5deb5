#include <doctest.h>

#include "syncws/core/frame.hpp"
#include "test_support.hpp"

using namespace syncws::core;
using test::bytes;

namespace {

frame_header decode(const std::string& wire, std::size_t* size = nullptr) {
    frame_header header;
    std::size_t header_size = 0;
    REQUIRE(decode_frame_header(reinterpret_cast<const unsigned char*>(wire.data()), wire.size(),
                                &header, &header_size) == decode_status::ok);
    if (size) *size = header_size;
    return header;
}

std::string encode(bool fin, bool rsv1, opcode op, std::uint64_t length, const mask_key* key) {
    unsigned char out[max_frame_header_size];
    const std::size_t n = encode_frame_header(out, fin, rsv1, op, length, key);
    return std::string(reinterpret_cast<const char*>(out), n);
}

}  // namespace

TEST_SUITE("RFC 6455 §5.2 frame headers") {

TEST_CASE("a payload under 126 bytes uses the 7-bit length") {
    CHECK(encode(true, false, opcode::text, 125, nullptr) == bytes({0x81, 0x7d}));
    CHECK(decode(bytes({0x81, 0x7d})).payload_length == 125);
}

TEST_CASE("a payload of 126 to 65535 bytes uses the 16-bit length") {
    CHECK(encode(true, false, opcode::binary, 126, nullptr) == bytes({0x82, 0x7e, 0x00, 0x7e}));
    CHECK(encode(true, false, opcode::binary, 65535, nullptr) == bytes({0x82, 0x7e, 0xff, 0xff}));
    CHECK(decode(bytes({0x82, 0x7e, 0xff, 0xff})).payload_length == 65535);
}

TEST_CASE("a payload of 65536 bytes or more uses the 64-bit length") {
    const std::string wire = bytes({0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0});
    CHECK(encode(true, false, opcode::binary, 65536, nullptr) == wire);
    std::size_t size = 0;
    CHECK(decode(wire, &size).payload_length == 65536);
    CHECK(size == 10);
}

TEST_CASE("a 64-bit length with the most significant bit set is invalid") {
    const std::string wire = bytes({0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0});
    frame_header header;
    std::size_t size = 0;
    CHECK(decode_frame_header(reinterpret_cast<const unsigned char*>(wire.data()), wire.size(),
                              &header, &size) == decode_status::invalid_length);
}

TEST_CASE("the mask key follows the length and sets the mask bit") {
    const std::string wire = encode(true, false, opcode::text, 5, &test::pinned_key);
    CHECK(wire == bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d}));
    const frame_header header = decode(wire);
    CHECK(header.masked);
    CHECK(header.key == test::pinned_key);
}

TEST_CASE("the FIN, RSV1 and opcode bits round-trip") {
    const frame_header header = decode(encode(false, true, opcode::continuation, 0, nullptr));
    CHECK_FALSE(header.fin);
    CHECK(header.rsv1);
    CHECK(header.op == opcode::continuation);
}

TEST_CASE("a header split anywhere asks for more bytes until it is complete") {
    const std::string wire = encode(true, false, opcode::binary, 70000, &test::pinned_key);
    for (std::size_t n = 0; n < wire.size(); ++n) {
        frame_header header;
        std::size_t size = 0;
        CHECK(decode_frame_header(reinterpret_cast<const unsigned char*>(wire.data()), n, &header,
                                  &size) == decode_status::need_more);
    }
    CHECK(decode(wire).payload_length == 70000);
}

TEST_CASE("the RFC 6455 §5.7 single-frame masked text example decodes") {
    const std::string wire = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    std::size_t size = 0;
    const frame_header header = decode(wire, &size);
    std::string payload = wire.substr(size);
    apply_mask(payload.data(), payload.size(), header.key);
    CHECK(payload == "Hello");
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §5.2 frame rules") {

frame_header header_of(opcode op, bool masked, std::uint64_t length = 0, bool fin = true) {
    frame_header h;
    h.op = op;
    h.masked = masked;
    h.payload_length = length;
    h.fin = fin;
    return h;
}

TEST_CASE("a server refuses an unmasked frame and a client refuses a masked one") {
    CHECK(check_frame_header(header_of(opcode::text, false), {role::server, false}) ==
          "client frame is not masked");
    CHECK(check_frame_header(header_of(opcode::text, true), {role::client, false}) ==
          "server frame is masked");
    CHECK(check_frame_header(header_of(opcode::text, true), {role::server, false}).empty());
    CHECK(check_frame_header(header_of(opcode::text, false), {role::client, false}).empty());
}

TEST_CASE("reserved opcodes are refused") {
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        CAPTURE(op);
        CHECK(check_frame_header(header_of(static_cast<opcode>(op), false), {role::client, false})
                  .find("reserved opcode") != std::string::npos);
    }
}

TEST_CASE("reserved bits are refused unless an extension claimed RSV1") {
    frame_header h = header_of(opcode::text, false);
    h.rsv1 = true;
    CHECK_FALSE(check_frame_header(h, {role::client, false}).empty());
    CHECK(check_frame_header(h, {role::client, true}).empty());
    h.rsv1 = false;
    h.rsv2 = true;
    CHECK_FALSE(check_frame_header(h, {role::client, true}).empty());
    h.rsv2 = false;
    h.rsv3 = true;
    CHECK_FALSE(check_frame_header(h, {role::client, true}).empty());
}

TEST_CASE("control frames must be at most 125 bytes, unfragmented and uncompressed") {
    CHECK(check_frame_header(header_of(opcode::ping, false, 125), {role::client, false}).empty());
    CHECK_FALSE(check_frame_header(header_of(opcode::ping, false, 126), {role::client, false}).empty());
    CHECK_FALSE(check_frame_header(header_of(opcode::close, false, 0, false), {role::client, false}).empty());
    frame_header h = header_of(opcode::pong, false);
    h.rsv1 = true;
    CHECK_FALSE(check_frame_header(h, {role::client, true}).empty());
}

}  // TEST_SUITE

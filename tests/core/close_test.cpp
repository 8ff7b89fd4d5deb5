#include <doctest.h>

#include "syncws/core/close.hpp"
#include "test_support.hpp"

using namespace syncws::core;
using test::bytes;

TEST_SUITE("RFC 6455 §7.4 close codes") {

TEST_CASE("only 1000-1003, 1007-1014 and 3000-4999 may be sent") {
    for (int code = 0; code <= 65535; ++code) {
        const bool expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                              (code >= 3000 && code <= 4999);
        CAPTURE(code);
        CHECK(is_sendable_close_code(static_cast<std::uint16_t>(code)) == expected);
    }
}

TEST_CASE("1005, 1006 and 1015 are never sendable") {
    CHECK_FALSE(is_sendable_close_code(close_code::no_status_received));
    CHECK_FALSE(is_sendable_close_code(close_code::abnormal_closure));
    CHECK_FALSE(is_sendable_close_code(close_code::tls_handshake));
}

TEST_CASE("1006 is explained in words") {
    CHECK(std::string(explain_close_code(1006)).find("without a close frame") != std::string::npos);
    CHECK(explain_close_code(4001) == "private code");
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §5.5.1 close payload") {

TEST_CASE("an empty payload means no status code (1005)") {
    const close_parse_result r = parse_close_payload("");
    REQUIRE(r.frame);
    CHECK(r.frame->code == close_code::no_status_received);
    CHECK(r.frame->reason.empty());
}

TEST_CASE("a 1-byte payload is a protocol error") {
    const close_parse_result r = parse_close_payload(bytes({0x03}));
    CHECK_FALSE(r.frame);
    CHECK(r.error_code == close_code::protocol_error);
}

TEST_CASE("a code that may not be sent is a protocol error") {
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
        CAPTURE(code);
        const close_parse_result r = parse_close_payload(bytes({code >> 8, code & 0xff}));
        CHECK_FALSE(r.frame);
        CHECK(r.error_code == close_code::protocol_error);
    }
}

TEST_CASE("a reason that is not UTF-8 is invalid payload data (1007)") {
    const close_parse_result r = parse_close_payload(bytes({0x03, 0xe8, 0xce, 0xba, 0xe1, 0xbd}) +
                                                     bytes({0xff}));
    CHECK_FALSE(r.frame);
    CHECK(r.error_code == close_code::invalid_payload);
}

TEST_CASE("a code and a UTF-8 reason parse and serialize back to the same bytes") {
    const std::string payload = bytes({0x0f, 0xa0}) + "bye \xce\xba";
    const close_parse_result r = parse_close_payload(payload);
    REQUIRE(r.frame);
    CHECK(r.frame->code == 4000);
    CHECK(r.frame->reason == "bye \xce\xba");
    CHECK(r.frame->serialize() == payload);
}

TEST_CASE("a 1005 close frame serializes to an empty payload") {
    CHECK(close_frame{}.serialize().empty());
}

TEST_CASE("to_string names the code, explains it and shows the reason") {
    CHECK(close_frame{1000, "bye"}.to_string() == "1000 (normal closure) bye");
}

}  // TEST_SUITE

#include "syncws/core/base64.hpp"

#include <doctest.h>

#include <string>

using syncws::core::base64_decode;
using syncws::core::base64_encode;

TEST_SUITE("RFC 4648 §4 base64") {

TEST_CASE("the RFC 4648 §10 test vectors encode as specified") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("fooba") == "Zm9vYmE=");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
}

TEST_CASE("the RFC 4648 §10 test vectors decode as specified") {
    CHECK(base64_decode("") == std::string());
    CHECK(base64_decode("Zg==") == std::string("f"));
    CHECK(base64_decode("Zm8=") == std::string("fo"));
    CHECK(base64_decode("Zm9v") == std::string("foo"));
    CHECK(base64_decode("Zm9vYg==") == std::string("foob"));
    CHECK(base64_decode("Zm9vYmE=") == std::string("fooba"));
    CHECK(base64_decode("Zm9vYmFy") == std::string("foobar"));
}

TEST_CASE("every byte value survives a round trip, including NUL and the top bit") {
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
    const std::string text = base64_encode(bytes);
    CHECK(text.size() == 344);
    CHECK(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789+/=") == std::string::npos);
    CHECK(base64_decode(text) == bytes);
}

TEST_CASE("the characters + and / of the standard alphabet are used, not the URL-safe ones") {
    CHECK(base64_encode("\xfb\xff") == "+/8=");
    CHECK(base64_decode("+/8=") == std::string("\xfb\xff"));
    CHECK_FALSE(base64_decode("-_8=").has_value());
}

TEST_CASE("a length that is not a multiple of 4 is rejected, with or without padding") {
    CHECK_FALSE(base64_decode("Zg").has_value());
    CHECK_FALSE(base64_decode("Zg=").has_value());
    CHECK_FALSE(base64_decode("Zm9").has_value());
    CHECK_FALSE(base64_decode("Zm9vY").has_value());
    CHECK_FALSE(base64_decode("Zg===").has_value());
}

TEST_CASE("a character outside the alphabet is rejected") {
    CHECK_FALSE(base64_decode("Zm9*").has_value());
    CHECK_FALSE(base64_decode("Zm9v!A==").has_value());
    CHECK_FALSE(base64_decode(std::string("Zm\0v", 4)).has_value());
    CHECK_FALSE(base64_decode("Zm9\xc3").has_value());
}

TEST_CASE("padding anywhere but at the end is rejected") {
    CHECK_FALSE(base64_decode("Zg==Zm9v").has_value());
    CHECK_FALSE(base64_decode("Zm8=Zm9v").has_value());
    CHECK_FALSE(base64_decode("Z=9v").has_value());
    CHECK_FALSE(base64_decode("Zm=v").has_value());
    CHECK_FALSE(base64_decode("====").has_value());
    CHECK_FALSE(base64_decode("Z===").has_value());
}

TEST_CASE("white space is rejected wherever it is, even where OpenSSL would skip it") {
    CHECK_FALSE(base64_decode(" Zm9v").has_value());
    CHECK_FALSE(base64_decode("Zm9v ").has_value());
    CHECK_FALSE(base64_decode("Zm9v\n").has_value());
    CHECK_FALSE(base64_decode("Zm9v\r\n").has_value());
    CHECK_FALSE(base64_decode("Zm 9").has_value());
    CHECK_FALSE(base64_decode("Zm9v\tZm9v").has_value());
    CHECK_FALSE(base64_decode("Zm9v    ").has_value());
    CHECK_FALSE(base64_decode("    ").has_value());
}

TEST_CASE("non-zero bits after the last byte are rejected, so each value has one encoding") {
    // "Zh==" and "Zm9=" carry the same bytes as "Zg==" and "Zm8=" plus stray low bits.
    CHECK_FALSE(base64_decode("Zh==").has_value());
    CHECK_FALSE(base64_decode("Zm9=").has_value());
}

TEST_CASE("missing padding is rejected") {
    CHECK_FALSE(base64_decode("Zg").has_value());
    CHECK_FALSE(base64_decode("Zm8").has_value());
}

TEST_CASE("a 16-byte WebSocket key decodes to 16 bytes") {
    const auto key = base64_decode("dGhlIHNhbXBsZSBub25jZQ==");
    REQUIRE(key.has_value());
    CHECK(*key == "the sample nonce");
}

}  // TEST_SUITE

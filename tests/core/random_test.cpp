#include "syncws/core/random.hpp"

#include <doctest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "syncws/core/base64.hpp"
#include "syncws/core/handshake.hpp"

using syncws::core::mask_key;
using syncws::core::mask_key_source;
using syncws::core::random_bytes;

namespace {

// mask_key_source's batch size (private there): a source that reused or stopped refilling
// its batch would repeat a run of this many keys.
constexpr std::size_t keys_per_batch = 256;

std::vector<mask_key> draw(mask_key_source& source, std::size_t n) {
    std::vector<mask_key> keys(n);
    for (auto& key : keys) key = source.next();
    return keys;
}

}  // namespace

TEST_SUITE("RFC 6455 §5.3 and §10.3 randomness") {

TEST_CASE("two calls return different bytes") {
    std::array<unsigned char, 16> a{};
    std::array<unsigned char, 16> b{};
    random_bytes(a.data(), a.size());
    random_bytes(b.data(), b.size());
    CHECK(a != b);
}

TEST_CASE("the whole buffer is filled, up to its last byte") {
    std::vector<unsigned char> buffer(1 << 20, 0);
    random_bytes(buffer.data(), buffer.size());
    const auto tail = buffer.end() - 64;
    CHECK(std::any_of(tail, buffer.end(), [](unsigned char c) { return c != 0; }));
    CHECK(std::any_of(buffer.begin(), buffer.begin() + 64, [](unsigned char c) { return c != 0; }));
}

TEST_CASE("asking for zero bytes writes nothing") {
    unsigned char guard = 0xAB;
    random_bytes(&guard, 0);
    CHECK(guard == 0xAB);
}

TEST_CASE("mask keys beyond the first batch come from fresh random bytes") {
    mask_key_source source;
    const auto keys = draw(source, 4 * keys_per_batch + 3);
    // A source that refilled with the same bytes, or stopped refilling, repeats a batch.
    for (std::size_t batch = 0; batch + 1 < 4; ++batch) {
        CAPTURE(batch);
        const auto first = keys.begin() + static_cast<std::ptrdiff_t>(batch * keys_per_batch);
        const auto second = first + static_cast<std::ptrdiff_t>(keys_per_batch);
        CHECK_FALSE(std::equal(first, second, second));
    }
}

TEST_CASE("consecutive mask keys differ") {
    mask_key_source source;
    const auto keys = draw(source, 2 * keys_per_batch);
    // Two equal neighbours out of 127 pairs happens with probability 127 / 2^32.
    CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
}

TEST_CASE("two sources hand out different keys") {
    mask_key_source a;
    mask_key_source b;
    CHECK(draw(a, keys_per_batch) != draw(b, keys_per_batch));
}

TEST_CASE("generate_key returns base64 of 16 random bytes, different each time") {
    const std::string first = syncws::core::generate_key();
    const std::string second = syncws::core::generate_key();
    CHECK(first.size() == 24);
    const auto decoded = syncws::core::base64_decode(first);
    REQUIRE(decoded.has_value());
    CHECK(decoded->size() == 16);
    CHECK(first != second);
}

}  // TEST_SUITE

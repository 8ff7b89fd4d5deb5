#include "syncws/core/mask.hpp"

#include <doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../../lib/core/simd_dispatch.hpp"

#include "guarded_page.hpp"

using syncws::core::apply_mask;
using syncws::core::apply_mask_bytewise;
using syncws::core::mask_copy;
using syncws::core::mask_key;
namespace detail = syncws::core::detail;

namespace {

// Puts the kernel chosen at run time back when a test that forces others ends, even by a
// failed REQUIRE.
class restore_kernel {
public:
    restore_kernel() : chosen_(detail::mask_level()) {}
    ~restore_kernel() { detail::force_mask_level(chosen_); }
    restore_kernel(const restore_kernel&) = delete;
    restore_kernel& operator=(const restore_kernel&) = delete;

private:
    detail::simd_level chosen_;
};

// Runs body once for every kernel this CPU can run, with that kernel behind apply_mask
// and mask_copy, so that a test covers each path the dispatcher may pick on some machine.
template <class Body>
void for_each_kernel(Body body) {
    restore_kernel restore;
    for (const auto level : detail::supported_simd_levels()) {
        REQUIRE(detail::force_mask_level(level));
        INFO("kernel: ", std::string(detail::to_string(level)));
        body();
    }
}

// Bytes laid out from a 64-byte boundary, so that at(a) sits at alignment a modulo 64 in
// every copy, with slack on both sides: a kernel writing outside [at(a), at(a) + n) changes
// bytes that operator== compares.
class arena {
public:
    arena(std::size_t size, std::uint32_t seed) : arena(size) {
        std::mt19937 rng(seed);
        std::generate(storage_.begin(), storage_.end(), [&] { return static_cast<char>(rng()); });
    }
    arena(const arena& other) : arena(other.size_) {
        std::copy(other.base_, other.base_ + window(), base_);
    }
    arena& operator=(const arena&) = delete;

    char* at(std::size_t alignment) { return base_ + 64 + alignment; }
    const char* at(std::size_t alignment) const { return base_ + 64 + alignment; }

    friend bool operator==(const arena& a, const arena& b) {
        return a.size_ == b.size_ && std::equal(a.base_, a.base_ + a.window(), b.base_);
    }
    friend bool operator!=(const arena& a, const arena& b) { return !(a == b); }

private:
    explicit arena(std::size_t size) : size_(size), storage_(size + 256) {
        const auto misalignment = reinterpret_cast<std::uintptr_t>(storage_.data()) % 64;
        base_ = storage_.data() + (64 - misalignment) % 64;
    }
    // 64 bytes before at(0), up to 63 of alignment, size bytes, 64 after.
    std::size_t window() const { return size_ + 192; }

    std::size_t size_;
    std::vector<char> storage_;
    char* base_;
};

mask_key random_key(std::mt19937& rng) {
    mask_key key;
    for (auto& k : key) k = static_cast<unsigned char>(rng());
    return key;
}

std::string hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        if (i) s += ' ';
        s += digits[b >> 4];
        s += digits[b & 15];
    }
    return s;
}


}  // namespace

TEST_SUITE("RFC 6455 §5.3 masking") {

TEST_CASE("the RFC 6455 §5.7 example masks \"Hello\" with key 37 fa 21 3d to 7f 9f 4d 51 58") {
    const mask_key key = {0x37, 0xfa, 0x21, 0x3d};
    const std::string masked = "\x7f\x9f\x4d\x51\x58";

    std::string reference = "Hello";
    apply_mask_bytewise(reference.data(), reference.size(), key);
    CHECK(hex(reference) == hex(masked));

    for_each_kernel([&] {
        std::string text = "Hello";
        apply_mask(text.data(), text.size(), key);
        CHECK(hex(text) == hex(masked));

        std::string copy(5, '\0');
        mask_copy(copy.data(), "Hello", 5, key);
        CHECK(hex(copy) == hex(masked));

        apply_mask(text.data(), text.size(), key);
        CHECK(text == "Hello");
    });
}

TEST_CASE("byte i of the payload is XORed with key byte (phase + i) mod 4") {
    const mask_key key = {0x01, 0x02, 0x04, 0x08};
    for (std::size_t phase = 0; phase < 4; ++phase) {
        std::string zeros(6, '\0');
        apply_mask_bytewise(zeros.data(), zeros.size(), key, phase);
        for (std::size_t i = 0; i < zeros.size(); ++i)
            CHECK(static_cast<unsigned char>(zeros[i]) == key[(phase + i) % 4]);
    }
}

TEST_CASE("a phase of 4 or more masks like the same phase modulo 4") {
    std::mt19937 rng(4);
    const mask_key key = random_key(rng);
    arena original(100, 5);
    for_each_kernel([&] {
        for (const std::size_t phase : {4u, 5u, 6u, 7u, 1001u, 65539u}) {
            std::string a(original.at(0), 100), b = a;
            apply_mask(a.data(), a.size(), key, phase);
            apply_mask_bytewise(b.data(), b.size(), key, phase % 4);
            CHECK(hex(a) == hex(b));
        }
    });
}

TEST_CASE("every kernel unmasks in place like the bytewise reference at every alignment, phase and "
          "length up to 300, and writes nothing outside the buffer") {
    std::mt19937 rng(20240601);
    const mask_key key = random_key(rng);
    arena original(300 + 64, 7);
    for_each_kernel([&] {
        std::size_t mismatches = 0;
        for (std::size_t alignment = 0; alignment < 64; ++alignment) {
            for (std::size_t phase = 0; phase < 4; ++phase) {
                for (std::size_t n = 0; n <= 300; ++n) {
                    arena actual = original, expected = original;
                    apply_mask(actual.at(alignment), n, key, phase);
                    apply_mask_bytewise(expected.at(alignment), n, key, phase);
                    if (actual != expected && ++mismatches <= 5) {
                        INFO("alignment ", alignment, ", phase ", phase, ", length ", n);
                        CHECK(actual == expected);
                    }
                }
            }
        }
        CHECK(mismatches == 0);
    });
}

TEST_CASE("every kernel masks while copying like the bytewise reference at every alignment of "
          "source and destination, every phase and length up to 300, leaving the source "
          "unchanged") {
    std::mt19937 rng(20240602);
    const mask_key key = random_key(rng);
    const arena original(300 + 64, 8), destination(300 + 64, 9);
    for_each_kernel([&] {
        std::size_t mismatches = 0;
        for (std::size_t src_alignment = 0; src_alignment < 64; ++src_alignment) {
            for (std::size_t dst_alignment : {src_alignment, (src_alignment * 7 + 3) % 64}) {
                for (std::size_t phase = 0; phase < 4; ++phase) {
                    for (std::size_t n = 0; n <= 300; ++n) {
                        arena src = original, dst = destination, expected = destination;
                        std::memcpy(expected.at(dst_alignment), src.at(src_alignment), n);
                        apply_mask_bytewise(expected.at(dst_alignment), n, key, phase);
                        mask_copy(dst.at(dst_alignment), src.at(src_alignment), n, key, phase);
                        const bool ok = dst == expected && src == original;
                        if (!ok && ++mismatches <= 5) {
                            INFO("source alignment ", src_alignment, ", destination alignment ",
                                 dst_alignment, ", phase ", phase, ", length ", n);
                            CHECK(dst == expected);
                            CHECK(src == original);
                        }
                    }
                }
            }
        }
        CHECK(mismatches == 0);
    });
}

TEST_CASE("every kernel masks buffers of 64 KiB and 1 MiB plus an odd length like the bytewise "
          "reference") {
    std::mt19937 rng(20240603);
    const mask_key key = random_key(rng);
    for (const std::size_t n : {65536u + 1, 65536u + 37, 65536u + 63, (1u << 20) + 5}) {
        const arena original(n, 10);
        for_each_kernel([&] {
            for (const std::size_t alignment : {0u, 1u, 3u, 17u, 32u, 63u}) {
                for (std::size_t phase = 0; phase < 4; ++phase) {
                    INFO("length ", n, ", alignment ", alignment, ", phase ", phase);
                    arena actual = original, expected = original;
                    apply_mask(actual.at(alignment), n, key, phase);
                    apply_mask_bytewise(expected.at(alignment), n, key, phase);
                    CHECK(actual == expected);

                    arena copy = original;
                    char* dst = copy.at(alignment ^ 5);
                    mask_copy(dst, original.at(alignment), n, key, phase);
                    CHECK(std::equal(dst, dst + n, expected.at(alignment)));
                }
            }
        });
    }
}

TEST_CASE("unmasking a buffer split at every byte position gives the same bytes as unmasking it "
          "whole") {
    std::mt19937 rng(20240604);
    const mask_key key = random_key(rng);
    const arena original(200, 12);
    for_each_kernel([&] {
        std::size_t mismatches = 0;
        for (std::size_t n = 0; n <= 200; ++n) {
            std::string whole(original.at(0), n);
            apply_mask_bytewise(whole.data(), n, key);
            for (std::size_t split = 0; split <= n; ++split) {
                std::string pieces(original.at(0), n);
                apply_mask(pieces.data(), split, key, 0);
                apply_mask(pieces.data() + split, n - split, key, split);

                std::string copied(n, '\0');
                mask_copy(copied.data(), original.at(0), split, key, 0);
                mask_copy(copied.data() + split, original.at(0) + split, n - split, key,
                          split);
                if ((pieces != whole || copied != whole) && ++mismatches <= 5) {
                    INFO("length ", n, ", split at ", split);
                    CHECK(hex(pieces) == hex(whole));
                    CHECK(hex(copied) == hex(whole));
                }
            }
        }
        CHECK(mismatches == 0);
    });
}

TEST_CASE("unmasking a buffer in three pieces split anywhere gives the same bytes as unmasking it "
          "whole") {
    std::mt19937 rng(20240605);
    const mask_key key = random_key(rng);
    const arena original(70, 13);
    for_each_kernel([&] {
        std::size_t mismatches = 0;
        for (std::size_t n = 0; n <= 70; ++n) {
            std::string whole(original.at(0), n);
            apply_mask_bytewise(whole.data(), n, key, 3);
            for (std::size_t a = 0; a <= n; ++a) {
                for (std::size_t b = a; b <= n; ++b) {
                    std::string pieces(original.at(0), n);
                    apply_mask(pieces.data(), a, key, 3);
                    apply_mask(pieces.data() + a, b - a, key, 3 + a);
                    apply_mask(pieces.data() + b, n - b, key, 3 + b);
                    if (pieces != whole && ++mismatches <= 5) {
                        INFO("length ", n, ", splits at ", a, " and ", b);
                        CHECK(hex(pieces) == hex(whole));
                    }
                }
            }
        }
        CHECK(mismatches == 0);
    });
}

#if SYNCWS_TEST_GUARD_PAGES
TEST_CASE("no kernel reads or writes a byte outside the buffer, even next to an inaccessible "
          "page") {
    std::mt19937 rng(20240609);
    const mask_key key = random_key(rng);
    test::guarded_page source, destination;
    for (std::size_t i = 0; i < source.size(); ++i) source.begin()[i] = static_cast<char>(rng());
    const std::string original(source.begin(), source.size());
    for_each_kernel([&] {
        std::size_t mismatches = 0;
        for (std::size_t n = 0; n <= source.size(); n += n < 300 ? 1 : 1019) {
            INFO("length ", n);
            const std::string expected = [&] {
                std::string s = original.substr(original.size() - n);
                apply_mask_bytewise(s.data(), n, key, 1);
                return s;
            }();
            // Against the guard after the buffer, then against the one before it.
            char* const at_end = source.end() - n;
            apply_mask(at_end, n, key, 1);
            mismatches += std::string(at_end, n) != expected;
            apply_mask(at_end, n, key, 1);
            mask_copy(destination.begin(), at_end, n, key, 1);
            mismatches += std::string(destination.begin(), n) != expected;
            mask_copy(destination.end() - n, at_end, n, key, 1);
            mismatches += std::string(destination.end() - n, n) != expected;
            std::memmove(source.begin(), at_end, n);
            apply_mask(source.begin(), n, key, 1);
            mismatches += std::string(source.begin(), n) != expected;
            std::memcpy(source.begin(), original.data(), original.size());
        }
        CHECK(mismatches == 0);
    });
}
#endif

TEST_CASE("an empty buffer is left alone, even as a null pointer") {
    const mask_key key = {1, 2, 3, 4};
    for_each_kernel([&] {
        apply_mask(nullptr, 0, key, 3);
        mask_copy(nullptr, nullptr, 0, key);
        char byte = 'x';
        apply_mask(&byte, 0, key);
        mask_copy(&byte, "y", 0, key);
        CHECK(byte == 'x');
    });
}

TEST_CASE("masking twice with the same key and phase gives back the original bytes") {
    std::mt19937 rng(20240606);
    const mask_key key = random_key(rng);
    const arena original(1000, 14);
    for_each_kernel([&] {
        arena data = original;
        apply_mask(data.at(5), 1000, key, 2);
        CHECK(data != original);
        apply_mask(data.at(5), 1000, key, 2);
        CHECK(data == original);
    });
}

TEST_CASE("the kernel chosen at run time is one this CPU supports, and the portable one always "
          "is") {
    const auto levels = detail::supported_simd_levels();
    REQUIRE_FALSE(levels.empty());
    CHECK(levels.front() == detail::simd_level::portable);
    CHECK(detail::cpu_supports(detail::mask_level()));
    CHECK(std::find(levels.begin(), levels.end(), detail::mask_level()) != levels.end());
    MESSAGE("masking kernel chosen on this machine: ",
            std::string(detail::to_string(detail::mask_level())));
}

}  // TEST_SUITE

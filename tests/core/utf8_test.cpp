#include "syncws/core/utf8.hpp"

#include <doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../../lib/core/simd_dispatch.hpp"

#include "guarded_page.hpp"

using syncws::core::is_valid_utf8;
using syncws::core::is_valid_utf8_bytewise;
using syncws::core::utf8_validator;
namespace detail = syncws::core::detail;

namespace {

// Puts the kernel chosen at run time back when a test that forces others ends, even by a
// failed REQUIRE.
class restore_kernel {
public:
    restore_kernel() : chosen_(detail::utf8_level()) {}
    ~restore_kernel() { detail::force_utf8_level(chosen_); }
    restore_kernel(const restore_kernel&) = delete;
    restore_kernel& operator=(const restore_kernel&) = delete;

private:
    detail::simd_level chosen_;
};

// Runs body once for every kernel this CPU can run, with that kernel behind is_valid_utf8
// and utf8_validator, so that a test covers each path the dispatcher may pick somewhere.
template <class Body>
void for_each_kernel(Body body) {
    restore_kernel restore;
    for (const auto level : detail::supported_simd_levels()) {
        REQUIRE(detail::force_utf8_level(level));
        INFO("kernel: ", std::string(detail::to_string(level)));
        body();
    }
}

// "f4 90 80 80" -> the bytes F4 90 80 80.
std::string x(std::string_view hex) {
    std::string out;
    int digits = 0, value = 0;
    for (const char c : hex) {
        if (c == ' ') continue;
        value = value * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        if (++digits == 2) {
            out += static_cast<char>(value);
            digits = value = 0;
        }
    }
    return out;
}

// Encodes any value below 2^31 with the original (ISO 10646) UTF-8 scheme, which also
// produces what RFC 3629 forbids: surrogates and values above U+10FFFF.
std::string encode(std::uint32_t cp) {
    std::string s;
    auto put = [&](std::uint32_t b) { s += static_cast<char>(b); };
    if (cp < 0x80) {
        put(cp);
    } else if (cp < 0x800) {
        put(0xC0 | cp >> 6);
        put(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        put(0xE0 | cp >> 12);
        put(0x80 | (cp >> 6 & 0x3F));
        put(0x80 | (cp & 0x3F));
    } else if (cp < 0x200000) {
        put(0xF0 | cp >> 18);
        put(0x80 | (cp >> 12 & 0x3F));
        put(0x80 | (cp >> 6 & 0x3F));
        put(0x80 | (cp & 0x3F));
    } else if (cp < 0x4000000) {
        put(0xF8 | cp >> 24);
        for (int shift = 18; shift >= 0; shift -= 6) put(0x80 | (cp >> shift & 0x3F));
    } else {
        put(0xFC | cp >> 30);
        for (int shift = 24; shift >= 0; shift -= 6) put(0x80 | (cp >> shift & 0x3F));
    }
    return s;
}

// The test's own reading of RFC 3629 §4, written as its ABNF table (independent of the
// library's automaton): where the first byte is that cannot continue valid UTF-8, and
// whether the text ends on a code point boundary.
struct verdict {
    std::size_t first_bad;  // npos when every byte can continue valid UTF-8
    bool complete;
    bool valid() const { return first_bad == std::string::npos && complete; }
};

verdict rfc3629(std::string_view text) {
    struct row {
        std::size_t length;
        unsigned char min[4], max[4];
    };
    static const row rows[] = {
        {1, {0x00}, {0x7F}},
        {2, {0xC2, 0x80}, {0xDF, 0xBF}},
        {3, {0xE0, 0xA0, 0x80}, {0xE0, 0xBF, 0xBF}},
        {3, {0xE1, 0x80, 0x80}, {0xEC, 0xBF, 0xBF}},
        {3, {0xED, 0x80, 0x80}, {0xED, 0x9F, 0xBF}},
        {3, {0xEE, 0x80, 0x80}, {0xEF, 0xBF, 0xBF}},
        {4, {0xF0, 0x90, 0x80, 0x80}, {0xF0, 0xBF, 0xBF, 0xBF}},
        {4, {0xF1, 0x80, 0x80, 0x80}, {0xF3, 0xBF, 0xBF, 0xBF}},
        {4, {0xF4, 0x80, 0x80, 0x80}, {0xF4, 0x8F, 0xBF, 0xBF}},
    };
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t longest_match = 0;
        bool whole = false;
        for (const row& r : rows) {
            std::size_t k = 0;
            while (k < r.length && i + k < text.size() &&
                   static_cast<unsigned char>(text[i + k]) >= r.min[k] &&
                   static_cast<unsigned char>(text[i + k]) <= r.max[k])
                ++k;
            if (k == r.length) {
                i += k;
                whole = true;
                break;
            }
            if (i + k == text.size()) return {std::string::npos, false};  // cut short
            longest_match = std::max(longest_match, k);
        }
        if (!whole) return {i + longest_match, false};
    }
    return {std::string::npos, true};
}

// Random valid text that mixes all four encoding lengths.
std::string random_text(std::mt19937& rng, std::size_t min_size) {
    std::string s;
    while (s.size() < min_size) {
        std::uint32_t cp = 0;
        switch (rng() % 8) {
        case 0: case 1: case 2: cp = rng() % 0x80; break;
        case 3: case 4: cp = 0x80 + rng() % (0x800 - 0x80); break;
        case 5: case 6:
            cp = 0x800 + rng() % (0x10000 - 0x800 - 0x800);
            if (cp >= 0xD800) cp += 0x800;  // skip the surrogates
            break;
        default: cp = 0x10000 + rng() % (0x110000 - 0x10000); break;
        }
        s += encode(cp);
    }
    return s;
}

// Bytes that matter to UTF-8 validity: classes and the edges of every range.
const unsigned char edge_bytes[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                    0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0,
                                    0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFB, 0xFC, 0xFE, 0xFF};

// Inputs that exercise every rule: Markus Kuhn's decoder stress test, Autobahn 6.x, and
// corrupted random text.
std::vector<std::string> corpus() {
    std::vector<std::string> inputs = {
        "", "hello$world", x("ce ba e1 bd b9 cf 83 ce bc ce b5"), x("f4 90 80 80"),
        x("ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64"),
        x("ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64"),
        x("c0 af"), x("e0 80 af"), x("f0 80 80 af"), x("f8 80 80 80 af"), x("c1 bf"),
        x("e0 9f bf"), x("f0 8f bf bf"), x("ed a0 80 ed b0 80"), x("ed 9f bf"), x("ee 80 80"),
        x("f4 8f bf bf"), x("c0"), x("e0 80"), x("f0 80 80"), x("df"), x("ef bf"), x("f7 bf bf"),
        x("fe fe ff ff"), x("80 bf 80 bf"), "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc"
                                            "\xc3\xa0\xc3\xa1-UTF-8!!",
    };
    std::mt19937 rng(6455);
    for (int i = 0; i < 40; ++i) {
        std::string text = random_text(rng, 1 + rng() % 120);
        inputs.push_back(text);
        text[rng() % text.size()] = static_cast<char>(edge_bytes[rng() % sizeof edge_bytes]);
        inputs.push_back(text);
        inputs.push_back(text.substr(0, text.size() - 1));
    }
    return inputs;
}

std::string printable(std::string_view s) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (!out.empty()) out += ' ';
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

// Checks one input against the RFC 3629 table: the reference, the dispatched kernel, and
// the incremental validator fed it whole.
void check_verdict(std::string_view text, bool expected) {
    INFO("input: ", printable(text));
    CHECK(rfc3629(text).valid() == expected);
    CHECK(is_valid_utf8_bytewise(text) == expected);
    CHECK(is_valid_utf8(text) == expected);
    utf8_validator v;
    CHECK((v.feed(text) && v.complete()) == expected);
}

void check_valid(std::string_view text) { check_verdict(text, true); }
void check_invalid(std::string_view text) { check_verdict(text, false); }


}  // namespace

TEST_SUITE("RFC 3629 UTF-8") {

TEST_CASE("text using every encoding length is valid") {
    for_each_kernel([] {
        check_valid("");
        check_valid("hello$world");
        check_valid(x("68 65 6c 6c 6f c2 a2 77 6f 72 6c 64"));        // U+00A2
        check_valid(x("68 65 6c 6c 6f e2 82 ac 77 6f 72 6c 64"));     // U+20AC
        check_valid(x("68 65 6c 6c 6f f0 a4 ad a2 77 6f 72 6c 64"));  // U+24B62
        check_valid(x("ce ba e1 bd b9 cf 83 ce bc ce b5"));           // κόσμε
        check_valid(std::string("\0\0\0", 3));
    });
}

TEST_CASE("the first and last code point of every encoding length, and those beside the "
          "surrogates, are valid") {
    for_each_kernel([] {
        for (const std::uint32_t cp : {0x0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xD7FFu, 0xE000u,
                                       0xFFFDu, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
            INFO("U+", cp);
            check_valid(encode(cp));
            check_valid("a" + encode(cp) + "b");
        }
    });
}

TEST_CASE("the code points just past the RFC 3629 limits are invalid: surrogates and above "
          "U+10FFFF") {
    for_each_kernel([] {
        for (const std::uint32_t cp : {0xD800u, 0xDBFFu, 0xDC00u, 0xDFFFu, 0x110000u, 0x13FFFFu,
                                       0x1FFFFFu, 0x200000u, 0x3FFFFFFu, 0x4000000u, 0x7FFFFFFFu}) {
            INFO("U+", cp);
            check_invalid(encode(cp));
            check_invalid("a" + encode(cp) + "b");
        }
    });
}

TEST_CASE("overlong forms are invalid, including the maximal ones and overlong NUL "
          "(Kuhn 4.1-4.3)") {
    for_each_kernel([] {
        for (const char* hex : {"c0 af", "e0 80 af", "f0 80 80 af", "f8 80 80 80 af",
                                "fc 80 80 80 80 af", "c1 bf", "e0 9f bf", "f0 8f bf bf",
                                "f8 87 bf bf bf", "fc 83 bf bf bf bf", "c0 80", "e0 80 80",
                                "f0 80 80 80", "f8 80 80 80 80", "fc 80 80 80 80 80"})
            check_invalid(x(hex));
    });
}

TEST_CASE("continuation bytes without a lead byte are invalid (Kuhn 3.1)") {
    for_each_kernel([] {
        for (const char* hex : {"80", "bf", "80 bf", "80 bf 80", "80 bf 80 bf", "80 bf 80 bf 80",
                                "80 bf 80 bf 80 bf", "41 80", "c2 80 80", "e2 82 ac 80",
                                "f0 9f 98 80 80"})
            check_invalid(x(hex));
        std::string all;
        for (int b = 0x80; b <= 0xBF; ++b) all += static_cast<char>(b);
        check_invalid(all);
    });
}

TEST_CASE("a lead byte followed by a space instead of its continuation bytes is invalid "
          "(Kuhn 3.2)") {
    for_each_kernel([] {
        for (int lead = 0xC0; lead <= 0xFD; ++lead) {
            check_invalid(std::string{static_cast<char>(lead), ' '});
            check_invalid(std::string{'a', static_cast<char>(lead), ' ', 'b'});
        }
    });
}

TEST_CASE("sequences missing their last continuation byte are invalid, alone and "
          "concatenated (Kuhn 3.3, 3.4)") {
    for_each_kernel([] {
        std::string all;
        for (const char* hex : {"c0", "e0 80", "f0 80 80", "f8 80 80 80", "fc 80 80 80 80", "df",
                                "ef bf", "f7 bf bf", "fb bf bf bf", "fd bf bf bf bf", "c2",
                                "e0 a0", "f0 90 80", "f4 8f bf"}) {
            check_invalid(x(hex));
            check_invalid("abc" + x(hex));
            all += x(hex);
        }
        check_invalid(all);
    });
}

TEST_CASE("the bytes C0, C1 and F5 to FF are invalid wherever they appear (Kuhn 3.5)") {
    for_each_kernel([] {
        for (int b = 0xC0; b <= 0xFF; ++b) {
            if (b > 0xC1 && b < 0xF5) continue;
            for (std::size_t at : {0u, 1u, 15u, 31u, 32u, 63u, 64u, 100u}) {
                std::string text(101, 'a');
                text[at] = static_cast<char>(b);
                check_invalid(text);
            }
        }
        check_invalid(x("fe fe ff ff"));
    });
}

TEST_CASE("single and paired UTF-16 surrogates are invalid (Kuhn 5.1, 5.2)") {
    for_each_kernel([] {
        for (std::uint32_t cp = 0xD800; cp <= 0xDFFF; ++cp) check_invalid(encode(cp));
        for (const std::uint32_t high : {0xD800u, 0xDB7Fu, 0xDB80u, 0xDBFFu})
            for (const std::uint32_t low : {0xDC00u, 0xDFFFu})
                check_invalid(encode(high) + encode(low));
    });
}

TEST_CASE("noncharacters and the specials block are valid UTF-8 (Kuhn 5.3)") {
    for_each_kernel([] {
        for (std::uint32_t cp = 0xFDD0; cp <= 0xFDEF; ++cp) check_valid(encode(cp));
        for (std::uint32_t plane = 0; plane <= 0x10; ++plane) {
            check_valid(encode(plane << 16 | 0xFFFE));
            check_valid(encode(plane << 16 | 0xFFFF));
        }
        for (std::uint32_t cp = 0xFFF9; cp <= 0xFFFD; ++cp) check_valid(encode(cp));
    });
}

TEST_CASE("text of every Unicode scalar value is valid and every surrogate makes it invalid") {
    std::vector<std::string> chunks(1);
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        if (chunks.back().size() >= 4000) chunks.emplace_back();
        chunks.back() += encode(cp);
    }
    for_each_kernel([&] {
        std::size_t invalid_chunks = 0;
        for (const std::string& chunk : chunks) invalid_chunks += !is_valid_utf8(chunk);
        CHECK(invalid_chunks == 0);
        for (std::uint32_t cp = 0xD800; cp <= 0xDFFF; cp += 0x7F) {
            const std::string bad = std::string(40, 'a') + encode(cp) + std::string(40, 'b');
            CHECK_FALSE(is_valid_utf8(bad));
        }
    });
}

TEST_CASE("every kernel agrees with the RFC 3629 table on every two-byte sequence, at every "
          "place around 16-, 32- and 64-byte block edges") {
    // ASCII around the pair is neutral, so the pair alone has the verdict.
    std::vector<bool> expected(65536);
    for (int a = 0; a < 256; ++a)
        for (int b = 0; b < 256; ++b)
            expected[a << 8 | b] =
                rfc3629(std::string{static_cast<char>(a), static_cast<char>(b)}).valid();
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        for (const std::size_t at : {0u, 14u, 15u, 30u, 31u, 62u, 63u, 126u}) {
            std::string text(128, 'a');
            for (int a = 0; a < 256; ++a) {
                for (int b = 0; b < 256; ++b) {
                    text[at] = static_cast<char>(a);
                    text[at + 1] = static_cast<char>(b);
                    if (is_valid_utf8(text) != expected[a << 8 | b] && ++disagreements <= 5) {
                        INFO("at ", at, ": ", printable(text.substr(at, 2)));
                        CHECK(is_valid_utf8(text) == expected[a << 8 | b]);
                    }
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

TEST_CASE("every kernel and the bytewise reference agree with the RFC 3629 table on every "
          "three-byte sequence that starts with a non-ASCII byte, across a 64-byte block edge") {
    std::vector<bool> expected(128 * 65536);
    std::size_t bytewise_disagreements = 0;
    for (int a = 0x80; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            for (int c = 0; c < 256; ++c) {
                const std::string sequence{static_cast<char>(a), static_cast<char>(b),
                                           static_cast<char>(c)};
                const bool valid = rfc3629(sequence).valid();
                expected[(a - 0x80) << 16 | b << 8 | c] = valid;
                bytewise_disagreements += is_valid_utf8_bytewise(sequence) != valid;
            }
        }
    }
    CHECK(bytewise_disagreements == 0);
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        std::string text(100, 'a');
        for (int a = 0x80; a < 256; ++a) {
            for (int b = 0; b < 256; ++b) {
                for (int c = 0; c < 256; ++c) {
                    text[62] = static_cast<char>(a);
                    text[63] = static_cast<char>(b);
                    text[64] = static_cast<char>(c);
                    const bool want = expected[(a - 0x80) << 16 | b << 8 | c];
                    if (is_valid_utf8(text) != want && ++disagreements <= 5) {
                        INFO(printable(text.substr(62, 3)));
                        CHECK(is_valid_utf8(text) == want);
                    }
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

TEST_CASE("every kernel agrees with the bytewise reference on four-byte sequences from F0 to F4 "
          "and beyond, across a 32-byte block edge") {
    std::vector<unsigned char> tails;
    for (int b = 0x7F; b <= 0xC2; ++b) tails.push_back(static_cast<unsigned char>(b));
    for (const unsigned char b : {0x00, 0x41, 0xE0, 0xF0, 0xF4, 0xFF}) tails.push_back(b);
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        std::string text(80, 'a');
        for (int a = 0xF0; a <= 0xF8; ++a) {
            for (const unsigned char b : tails) {
                for (const unsigned char c : tails) {
                    for (const unsigned char d : tails) {
                        const std::string sequence{static_cast<char>(a), static_cast<char>(b),
                                                   static_cast<char>(c), static_cast<char>(d)};
                        text.replace(30, 4, sequence);
                        const bool want = is_valid_utf8_bytewise(sequence);
                        if (is_valid_utf8(text) != want && ++disagreements <= 5) {
                            INFO(printable(sequence));
                            CHECK(is_valid_utf8(text) == want);
                        }
                    }
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

TEST_CASE("random valid text with one byte replaced at every position gets the RFC 3629 "
          "table's verdict from every kernel and from the bytewise reference") {
    std::mt19937 rng(3629);
    const std::string original = random_text(rng, 300);
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        for (std::size_t at = 0; at < original.size(); ++at) {
            for (const unsigned char b : edge_bytes) {
                std::string text = original;
                text[at] = static_cast<char>(b);
                const bool expected = rfc3629(text).valid();
                if ((is_valid_utf8(text) != expected || is_valid_utf8_bytewise(text) != expected) &&
                    ++disagreements <= 5) {
                    INFO("byte ", at, " replaced by ", printable(text.substr(at, 1)));
                    CHECK(is_valid_utf8(text) == expected);
                    CHECK(is_valid_utf8_bytewise(text) == expected);
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

TEST_CASE("every kernel agrees with the bytewise reference on valid, corrupted and truncated "
          "text of every length up to 300 at every alignment") {
    std::mt19937 rng(20240607);
    std::vector<std::string> inputs;
    for (std::size_t n = 0; n <= 300; ++n) {
        std::string text = random_text(rng, n).substr(0, n);  // may cut the last code point
        inputs.push_back(text);
        if (n > 0) {
            text[rng() % n] = static_cast<char>(edge_bytes[rng() % sizeof edge_bytes]);
            inputs.push_back(text);
        }
    }
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        std::vector<char> buffer(300 + 128);
        const auto base = reinterpret_cast<std::uintptr_t>(buffer.data());
        for (const std::string& text : inputs) {
            for (std::size_t alignment = 0; alignment < 64; ++alignment) {
                char* p = buffer.data() + ((alignment - base) & 63);
                std::copy(text.begin(), text.end(), p);
                const std::string_view view(p, text.size());
                if (is_valid_utf8(view) != is_valid_utf8_bytewise(view) && ++disagreements <= 5) {
                    INFO("alignment ", alignment, ": ", printable(view));
                    CHECK(is_valid_utf8(view) == is_valid_utf8_bytewise(view));
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

#if SYNCWS_TEST_GUARD_PAGES
TEST_CASE("no kernel reads a byte outside the text, even next to an inaccessible page") {
    std::mt19937 rng(20240610);
    test::guarded_page page;
    const std::string valid = random_text(rng, page.size()).substr(0, page.size());
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        for (std::size_t n = 0; n <= page.size(); n += n < 300 ? 1 : 1019) {
            for (std::string text : {valid.substr(0, n), std::string(n, 'a')}) {
                if (n > 0 && rng() % 2) text[rng() % n] = static_cast<char>(0xF4);
                const bool expected = is_valid_utf8_bytewise(text);
                // Against the guard after the text, then against the one before it.
                for (char* at : {page.end() - n, page.begin()}) {
                    std::copy(text.begin(), text.end(), at);
                    const std::string_view view(at, n);
                    utf8_validator v;
                    const bool fed = v.feed(view) && v.complete();
                    if ((is_valid_utf8(view) != expected || fed != expected) &&
                        ++disagreements <= 5) {
                        INFO("length ", n);
                        CHECK(is_valid_utf8(view) == expected);
                        CHECK(fed == expected);
                    }
                }
            }
        }
        CHECK(disagreements == 0);
    });
}
#endif

TEST_CASE("long text is validated to its last byte: 64 KiB and 1 MiB plus an odd length") {
    std::mt19937 rng(20240608);
    for (const std::size_t size : {65536u + 3, (1u << 20) + 1}) {
        const std::string ascii(size, 'a');
        const std::string mixed = random_text(rng, size);
        for_each_kernel([&] {
            for (const std::string* text : {&ascii, &mixed}) {
                CHECK(is_valid_utf8(*text));
                for (const std::size_t at : {std::size_t{0}, text->size() / 2, text->size() - 65,
                                             text->size() - 1}) {
                    std::string bad = *text;
                    bad[at] = static_cast<char>(0xFF);
                    CHECK_FALSE(is_valid_utf8(bad));
                }
                CHECK_FALSE(is_valid_utf8(*text + x("e2 82")));
                CHECK(is_valid_utf8(*text + x("e2 82 ac")));
            }
        });
    }
}

}  // TEST_SUITE

TEST_SUITE("RFC 6455 §8.1 incremental UTF-8 validation (Autobahn 6.x fail-fast)") {

TEST_CASE("Autobahn 6.2.4: κόσμε fed one byte at a time is valid throughout and complete only "
          "after its last byte") {
    const std::string text = x("ce ba e1 bd b9 cf 83 ce bc ce b5");
    for_each_kernel([&] {
        utf8_validator v;
        for (std::size_t i = 0; i < text.size(); ++i) {
            CHECK(v.feed(text.substr(i, 1)));
            CHECK(v.complete() == rfc3629(text.substr(0, i + 1)).complete);
        }
        CHECK(v.complete());
    });
}

TEST_CASE("Autobahn 6.4.1: a second fragment holding U+110000 fails as soon as it is fed, "
          "before the third arrives") {
    for_each_kernel([] {
        utf8_validator v;
        CHECK(v.feed(x("ce ba e1 bd b9 cf 83 ce bc ce b5")));
        CHECK_FALSE(v.feed(x("f4 90 80 80")));
        CHECK_FALSE(v.valid());
        CHECK_FALSE(v.feed("edited"));
    });
}

TEST_CASE("Autobahn 6.4.2: a code point split after F4 fails on the byte 90 that starts the "
          "second fragment") {
    for_each_kernel([] {
        utf8_validator v;
        CHECK(v.feed(x("ce ba e1 bd b9 cf 83 ce bc ce b5 f4")));
        CHECK_FALSE(v.complete());
        CHECK_FALSE(v.feed(x("90")));
        CHECK_FALSE(v.feed(x("80 80 65 64 69 74 65 64")));
    });
}

TEST_CASE("Autobahn 6.4.3 and 6.4.4: a message chopped into bytes 0-11, 12 and the rest fails "
          "on the chop that holds byte 12") {
    const std::string message = x("ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64");
    for_each_kernel([&] {
        utf8_validator v;
        CHECK(v.feed(message.substr(0, 12)));
        CHECK_FALSE(v.feed(message.substr(12, 1)));
        CHECK_FALSE(v.feed(message.substr(13)));
    });
}

TEST_CASE("the first piece fails on its own when the bad byte is in it, though more pieces would "
          "follow") {
    for_each_kernel([] {
        for (const char* hex :
             {"f4 90", "ed a0", "e0 80", "f0 80", "f0 8f", "c0", "c1", "f5", "ff", "80",
              "41 42 43 f4 90", "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0",
              "61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 73 74 75 76 77 78 79 7a 30 31 "
              "32 33 34 35 36 37 38 39 61 62 63 64 65 66 67 68 69 6a 6b 6c 6d 6e 6f 70 71 72 73 74 "
              "75 76 77 78 79 7a 30 31 32 33 e0 9f",
              "c2 41", "e2 82 41"}) {
            INFO("first piece: ", hex);
            utf8_validator v;
            CHECK_FALSE(v.feed(x(hex)));
            CHECK_FALSE(v.valid());
            CHECK_FALSE(v.complete());
        }
    });
}

TEST_CASE("a valid code point cut by the end of a piece is accepted, incomplete, and completed by "
          "the next piece") {
    for_each_kernel([] {
        for (const std::uint32_t cp : {0xA2u, 0x20ACu, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
            const std::string text = std::string(70, 'a') + encode(cp);
            for (std::size_t cut = 71; cut < text.size(); ++cut) {
                INFO("U+", cp, " cut after byte ", cut);
                utf8_validator v;
                CHECK(v.feed(text.substr(0, cut)));
                CHECK(v.valid());
                CHECK_FALSE(v.complete());
                CHECK(v.feed(text.substr(cut)));
                CHECK(v.complete());
            }
        }
    });
}

TEST_CASE("feeding any input split at every byte position gives the same verdict as validating "
          "it whole") {
    const auto inputs = corpus();
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        for (const std::string& text : inputs) {
            const bool whole = is_valid_utf8_bytewise(text);
            for (std::size_t a = 0; a <= text.size(); ++a) {
                utf8_validator two;
                two.feed(std::string_view(text).substr(0, a));
                two.feed(std::string_view(text).substr(a));
                if (two.complete() != whole && ++disagreements <= 5) {
                    INFO("split at ", a, ": ", printable(text));
                    CHECK(two.complete() == whole);
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

TEST_CASE("feeding short inputs in three pieces split anywhere gives the same verdict as "
          "validating them whole") {
    std::vector<std::string> inputs;
    for (const std::string& text : corpus())
        if (text.size() <= 40) inputs.push_back(text);
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        for (const std::string& text : inputs) {
            const bool whole = is_valid_utf8_bytewise(text);
            const std::string_view view(text);
            for (std::size_t a = 0; a <= text.size(); ++a) {
                for (std::size_t b = a; b <= text.size(); ++b) {
                    utf8_validator three;
                    three.feed(view.substr(0, a));
                    three.feed(view.substr(a, b - a));
                    three.feed(view.substr(b));
                    if (three.complete() != whole && ++disagreements <= 5) {
                        INFO("splits at ", a, " and ", b, ": ", printable(text));
                        CHECK(three.complete() == whole);
                    }
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

TEST_CASE("fed in pieces of any size, the validator fails on the piece holding the first byte "
          "that cannot begin valid UTF-8, and not before") {
    const auto inputs = corpus();
    for_each_kernel([&] {
        std::size_t disagreements = 0;
        for (const std::string& text : inputs) {
            const verdict expected = rfc3629(text);
            for (std::size_t piece = 1; piece <= 70; ++piece) {
                utf8_validator v;
                std::size_t failed_at = std::string::npos;
                for (std::size_t at = 0; at < text.size(); at += piece) {
                    if (!v.feed(std::string_view(text).substr(at, piece))) {
                        failed_at = at;
                        break;
                    }
                }
                const std::size_t expected_at = expected.first_bad == std::string::npos
                                                    ? std::string::npos
                                                    : expected.first_bad / piece * piece;
                const bool ok = failed_at == expected_at && v.complete() == expected.valid();
                if (!ok && ++disagreements <= 5) {
                    INFO("pieces of ", piece, ": ", printable(text));
                    CHECK(failed_at == expected_at);
                    CHECK(v.complete() == expected.valid());
                }
            }
        }
        CHECK(disagreements == 0);
    });
}

TEST_CASE("once invalid, the validator stays invalid even for valid pieces, until reset() starts a "
          "new message") {
    utf8_validator v;
    CHECK_FALSE(v.feed(x("ed a0 80")));
    CHECK_FALSE(v.feed("valid"));
    CHECK_FALSE(v.feed(""));
    CHECK_FALSE(v.valid());
    CHECK_FALSE(v.complete());
    v.reset();
    CHECK(v.valid());
    CHECK(v.complete());
    CHECK(v.feed(x("e2 82")));
    v.reset();
    CHECK(v.complete());
    CHECK(v.feed("ok"));
    CHECK(v.complete());
}

TEST_CASE("an empty piece changes nothing, even in the middle of a code point") {
    for_each_kernel([] { CHECK(is_valid_utf8(std::string_view())); });
    CHECK(is_valid_utf8_bytewise(std::string_view()));
    utf8_validator v;
    CHECK(v.feed(std::string_view()));
    CHECK(v.feed(""));
    CHECK(v.complete());
    CHECK(v.feed(x("f0 9f")));
    CHECK(v.feed(""));
    CHECK_FALSE(v.complete());
    CHECK(v.feed(x("98 80")));
    CHECK(v.complete());
}

TEST_CASE("the validator's state fits in four bytes, since every connection holds one") {
    CHECK(sizeof(utf8_validator) <= 4);
}

TEST_CASE("the kernel chosen at run time is one this CPU supports") {
    CHECK(detail::cpu_supports(detail::utf8_level()));
    MESSAGE("UTF-8 kernel chosen on this machine: ",
            std::string(detail::to_string(detail::utf8_level())));
}

}  // TEST_SUITE

#include "syncws/core/utf8.hpp"

#include <cstdint>
#include <cstring>

#include "simd_dispatch.hpp"

#if SYNCWS_X86_64_KERNELS
#include <immintrin.h>
#endif

namespace syncws::core {
namespace {

using detail::simd_level;

// RFC 3629 §4 for a byte that starts a code point: how long its sequence is and the range
// of the second byte. The range is narrower than 80..BF only after E0, ED, F0 and F4: that
// is where overlong forms, surrogates and code points above U+10FFFF are cut off, so a bad
// sequence is rejected at its first impossible byte. Length 0: cannot start a code point
// (a continuation byte, C0 and C1 which are always overlong, F5 to FF).
struct lead_rule {
    std::uint8_t length = 0;
    std::uint8_t second_min = 0x80;
    std::uint8_t second_max = 0xBF;
};

struct lead_rule_table {
    lead_rule rules[256];

    constexpr lead_rule_table() {
        for (int b = 0; b < 0x80; ++b) rules[b].length = 1;
        for (int b = 0xC2; b < 0xE0; ++b) rules[b].length = 2;
        for (int b = 0xE0; b < 0xF0; ++b) rules[b].length = 3;
        for (int b = 0xF0; b < 0xF5; ++b) rules[b].length = 4;
        rules[0xE0].second_min = 0xA0;  // E0 80..9F: overlong, below U+0800
        rules[0xED].second_max = 0x9F;  // ED A0..BF: the surrogates U+D800..DFFF
        rules[0xF0].second_min = 0x90;  // F0 80..8F: overlong, below U+10000
        rules[0xF4].second_max = 0x8F;  // F4 90..BF: above U+10FFFF
    }
    constexpr const lead_rule& operator[](std::uint8_t b) const { return rules[b]; }
};

constexpr lead_rule_table lead_rules;

// The same rules one byte at a time, for input that arrives in pieces: how many
// continuation bytes are still due and the range the next one must fall in.
struct utf8_automaton {
    std::uint8_t pending = 0;
    std::uint8_t next_min = 0x80;
    std::uint8_t next_max = 0xBF;

    bool step(std::uint8_t b) noexcept {
        if (pending != 0) {
            if (b < next_min || b > next_max) return false;
            next_min = 0x80;
            next_max = 0xBF;
            --pending;
            return true;
        }
        const lead_rule& rule = lead_rules[b];
        if (rule.length == 0) return false;
        pending = rule.length - 1;
        next_min = rule.second_min;
        next_max = rule.second_max;
        return true;
    }
};

using kernel_fn = bool (*)(const unsigned char* p, std::size_t n) noexcept;

// How many bytes from p on are ASCII, 16 at a time: the portable ASCII fast path.
std::size_t ascii_run_words(const unsigned char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; n - i >= 16; i += 16) {
        std::uint64_t a, b;
        std::memcpy(&a, p + i, 8);
        std::memcpy(&b, p + i + 8, 8);
        if ((a | b) & 0x8080'8080'8080'8080u) break;
    }
    if (i < n && n >= 16 && i + 16 > n) {
        // What is left lies in the last 16 bytes.
        std::uint64_t a, b;
        std::memcpy(&a, p + n - 16, 8);
        std::memcpy(&b, p + n - 8, 8);
        if (((a | b) & 0x8080'8080'8080'8080u) == 0) return n;
    }
    while (i < n && p[i] < 0x80) ++i;
    return i;
}

// Complete text: ASCII runs skipped `ascii_run` at a time, other code points whole. The
// position advances by constants in branches rather than by a length loaded from the text
// or the table: a branch is predicted, so the next code point's loads need not wait for
// this one's, which would chain every iteration's load latency (3x slower on mixed text).
template <std::size_t (*ascii_run)(const unsigned char*, std::size_t) noexcept>
bool validate_scalar(const unsigned char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            // Often a single space or punctuation mark between other code points.
            i += n - i > 1 && p[i + 1] >= 0x80 ? 1 : ascii_run(p + i, n - i);
            continue;
        }
        const lead_rule& rule = lead_rules[p[i]];
        if (rule.length == 0 || n - i < rule.length) return false;
        if (p[i + 1] < rule.second_min || p[i + 1] > rule.second_max) return false;
        if (rule.length == 2) {
            i += 2;
            continue;
        }
        if ((p[i + 2] & 0xC0) != 0x80) return false;
        if (rule.length == 3) {
            i += 3;
            continue;
        }
        if ((p[i + 3] & 0xC0) != 0x80) return false;
        i += 4;
    }
    return true;
}

#if SYNCWS_X86_64_KERNELS

std::size_t ascii_run_sse2(const unsigned char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; n - i >= 64; i += 64) {
        const __m128i* v = reinterpret_cast<const __m128i*>(p + i);
        const __m128i a = _mm_loadu_si128(v), b = _mm_loadu_si128(v + 1),
                      c = _mm_loadu_si128(v + 2), d = _mm_loadu_si128(v + 3);
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) != 0) break;
    }
    for (; n - i >= 16; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        if (const int high_bits = _mm_movemask_epi8(v)) return i + __builtin_ctz(high_bits);
    }
    if (i < n && n >= 16) {
        // What is left lies in the last 16 bytes: drop the bits of those already seen.
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16));
        const unsigned high_bits = static_cast<unsigned>(_mm_movemask_epi8(v)) >> (16 - (n - i));
        return high_bits ? i + __builtin_ctz(high_bits) : n;
    }
    while (i < n && p[i] < 0x80) ++i;
    return i;
}

// The method of Keiser and Lemire, "Validating UTF-8 in less than one instruction per
// byte" (2021). Every malformation of RFC 3629 shows in a pair of adjacent bytes (given
// the byte 2 or 3 places back too), and the first 12 bits of the pair say which. Three
// 16-entry tables, indexed by the high and low nibble of the previous byte and the high
// nibble of the current one, each map a nibble to the set of error kinds it is compatible
// with; a pair is bad when some kind is in all three sets. The one legal pair that looks
// bad, continuation-continuation, is cleared where a lead 2 or 3 bytes back asks for it.
namespace lookup {

constexpr std::uint8_t too_short = 1 << 0;     // lead byte, then no continuation byte
constexpr std::uint8_t too_long = 1 << 1;      // ASCII, then a continuation byte
constexpr std::uint8_t overlong_3 = 1 << 2;    // E0 80..9F
constexpr std::uint8_t too_large = 1 << 3;     // F4 90..BF, or F5..FF 90..BF
constexpr std::uint8_t surrogate = 1 << 4;     // ED A0..BF
constexpr std::uint8_t overlong_2 = 1 << 5;    // C0 or C1, then a continuation byte
constexpr std::uint8_t too_large_1000 = 1 << 6;  // F5..FF 80..8F
constexpr std::uint8_t overlong_4 = 1 << 6;    // F0 80..8F (the low-nibble table tells F0 from F5+)
constexpr std::uint8_t two_conts = 1 << 7;     // continuation, continuation
// The kinds decided by the high nibbles alone.
constexpr std::uint8_t any_low = too_short | too_long | two_conts;

// Indexed by the high nibble of the previous byte.
alignas(16) constexpr std::uint8_t previous_high[16] = {
    too_long, too_long, too_long, too_long, too_long, too_long, too_long, too_long,  // ASCII
    two_conts, two_conts, two_conts, two_conts,                                      // 80..BF
    too_short | overlong_2,                                                          // C0..CF
    too_short,                                                                       // D0..DF
    too_short | overlong_3 | surrogate,                                              // E0..EF
    too_short | too_large | too_large_1000 | overlong_4,                             // F0..FF
};

// Indexed by the low nibble of the previous byte.
alignas(16) constexpr std::uint8_t previous_low[16] = {
    any_low | overlong_2 | overlong_3 | overlong_4,  // C0, E0, F0
    any_low | overlong_2,                            // C1
    any_low,
    any_low,
    any_low | too_large,                             // F4
    any_low | too_large | too_large_1000,            // F5..FF from here on
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000 | surrogate,  // ED
    any_low | too_large | too_large_1000,
    any_low | too_large | too_large_1000,
};

// Indexed by the high nibble of the current byte.
alignas(16) constexpr std::uint8_t current_high[16] = {
    too_short, too_short, too_short, too_short, too_short, too_short, too_short, too_short,
    too_long | overlong_2 | two_conts | overlong_3 | too_large_1000 | overlong_4,  // 80..8F
    too_long | overlong_2 | two_conts | overlong_3 | too_large,                    // 90..9F
    too_long | overlong_2 | two_conts | surrogate | too_large,                     // A0..AF
    too_long | overlong_2 | two_conts | surrogate | too_large,                     // B0..BF
    too_short, too_short, too_short, too_short,
};

// The largest byte that does not wait for more bytes, by place from the end of the text:
// a lead byte is at least C0 in the last place, E0 in the last two, F0 in the last three.
// Subtracting it with unsigned saturation leaves non-zero exactly the truncated leads.
alignas(64) constexpr std::uint8_t end_max[64] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF,
};

// Subtracting these with unsigned saturation leaves the top bit set exactly on bytes that
// are at least E0 (two places back: this byte must be a 2nd continuation) or at least F0
// (three places back: a 3rd continuation).
constexpr std::uint8_t third_byte_bias = 0xE0 - 0x80, fourth_byte_bias = 0xF0 - 0x80;

}  // namespace lookup

// Validates 32-byte blocks in order; `previous_` is the block before (zero, i.e. ASCII, at
// the start), which supplies the 1 to 3 bytes before the first byte of a block.
class avx2_checker {
public:
    SYNCWS_TARGET_AVX2 avx2_checker() noexcept
        : previous_high_(table(lookup::previous_high)),
          previous_low_(table(lookup::previous_low)),
          current_high_(table(lookup::current_high)) {}

    // 64 bytes: ASCII text, the common case, costs one test.
    SYNCWS_TARGET_AVX2 void check(__m256i a, __m256i b) noexcept {
        if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
            ascii(b);
        } else {
            error_ = _mm256_or_si256(error_, block_errors(a, previous_));
            error_ = _mm256_or_si256(error_, block_errors(b, a));
            incomplete_ = _mm256_subs_epu8(b, end_max());
            previous_ = b;
        }
    }

    // Blocks known to be ASCII, `last` the last of them. An ASCII byte is wrong only
    // right after a sequence that is still incomplete.
    SYNCWS_TARGET_AVX2 void ascii(__m256i last) noexcept {
        error_ = _mm256_or_si256(error_, incomplete_);
        incomplete_ = _mm256_setzero_si256();
        previous_ = last;
    }

    // Makes `before` the block before the next one checked.
    SYNCWS_TARGET_AVX2 void rewind(__m256i before) noexcept { previous_ = before; }

    // True when no block had an error and the last one does not end inside a sequence.
    SYNCWS_TARGET_AVX2 bool valid_at_end() const noexcept {
        const __m256i error = _mm256_or_si256(error_, incomplete_);
        return _mm256_testz_si256(error, error) != 0;
    }

private:
    static SYNCWS_TARGET_AVX2 __m256i table(const std::uint8_t (&t)[16]) noexcept {
        return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
    }

    static SYNCWS_TARGET_AVX2 __m256i end_max() noexcept {
        return _mm256_load_si256(reinterpret_cast<const __m256i*>(lookup::end_max + 32));
    }

    // The bytes N places back: the last N of `before`, then all but the last N of `block`.
    template <int N>
    static SYNCWS_TARGET_AVX2 __m256i back(__m256i block, __m256i before) noexcept {
        // palignr works within 128-bit lanes, so first line up [before.high, block.low].
        const __m256i shifted_lane = _mm256_permute2x128_si256(before, block, 0x21);
        return _mm256_alignr_epi8(block, shifted_lane, 16 - N);
    }

    SYNCWS_TARGET_AVX2 __m256i block_errors(__m256i block, __m256i before) const noexcept {
        const __m256i nibble = _mm256_set1_epi8(0x0F);
        const __m256i back1 = back<1>(block, before);
        const __m256i kinds = _mm256_and_si256(
            _mm256_and_si256(
                _mm256_shuffle_epi8(previous_high_,
                                    _mm256_and_si256(_mm256_srli_epi16(back1, 4), nibble)),
                _mm256_shuffle_epi8(previous_low_, _mm256_and_si256(back1, nibble))),
            _mm256_shuffle_epi8(current_high_,
                                _mm256_and_si256(_mm256_srli_epi16(block, 4), nibble)));
        const __m256i third = _mm256_subs_epu8(
            back<2>(block, before), _mm256_set1_epi8(static_cast<char>(lookup::third_byte_bias)));
        const __m256i fourth = _mm256_subs_epu8(
            back<3>(block, before), _mm256_set1_epi8(static_cast<char>(lookup::fourth_byte_bias)));
        const __m256i must_be_continuation = _mm256_and_si256(
            _mm256_or_si256(third, fourth), _mm256_set1_epi8(static_cast<char>(0x80)));
        return _mm256_xor_si256(must_be_continuation, kinds);
    }

    __m256i previous_high_, previous_low_, current_high_;
    __m256i error_ = _mm256_setzero_si256();
    __m256i incomplete_ = _mm256_setzero_si256();
    __m256i previous_ = _mm256_setzero_si256();
};

SYNCWS_TARGET_AVX2 bool validate_avx2(const unsigned char* p, std::size_t n) noexcept {
    // Below 64 bytes the padded copy costs more than a short ASCII text takes to scan.
    if (n < 64 && ascii_run_sse2(p, n) == n) return true;
    avx2_checker checker;
    std::size_t i = 0;
    for (; n - i >= 128; i += 128) {
        const __m256i* v = reinterpret_cast<const __m256i*>(p + i);
        const __m256i a = _mm256_loadu_si256(v), b = _mm256_loadu_si256(v + 1),
                      c = _mm256_loadu_si256(v + 2), d = _mm256_loadu_si256(v + 3);
        if (_mm256_movemask_epi8(_mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d))) ==
            0) {
            checker.ascii(d);
        } else {
            checker.check(a, b);
            checker.check(c, d);
        }
    }
    for (; n - i >= 64; i += 64) {
        checker.check(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    }
    if (i < n && n >= 96) {
        // The last 64 bytes, overlapping what was checked: checking a byte twice, with the
        // same bytes before it, finds the same errors.
        checker.rewind(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + n - 96)));
        checker.check(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + n - 64)),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + n - 32)));
    } else if (i < n) {
        // Padding with NUL (ASCII) cannot hide an error: a truncated sequence before it
        // shows as too short.
        alignas(32) unsigned char last[64] = {};
        std::memcpy(last, p + i, n - i);
        checker.check(_mm256_load_si256(reinterpret_cast<const __m256i*>(last)),
                      _mm256_load_si256(reinterpret_cast<const __m256i*>(last + 32)));
    }
    return checker.valid_at_end();
}

// avx2_checker with 64-byte blocks.
class avx512_checker {
public:
    SYNCWS_TARGET_AVX512 avx512_checker() noexcept
        : previous_high_(table(lookup::previous_high)),
          previous_low_(table(lookup::previous_low)),
          current_high_(table(lookup::current_high)) {}

    SYNCWS_TARGET_AVX512 void check(__m512i block) noexcept {
        if (_mm512_movepi8_mask(block) == 0) {
            ascii(block);
        } else {
            error_ = _mm512_or_si512(error_, block_errors(block, previous_));
            incomplete_ = _mm512_subs_epu8(block, _mm512_load_si512(lookup::end_max));
            previous_ = block;
        }
    }

    SYNCWS_TARGET_AVX512 void ascii(__m512i last) noexcept {
        error_ = _mm512_or_si512(error_, incomplete_);
        incomplete_ = _mm512_setzero_si512();
        previous_ = last;
    }

    SYNCWS_TARGET_AVX512 bool valid_at_end() const noexcept {
        const __m512i error = _mm512_or_si512(error_, incomplete_);
        return _mm512_test_epi8_mask(error, error) == 0;
    }

private:
    static constexpr __mmask16 all_lanes = 0xFFFF;

    static SYNCWS_TARGET_AVX512 __m512i table(const std::uint8_t (&t)[16]) noexcept {
        // The maskz forms with every lane on are the plain instructions; the plain intrinsics
        // trip GCC 12's -Wmaybe-uninitialized inside <immintrin.h> (GCC bug 105593).
        return _mm512_maskz_broadcast_i32x4(all_lanes,
                                            _mm_load_si128(reinterpret_cast<const __m128i*>(t)));
    }

    template <int N>
    static SYNCWS_TARGET_AVX512 __m512i back(__m512i block, __m512i before) noexcept {
        // palignr works within 128-bit lanes, so first line up the lanes one lane back.
        const __m512i shifted_lanes = _mm512_maskz_alignr_epi32(all_lanes, block, before, 12);
        return _mm512_alignr_epi8(block, shifted_lanes, 16 - N);
    }

    SYNCWS_TARGET_AVX512 __m512i block_errors(__m512i block, __m512i before) const noexcept {
        const __m512i nibble = _mm512_set1_epi8(0x0F);
        const __m512i back1 = back<1>(block, before);
        const __m512i kinds = _mm512_and_si512(
            _mm512_and_si512(
                _mm512_shuffle_epi8(previous_high_,
                                    _mm512_and_si512(_mm512_srli_epi16(back1, 4), nibble)),
                _mm512_shuffle_epi8(previous_low_, _mm512_and_si512(back1, nibble))),
            _mm512_shuffle_epi8(current_high_,
                                _mm512_and_si512(_mm512_srli_epi16(block, 4), nibble)));
        const __m512i third = _mm512_subs_epu8(
            back<2>(block, before), _mm512_set1_epi8(static_cast<char>(lookup::third_byte_bias)));
        const __m512i fourth = _mm512_subs_epu8(
            back<3>(block, before), _mm512_set1_epi8(static_cast<char>(lookup::fourth_byte_bias)));
        const __m512i must_be_continuation = _mm512_and_si512(
            _mm512_or_si512(third, fourth), _mm512_set1_epi8(static_cast<char>(0x80)));
        return _mm512_xor_si512(must_be_continuation, kinds);
    }

    __m512i previous_high_, previous_low_, current_high_;
    __m512i error_ = _mm512_setzero_si512();
    __m512i incomplete_ = _mm512_setzero_si512();
    __m512i previous_ = _mm512_setzero_si512();
};

SYNCWS_TARGET_AVX512 bool validate_avx512(const unsigned char* p, std::size_t n) noexcept {
    avx512_checker checker;
    std::size_t i = 0;
    for (; n - i >= 128; i += 128) {
        const __m512i a = _mm512_loadu_si512(p + i), b = _mm512_loadu_si512(p + i + 64);
        if (_mm512_movepi8_mask(_mm512_or_si512(a, b)) == 0) {
            checker.ascii(b);
        } else {
            checker.check(a);
            checker.check(b);
        }
    }
    for (; n - i >= 64; i += 64) checker.check(_mm512_loadu_si512(p + i));
    if (i < n) {
        // Masked-off bytes read as NUL (see validate_avx2) and are not touched in memory.
        checker.check(_mm512_maskz_loadu_epi8(~std::uint64_t{0} >> (64 - (n - i)), p + i));
    }
    return checker.valid_at_end();
}

#endif  // SYNCWS_X86_64_KERNELS

bool validate_first_call(const unsigned char* p, std::size_t n) noexcept;

// AVX-512 is worth it: on this project's Sapphire Rapids machine (core_bench) it validates
// mixed Greek/CJK/emoji text at ~20 GB/s against AVX2's ~15, and 16 bytes of it at 3.4
// against 0.9 (no padded copy); ASCII runs at cache speed either way.
detail::kernel_dispatch<kernel_fn> kernels({
    validate_scalar<ascii_run_words>,
#if SYNCWS_X86_64_KERNELS
    validate_scalar<ascii_run_sse2>, validate_avx2, validate_avx512,
#else
    nullptr, nullptr, nullptr,
#endif
}, simd_level::avx512, validate_first_call);

bool validate_first_call(const unsigned char* p, std::size_t n) noexcept {
    return kernels.choose()(p, n);
}

const unsigned char* bytes(std::string_view text) noexcept {
    return reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace

bool is_valid_utf8(std::string_view text) noexcept {
    return kernels.get()(bytes(text), text.size());
}

bool is_valid_utf8_bytewise(std::string_view text) noexcept {
    utf8_automaton automaton;
    for (const char c : text)
        if (!automaton.step(static_cast<std::uint8_t>(c))) return false;
    return automaton.pending == 0;
}

bool utf8_validator::feed(std::string_view piece) noexcept {
    if (!valid_) return false;
    const unsigned char* p = bytes(piece);
    const std::size_t n = piece.size();
    utf8_automaton automaton{pending_, next_min_, next_max_};

    // Finish the code point that the previous piece left open.
    std::size_t i = 0;
    for (; i < n && automaton.pending != 0; ++i) {
        if (!automaton.step(p[i])) return valid_ = false;
    }

    // The last sequence may be cut short by the end of the piece: leave it to the automaton
    // and give the fast validator whole code points. It starts at the last lead byte, if
    // that is one of the last three and its sequence is longer than what is left. Were the
    // piece malformed there, the automaton or the fast validator says so either way.
    std::size_t tail = n;
    for (std::size_t back = 1; back <= 3 && back <= n - i; ++back) {
        const unsigned char b = p[n - back];
        if (b < 0x80) break;
        if (b >= 0xC0) {
            if (lead_rules[b].length > back) tail = n - back;
            break;
        }
    }
    if (tail > i && !kernels.get()(p + i, tail - i)) return valid_ = false;
    for (i = tail; i < n; ++i) {
        if (!automaton.step(p[i])) return valid_ = false;
    }

    pending_ = automaton.pending;
    next_min_ = automaton.next_min;
    next_max_ = automaton.next_max;
    return true;
}

namespace detail {

simd_level utf8_level() noexcept { return kernels.level(); }
bool force_utf8_level(simd_level level) noexcept { return kernels.force(level); }

}  // namespace detail
}  // namespace syncws::core

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

// RFC 3629 §4 one byte at a time: after a lead byte, how many continuation bytes are still
// due and the range the next one must fall in. The range is narrower than 80..BF only right
// after E0, ED, F0 and F4: that is where overlong forms, surrogates and code points above
// U+10FFFF are cut off, so a bad sequence is rejected at its first impossible byte.
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
        if (b < 0x80) return true;
        if (b < 0xC2) return false;  // a stray continuation byte, or C0/C1 (always overlong)
        if (b < 0xE0) {
            pending = 1;
        } else if (b < 0xF0) {
            pending = 2;
            if (b == 0xE0) next_min = 0xA0;
            if (b == 0xED) next_max = 0x9F;
        } else if (b < 0xF5) {
            pending = 3;
            if (b == 0xF0) next_min = 0x90;
            if (b == 0xF4) next_max = 0x8F;
        } else {
            return false;
        }
        return true;
    }
};

using kernel_fn = bool (*)(const unsigned char* p, std::size_t n) noexcept;

// How many bytes from p on are ASCII, 8 at a time: the portable ASCII fast path.
std::size_t ascii_run_words(const unsigned char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; n - i >= 16; i += 16) {
        std::uint64_t a, b;
        std::memcpy(&a, p + i, 8);
        std::memcpy(&b, p + i + 8, 8);
        if ((a | b) & 0x8080'8080'8080'8080u) break;
    }
    while (i < n && p[i] < 0x80) ++i;
    return i;
}

// Complete text: ASCII runs skipped `ascii_run` at a time, everything else by the automaton.
template <std::size_t (*ascii_run)(const unsigned char*, std::size_t) noexcept>
bool validate_ascii_runs(const unsigned char* p, std::size_t n) noexcept {
    utf8_automaton automaton;
    for (std::size_t i = 0; i < n;) {
        if (automaton.pending == 0 && p[i] < 0x80) {
            i += ascii_run(p + i, n - i);
        } else {
            if (!automaton.step(p[i])) return false;
            ++i;
        }
    }
    return automaton.pending == 0;
}

#if SYNCWS_X86_64_KERNELS

std::size_t ascii_run_sse2(const unsigned char* p, std::size_t n) noexcept {
    std::size_t i = 0;
    for (; n - i >= 16; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        if (const int high_bits = _mm_movemask_epi8(v)) return i + __builtin_ctz(high_bits);
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

#define SYNCWS_AVX2 __attribute__((target("avx2")))

// Validates 32-byte blocks in order; `previous_` is the block before (zero, i.e. ASCII, at
// the start), which supplies the 1 to 3 bytes before the first byte of a block.
class avx2_checker {
public:
    SYNCWS_AVX2 avx2_checker() noexcept
        : previous_high_(table(lookup::previous_high)),
          previous_low_(table(lookup::previous_low)),
          current_high_(table(lookup::current_high)) {}

    // A 64-byte step: ASCII text, the common case, costs one test.
    SYNCWS_AVX2 void check(__m256i a, __m256i b) noexcept {
        if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
            error_ = _mm256_or_si256(error_, incomplete_);
            incomplete_ = _mm256_setzero_si256();
        } else {
            error_ = _mm256_or_si256(error_, block_errors(a, previous_));
            error_ = _mm256_or_si256(error_, block_errors(b, a));
            incomplete_ = _mm256_subs_epu8(b, end_max());
        }
        previous_ = b;
    }

    // True when no block had an error and the last one does not end inside a sequence.
    SYNCWS_AVX2 bool valid_at_end() const noexcept {
        const __m256i error = _mm256_or_si256(error_, incomplete_);
        return _mm256_testz_si256(error, error) != 0;
    }

private:
    static SYNCWS_AVX2 __m256i table(const std::uint8_t (&t)[16]) noexcept {
        return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
    }

    static SYNCWS_AVX2 __m256i end_max() noexcept {
        return _mm256_load_si256(reinterpret_cast<const __m256i*>(lookup::end_max + 32));
    }

    // The bytes N places back: the last N of `before`, then all but the last N of `block`.
    template <int N>
    static SYNCWS_AVX2 __m256i back(__m256i block, __m256i before) noexcept {
        // palignr works within 128-bit lanes, so first line up [before.high, block.low].
        const __m256i shifted_lane = _mm256_permute2x128_si256(before, block, 0x21);
        return _mm256_alignr_epi8(block, shifted_lane, 16 - N);
    }

    SYNCWS_AVX2 __m256i block_errors(__m256i block, __m256i before) const noexcept {
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

SYNCWS_AVX2 bool validate_avx2(const unsigned char* p, std::size_t n) noexcept {
    avx2_checker checker;
    std::size_t i = 0;
    for (; n - i >= 64; i += 64) {
        checker.check(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)),
                      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    }
    if (i < n) {
        // Padding with NUL (ASCII) cannot hide an error: a truncated sequence before it
        // shows as too short.
        alignas(32) unsigned char last[64] = {};
        std::memcpy(last, p + i, n - i);
        checker.check(_mm256_load_si256(reinterpret_cast<const __m256i*>(last)),
                      _mm256_load_si256(reinterpret_cast<const __m256i*>(last + 32)));
    }
    return checker.valid_at_end();
}

#define SYNCWS_AVX512 __attribute__((target("avx512f,avx512bw")))

// avx2_checker with 64-byte blocks.
class avx512_checker {
public:
    SYNCWS_AVX512 avx512_checker() noexcept
        : previous_high_(table(lookup::previous_high)),
          previous_low_(table(lookup::previous_low)),
          current_high_(table(lookup::current_high)) {}

    SYNCWS_AVX512 void check(__m512i block) noexcept {
        if (_mm512_movepi8_mask(block) == 0) {
            error_ = _mm512_or_si512(error_, incomplete_);
            incomplete_ = _mm512_setzero_si512();
        } else {
            error_ = _mm512_or_si512(error_, block_errors(block, previous_));
            incomplete_ = _mm512_subs_epu8(block, _mm512_load_si512(lookup::end_max));
        }
        previous_ = block;
    }

    SYNCWS_AVX512 bool valid_at_end() const noexcept {
        const __m512i error = _mm512_or_si512(error_, incomplete_);
        return _mm512_test_epi8_mask(error, error) == 0;
    }

private:
    static constexpr __mmask16 all_lanes = 0xFFFF;

    static SYNCWS_AVX512 __m512i table(const std::uint8_t (&t)[16]) noexcept {
        // The maskz forms with every lane on are the plain instructions; the plain intrinsics
        // trip GCC 12's -Wmaybe-uninitialized inside <immintrin.h> (GCC bug 105593).
        return _mm512_maskz_broadcast_i32x4(all_lanes,
                                            _mm_load_si128(reinterpret_cast<const __m128i*>(t)));
    }

    template <int N>
    static SYNCWS_AVX512 __m512i back(__m512i block, __m512i before) noexcept {
        // palignr works within 128-bit lanes, so first line up the lanes one lane back.
        const __m512i shifted_lanes = _mm512_maskz_alignr_epi32(all_lanes, block, before, 12);
        return _mm512_alignr_epi8(block, shifted_lanes, 16 - N);
    }

    SYNCWS_AVX512 __m512i block_errors(__m512i block, __m512i before) const noexcept {
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

SYNCWS_AVX512 bool validate_avx512(const unsigned char* p, std::size_t n) noexcept {
    avx512_checker checker;
    std::size_t i = 0;
    for (; n - i >= 64; i += 64) checker.check(_mm512_loadu_si512(p + i));
    if (i < n) {
        // Masked-off bytes read as NUL (see validate_avx2) and are not touched in memory.
        checker.check(_mm512_maskz_loadu_epi8(~std::uint64_t{0} >> (64 - (n - i)), p + i));
    }
    return checker.valid_at_end();
}

#endif  // SYNCWS_X86_64_KERNELS

detail::kernel_dispatch<kernel_fn> kernels({
    validate_ascii_runs<ascii_run_words>,
#if SYNCWS_X86_64_KERNELS
    validate_ascii_runs<ascii_run_sse2>, validate_avx2, validate_avx512,
#else
    nullptr, nullptr, nullptr,
#endif
}, simd_level::avx512);

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
    // and give the fast validator whole code points. It starts at the last lead byte when
    // that is C0+ in the last place, E0+ in the last two or F0+ in the last three. If the
    // piece is malformed there, the automaton or the fast validator says so either way.
    std::size_t tail = n;
    for (std::size_t back = 1; back <= 3 && back <= n - i; ++back) {
        const unsigned char b = p[n - back];
        if (b < 0x80) break;
        if (b >= 0xC0) {
            constexpr unsigned char needs_more[4] = {0, 0xC0, 0xE0, 0xF0};
            if (b >= needs_more[back]) tail = n - back;
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

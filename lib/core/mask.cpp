#include "syncws/core/mask.hpp"

#include <cstdint>
#include <cstring>

#include "simd_dispatch.hpp"

#if SYNCWS_X86_64_KERNELS
#include <immintrin.h>
#endif

namespace syncws::core {
namespace {

using detail::simd_level;

// Every kernel masks while copying; unmasking in place is the case dst == src, which
// element-by-element load-then-store handles, so one kernel serves both entry points.
// `key` is the key word of key_word(): a local value, so that stores through dst (which
// may alias anything) do not force the key to be reloaded.
using kernel_fn = void (*)(unsigned char* dst, const unsigned char* src, std::size_t n,
                           std::uint32_t key) noexcept;

// The key bytes in the order they apply from byte `phase` of the key on, as a word: XORing
// it onto a word of data loaded with memcpy pairs each byte with its key byte whatever the
// CPU's byte order. After any multiple of 4 bytes the same word applies again.
std::uint32_t key_word(const mask_key& key, std::size_t phase) noexcept {
    const unsigned char rotated[4] = {key[phase & 3], key[(phase + 1) & 3],
                                      key[(phase + 2) & 3], key[(phase + 3) & 3]};
    std::uint32_t word;
    std::memcpy(&word, rotated, sizeof word);
    return word;
}

// The kernel for CPUs without one of their own, and the tail of the SIMD kernels.
void mask_words(unsigned char* dst, const unsigned char* src, std::size_t n,
                std::uint32_t key) noexcept {
    const std::uint64_t k = std::uint64_t{key} * 0x1'0000'0001u;
    std::size_t i = 0;
    for (; n - i >= 8; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, src + i, 8);
        w ^= k;
        std::memcpy(dst + i, &w, 8);
    }
    unsigned char key_bytes[4];
    std::memcpy(key_bytes, &key, 4);
    for (; i < n; ++i) dst[i] = src[i] ^ key_bytes[i & 3];
}

#if SYNCWS_X86_64_KERNELS

// The key word once `bytes` more bytes are masked (x86 is little-endian: the first byte is
// the low one).
std::uint32_t advance(std::uint32_t key, std::size_t bytes) noexcept {
    const unsigned shift = 8 * (bytes & 3);
    return shift == 0 ? key : (key >> shift | key << (32 - shift));
}

// The SIMD kernels store only whole, aligned vectors in their loop: a store that straddles
// two cache lines costs up to twice as much, and a payload follows a 2- to 14-byte frame
// header, so it is rarely aligned. The unaligned ends are covered by one full vector at
// each end, overlapping the loop's first and last: both are loaded before anything is
// stored (so in place they still see the original bytes) and stored last, writing the
// same values the loop wrote where they overlap.

void mask_sse2(unsigned char* dst, const unsigned char* src, std::size_t n,
               std::uint32_t key) noexcept {
    if (n < 16) {
        mask_words(dst, src, n, key);
        return;
    }
    const std::size_t head = (0 - reinterpret_cast<std::uintptr_t>(dst)) & 15;
    const __m128i first = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)),
                                        _mm_set1_epi32(static_cast<int>(key)));
    const __m128i last =
        _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + n - 16)),
                      _mm_set1_epi32(static_cast<int>(advance(key, n - 16))));
    const __m128i k = _mm_set1_epi32(static_cast<int>(advance(key, head)));
    std::size_t i = head;
    for (; n - i >= 64; i += 64) {
        const __m128i* s = reinterpret_cast<const __m128i*>(src + i);
        __m128i* d = reinterpret_cast<__m128i*>(dst + i);
        const __m128i v0 = _mm_loadu_si128(s), v1 = _mm_loadu_si128(s + 1),
                      v2 = _mm_loadu_si128(s + 2), v3 = _mm_loadu_si128(s + 3);
        _mm_store_si128(d, _mm_xor_si128(v0, k));
        _mm_store_si128(d + 1, _mm_xor_si128(v1, k));
        _mm_store_si128(d + 2, _mm_xor_si128(v2, k));
        _mm_store_si128(d + 3, _mm_xor_si128(v3, k));
    }
    for (; n - i >= 16; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        _mm_store_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(v, k));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), first);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + n - 16), last);
}

// mask_sse2 with 32-byte vectors.
SYNCWS_TARGET_AVX2 void mask_avx2(unsigned char* dst, const unsigned char* src, std::size_t n,
                                  std::uint32_t key) noexcept {
    if (n < 32) {
        mask_sse2(dst, src, n, key);
        return;
    }
    const std::size_t head = (0 - reinterpret_cast<std::uintptr_t>(dst)) & 31;
    const __m256i first = _mm256_xor_si256(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)),
        _mm256_set1_epi32(static_cast<int>(key)));
    const __m256i last = _mm256_xor_si256(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + n - 32)),
        _mm256_set1_epi32(static_cast<int>(advance(key, n - 32))));
    const __m256i k = _mm256_set1_epi32(static_cast<int>(advance(key, head)));
    std::size_t i = head;
    for (; n - i >= 128; i += 128) {
        const __m256i* s = reinterpret_cast<const __m256i*>(src + i);
        __m256i* d = reinterpret_cast<__m256i*>(dst + i);
        const __m256i v0 = _mm256_loadu_si256(s), v1 = _mm256_loadu_si256(s + 1),
                      v2 = _mm256_loadu_si256(s + 2), v3 = _mm256_loadu_si256(s + 3);
        _mm256_store_si256(d, _mm256_xor_si256(v0, k));
        _mm256_store_si256(d + 1, _mm256_xor_si256(v1, k));
        _mm256_store_si256(d + 2, _mm256_xor_si256(v2, k));
        _mm256_store_si256(d + 3, _mm256_xor_si256(v3, k));
    }
    for (; n - i >= 32; i += 32) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        _mm256_store_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(v, k));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), first);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + n - 32), last);
}

// mask_sse2 with 64-byte vectors, and masked loads and stores below 64 bytes.
SYNCWS_TARGET_AVX512 void mask_avx512(unsigned char* dst, const unsigned char* src,
                                      std::size_t n, std::uint32_t key) noexcept {
    if (n <= 64) {
        // Masked-off bytes are neither read (no fault past the end of the buffer) nor written.
        const __mmask64 m = n == 0 ? 0 : ~std::uint64_t{0} >> (64 - n);
        const __m512i v = _mm512_maskz_loadu_epi8(m, src);
        _mm512_mask_storeu_epi8(dst, m,
                                _mm512_xor_si512(v, _mm512_set1_epi32(static_cast<int>(key))));
        return;
    }
    const std::size_t head = (0 - reinterpret_cast<std::uintptr_t>(dst)) & 63;
    const __m512i first =
        _mm512_xor_si512(_mm512_loadu_si512(src), _mm512_set1_epi32(static_cast<int>(key)));
    const __m512i last = _mm512_xor_si512(
        _mm512_loadu_si512(src + n - 64),
        _mm512_set1_epi32(static_cast<int>(advance(key, n - 64))));
    const __m512i k = _mm512_set1_epi32(static_cast<int>(advance(key, head)));
    std::size_t i = head;
    for (; n - i >= 256; i += 256) {
        const __m512i v0 = _mm512_loadu_si512(src + i), v1 = _mm512_loadu_si512(src + i + 64),
                      v2 = _mm512_loadu_si512(src + i + 128),
                      v3 = _mm512_loadu_si512(src + i + 192);
        _mm512_store_si512(dst + i, _mm512_xor_si512(v0, k));
        _mm512_store_si512(dst + i + 64, _mm512_xor_si512(v1, k));
        _mm512_store_si512(dst + i + 128, _mm512_xor_si512(v2, k));
        _mm512_store_si512(dst + i + 192, _mm512_xor_si512(v3, k));
    }
    for (; n - i >= 64; i += 64)
        _mm512_store_si512(dst + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), k));
    _mm512_storeu_si512(dst, first);
    _mm512_storeu_si512(dst + n - 64, last);
}

#endif

void mask_first_call(unsigned char* dst, const unsigned char* src, std::size_t n,
                     std::uint32_t key) noexcept;

// AVX-512 is worth it: on this project's Sapphire Rapids machine (core_bench) it masks
// 64 bytes at 23 GB/s against AVX2's 13 and 1 KiB at ~105 against ~90; from 64 KiB on
// every kernel runs at the speed of the L2 cache.
detail::kernel_dispatch<kernel_fn> kernels({
    mask_words,
#if SYNCWS_X86_64_KERNELS
    mask_sse2, mask_avx2, mask_avx512,
#else
    nullptr, nullptr, nullptr,
#endif
}, simd_level::avx512, mask_first_call);

void mask_first_call(unsigned char* dst, const unsigned char* src, std::size_t n,
                     std::uint32_t key) noexcept {
    kernels.choose()(dst, src, n, key);
}

unsigned char* bytes(char* p) noexcept { return reinterpret_cast<unsigned char*>(p); }
const unsigned char* bytes(const char* p) noexcept {
    return reinterpret_cast<const unsigned char*>(p);
}

}  // namespace

void apply_mask(char* data, std::size_t n, const mask_key& key, std::size_t phase) noexcept {
    kernels.get()(bytes(data), bytes(data), n, key_word(key, phase));
}

void mask_copy(char* dst, const char* src, std::size_t n, const mask_key& key,
               std::size_t phase) noexcept {
    kernels.get()(bytes(dst), bytes(src), n, key_word(key, phase));
}

void apply_mask_bytewise(char* data, std::size_t n, const mask_key& key,
                         std::size_t phase) noexcept {
    for (std::size_t i = 0; i < n; ++i)
        data[i] = static_cast<char>(data[i] ^ key[(phase + i) % 4]);
}

namespace detail {

simd_level mask_level() noexcept { return kernels.level(); }
bool force_mask_level(simd_level level) noexcept { return kernels.force(level); }

}  // namespace detail
}  // namespace syncws::core

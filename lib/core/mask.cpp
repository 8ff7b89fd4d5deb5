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
using kernel_fn = void (*)(unsigned char* dst, const unsigned char* src, std::size_t n,
                           const mask_key& key, std::size_t phase) noexcept;

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

void mask_bytes(unsigned char* dst, const unsigned char* src, std::size_t n,
                const mask_key& key, std::size_t phase) noexcept {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] ^ key[(phase + i) & 3];
}

// The kernel for CPUs without one of their own, and the tail of the SIMD kernels.
void mask_words(unsigned char* dst, const unsigned char* src, std::size_t n,
                const mask_key& key, std::size_t phase) noexcept {
    const std::uint64_t k = std::uint64_t{key_word(key, phase)} * 0x1'0000'0001u;
    std::size_t i = 0;
    for (; n - i >= 8; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, src + i, 8);
        w ^= k;
        std::memcpy(dst + i, &w, 8);
    }
    mask_bytes(dst + i, src + i, n - i, key, phase);
}

#if SYNCWS_X86_64_KERNELS

void mask_sse2(unsigned char* dst, const unsigned char* src, std::size_t n, const mask_key& key,
               std::size_t phase) noexcept {
    const __m128i k = _mm_set1_epi32(static_cast<int>(key_word(key, phase)));
    std::size_t i = 0;
    for (; n - i >= 16; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm_xor_si128(v, k));
    }
    mask_words(dst + i, src + i, n - i, key, phase);
}

__attribute__((target("avx2"))) void mask_avx2(unsigned char* dst, const unsigned char* src,
                                               std::size_t n, const mask_key& key,
                                               std::size_t phase) noexcept {
    const __m256i k = _mm256_set1_epi32(static_cast<int>(key_word(key, phase)));
    std::size_t i = 0;
    for (; n - i >= 32; i += 32) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_xor_si256(v, k));
    }
    mask_sse2(dst + i, src + i, n - i, key, phase);
}

__attribute__((target("avx512f,avx512bw"))) void mask_avx512(unsigned char* dst,
                                                             const unsigned char* src,
                                                             std::size_t n, const mask_key& key,
                                                             std::size_t phase) noexcept {
    const __m512i k = _mm512_set1_epi32(static_cast<int>(key_word(key, phase)));
    std::size_t i = 0;
    for (; n - i >= 64; i += 64) {
        const __m512i v = _mm512_loadu_si512(src + i);
        _mm512_storeu_si512(dst + i, _mm512_xor_si512(v, k));
    }
    if (i < n) {
        // Masked-off bytes are neither read (no fault past the end) nor written.
        const __mmask64 m = ~std::uint64_t{0} >> (64 - (n - i));
        const __m512i v = _mm512_maskz_loadu_epi8(m, src + i);
        _mm512_mask_storeu_epi8(dst + i, m, _mm512_xor_si512(v, k));
    }
}

#endif

detail::kernel_dispatch<kernel_fn> kernels({
    mask_words,
#if SYNCWS_X86_64_KERNELS
    mask_sse2, mask_avx2, mask_avx512,
#else
    nullptr, nullptr, nullptr,
#endif
}, simd_level::avx512);

unsigned char* bytes(char* p) noexcept { return reinterpret_cast<unsigned char*>(p); }
const unsigned char* bytes(const char* p) noexcept {
    return reinterpret_cast<const unsigned char*>(p);
}

}  // namespace

void apply_mask(char* data, std::size_t n, const mask_key& key, std::size_t phase) noexcept {
    kernels.get()(bytes(data), bytes(data), n, key, phase);
}

void mask_copy(char* dst, const char* src, std::size_t n, const mask_key& key,
               std::size_t phase) noexcept {
    kernels.get()(bytes(dst), bytes(src), n, key, phase);
}

void apply_mask_bytewise(char* data, std::size_t n, const mask_key& key,
                         std::size_t phase) noexcept {
    mask_bytes(bytes(data), bytes(data), n, key, phase);
}

namespace detail {

simd_level mask_level() noexcept { return kernels.level(); }
bool force_mask_level(simd_level level) noexcept { return kernels.force(level); }

}  // namespace detail
}  // namespace syncws::core

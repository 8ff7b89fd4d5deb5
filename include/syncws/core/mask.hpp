// Masking and unmasking of frame payloads (RFC 6455 §5.3), the hottest loop of the protocol.
#pragma once

#include <cstddef>

#include "syncws/core/random.hpp"

namespace syncws::core {

/// XORs data[0..n) in place with key, starting at byte `phase` of the key (phase = how many
/// payload bytes of this frame were already masked; only its value modulo 4 matters), so a
/// payload split across buffers is masked in pieces. Any alignment. Vectorised (SSE2
/// baseline, AVX2 / AVX-512 chosen at run time where available, 64-bit words elsewhere).
/// Thread-safety: pure function on the caller's buffer.
void apply_mask(char* data, std::size_t n, const mask_key& key, std::size_t phase = 0) noexcept;

/// Writes src[0..n) XOR key into dst (same phase rule): masking while copying into the
/// output buffer, in one pass. dst and src must not overlap.
/// Thread-safety: pure function on the caller's buffers.
void mask_copy(char* dst, const char* src, std::size_t n, const mask_key& key,
               std::size_t phase = 0) noexcept;

/// The straightforward byte-at-a-time version, the reference for tests and benchmarks.
void apply_mask_bytewise(char* data, std::size_t n, const mask_key& key,
                         std::size_t phase = 0) noexcept;

}  // namespace syncws::core

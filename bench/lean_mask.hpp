// The masking of the bench's own WebSocket peers (the load generator masks, the ws-floor
// server unmasks). Plain and lean on purpose: syncws's kernels (core::mask_copy) are what is
// measured, so the peers do not borrow them, yet a byte loop would make them the bottleneck
// with 1 MiB frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bench {

// XOR with a masking key while copying n bytes: one pass, eight bytes at a time (which the
// compiler vectorises). Masking and unmasking are the same operation.
inline void lean_mask_copy(char* out, const char* in, std::size_t n, const unsigned char key[4]) {
    unsigned char key8[8];
    std::memcpy(key8, key, 4);
    std::memcpy(key8 + 4, key, 4);
    std::uint64_t k;
    std::memcpy(&k, key8, 8);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, in + i, 8);
        w ^= k;
        std::memcpy(out + i, &w, 8);
    }
    for (; i < n; ++i) out[i] = static_cast<char>(in[i] ^ key[i % 4]);
}

}  // namespace bench

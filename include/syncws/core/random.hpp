// Cryptographically secure random bytes (OpenSSL's CSPRNG), for handshake keys and masks.
#pragma once

#include <array>
#include <cstddef>

namespace syncws::core {

/// Fills out with n bytes from OpenSSL's CSPRNG (RAND_bytes). Throws syncws::error if the
/// CSPRNG cannot produce them.
/// Thread-safety: safe from any thread.
void random_bytes(void* out, std::size_t n);

/// A 4-byte masking key (RFC 6455 §5.3).
using mask_key = std::array<unsigned char, 4>;

/// Hands out mask keys drawn from the CSPRNG in batches, so that sending a small frame does
/// not cost a call into OpenSSL each time.
/// Thread-safety: one instance per thread (each protocol owns one).
class mask_key_source {
public:
    mask_key next();

private:
    // 1 KiB: a call into OpenSSL costs about as much for 1 KiB as for 256 bytes.
    static constexpr std::size_t batch_keys = 256;
    std::array<unsigned char, 4 * batch_keys> batch_{};
    std::size_t used_ = batch_.size();
};

}  // namespace syncws::core

#include "syncws/core/random.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "syncws/core/error.hpp"

namespace syncws::core {

namespace {

// RAND_bytes takes an int length.
constexpr std::size_t max_request = std::size_t{1} << 30;

[[noreturn]] void throw_rand_failure() {
    // OpenSSL's queued reason (e.g. "unable to fetch drbg", no entropy source) is what helps.
    char detail[256] = "no reason given";
    if (const unsigned long code = ERR_get_error()) ERR_error_string_n(code, detail, sizeof detail);
    ERR_clear_error();
    throw error(std::string("OpenSSL's random generator (RAND_bytes) failed: ") + detail);
}

}  // namespace

void random_bytes(void* out, std::size_t n) {
    auto* p = static_cast<unsigned char*>(out);
    while (n > 0) {
        const std::size_t chunk = std::min(n, max_request);
        if (RAND_bytes(p, static_cast<int>(chunk)) != 1) throw_rand_failure();
        p += chunk;
        n -= chunk;
    }
}

mask_key mask_key_source::next() {
    if (used_ == batch_.size()) {
        random_bytes(batch_.data(), batch_.size());
        used_ = 0;
    }
    mask_key key;
    std::memcpy(key.data(), batch_.data() + used_, key.size());
    used_ += key.size();
    return key;
}

}  // namespace syncws::core

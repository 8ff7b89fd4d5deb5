// The messages a benchmark sends: the same bytes for every server, made from a fixed seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen {

enum class payload_kind {
    binary,      // random bytes
    mixed_utf8,  // text: Greek, CJK and emoji words between spaces
    json,        // text: varied JSON records, as an API or chat would send
};

payload_kind parse_payload_kind(std::string_view name);

/// A small pool of distinct messages sent in turn. Several variants, so that an echo of the
/// wrong message (or a server that answers from a cache) is caught, and so that a compressor
/// does not see the same message over and over.
struct payload_set {
    payload_kind kind = payload_kind::binary;
    std::vector<std::string> variants;

    bool is_text() const { return kind != payload_kind::binary; }
    const std::string& at(std::uint64_t index) const { return variants[index % variants.size()]; }
    std::size_t largest() const;
};

/// `count` variants of about `size` bytes (exactly `size` except for JSON, which ends
/// with a whole record), all from `seed`.
payload_set make_payloads(payload_kind kind, std::size_t size, std::size_t count,
                          std::uint64_t seed = 1);

/// A fast generator for bytes and mask keys; not cryptographic, and need not be: the servers
/// cannot tell, and the benchmark must not be limited by its client.
class xorshift {
public:
    explicit xorshift(std::uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
    std::uint64_t next() {
        state_ ^= state_ << 13;
        state_ ^= state_ >> 7;
        state_ ^= state_ << 17;
        return state_;
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t state_;
};

}  // namespace loadgen

// Helpers shared by the core tests: building wire frames by hand, draining a protocol, and
// feeding input split at every byte position.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "syncws/core/frame.hpp"
#include "syncws/core/mask.hpp"
#include "syncws/core/protocol.hpp"

namespace test {

using namespace syncws::core;

/// Bytes from a list of numbers: bytes({0x81, 0x00}).
inline std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out.push_back(static_cast<char>(v));
    return out;
}

/// A fixed mask key, so that client output is reproducible.
inline const mask_key pinned_key{{0x37, 0xfa, 0x21, 0x3d}};

/// A frame as a peer would send it. Frames from a client (masked = true) are masked with
/// pinned_key using the byte-at-a-time reference, independent of the code under test.
inline std::string frame(opcode op, std::string_view payload, bool masked, bool fin = true,
                         bool rsv1 = false) {
    unsigned char header[max_frame_header_size];
    const std::size_t size =
        encode_frame_header(header, fin, rsv1, op, payload.size(), masked ? &pinned_key : nullptr);
    std::string out(reinterpret_cast<const char*>(header), size);
    std::string body(payload);
    if (masked) apply_mask_bytewise(body.data(), body.size(), pinned_key);
    return out + body;
}

/// Everything the protocol wants written, as one string.
inline std::string output_of(protocol& p) {
    output_queue out;
    p.take_output(out);
    return out.flatten();
}

/// Every pending event.
inline std::vector<event> events_of(protocol& p) {
    std::vector<event> all;
    while (auto e = p.next_event()) all.push_back(std::move(*e));
    return all;
}

/// A protocol_config whose client masks are always pinned_key.
inline protocol_config pinned_config(protocol_config config = {}) {
    config.mask_keys = [] { return pinned_key; };
    return config;
}

/// Calls check(cut) for every way of cutting input in two (cut = 0 .. size), and once for
/// one byte at a time (cut = npos), each with the input fed in those pieces through feed.
inline void for_each_split(std::string_view input,
                           const std::function<void(const std::vector<std::string_view>&)>& check) {
    for (std::size_t cut = 0; cut <= input.size(); ++cut)
        check({input.substr(0, cut), input.substr(cut)});
    std::vector<std::string_view> singles;
    for (std::size_t i = 0; i < input.size(); ++i) singles.push_back(input.substr(i, 1));
    check(singles);
}

}  // namespace test

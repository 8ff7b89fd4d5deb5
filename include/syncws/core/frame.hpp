// Frame headers (RFC 6455 §5.2): decoding, encoding and the rules a received header must
// follow. Payloads are handled by the protocol, which unmasks them where they land.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "syncws/core/random.hpp"

namespace syncws::core {

/// Frame opcodes (RFC 6455 §5.2, §11.8).
enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

/// True for close, ping and pong (opcodes 0x8–0xF).
constexpr bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

/// Which end of the connection we are: it decides who masks (RFC 6455 §5.1) and who closes
/// TCP first (§7.1.1).
enum class role { client, server };

/// A decoded frame header.
struct frame_header {
    bool fin = true;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    opcode op = opcode::binary;
    bool masked = false;
    mask_key key{};
    std::uint64_t payload_length = 0;
};

/// The largest header: 2 bytes + 8 bytes of extended length + 4 bytes of mask key.
inline constexpr std::size_t max_frame_header_size = 14;

/// How many header bytes are needed, judging from the bytes available (at least 2 to know).
/// Thread-safety: pure function.
std::size_t frame_header_size(const unsigned char* data, std::size_t available) noexcept;

/// Result of decoding a header.
enum class decode_status { need_more, ok, invalid_length };

/// Decodes a header from the start of data. On ok, *size is the header's length in bytes.
/// invalid_length: a 64-bit length with the most significant bit set (RFC 6455 §5.2).
/// Opcode, RSV and masking rules are checked separately by check_frame_header.
/// Thread-safety: pure function.
decode_status decode_frame_header(const unsigned char* data, std::size_t available,
                                  frame_header* header, std::size_t* size) noexcept;

/// Encodes a header into out (at least max_frame_header_size bytes) with the shortest length
/// encoding; key is written when non-null. Returns the header's size.
/// Thread-safety: pure function.
std::size_t encode_frame_header(unsigned char* out, bool fin, bool rsv1, opcode op,
                                std::uint64_t payload_length, const mask_key* key) noexcept;

/// What a received header must satisfy, besides the frame's place in a message.
struct frame_rules {
    role receiver = role::server;  ///< a server requires masked frames, a client unmasked
    bool rsv1_allowed = false;     ///< an extension (permessage-deflate) claimed RSV1
};

/// Why a header is refused: close code 1002 and the reason; empty when it is acceptable.
/// Checks reserved opcodes, RSV bits, masking direction, control frames over 125 bytes or
/// fragmented.
/// Thread-safety: pure function.
std::string check_frame_header(const frame_header& header, const frame_rules& rules);

}  // namespace syncws::core

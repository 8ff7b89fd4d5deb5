#include "syncws/core/frame.hpp"

#include <cstring>

namespace syncws::core {

namespace {

constexpr unsigned char fin_bit = 0x80;
constexpr unsigned char rsv1_bit = 0x40;
constexpr unsigned char rsv2_bit = 0x20;
constexpr unsigned char rsv3_bit = 0x10;
constexpr unsigned char opcode_bits = 0x0F;
constexpr unsigned char mask_bit = 0x80;
constexpr unsigned char length_bits = 0x7F;

bool is_known_opcode(std::uint8_t op) noexcept {
    return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

std::size_t frame_header_size(const unsigned char* data, std::size_t available) noexcept {
    if (available < 2) return 2;
    std::size_t size = 2;
    switch (data[1] & length_bits) {
        case 126: size += 2; break;
        case 127: size += 8; break;
        default: break;
    }
    if (data[1] & mask_bit) size += 4;
    return size;
}

decode_status decode_frame_header(const unsigned char* data, std::size_t available,
                                  frame_header* header, std::size_t* size) noexcept {
    const std::size_t needed = frame_header_size(data, available);
    if (available < needed) return decode_status::need_more;

    header->fin = data[0] & fin_bit;
    header->rsv1 = data[0] & rsv1_bit;
    header->rsv2 = data[0] & rsv2_bit;
    header->rsv3 = data[0] & rsv3_bit;
    header->op = static_cast<opcode>(data[0] & opcode_bits);
    header->masked = data[1] & mask_bit;

    std::uint64_t length = data[1] & length_bits;
    std::size_t pos = 2;
    if (length == 126) {
        length = (std::uint64_t{data[2]} << 8) | data[3];
        pos = 4;
    } else if (length == 127) {
        length = 0;
        for (int i = 0; i < 8; ++i) length = (length << 8) | data[2 + i];
        pos = 10;
        if (length >> 63) return decode_status::invalid_length;
    }
    header->payload_length = length;
    if (header->masked) std::memcpy(header->key.data(), data + pos, 4);
    *size = needed;
    return decode_status::ok;
}

std::size_t encode_frame_header(unsigned char* out, bool fin, bool rsv1, opcode op,
                                std::uint64_t payload_length, const mask_key* key) noexcept {
    out[0] = static_cast<unsigned char>((fin ? fin_bit : 0) | (rsv1 ? rsv1_bit : 0) |
                                        static_cast<std::uint8_t>(op));
    const unsigned char mask = key ? mask_bit : 0;
    std::size_t pos;
    if (payload_length < 126) {
        out[1] = static_cast<unsigned char>(mask | payload_length);
        pos = 2;
    } else if (payload_length <= 0xFFFF) {
        out[1] = mask | 126;
        out[2] = static_cast<unsigned char>(payload_length >> 8);
        out[3] = static_cast<unsigned char>(payload_length);
        pos = 4;
    } else {
        out[1] = mask | 127;
        for (int i = 0; i < 8; ++i)
            out[2 + i] = static_cast<unsigned char>(payload_length >> (8 * (7 - i)));
        pos = 10;
    }
    if (key) {
        std::memcpy(out + pos, key->data(), 4);
        pos += 4;
    }
    return pos;
}

std::string check_frame_header(const frame_header& header, const frame_rules& rules) {
    const auto op = static_cast<std::uint8_t>(header.op);
    if (!is_known_opcode(op)) return "reserved opcode " + std::to_string(op);
    if (header.rsv2 || header.rsv3 || (header.rsv1 && !rules.rsv1_allowed))
        return "reserved bit set without a negotiated extension";
    if (rules.receiver == role::server && !header.masked)
        return "client frame is not masked";
    if (rules.receiver == role::client && header.masked)
        return "server frame is masked";
    if (is_control(header.op)) {
        if (!header.fin) return "fragmented control frame";
        if (header.payload_length > 125) return "control frame payload over 125 bytes";
        if (header.rsv1) return "compressed control frame";
    }
    return {};
}

}  // namespace syncws::core

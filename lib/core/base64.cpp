#include "syncws/core/base64.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstddef>

namespace syncws::core {

namespace {

// OpenSSL takes int lengths; inputs are cut into blocks well below INT_MAX. Both sizes are
// whole base64 quanta (3 bytes in, 4 characters out), so the blocks join without padding.
constexpr std::size_t encode_block = std::size_t{3} << 20;
constexpr std::size_t decode_block = std::size_t{4} << 20;

const unsigned char* bytes_of(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    const std::size_t size = (bytes.size() + 2) / 3 * 4;
    // EVP_EncodeBlock writes a NUL after its output: room for it, dropped afterwards.
    std::string text(size + 1, '\0');
    auto* out = reinterpret_cast<unsigned char*>(text.data());
    for (std::size_t pos = 0; pos < bytes.size(); pos += encode_block) {
        const std::size_t n = std::min(encode_block, bytes.size() - pos);
        out += EVP_EncodeBlock(out, bytes_of(bytes) + pos, static_cast<int>(n));
    }
    text.resize(size);
    return text;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;

    std::string bytes(text.size() / 4 * 3, '\0');
    auto* out = reinterpret_cast<unsigned char*>(bytes.data());
    std::size_t written = 0;
    for (std::size_t pos = 0; pos < text.size(); pos += decode_block) {
        const std::size_t n = std::min(decode_block, text.size() - pos);
        const int decoded = EVP_DecodeBlock(out + written, bytes_of(text) + pos,
                                            static_cast<int>(n));
        if (decoded < 0) return std::nullopt;
        written += static_cast<std::size_t>(decoded);
    }

    // EVP_DecodeBlock counts padding as zero bytes of output.
    std::size_t padding = 0;
    if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
    if (written < padding) return std::nullopt;
    bytes.resize(written - padding);

    // EVP_DecodeBlock is lenient: it skips white space, accepts '=' in the middle of the
    // input and ignores stray bits after the last byte. Exactly one text encodes these bytes;
    // anything else was not canonical base64. Keys and credentials are short, so the second
    // pass costs little and needs no alphabet table of our own.
    if (base64_encode(bytes) != text) return std::nullopt;
    return bytes;
}

}  // namespace syncws::core

// Base64 (RFC 4648 §4) through OpenSSL, for Sec-WebSocket-Key/Accept and Basic auth.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace syncws::core {

/// Encodes bytes as padded base64.
/// Thread-safety: pure function.
std::string base64_encode(std::string_view bytes);

/// Decodes padded base64; returns nothing if text is not canonical base64 (wrong length,
/// a character outside the alphabet, misplaced or missing padding, white space, non-zero
/// bits after the last byte), so that each byte string has exactly one accepted text.
/// Thread-safety: pure function.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace syncws::core

// UTF-8 validation (RFC 3629) for text messages and close reasons.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace syncws::core {

/// True when text is complete, valid UTF-8: no overlong forms, no surrogates (U+D800–DFFF),
/// nothing above U+10FFFF, no truncated sequence at the end. Vectorised: an ASCII fast path
/// and the lookup-table method of Keiser and Lemire, with AVX2 or AVX-512 chosen at run
/// time, SSE/portable paths elsewhere.
/// Thread-safety: pure function.
bool is_valid_utf8(std::string_view text) noexcept;

/// The straightforward byte-at-a-time validator, the reference for tests and benchmarks.
bool is_valid_utf8_bytewise(std::string_view text) noexcept;

/// Validates a text message fed in pieces split anywhere, even inside a code point, and fails
/// fast: feed() returns false as soon as the bytes seen so far cannot be the beginning of
/// valid UTF-8 (a bad byte in the first fragment is reported before the last one arrives,
/// as Autobahn's 6.x cases require).
/// Thread-safety: one instance per thread.
class utf8_validator {
public:
    /// Validates the next piece. Returns false once the input is invalid; stays false.
    bool feed(std::string_view piece) noexcept;
    /// True when the input fed so far is valid and does not end inside a code point.
    bool complete() const noexcept { return valid_ && pending_ == 0; }
    /// False once invalid input was seen.
    bool valid() const noexcept { return valid_; }
    /// Starts a new message.
    void reset() noexcept { *this = utf8_validator{}; }

private:
    // Where the input stands inside a code point: continuation bytes still due and the
    // range the next one must fall in (RFC 3629 §4). Four bytes: this lives in every
    // connection.
    std::uint8_t pending_ = 0;
    std::uint8_t next_min_ = 0x80;
    std::uint8_t next_max_ = 0xBF;
    bool valid_ = true;
};

}  // namespace syncws::core

// Close codes and the close frame payload (RFC 6455 §5.5.1, §7.4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace syncws::core {

/// Close codes with a name in RFC 6455 §7.4.1 and the IANA registry.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status_received = 1005;  ///< local only, never on the wire
inline constexpr std::uint16_t abnormal_closure = 1006;    ///< local only, never on the wire
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t bad_gateway = 1014;
inline constexpr std::uint16_t tls_handshake = 1015;  ///< local only, never on the wire
}  // namespace close_code

/// True for the codes an endpoint may put in a close frame: 1000–1003, 1007–1014 and
/// 3000–4999. 1004–1006, 1015, other 1xxx, 2xxx, < 1000 and ≥ 5000 are refused.
/// Thread-safety: pure function.
bool is_sendable_close_code(std::uint16_t code) noexcept;

/// A short English explanation of a close code ("normal closure", "abnormal closure: the
/// connection was lost without a close frame" ...), for error messages.
/// Thread-safety: pure function.
std::string_view explain_close_code(std::uint16_t code) noexcept;

/// The content of a close frame. An empty close frame is represented by code 1005 and an
/// empty reason, as RFC 6455 §7.1.5 says.
struct close_frame {
    std::uint16_t code = close_code::no_status_received;
    std::string reason;

    /// Payload bytes for the wire: empty for 1005, else the code in network order + reason.
    std::string serialize() const;

    /// "1000 (normal closure) bye" — for logs and error messages.
    std::string to_string() const;
};

/// Result of parsing a received close payload.
struct close_parse_result {
    std::optional<close_frame> frame;  ///< set when the payload is valid
    std::uint16_t error_code = 0;      ///< 1002 (bad length / code) or 1007 (reason not UTF-8)
    std::string error;                 ///< what was wrong, when frame is empty
};

/// Parses and validates a received close payload (RFC 6455 §5.5.1): 0 bytes means 1005,
/// 1 byte is a protocol error, the code must be sendable, the reason must be UTF-8.
/// Thread-safety: pure function.
close_parse_result parse_close_payload(std::string_view payload);

}  // namespace syncws::core

#include "syncws/core/close.hpp"

#include "syncws/core/utf8.hpp"

namespace syncws::core {

bool is_sendable_close_code(std::uint16_t code) noexcept {
    if (code >= 3000 && code <= 4999) return true;  // registered (3xxx) and private (4xxx)
    switch (code) {
        case close_code::normal:
        case close_code::going_away:
        case close_code::protocol_error:
        case close_code::unsupported_data:
        case close_code::invalid_payload:
        case close_code::policy_violation:
        case close_code::message_too_big:
        case close_code::mandatory_extension:
        case close_code::internal_error:
        case close_code::service_restart:
        case close_code::try_again_later:
        case close_code::bad_gateway:
            return true;
        default:
            return false;
    }
}

std::string_view explain_close_code(std::uint16_t code) noexcept {
    switch (code) {
        case close_code::normal: return "normal closure";
        case close_code::going_away: return "going away";
        case close_code::protocol_error: return "protocol error";
        case close_code::unsupported_data: return "unsupported data";
        case close_code::no_status_received: return "no status code in the close frame";
        case close_code::abnormal_closure:
            return "abnormal closure: the connection was lost without a close frame";
        case close_code::invalid_payload: return "invalid payload data";
        case close_code::policy_violation: return "policy violation";
        case close_code::message_too_big: return "message too big";
        case close_code::mandatory_extension: return "a mandatory extension is missing";
        case close_code::internal_error: return "internal error";
        case close_code::service_restart: return "service restart";
        case close_code::try_again_later: return "try again later";
        case close_code::bad_gateway: return "bad gateway";
        case close_code::tls_handshake: return "TLS handshake failed";
        default: break;
    }
    if (code >= 3000 && code <= 3999) return "registered code";
    if (code >= 4000 && code <= 4999) return "private code";
    return "unknown code";
}

std::string close_frame::serialize() const {
    if (code == close_code::no_status_received) return {};
    std::string payload;
    payload.reserve(2 + reason.size());
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload += reason;
    return payload;
}

std::string close_frame::to_string() const {
    std::string text = std::to_string(code) + " (" + std::string(explain_close_code(code)) + ")";
    if (!reason.empty()) text += " " + reason;
    return text;
}

close_parse_result parse_close_payload(std::string_view payload) {
    close_parse_result result;
    if (payload.empty()) {
        result.frame = close_frame{};
        return result;
    }
    if (payload.size() == 1) {
        result.error_code = close_code::protocol_error;
        result.error = "close frame payload of 1 byte";
        return result;
    }
    const auto code = static_cast<std::uint16_t>(
        (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]));
    if (!is_sendable_close_code(code)) {
        result.error_code = close_code::protocol_error;
        result.error = "invalid close code " + std::to_string(code);
        return result;
    }
    const std::string_view reason = payload.substr(2);
    if (!is_valid_utf8(reason)) {
        result.error_code = close_code::invalid_payload;
        result.error = "close reason is not valid UTF-8";
        return result;
    }
    result.frame = close_frame{code, std::string(reason)};
    return result;
}

}  // namespace syncws::core

#include "syncws/core/error.hpp"

#include <utility>

namespace syncws {

namespace {

bool is_ok_code(std::uint16_t code) {
    return code == core::close_code::normal || code == core::close_code::going_away ||
           code == core::close_code::no_status_received;
}

// Says what each side sent, in the order it happened, and explains a lost connection in
// words, because "1006" alone tells a user nothing.
std::string describe(const std::optional<core::close_frame>& sent,
                     const std::optional<core::close_frame>& received,
                     bool received_then_sent) {
    if (!sent && !received)
        return "connection closed without a close frame: the connection was lost (1006); the "
               "peer or the network dropped it, or it timed out";
    if (sent && !received)
        return "sent " + sent->to_string() + "; no close frame received: the connection was "
               "lost before the peer answered (1006)";
    if (!sent && received)
        return "received " + received->to_string() + "; no close frame sent";
    if (received_then_sent)
        return "received " + received->to_string() + "; then sent " + sent->to_string();
    return "sent " + sent->to_string() + "; then received " + received->to_string();
}

}  // namespace

connection_closed::connection_closed(std::optional<core::close_frame> sent,
                                     std::optional<core::close_frame> received,
                                     bool received_then_sent, const std::string& detail)
    : error(describe(sent, received, received_then_sent) +
            (detail.empty() ? std::string() : " [" + detail + "]")),
      sent_(std::move(sent)),
      received_(std::move(received)),
      received_then_sent_(received_then_sent) {}

std::uint16_t connection_closed::code() const noexcept {
    return received_ ? received_->code : core::close_code::abnormal_closure;
}

const std::string& connection_closed::reason() const noexcept {
    static const std::string none;
    return received_ ? received_->reason : none;
}

bool connection_closed::is_clean(const std::optional<core::close_frame>& sent,
                                 const std::optional<core::close_frame>& received) noexcept {
    return sent && received && is_ok_code(sent->code) && is_ok_code(received->code);
}

void connection_closed::raise(std::optional<core::close_frame> sent,
                              std::optional<core::close_frame> received,
                              bool received_then_sent, const std::string& detail) {
    connection_closed probe(sent, received, received_then_sent);
    if (probe.clean())
        throw connection_closed_ok(std::move(sent), std::move(received), received_then_sent,
                                   detail);
    throw connection_closed_error(std::move(sent), std::move(received), received_then_sent,
                                  detail);
}

}  // namespace syncws

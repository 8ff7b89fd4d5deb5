// The invariants of the data phase, shared by the frame-protocol and server-session targets:
// a protocol under test ("us") is fed untrusted bytes; every event it hands out is checked,
// optionally echoed back as an echo server would, and every byte it writes is walked frame by
// frame and fed to a protocol of the other role ("the peer"), which must accept all of it and
// receive exactly what we sent.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "syncws/core/close.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/frame.hpp"
#include "syncws/core/protocol.hpp"
#include "syncws/core/utf8.hpp"

namespace fuzz {

using namespace syncws::core;

/// A protocol that starts open, with permessage-deflate turned on directly: the frame target
/// fuzzes the data phase without spending input on a handshake.
class open_protocol : public protocol {
public:
    open_protocol(role side, protocol_config config)
        : protocol(side, std::move(config), state::open) {}
    using protocol::enable_deflate;
};

/// The same parameters seen from the other end of the connection.
inline deflate_parameters mirrored(const deflate_parameters& p) {
    deflate_parameters m;
    m.our_window_bits = p.peer_window_bits;
    m.peer_window_bits = p.our_window_bits;
    m.our_no_context_takeover = p.peer_no_context_takeover;
    m.peer_no_context_takeover = p.our_no_context_takeover;
    return m;
}

/// Mask keys that change with every frame (so that masking at every alignment is exercised)
/// yet are the same on every run of an input.
inline std::function<mask_key()> counting_mask_keys() {
    return [n = std::uint32_t{0x9e3779b9}]() mutable {
        n = n * 1664525u + 1013904223u;
        return mask_key{{static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                         static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)}};
    };
}

/// Checks the framing of what one side writes (RFC 6455 §5): whole frames only, masked
/// exactly when a client sends, the shortest length encoding, only headers that the other
/// role accepts, data frames in a valid message sequence, only pings and pongs after the close
/// frame.
class wire_walker {
public:
    explicit wire_walker(role sender) : sender_(sender) {}

    void walk(std::string_view bytes, bool deflate_negotiated) {
        const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
        std::size_t pos = 0;
        while (pos < bytes.size()) {
            frame_header h;
            std::size_t header_size = 0;
            check(decode_frame_header(data + pos, bytes.size() - pos, &h, &header_size) ==
                      decode_status::ok,
                  "output does not start with a whole frame header");
            check(h.masked == (sender_ == role::client), "masking does not match the role");
            const std::size_t minimal = (h.payload_length < 126 ? 2
                                         : h.payload_length <= 0xFFFF ? 4
                                                                      : 10) +
                                        (h.masked ? 4 : 0);
            check(header_size == minimal, "frame length not in its shortest encoding");
            const bool starts_message = !is_control(h.op) && h.op != opcode::continuation;
            const frame_rules rules{sender_ == role::client ? role::server : role::client,
                                    deflate_negotiated && starts_message};
            check(check_frame_header(h, rules).empty(), "written frame header is invalid",
                  check_frame_header(h, rules));
            check(h.payload_length <= bytes.size() - pos - header_size,
                  "output ends inside a frame's payload");
            // §5.5.1: no data frame after the close frame (a keepalive ping may still go).
            check(!close_sent_ || h.op == opcode::ping || h.op == opcode::pong,
                  "a data or close frame was written after the close frame");
            if (!is_control(h.op)) {
                check((h.op == opcode::continuation) == in_message_,
                      "data frame out of message sequence");
                in_message_ = !h.fin;
            }
            if (h.op == opcode::close) close_sent_ = true;
            pos += header_size + static_cast<std::size_t>(h.payload_length);
        }
    }

private:
    role sender_;
    bool in_message_ = false;
    bool close_sent_ = false;
};

/// Settings of a session check.
struct session_settings {
    std::size_t max_message_size = unlimited;  ///< the limit "us" was configured with
    bool stream_fragments = false;             ///< "us" hands out fragments
    bool echo = false;                         ///< send every message back
};

/// Drives the checks; call settle() after every call that feeds "us", finish() at the end.
class session {
public:
    session(protocol& us, protocol& peer, session_settings settings)
        : us_(us), peer_(peer), settings_(settings), walker_(us.side()) {}

    /// Checks state and limits, handles our events, moves our output to the peer and checks
    /// what the peer received. head_bytes: leading bytes of the output that are not frames
    /// (a server's 101 response).
    void settle(std::size_t head_bytes = 0) {
        check_state();
        handle_our_events();
        pump(head_bytes);
        check_peer_events();
    }

    /// Sends a ping with a payload of its own, as a keepalive would; allowed while open or
    /// closing (invalid_state otherwise). The peer must receive it, in order.
    void send_ping() {
        const std::string payload = "ping " + std::to_string(next_ping_++);
        const bool allowed = us_.current_state() == state::open ||
                             us_.current_state() == state::closing;
        try {
            const std::uint64_t id = us_.send_ping(payload);
            check(allowed, "send_ping() allowed in state", std::string(to_string(us_.current_state())));
            sent_pings_.emplace_back(id, payload);
            expected_pings_.push_back(payload);
        } catch (const syncws::invalid_state&) {
            check(!allowed, "send_ping() refused while open or closing");
        }
    }

    /// Starts the closing handshake with any code and reason: it must throw exactly as
    /// documented (invalid_state unless open; protocol_error for a code that may not be sent,
    /// a reason with 1005, over 123 bytes or not UTF-8) and otherwise send that close frame.
    void send_close(std::uint16_t code, const std::string& reason) {
        const bool open = us_.current_state() == state::open;
        const bool valid = (code == close_code::no_status_received ? reason.empty()
                                                                   : is_sendable_close_code(code)) &&
                           reason.size() <= 123 && is_valid_utf8(reason);
        try {
            us_.send_close(code, reason);
            check(open && valid, "send_close() accepted what it must refuse");
        } catch (const syncws::invalid_state&) {
            check(!open, "send_close() refused with invalid_state while open");
            return;
        } catch (const syncws::protocol_error&) {
            check(open && !valid, "send_close() refused a valid close");
            return;
        }
        we_closed_ = true;
        check(us_.current_state() == state::closing && us_.close_sent() &&
                  us_.close_sent()->code == code && us_.close_sent()->reason == reason,
              "send_close() did not start the closing handshake");
        check(us_.close_expected(), "close sent but no close timeout armed");
    }

    /// The transport ends: the connection must end up closed, with a reason.
    void finish() {
        eof_ = true;
        us_.receive_eof();
        settle();
        check(us_.current_state() == state::closed, "not closed after end of stream");
        check(us_.transport_close_requested(), "transport not released after end of stream");
        check(us_.failure() || us_.close_received(),
              "connection ended with neither a close frame nor a failure");
        check(expected_.empty(), "an echoed message never reached the peer");
        if (us_.close_sent())
            check(peer_close_seen_, "the close frame we sent never reached the peer");
    }

private:
    void check_state() {
        const int rank = static_cast<int>(us_.current_state());
        check(rank >= last_rank_, "state went backwards",
              std::string(to_string(us_.current_state())));
        last_rank_ = rank;
        if (us_.current_state() == state::closed) check(eof_, "closed before end of stream");
        check(us_.partial_message_size() <= settings_.max_message_size,
              "partial message over max_message_size");
        if (const auto& failure = us_.failure()) {
            const std::uint16_t code = failure->code;
            check(code == close_code::protocol_error || code == close_code::invalid_payload ||
                      code == close_code::message_too_big ||
                      (code == close_code::abnormal_closure && eof_),
                  "unexpected failure code", std::to_string(code));
            check(us_.current_state() != state::open, "failed but still open");
            // A failure while open sends its code; after our own close frame, nothing more.
            if (code != close_code::abnormal_closure && !we_closed_) {
                check(us_.close_sent() && us_.close_sent()->code == code,
                      "failure without a close frame carrying its code");
            }
            if (us_.side() == role::server)
                check(us_.transport_close_requested(), "a failed server keeps the transport");
            else if (!eof_)
                check(us_.close_expected(), "a failed client does not wait for the server");
        }
        if (us_.close_received()) {
            check(us_.current_state() != state::open, "close received but still open");
            if (we_closed_)
                check(!us_.close_received_then_sent(), "we closed first, yet the peer started");
            if (us_.side() == role::server)
                check(us_.transport_close_requested(), "server keeps the transport after close");
        }
    }

    void handle_our_events() {
        while (auto e = us_.next_event()) {
            check(!close_event_seen_, "event after the close event");
            if (auto* m = std::get_if<message_event>(&*e)) {
                on_message(*m);
            } else if (auto* p = std::get_if<ping_event>(&*e)) {
                check(p->payload.size() <= 125, "ping payload over 125 bytes");
                pings_.push_back(std::move(p->payload));
            } else if (auto* p = std::get_if<pong_event>(&*e)) {
                check(p->payload.size() <= 125, "pong payload over 125 bytes");
                // A pong that answers one of our pings acknowledges it and every older one.
                const auto match = std::find_if(sent_pings_.begin(), sent_pings_.end(),
                                                [&](const auto& s) { return s.second == p->payload; });
                if (match == sent_pings_.end()) {
                    check(!p->acknowledged_ping, "pong acknowledges a ping that was never sent");
                } else {
                    check(p->acknowledged_ping == match->first, "pong does not acknowledge its ping");
                    sent_pings_.erase(sent_pings_.begin(), match + 1);
                }
            } else if (auto* c = std::get_if<close_event>(&*e)) {
                check_close_frame(c->frame, "received close");
                check(us_.close_received() && us_.close_received()->code == c->frame.code &&
                          us_.close_received()->reason == c->frame.reason,
                      "close event differs from close_received()");
                close_event_seen_ = true;
            } else {
                check(false, "handshake event in the data phase");
            }
        }
    }

    void on_message(message_event& m) {
        if (!settings_.stream_fragments) check(m.fin, "fragment event without stream_fragments");
        if (in_message_) {
            check(m.text == message_text_, "text flag changed inside a message");
        } else {
            in_message_ = true;
            message_text_ = m.text;
            message_size_ = 0;
            utf8_.reset();
        }
        message_size_ += m.data.size();
        check(message_size_ <= settings_.max_message_size, "message over max_message_size",
              std::to_string(message_size_));
        if (m.text) {
            check(utf8_.feed(m.data), "text message is not UTF-8");
            if (m.fin) check(utf8_.complete(), "text message ends inside a code point");
        }
        if (m.fin) in_message_ = false;
        if (settings_.echo) echo(m);
    }

    void echo(message_event& m) {
        if (us_.current_state() != state::open) {
            // Closing: nothing more may be sent, and a message being echoed stays unfinished.
            echo_in_message_ = false;
            return;
        }
        if (!echo_in_message_) echo_buffer_.clear();
        // A server borrows large payloads until its output is taken: keep them alive.
        kept_.push_back(std::move(m.data));
        const std::string& data = kept_.back();
        try {
            if (echo_in_message_)
                us_.send_continuation(data, m.fin);
            else if (m.text)
                us_.send_text(data, m.fin);
            else
                us_.send_binary(data, m.fin);
        } catch (const std::exception& e) {
            check(false, "echoing a received message failed", e.what());
        }
        echo_buffer_ += data;
        echo_in_message_ = !m.fin;
        if (m.fin) expected_.emplace_back(m.text, std::move(echo_buffer_));
    }

    void pump(std::size_t head_bytes) {
        output_queue out;
        us_.take_output(out);
        const std::string bytes = out.flatten();
        out.clear();
        kept_.clear();
        if (bytes.empty()) return;
        check(bytes.size() >= head_bytes, "output lost the handshake head");
        head_pending_ = head_bytes > 0;
        walker_.walk(std::string_view(bytes).substr(head_bytes), us_.deflate() != nullptr);
        try {
            peer_.receive_data(bytes);
        } catch (const std::exception& e) {
            check(false, "the peer threw on our output", e.what());
        }
        check(!peer_.failure(), "the peer failed on our output",
              peer_.failure() ? peer_.failure()->to_string() : std::string());
        output_queue discarded;
        peer_.take_output(discarded);
    }

    void check_peer_events() {
        while (auto e = peer_.next_event()) {
            if (head_pending_) {
                // A client peer reports the server's 101 before any frame.
                const auto* response = std::get_if<http_response>(&*e);
                check(response && response->status == 101, "the peer did not read our 101");
                head_pending_ = false;
                continue;
            }
            if (auto* m = std::get_if<message_event>(&*e)) {
                check(!expected_.empty(), "the peer received a message we did not send");
                check(m->text == expected_.front().first && m->data == expected_.front().second,
                      "the peer received something else than we sent");
                expected_.pop_front();
            } else if (auto* p = std::get_if<pong_event>(&*e)) {
                // We answer pings in order while open, and never again once closing: the
                // pongs are a prefix of the pings.
                check(peer_pongs_ < pings_.size() && pings_[peer_pongs_] == p->payload,
                      "the peer received a pong that answers no ping");
                ++peer_pongs_;
            } else if (auto* p = std::get_if<ping_event>(&*e)) {
                check(!expected_pings_.empty() && expected_pings_.front() == p->payload,
                      "the peer received a ping we did not send");
                expected_pings_.pop_front();
            } else if (auto* c = std::get_if<close_event>(&*e)) {
                check(us_.close_sent().has_value(), "close frame written but not recorded");
                check(c->frame.code == us_.close_sent()->code &&
                          c->frame.reason == us_.close_sent()->reason,
                      "close frame on the wire differs from close_sent()");
                check_close_frame(c->frame, "sent close");
                peer_close_seen_ = true;
            } else {
                check(false, "the peer received an event we never caused");
            }
        }
    }

    static void check_close_frame(const close_frame& f, const char* which) {
        if (f.code == close_code::no_status_received)
            check(f.reason.empty(), which, "1005 with a reason");
        else
            check(is_sendable_close_code(f.code), which,
                  "code " + std::to_string(f.code) + " may not be on the wire");
        check(f.reason.size() <= 123 && is_valid_utf8(f.reason), which, "bad reason");
    }

    protocol& us_;
    protocol& peer_;
    session_settings settings_;
    wire_walker walker_;
    bool eof_ = false;
    int last_rank_ = 0;
    bool close_event_seen_ = false;
    bool peer_close_seen_ = false;
    bool head_pending_ = false;  // the peer still has to report our handshake response

    // the message being received
    bool in_message_ = false;
    bool message_text_ = false;
    std::size_t message_size_ = 0;
    utf8_validator utf8_;

    // echoing
    std::deque<std::string> kept_;  // payloads the output may borrow, until it is taken
    bool echo_in_message_ = false;
    std::string echo_buffer_;
    std::deque<std::pair<bool, std::string>> expected_;  // echoed messages, for the peer

    std::vector<std::string> pings_;  // payloads of the pings we received
    std::size_t peer_pongs_ = 0;

    // local actions
    bool we_closed_ = false;  // the close frame we sent is our own send_close()
    std::uint64_t next_ping_ = 0;
    std::deque<std::pair<std::uint64_t, std::string>> sent_pings_;  // unanswered, oldest first
    std::deque<std::string> expected_pings_;  // sent, not yet seen by the peer
};

}  // namespace fuzz

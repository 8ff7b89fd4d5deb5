#include "syncws/core/protocol.hpp"

#include <algorithm>
#include <cstring>

#include "syncws/core/error.hpp"
#include "syncws/core/mask.hpp"

namespace syncws::core {

namespace {

// A server's payloads at least this large are written from the caller's buffer instead of
// being copied into the output; below it, one copy costs less than another gather entry.
constexpr std::size_t borrow_threshold = 1024;

// While a data payload of at least this many bytes is still expected, prepare_receive()
// hands out the message buffer itself, so the socket writes the payload where it belongs.
constexpr std::size_t direct_read_threshold = 4096;
// After a data frame at least this large, the next frame header is read on its own (one
// more system call) so that its payload can be read directly: cheaper than copying it.
constexpr std::size_t large_frame = 16 * 1024;
// The most a single direct read may grow the message buffer by, so that a header announcing
// a huge payload does not make us commit memory for bytes that have not arrived.
constexpr std::size_t direct_read_chunk = 1024 * 1024;

// The compressed copy of a sent frame is kept for reuse up to this size.
constexpr std::size_t deflated_keep_limit = 1024 * 1024;

// A close reason must fit the 125-byte control payload with its 2-byte code. Cut on a code
// point boundary so that a reason we generate is still valid UTF-8.
std::string truncate_reason(std::string_view reason) {
    constexpr std::size_t max_reason = 123;
    if (reason.size() <= max_reason) return std::string(reason);
    std::size_t cut = max_reason;
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    return std::string(reason.substr(0, cut));
}

}  // namespace

std::string_view to_string(state s) noexcept {
    switch (s) {
        case state::connecting: return "connecting";
        case state::open: return "open";
        case state::closing: return "closing";
        case state::closed: return "closed";
    }
    return "unknown";
}

protocol::protocol(role side, protocol_config config, state initial)
    : config_(std::move(config)), side_(side), state_(initial) {
    if (config_.max_frame_size == unlimited) config_.max_frame_size = config_.max_message_size;
    if (config_.receive_buffer_size == 0) config_.receive_buffer_size = 64 * 1024;
}

protocol::~protocol() = default;

// ---------------------------------------------------------------------------- input

void protocol::receive_data(std::string_view data) {
    if (eof_received_) throw invalid_state("receive_data() called after receive_eof()");
    if (state_ == state::connecting) {
        data.remove_prefix(receive_handshake(data));
        if (state_ == state::connecting) return;  // head incomplete, or handshake failed
    }
    consume(data.data(), data.size());
}

receive_buffer protocol::prepare_receive(small_read_buffer& lent) {
    if (rx_ == rx_state::payload && !is_control(frame_.op) && !message_compressed_ &&
        (payload_remaining_ >= direct_read_threshold || direct_frame_) &&
        state_ != state::connecting) {
        const auto chunk =
            static_cast<std::size_t>(std::min<std::uint64_t>(payload_remaining_, direct_read_chunk));
        // The buffer grows once per chunk, not once per read, and only beyond the room it
        // already has (reused storage comes with its old contents as room): std::string
        // zero-fills what it grows by, and that costs as much as the read.
        direct_offset_ = message_.size() - unfilled_;
        if (unfilled_ < chunk) {
            message_.resize(direct_offset_ + chunk);
            unfilled_ = chunk;
        }
        direct_ = true;
        direct_frame_ = true;
        // Never more than this frame still owes: the room may be larger.
        return {message_.data() + direct_offset_, std::min(unfilled_, chunk)};
    }
    direct_ = false;
    const bool header_alone = rx_ == rx_state::frame_header && header_spill_size_ == 0 &&
                              large_frames_ && state_ != state::connecting;
    // Reads start in the caller's small buffer: a connection that is idle or exchanges small
    // messages never allocates (nor touches) the large one. A read that fills the small
    // buffer means more is coming: the next read takes the large one.
    if (header_alone || !read_large_) {
        read_region_ = lent.bytes;
        return {read_region_, header_alone ? max_frame_header_size : small_read_capacity()};
    }
    if (!scratch_) scratch_.reset(new char[config_.receive_buffer_size]);  // not zero-filled
    read_region_ = scratch_.get();
    return {read_region_, config_.receive_buffer_size};
}

std::size_t protocol::small_read_capacity() const noexcept {
    return std::min(sizeof(small_read_buffer::bytes), config_.receive_buffer_size);
}

void protocol::commit_receive(std::size_t n) {
    if (!direct_) {
        const char* const region = read_region_;
        const bool large = region != nullptr && region == scratch_.get();
        read_region_ = nullptr;  // a lent buffer is not ours beyond this call
        if (region == nullptr && n > 0) throw invalid_state("commit_receive() without prepare_receive()");
        n = std::min(n, large ? config_.receive_buffer_size : small_read_capacity());
        // Compressed messages tend to be large once inflated. Split into a small read and
        // then large ones, an inflating message's growth has been seen to leave glibc's
        // per-thread arenas holding twice the message limit (the deflate bomb test); whole
        // reads keep the growth in mmap()ed blocks that go back to the system.
        read_large_ = deflate_ || n >= small_read_capacity();
        receive_data(std::string_view(region, n));
        return;
    }
    direct_ = false;
    if (rx_ != rx_state::payload) {
        // The connection failed while the bytes were being read: they are not needed.
        discard_message();
        return;
    }
    n = std::min(n, unfilled_);
    unfilled_ -= n;
    if (n > 0) consume_payload(message_.data() + direct_offset_, n);
}

void protocol::reuse_buffer(std::string&& storage) noexcept {
    if (storage.capacity() > max_reused_buffer || storage.capacity() <= spare_.capacity()) return;
    spare_ = std::move(storage);  // its contents too: they become room (start_frame)
}

void protocol::trim_unfilled() noexcept {
    message_.resize(message_.size() - unfilled_);
    unfilled_ = 0;
}

void protocol::discard_message() noexcept {
    message_.clear();
    unfilled_ = 0;
}

void protocol::receive_eof() {
    if (eof_received_) return;
    eof_received_ = true;
    fail_pending();  // the peer left: the failure its input called for is the story
    if (state_ == state::connecting) {
        receive_handshake_eof();
    } else if (rx_ != rx_state::discard) {
        // No close frame came and we did not fail: the connection was lost (RFC 6455 §7.1.5).
        const bool mid_frame = rx_ == rx_state::payload || header_spill_size_ > 0;
        fail(close_code::abnormal_closure,
             mid_frame ? "connection lost in the middle of a frame"
             : in_message_ ? "connection lost in the middle of a fragmented message"
                           : "connection lost without a close frame");
    }
    state_ = state::closed;
    close_transport_ = true;
}

std::size_t protocol::receive_handshake(std::string_view) {
    throw invalid_state(
        "a protocol in the connecting state needs client_protocol or server_protocol");
}

void protocol::receive_handshake_eof() {}

void protocol::consume(const char* data, std::size_t n) {
    while (n > 0) {
        switch (rx_) {
            case rx_state::discard:
                return;  // after a close frame or a failure, input is ignored (RFC 6455 §1.4)
            case rx_state::frame_header: {
                const std::size_t used = consume_frame_header(data, n);
                data += used;
                n -= used;
                break;
            }
            case rx_state::payload: {
                const auto take =
                    static_cast<std::size_t>(std::min<std::uint64_t>(n, payload_remaining_));
                std::string& target = is_control(frame_.op) ? control_
                                      : message_compressed_ ? compressed_
                                                            : message_;
                // Compressed bytes are inflated as they come, so only this read's are kept.
                if (&target == &compressed_) compressed_.clear();
                std::size_t offset;
                if (&target == &message_ && unfilled_ >= take) {
                    // Into the room a direct read or reused storage left.
                    offset = message_.size() - unfilled_;
                    std::memcpy(&message_[offset], data, take);
                    unfilled_ -= take;
                } else {
                    if (&target == &message_ && unfilled_ > 0) trim_unfilled();
                    offset = target.size();
                    target.append(data, take);
                }
                data += take;
                n -= take;
                consume_payload(target.data() + offset, take);
                break;
            }
        }
    }
}

// A header split across reads is gathered in a 14-byte spill, so that it is never parsed
// twice: each call adds bytes to the spill until the header is complete. A header that
// arrived whole, the usual case, is decoded where it lies.
std::size_t protocol::consume_frame_header(const char* data, std::size_t n) {
    const std::size_t had = header_spill_size_;
    const auto* source = reinterpret_cast<const unsigned char*>(data);
    std::size_t available = n;
    std::size_t take = n;
    if (had > 0 || n < frame_header_size(source, n)) {
        take = std::min(n, max_frame_header_size - had);
        std::memcpy(header_spill_ + had, data, take);
        source = header_spill_;
        available = had + take;
    }
    frame_header header;
    std::size_t header_size = 0;
    switch (decode_frame_header(source, available, &header, &header_size)) {
        case decode_status::need_more:
            header_spill_size_ = had + take;
            return take;
        case decode_status::invalid_length:
            header_spill_size_ = 0;
            fail_input(close_code::protocol_error, "frame length with the most significant bit set");
            return take;
        case decode_status::ok:
            break;
    }
    header_spill_size_ = 0;
    start_frame(header);
    return header_size - had;
}

void protocol::start_frame(const frame_header& header) {
    // permessage-deflate claims RSV1 on the first frame of a data message (RFC 7692 §6).
    const bool starts_message = !is_control(header.op) && header.op != opcode::continuation;
    const std::string problem =
        check_frame_header(header, frame_rules{side_, deflate_ && starts_message});
    if (!problem.empty()) return fail_input(close_code::protocol_error, problem);

    if (is_control(header.op)) {
        control_.clear();
    } else {
        const bool continuation = header.op == opcode::continuation;
        if (continuation && !in_message_)
            return fail_input(close_code::protocol_error, "continuation frame without a message to continue");
        if (!continuation && in_message_)
            return fail_input(close_code::protocol_error,
                        "new data frame before the fragmented message was finished");
        if (!continuation) {
            in_message_ = true;
            message_text_ = header.op == opcode::text;
            message_compressed_ = header.rsv1;
            handed_out_ = 0;
            message_size_ = 0;
            // A move, not a swap: libstdc++ inlines it (and hands message_'s old storage to
            // spare_), where swap() is a call into the library.
            if (spare_.capacity() > message_.capacity()) message_ = std::move(spare_);
            // The old contents of reused storage stay as room for direct reads, which then
            // need not grow the string (zero-filling it) before the socket overwrites it.
            // Inflating appends, so a compressed message starts empty.
            if (message_compressed_) message_.clear();
            unfilled_ = message_.size();
            utf8_in_.reset();
        }
        // Limits are checked on the announced length, before any payload is buffered. The
        // frames of a compressed message are never buffered whole (they are inflated as
        // they arrive), and incompressible data grows a little when deflated: they are
        // measured once inflated, against max_message_size (inflate_payload).
        if (!message_compressed_ && header.payload_length > config_.max_frame_size)
            return fail_input(close_code::message_too_big,
                        "frame of " + std::to_string(header.payload_length) +
                            " bytes exceeds the limit of " +
                            std::to_string(config_.max_frame_size) + " bytes");
        // A compressed message is measured once inflated (inflate_payload), as it grows.
        if (!message_compressed_) {
            if (header.payload_length > config_.max_message_size - message_size_)
                return fail_input(close_code::message_too_big,
                            "message of at least " +
                                std::to_string(message_size_ + header.payload_length) +
                                " bytes exceeds the limit of " +
                                std::to_string(config_.max_message_size) + " bytes");
            message_size_ += header.payload_length;
        }
    }
    if (!is_control(header.op)) {
        large_frames_ = !message_compressed_ && header.payload_length >= large_frame;
        // A small payload gets its exact buffer now rather than growing into it.
        if (!message_compressed_ && header.payload_length < direct_read_threshold)
            message_.reserve(partial_message_size() + static_cast<std::size_t>(header.payload_length));
    }
    frame_ = header;
    direct_frame_ = false;
    payload_remaining_ = header.payload_length;
    payload_done_ = 0;
    rx_ = rx_state::payload;
    if (payload_remaining_ == 0) finish_frame();
}

void protocol::consume_payload(char* payload, std::size_t n) {
    if (frame_.masked) apply_mask(payload, n, frame_.key, payload_done_ % 4);
    payload_done_ += n;
    payload_remaining_ -= n;
    if (!is_control(frame_.op)) {
        if (message_compressed_)
            inflate_payload(std::string_view(payload, n), false);
        else
            check_text(payload, n);
        if (rx_ == rx_state::discard) return;
    }
    if (payload_remaining_ == 0) finish_frame();
}

// Inflates straight into the message buffer, in bounded steps, so that a small frame that
// inflates to gigabytes fails with 1009 once the limit is reached instead of using memory.
void protocol::inflate_payload(std::string_view compressed, bool fin) {
    const std::size_t before = message_.size();
    // Earlier fragments of this message were handed out already (stream_fragments).
    const std::size_t allowance = config_.max_message_size - static_cast<std::size_t>(handed_out_);
    switch (deflate_->decompress(compressed, fin, message_, allowance)) {
        case inflate_status::ok:
            break;
        case inflate_status::too_big:
            return fail_input(close_code::message_too_big,
                        "message exceeds the limit of " + std::to_string(config_.max_message_size) +
                            " bytes once decompressed");
        case inflate_status::corrupt:
            return fail_input(close_code::invalid_payload,
                        "invalid compressed data: " + deflate_->error());
    }
    message_size_ = handed_out_ + message_.size();
    check_text(message_.data() + before, message_.size() - before);
}

// Fail fast: a bad byte fails the connection now, not when the message is complete.
bool protocol::check_text(const char* data, std::size_t n) {
    if (!message_text_ || utf8_in_.feed(std::string_view(data, n))) return true;
    fail_input(close_code::invalid_payload, "invalid UTF-8 in a text message");
    return false;
}

void protocol::finish_frame() {
    rx_ = rx_state::frame_header;
    if (is_control(frame_.op)) return finish_control_frame();
    const bool fin = frame_.fin;
    if (fin && message_compressed_) {
        inflate_payload({}, true);  // the 00 00 ff ff tail the sender removed
        if (rx_ == rx_state::discard) return;
    }
    if (fin && message_text_ && !utf8_in_.complete())
        return fail_input(close_code::invalid_payload, "text message ends inside a UTF-8 sequence");
    if (fin) in_message_ = false;
    if (fin || config_.stream_fragments) {
        if (unfilled_ > 0) trim_unfilled();  // room nothing filled
        handed_out_ += message_.size();
        auto& m = std::get<message_event>(events_.emplace_back(std::in_place_type<message_event>));
        m.text = message_text_;
        m.data = std::move(message_);
        m.fin = fin;
        message_.clear();
    }
}

void protocol::finish_control_frame() {
    switch (frame_.op) {
        case opcode::ping:
            if (state_ == state::open) send_frame(opcode::pong, true, control_, false);
            events_.push_back(ping_event{std::move(control_)});
            break;
        case opcode::pong: {
            std::optional<std::uint64_t> acknowledged;
            const auto match = std::find_if(pings_.begin(), pings_.end(),
                                            [&](const auto& p) { return p.second == control_; });
            if (match != pings_.end()) {
                acknowledged = match->first;
                pings_.erase(pings_.begin(), match + 1);
            }
            events_.push_back(pong_event{std::move(control_), acknowledged});
            break;
        }
        case opcode::close:
            receive_close(control_);
            break;
        default:
            break;
    }
    control_.clear();
}

void protocol::receive_close(std::string_view payload) {
    close_parse_result parsed = parse_close_payload(payload);
    if (!parsed.frame) return fail_input(parsed.error_code, parsed.error);
    close_received_ = *parsed.frame;
    if (state_ == state::open) {
        // Echo the code and reason (RFC 6455 §5.5.1) to complete the closing handshake.
        close_received_then_sent_ = true;
        close_sent_ = close_received_;
        send_frame(opcode::close, true, close_sent_->serialize(), false);
        state_ = state::closing;
    }
    // A partial message cannot be completed any more; data after a close is ignored.
    in_message_ = false;
    discard_message();
    rx_ = rx_state::discard;
    // The server closes TCP first, once both close frames were exchanged (RFC 6455 §7.1.1).
    if (side_ == role::server) close_transport_ = true;
    events_.push_back(close_event{*close_received_});
}

// ---------------------------------------------------------------------------- events

std::optional<event> protocol::next_event() {
    if (next_event_ == events_.size()) return std::nullopt;
    std::optional<event> e(std::move(events_[next_event_++]));
    if (next_event_ == events_.size()) forget_taken_events();
    return e;
}

void protocol::forget_taken_events() noexcept {
    // A burst of tiny frames should not leave a large vector behind on the connection.
    constexpr std::size_t keep = 16;
    if (events_.capacity() > keep)
        std::vector<event>().swap(events_);
    else
        events_.clear();
    next_event_ = 0;
}

// ---------------------------------------------------------------------------- output

void protocol::take_output(output_queue& out) {
    out.clear();
    out.swap(output_);
}

bool protocol::close_expected() const noexcept {
    return state_ == state::closing && !eof_received_ && !close_transport_;
}

void protocol::abandon_connection() {
    rx_ = rx_state::discard;
    close_transport_ = true;
}

// ---------------------------------------------------------------------------- sending

void protocol::ensure_can_send_data(bool continuation) const {
    if (state_ != state::open)
        throw invalid_state("cannot send data: the connection is " + std::string(to_string(state_)));
    if (continuation && !tx_in_message_)
        throw invalid_state("send_continuation() without a fragmented message in progress");
    if (!continuation && tx_in_message_)
        throw invalid_state(
            "a fragmented message is in progress; finish it with send_continuation()");
}

void protocol::check_outgoing_text(std::string_view data, bool fin, bool first) {
    // Validate on a copy, so that a refused fragment leaves the message where it was.
    utf8_validator next = first ? utf8_validator{} : utf8_out_;
    if (!next.feed(data) || (fin && !next.complete()))
        throw protocol_error("text is not valid UTF-8; send it as binary data instead");
    utf8_out_ = next;
}

void protocol::send_text(std::string_view data, bool fin, compression mode) {
    ensure_can_send_data(false);
    check_outgoing_text(data, fin, true);
    tx_text_ = true;
    tx_compressed_ = should_compress(data, fin, mode);
    send_data_frame(opcode::text, fin, data);
    tx_in_message_ = !fin;
}

void protocol::send_binary(std::string_view data, bool fin, compression mode) {
    ensure_can_send_data(false);
    tx_text_ = false;
    tx_compressed_ = should_compress(data, fin, mode);
    send_data_frame(opcode::binary, fin, data);
    tx_in_message_ = !fin;
}

void protocol::send_continuation(std::string_view data, bool fin) {
    ensure_can_send_data(true);
    if (tx_text_) check_outgoing_text(data, fin, false);
    send_data_frame(opcode::continuation, fin, data);
    tx_in_message_ = !fin;
}

bool protocol::should_compress(std::string_view first, bool fin, compression mode) const {
    return deflate_ && mode == compression::automatic && (!fin || first.size() >= deflate_threshold_);
}

void protocol::send_data_frame(opcode op, bool fin, std::string_view payload) {
    if (!tx_compressed_) return send_frame(op, fin, payload, true);
    deflated_.clear();
    deflate_->compress(payload, fin, deflated_);
    // RSV1 marks the message as compressed, on its first frame only (RFC 7692 §6.1).
    send_frame(op, fin, deflated_, false, op != opcode::continuation);
    // A huge message should not keep its compressed copy alive on an idle connection.
    if (deflated_.capacity() > deflated_keep_limit) std::string().swap(deflated_);
}

std::uint64_t protocol::send_ping(std::string_view payload) {
    if (state_ != state::open && state_ != state::closing)
        throw invalid_state("cannot send a ping: the connection is " + std::string(to_string(state_)));
    if (payload.size() > 125) throw protocol_error("ping payload over 125 bytes");
    for (const auto& p : pings_)
        if (p.second == payload)
            throw invalid_state("a ping with the same payload is still waiting for its pong");
    const std::uint64_t id = next_ping_id_++;
    pings_.emplace_back(id, std::string(payload));
    send_frame(opcode::ping, true, payload, false);
    return id;
}

void protocol::send_pong(std::string_view payload) {
    if (state_ != state::open && state_ != state::closing)
        throw invalid_state("cannot send a pong: the connection is " + std::string(to_string(state_)));
    if (payload.size() > 125) throw protocol_error("pong payload over 125 bytes");
    send_frame(opcode::pong, true, payload, false);
}

void protocol::send_close(std::uint16_t code, std::string_view reason) {
    if (state_ != state::open)
        throw invalid_state("cannot start the closing handshake: the connection is " +
                            std::string(to_string(state_)));
    if (code == close_code::no_status_received) {
        if (!reason.empty()) throw protocol_error("a close reason needs a close code");
    } else if (!is_sendable_close_code(code)) {
        throw protocol_error("close code " + std::to_string(code) + " may not be sent");
    }
    if (reason.size() > 123) throw protocol_error("close reason over 123 bytes");
    if (!is_valid_utf8(reason)) throw protocol_error("close reason is not valid UTF-8");
    // The peer's bad input already decided how this connection ends.
    if (pending_failure_) return fail_pending();
    close_sent_ = close_frame{code, std::string(reason)};
    send_frame(opcode::close, true, close_sent_->serialize(), false);
    state_ = state::closing;
}

void protocol::fail(std::uint16_t code, std::string_view reason) {
    pending_failure_.reset();  // an explicit failure supersedes one that input called for
    if (!failure_) failure_ = close_frame{code, std::string(reason)};
    if (state_ == state::open && code != close_code::abnormal_closure) {
        close_sent_ = close_frame{code, truncate_reason(reason)};
        send_frame(opcode::close, true, close_sent_->serialize(), false);
        state_ = state::closing;
    }
    stop_receiving();
    // RFC 6455 §7.1.7: after failing, the server closes the transport at once; a client
    // waits a little for the server to do it (close_expected()).
    if (side_ == role::server) close_transport_ = true;
}

// Bad input from the peer. Deferred, the failure waits until the application had its chance
// to answer the messages received before it (defer_input_failures).
void protocol::fail_input(std::uint16_t code, std::string_view reason) {
    if (!config_.defer_input_failures || state_ != state::open) return fail(code, reason);
    if (!pending_failure_) pending_failure_ = close_frame{code, std::string(reason)};
    stop_receiving();
}

void protocol::fail_pending() {
    if (!pending_failure_) return;
    const close_frame pending = std::move(*pending_failure_);
    fail(pending.code, pending.reason);
}

void protocol::stop_receiving() {
    rx_ = rx_state::discard;
    in_message_ = false;
    // Another thread may be reading into the message buffer (prepare_receive()); it is
    // released by commit_receive() instead.
    if (!direct_) discard_message();
}

void protocol::send_frame(opcode op, bool fin, std::string_view payload, bool may_borrow,
                          bool rsv1) {
    unsigned char header[max_frame_header_size];
    if (side_ == role::client) {
        const mask_key key = next_mask_key();
        const std::size_t header_size =
            encode_frame_header(header, fin, rsv1, op, payload.size(), &key);
        char* out = output_.append_uninitialized(header_size + payload.size());
        std::memcpy(out, header, header_size);
        mask_copy(out + header_size, payload.data(), payload.size(), key);
        return;
    }
    const std::size_t header_size =
        encode_frame_header(header, fin, rsv1, op, payload.size(), nullptr);
    if (may_borrow && payload.size() >= borrow_threshold) {
        output_.append(std::string_view(reinterpret_cast<const char*>(header), header_size));
        output_.append_borrowed(payload);
        return;
    }
    char* out = output_.append_uninitialized(header_size + payload.size());
    std::memcpy(out, header, header_size);
    if (!payload.empty()) std::memcpy(out + header_size, payload.data(), payload.size());
}

void protocol::enable_deflate(const deflate_parameters& parameters, const deflate_options& options) {
    deflate_ = std::make_unique<deflate_codec>(parameters, options);
    read_large_ = true;
    deflate_threshold_ = options.threshold;
}

mask_key protocol::next_mask_key() {
    if (config_.mask_keys) return config_.mask_keys();
    if (!mask_keys_) mask_keys_ = std::make_unique<mask_key_source>();
    return mask_keys_->next();
}

// ---------------------------------------------------------------------------- state

void protocol::raise_closed(const std::string& detail) const {
    // A failure whose reason is already in the close frame we sent needs no repeating.
    const bool failure_in_frame = failure_ && close_sent_ && close_sent_->code == failure_->code;
    const std::string why =
        !detail.empty() ? detail : failure_ && !failure_in_frame ? failure_->reason : std::string();
    connection_closed::raise(close_sent_, close_received_, close_received_then_sent_, why);
}

}  // namespace syncws::core

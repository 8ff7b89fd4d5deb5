// The WebSocket protocol as a sans-I/O state machine (RFC 6455 §5–§7): bytes in, events and
// bytes out. No sockets, threads, clocks or sleeps; the I/O layer owns those.
//
// The contract, after every call that feeds bytes or sends (receive_*, commit_receive,
// send_*, fail): write everything in take_output(), then handle next_event() until it is
// empty; if transport_close_requested(), close the transport once the output is written;
// if close_expected(), arm the close timeout. The protocol answers pings, echoes close
// frames and fails the connection on bad input by itself, which is why output must be
// written after receiving too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "syncws/core/close.hpp"
#include "syncws/core/deflate.hpp"
#include "syncws/core/frame.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/output_queue.hpp"
#include "syncws/core/random.hpp"
#include "syncws/core/utf8.hpp"

namespace syncws::core {

/// Connection states (RFC 6455 §4, §7).
enum class state { connecting, open, closing, closed };

/// "connecting", "open", "closing", "closed".
std::string_view to_string(state s) noexcept;

/// No limit, for max_message_size / max_frame_size.
inline constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

/// Settings of the state machine.
struct protocol_config {
    /// Largest incoming message, in bytes; a larger one fails the connection with 1009 as soon
    /// as a frame header announces it, before its payload is buffered (a compressed one as
    /// soon as it inflates past the limit).
    std::size_t max_message_size = 16 * 1024 * 1024;
    /// Largest incoming frame payload; defaults to max_message_size. A compressed message
    /// is measured once inflated, against max_message_size only.
    std::size_t max_frame_size = unlimited;
    /// Hand out each data frame as a fragment event as soon as it is complete, instead of
    /// whole messages (streaming receive of large messages).
    bool stream_fragments = false;
    /// Limits of the opening handshake's HTTP head.
    http_limits http;
    /// Source of client mask keys; empty means the CSPRNG. Tests pin it.
    std::function<mask_key()> mask_keys;
    /// Size of the scratch buffer handed out by prepare_receive().
    std::size_t receive_buffer_size = 64 * 1024;
    /// Input that fails the connection (a protocol error, invalid UTF-8, a message too big)
    /// does not fail it at once: parsing stops, the failure waits in pending_failure(), and
    /// sending stays allowed until the I/O layer calls fail_pending(). This lets an
    /// application answer the messages that arrived before the bad input, in order, as a
    /// peer expects (Autobahn's strict verdicts for cases 3.x, 4.x and 5.15). End of
    /// stream, send_close() and fail() carry the pending failure out.
    bool defer_input_failures = false;
};

/// A message, or with stream_fragments one fragment of a message.
struct message_event {
    bool text = false;  ///< text (opcode 0x1) or binary (0x2); fragments carry the message's
    std::string data;
    bool fin = true;    ///< false for a fragment that is not the last of its message
};

/// A ping was received; the pong was already queued.
struct ping_event {
    std::string payload;
};

/// A pong was received. When it answers a ping that send_ping() sent, acknowledged_ping is
/// that ping's id; every ping sent before it counts as answered too (RFC 6455 §5.5.3 allows a
/// peer to answer only the latest).
struct pong_event {
    std::string payload;
    std::optional<std::uint64_t> acknowledged_ping;
};

/// A close frame was received (and, if we had not sent one, echoed).
struct close_event {
    close_frame frame;
};

/// What the protocol hands the I/O layer. http_request: a server received the opening
/// request. http_response: a client received the server's response.
using event =
    std::variant<http_request, http_response, message_event, ping_event, pong_event, close_event>;

/// A region to read socket bytes into, from prepare_receive().
struct receive_buffer {
    char* data;
    std::size_t size;
};

/// Storage the caller of prepare_receive() lends for small reads, typically on the stack of
/// the thread that reads. An idle connection, or one that exchanges small messages, then
/// keeps no read buffer of its own: with thousands of idle connections, a kilobyte in each
/// is a kilobyte of memory each, while the reading thread's stack has room to spare.
struct small_read_buffer {
    char bytes[1024];
};

/// The data-transfer and closing state machine shared by both roles. client_protocol and
/// server_protocol add the opening handshake.
/// Thread-safety: none; one thread at a time (the blocking layer serializes access).
class protocol {
public:
    explicit protocol(role side, protocol_config config = {}, state initial = state::open);
    virtual ~protocol();
    protocol(const protocol&) = delete;
    protocol& operator=(const protocol&) = delete;

    // ---- input ----

    /// Feeds bytes received from the transport. Never throws for peer misbehaviour: that
    /// fails the connection (close 1002, 1007, 1009 ...) and the close frame waits in the
    /// output. Throws invalid_state if called after receive_eof().
    void receive_data(std::string_view data);
    /// The fast way to feed bytes: read up to size bytes from the transport into the region,
    /// then commit_receive(n). While a large payload is expected, the region is the message
    /// buffer itself, so the payload is not copied again; frame headers and small messages
    /// go to `lent`, and a read that fills it means more is coming, so the next one gets a
    /// large buffer of the protocol's (receive_buffer_size). The region stays valid until
    /// the next call to a member function; `lent` must stay valid until commit_receive().
    receive_buffer prepare_receive(small_read_buffer& lent);
    /// Processes the n bytes read into the region from prepare_receive(). n may be 0 (the
    /// read timed out). Between the two calls, another thread may call the sending
    /// functions and fail() (the blocking layer reads without holding its lock), but not
    /// the receiving ones.
    void commit_receive(std::size_t n);
    /// Bytes certain to come before anything else can: the rest of the frame being read
    /// (none between frames, nor once input is being discarded). A reader may sleep until
    /// that many have arrived instead of waking for each piece of a large frame, and never
    /// waits for bytes the peer has no reason to send.
    std::uint64_t frame_bytes_to_come() const noexcept {
        return rx_ == rx_state::payload ? payload_remaining_ : 0;
    }
    /// The transport reached end of stream. Without a close handshake this is 1006.
    void receive_eof();
    /// Hands back the storage of a received message the caller is done with: the next
    /// message is assembled in it rather than in a new allocation, its old contents
    /// overwritten rather than cleared first (none of them shows). Storage larger than
    /// max_reused_buffer is let go, so that a connection never keeps a large message's
    /// memory for later. Touches nothing a read in progress uses: callable between
    /// prepare_receive() and commit_receive().
    void reuse_buffer(std::string&& storage) noexcept;
    static constexpr std::size_t max_reused_buffer = 64 * 1024;  // the default receive buffer

    // ---- events ----

    /// The next event, in arrival order, or nothing.
    std::optional<event> next_event();
    bool has_events() const noexcept { return next_event_ < events_.size(); }
    /// Hands every pending event to handle, in arrival order, by reference (it may move from
    /// it), then forgets them: a next_event() loop without moving each event out. handle
    /// must not call this protocol.
    template <class Handler>
    void take_events(Handler&& handle) {
        while (next_event_ < events_.size()) handle(events_[next_event_++]);
        forget_taken_events();
    }

    // ---- output ----

    /// Moves the bytes to write into out (which must be empty; its storage is reused).
    void take_output(output_queue& out);
    /// Bytes waiting to be taken.
    std::size_t output_size() const noexcept { return output_.size(); }
    /// The bytes to write, for a caller that writes them from where they lie and consume()s
    /// what was written; the alternative to take_output() when the write cannot block.
    output_queue& output() noexcept { return output_; }
    /// True once the transport should be closed after the pending output is written: the
    /// server after the close handshake or a failure, the client after the server's EOF.
    bool transport_close_requested() const noexcept { return close_transport_; }
    /// True when the I/O layer should expect the peer to end the connection soon and arm its
    /// close timeout: a close frame was sent, and neither has the transport ended nor are we
    /// the side that is about to close it.
    bool close_expected() const noexcept;

    // ---- sending (each throws invalid_state when not allowed in the current state) ----

    /// Sends text (a whole message, or with fin = false the first fragment). Throws
    /// protocol_error if data is not valid UTF-8 (checked across fragments), because the
    /// peer would have to fail the connection. A server borrows data until the output is
    /// taken and written (unless it is compressed); keep it alive until then. The first
    /// fragment decides whether the whole message is compressed.
    void send_text(std::string_view data, bool fin = true,
                   compression mode = compression::automatic);
    /// Sends binary data (a whole message, or the first fragment). Same borrowing rule.
    void send_binary(std::string_view data, bool fin = true,
                     compression mode = compression::automatic);
    /// Sends the next fragment of the message started with fin = false.
    void send_continuation(std::string_view data, bool fin);
    /// Sends a ping and returns its id for matching the pong. Throws invalid_state if a ping
    /// with the same payload is still unanswered, protocol_error over 125 bytes.
    std::uint64_t send_ping(std::string_view payload);
    /// Sends an unsolicited pong (a heartbeat).
    void send_pong(std::string_view payload);
    /// Starts the closing handshake (only in the open state). code 1005 sends an empty close
    /// frame. Throws protocol_error for a code that may not be sent, a reason that is not
    /// UTF-8 or is over 123 bytes, or a reason with code 1005. With a failure pending, fails
    /// the connection with it instead.
    void send_close(std::uint16_t code = close_code::normal, std::string_view reason = {});
    /// Fails the connection (RFC 6455 §7.1.7): sends a close frame with code and reason
    /// unless the code is 1006 or a close frame was already sent, stops processing input,
    /// and for a server closes the transport.
    void fail(std::uint16_t code, std::string_view reason = {});

    // ---- state ----

    role side() const noexcept { return side_; }
    state current_state() const noexcept { return state_; }
    const std::optional<close_frame>& close_sent() const noexcept { return close_sent_; }
    const std::optional<close_frame>& close_received() const noexcept { return close_received_; }
    /// True when the peer started the closing handshake.
    bool close_received_then_sent() const noexcept { return close_received_then_sent_; }
    /// Why this side failed the connection (close code and text), if it did.
    const std::optional<close_frame>& failure() const noexcept { return failure_; }
    /// With defer_input_failures: the failure that bad input calls for and that has not
    /// been carried out yet.
    const std::optional<close_frame>& pending_failure() const noexcept { return pending_failure_; }
    /// Carries out the pending failure, if any (as fail() with its code and reason).
    void fail_pending();
    /// Throws connection_closed_ok or connection_closed_error describing how it closed; the
    /// detail (or else why this side failed the connection, when the close frames do not
    /// say it) is added to the message.
    [[noreturn]] void raise_closed(const std::string& detail = {}) const;
    /// Size of the message being assembled (bytes received so far).
    std::size_t partial_message_size() const noexcept { return message_.size() - unfilled_; }
    /// The permessage-deflate codec, when it was negotiated; null otherwise.
    const deflate_codec* deflate() const noexcept { return deflate_.get(); }

protected:
    /// Consumes opening-handshake bytes in the connecting state; returns how many it used.
    /// The rest of the input is then parsed as frames.
    virtual std::size_t receive_handshake(std::string_view data);
    /// End of stream while connecting.
    virtual void receive_handshake_eof();

    void set_state(state s) noexcept { state_ = s; }
    void push_event(event e) { events_.push_back(std::move(e)); }
    /// Queues bytes for the transport (handshake responses and requests).
    void queue_bytes(std::string_view bytes) { output_.append(bytes); }
    /// Stops parsing input and asks for the transport to close (failed handshake).
    void abandon_connection();
    /// Parses bytes as frames (for data that arrived right after the opening handshake).
    void receive_frames(std::string_view data) { consume(data.data(), data.size()); }
    /// Turns permessage-deflate on, once the handshake negotiated it.
    void enable_deflate(const deflate_parameters& parameters, const deflate_options& options);

    protocol_config config_;

private:
    enum class rx_state { frame_header, payload, discard };

    void consume(const char* data, std::size_t n);
    std::size_t consume_frame_header(const char* data, std::size_t n);
    void start_frame(const frame_header& header);
    void consume_payload(char* payload, std::size_t n);
    void inflate_payload(std::string_view compressed, bool fin);
    bool check_text(const char* data, std::size_t n);
    void finish_frame();
    void finish_control_frame();
    void receive_close(std::string_view payload);
    void fail_input(std::uint16_t code, std::string_view reason);
    void stop_receiving();
    void trim_unfilled() noexcept;
    void discard_message() noexcept;  // message_ and its room
    std::size_t small_read_capacity() const noexcept;
    void forget_taken_events() noexcept;
    void ensure_can_send_data(bool continuation) const;
    void check_outgoing_text(std::string_view data, bool fin, bool first);
    bool should_compress(std::string_view first, bool fin, compression mode) const;
    void send_data_frame(opcode op, bool fin, std::string_view payload);
    void send_frame(opcode op, bool fin, std::string_view payload, bool may_borrow,
                    bool rsv1 = false);
    mask_key next_mask_key();

    role side_;
    state state_;
    bool eof_received_ = false;
    bool close_transport_ = false;

    // receiving
    rx_state rx_ = rx_state::frame_header;
    unsigned char header_spill_[max_frame_header_size] = {};
    std::size_t header_spill_size_ = 0;
    frame_header frame_;
    std::uint64_t payload_remaining_ = 0;
    std::size_t payload_done_ = 0;     // bytes of this frame's payload already unmasked
    bool in_message_ = false;           // a fragmented message is being received
    bool message_text_ = false;
    std::uint64_t message_size_ = 0;    // bytes of the message received so far (inflated)
    bool message_compressed_ = false;   // RSV1 was set on the message's first frame
    std::uint64_t handed_out_ = 0;      // bytes of the message already in fragment events
    std::string compressed_;            // compressed payload being unmasked and inflated
    std::string message_;               // data being assembled (or one fragment)
    std::string spare_;                 // storage for the next message (reuse_buffer)
    std::string control_;               // payload of the control frame being received
    utf8_validator utf8_in_;
    char* read_region_ = nullptr;       // where the pending read goes: lent buffer or scratch_
    bool read_large_ = false;           // the last read filled the small buffer: use scratch_
    std::unique_ptr<char[]> scratch_;   // the large read region, allocated on first use
    std::size_t direct_offset_ = 0;     // where prepare_receive() pointed into message_
    std::size_t unfilled_ = 0;          // bytes at the end of message_ holding no payload yet:
                                        // room for direct reads (grown, or reused storage's)
    bool direct_ = false;               // a direct read is between prepare and commit
    bool direct_frame_ = false;         // this frame's payload is being read directly
    bool large_frames_ = false;         // the last data frame was large: read headers alone
    // Events not yet taken start at next_event_. A vector reused between reads rather than
    // a deque: no allocation per event on the fast path.
    std::vector<event> events_;
    std::size_t next_event_ = 0;

    // sending
    output_queue output_;
    bool tx_in_message_ = false;
    bool tx_text_ = false;              // the fragmented message being sent is text
    bool tx_compressed_ = false;        // the fragmented message being sent is compressed
    std::string deflated_;              // compressed payload of the frame being sent
    utf8_validator utf8_out_;
    // Made on the first masked frame: only clients mask, and a server keeps thousands of
    // connections that would each carry its 264 bytes for nothing.
    std::unique_ptr<mask_key_source> mask_keys_;
    std::uint64_t next_ping_id_ = 1;
    // Unanswered, oldest first. A vector, not a deque: a deque allocates half a KiB as soon
    // as it exists, on every connection.
    std::vector<std::pair<std::uint64_t, std::string>> pings_;

    // closing
    std::optional<close_frame> close_sent_;
    std::optional<close_frame> close_received_;
    bool close_received_then_sent_ = false;
    std::optional<close_frame> failure_;
    std::optional<close_frame> pending_failure_;

    // permessage-deflate, once negotiated
    std::unique_ptr<deflate_codec> deflate_;
    std::size_t deflate_threshold_ = 0;
};

}  // namespace syncws::core

// What goes on the wire for each echo and how an echo is checked: raw bytes, or a minimal
// WebSocket client (RFC 6455 framing, masking, optional permessage-deflate).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "payloads.hpp"
#include "transport.hpp"

namespace loadgen {

/// Bytes waiting to be written, as a queue of chunks (one per frame): appending never moves
/// what is queued, and the chunks' storage is reused.
class byte_queue {
public:
    /// A new chunk of n bytes at the back, for the caller to fill.
    char* grow(std::size_t n);
    void append(std::string_view bytes);
    /// The first unwritten bytes: the rest of the front chunk (more chunks may follow).
    const char* data() const { return chunks_.front().bytes.get() + head_; }
    std::size_t size() const { return chunks_.front().size - head_; }
    /// Marks n <= size() bytes written.
    void consume(std::size_t n);
    bool empty() const { return chunks_.empty(); }

private:
    struct chunk {
        std::unique_ptr<char[]> bytes;
        std::size_t capacity = 0, size = 0;
    };
    std::deque<chunk> chunks_;
    std::vector<chunk> spare_;
    std::size_t head_ = 0;
};

/// permessage-deflate as negotiated (only what a client needs to know).
struct deflate_params {
    bool enabled = false;
    int client_window_bits = 15;
    bool client_no_context_takeover = false;
};

/// Encodes the payloads in turn and checks that the echoes come back in the same order,
/// byte for byte. Throws bench_error on any difference. The encoding calls and decode()
/// share no state: a writer thread may encode while a reader thread decodes.
class echo_codec {
public:
    explicit echo_codec(const payload_set& payloads) : payloads_(payloads) {}
    virtual ~echo_codec() = default;
    echo_codec(const echo_codec&) = delete;
    echo_codec& operator=(const echo_codec&) = delete;

    /// Appends the next message, as it goes on the wire.
    virtual void encode_next(byte_queue& out) = 0;
    /// Checks received bytes; returns how many echoes they completed. May queue an answer
    /// (a pong) in out.
    virtual std::size_t decode(const char* data, std::size_t size, byte_queue& out) = 0;
    /// Appends a close frame (WebSocket); false when the protocol has none (raw TCP).
    virtual bool encode_close(byte_queue&) { return false; }
    /// The server sent a close frame.
    virtual bool peer_closed() const { return false; }

    /// Payload bytes of the completed echoes, and what they took on the wire (differs
    /// with compression).
    std::uint64_t payload_bytes_in() const { return payload_bytes_in_; }
    std::uint64_t wire_bytes_in() const { return wire_bytes_in_; }

protected:
    const std::string& next_to_send() { return payloads_.at(sent_++); }
    const std::string& expected() const { return payloads_.at(received_); }
    bool text() const { return payloads_.is_text(); }
    void completed() { payload_bytes_in_ += expected().size(), ++received_; }

    std::uint64_t wire_bytes_in_ = 0;

private:
    const payload_set& payloads_;
    std::uint64_t sent_ = 0, received_ = 0;
    std::uint64_t payload_bytes_in_ = 0;
};

/// Raw TCP: the message is its bytes; the server echoes bytes as they come.
std::unique_ptr<echo_codec> make_raw_codec(const payload_set& payloads);

/// WebSocket client framing; deflate as negotiated by ws_handshake().
std::unique_ptr<echo_codec> make_ws_codec(const payload_set& payloads, const deflate_params& deflate,
                                          std::uint64_t seed);

/// The opening handshake (RFC 6455 §4.1) on a fresh transport; checks the 101 and the
/// accept key. offer_deflate offers "permessage-deflate; client_max_window_bits". Bytes
/// that arrived behind the response are appended to `extra`.
deflate_params ws_handshake(transport& t, const std::string& host_header, const std::string& path,
                            bool offer_deflate, std::string& extra);

}  // namespace loadgen

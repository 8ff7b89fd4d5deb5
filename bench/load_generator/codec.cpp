#include "codec.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "../lean_mask.hpp"

namespace loadgen {

// ------------------------------------------------------------------ byte_queue

char* byte_queue::grow(std::size_t n) {
    chunk c;
    if (!spare_.empty()) {
        c = std::move(spare_.back());
        spare_.pop_back();
    }
    if (c.capacity < n) c.bytes.reset(new char[c.capacity = n]);  // uninitialised: filled next
    c.size = n;
    chunks_.push_back(std::move(c));
    return chunks_.back().bytes.get();
}

void byte_queue::append(std::string_view bytes) {
    if (!bytes.empty()) std::memcpy(grow(bytes.size()), bytes.data(), bytes.size());
}

void byte_queue::consume(std::size_t n) {
    head_ += n;
    if (head_ < chunks_.front().size) return;
    spare_.push_back(std::move(chunks_.front()));
    chunks_.pop_front();
    head_ = 0;
}

namespace {

[[noreturn]] void corrupt(const std::string& what) { throw bench_error("corrupt echo: " + what); }

// Compares a received piece of a message with what was sent, at the same offset.
void check_piece(const std::string& expected, std::size_t offset, const char* data, std::size_t n) {
    if (offset + n > expected.size())
        corrupt("echo longer than the " + std::to_string(expected.size()) + "-byte message sent");
    if (std::memcmp(expected.data() + offset, data, n) != 0) {
        std::size_t at = 0;
        while (expected[offset + at] == data[at]) ++at;
        corrupt("byte " + std::to_string(offset + at) + " of a " +
                std::to_string(expected.size()) + "-byte message differs");
    }
}

// ------------------------------------------------------------------ raw TCP

class raw_codec : public echo_codec {
public:
    using echo_codec::echo_codec;

    void encode_next(byte_queue& out) override { out.append(next_to_send()); }

    // The server echoes bytes as it reads them, so an echo may end inside a read and the
    // next one begin there.
    std::size_t decode(const char* data, std::size_t size, byte_queue&) override {
        wire_bytes_in_ += size;
        std::size_t done = 0;
        while (size > 0) {
            const std::string& message = expected();
            const std::size_t n = std::min(size, message.size() - offset_);
            check_piece(message, offset_, data, n);
            offset_ += n, data += n, size -= n;
            if (offset_ == message.size()) {
                completed();
                offset_ = 0, ++done;
            }
        }
        return done;
    }

private:
    std::size_t offset_ = 0;
};

// ------------------------------------------------------------------ WebSocket framing

enum opcode : unsigned { continuation = 0, text_frame = 1, binary_frame = 2, close_frame = 8,
                         ping_frame = 9, pong_frame = 10 };

// A client frame: FIN, the opcode (and RSV1 for a compressed message), masked payload.
void write_frame(byte_queue& out, unsigned first_byte, std::string_view payload, xorshift& rng) {
    char header[14];
    std::size_t h = 0;
    header[h++] = static_cast<char>(first_byte);
    const std::size_t n = payload.size();
    if (n < 126) {
        header[h++] = static_cast<char>(0x80 | n);
    } else if (n <= 0xffff) {
        header[h++] = static_cast<char>(0x80 | 126);
        header[h++] = static_cast<char>(n >> 8);
        header[h++] = static_cast<char>(n);
    } else {
        header[h++] = static_cast<char>(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) header[h++] = static_cast<char>(n >> shift);
    }
    const auto key_word = static_cast<std::uint32_t>(rng.next() | 1);  // never all zero
    unsigned char key[4];
    std::memcpy(key, &key_word, 4);
    std::memcpy(header + h, key, 4);
    h += 4;
    char* at = out.grow(h + n);
    std::memcpy(at, header, h);
    bench::lean_mask_copy(at + h, payload.data(), n, key);
}

// zlib raw deflate for one direction of permessage-deflate (RFC 7692 §7.2).
class deflater {
public:
    explicit deflater(int window_bits) {
        // Level 1: the client must stay light; the servers' compressors are what we compare.
        if (deflateInit2(&z_, 1, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw bench_error("deflateInit2 failed");
    }
    ~deflater() { deflateEnd(&z_); }
    deflater(const deflater&) = delete;
    deflater& operator=(const deflater&) = delete;

    // The message compressed and flushed, without the 00 00 ff ff tail.
    std::string_view compress(const std::string& message, bool reset) {
        out_.resize(deflateBound(&z_, message.size()) + 16);
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
        z_.avail_in = static_cast<uInt>(message.size());
        z_.next_out = reinterpret_cast<Bytef*>(out_.data());
        z_.avail_out = static_cast<uInt>(out_.size());
        if (deflate(&z_, Z_SYNC_FLUSH) != Z_OK || z_.avail_in != 0 || z_.avail_out == 0)
            throw bench_error("deflate failed");
        const std::size_t n = out_.size() - z_.avail_out;
        if (reset) deflateReset(&z_);
        return std::string_view(out_.data(), n - 4);
    }

private:
    z_stream z_{};
    std::string out_;
};

class inflater {
public:
    inflater() {
        if (inflateInit2(&z_, -15) != Z_OK) throw bench_error("inflateInit2 failed");
    }
    ~inflater() { inflateEnd(&z_); }
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;

    // Inflates into out[length...]; out never grows past limit + 1 bytes, which is enough
    // to tell that an echo is longer than the message sent. The storage is kept between
    // messages (no zero-filling of a fresh buffer for each one).
    void feed(const char* data, std::size_t size, std::string& out, std::size_t& length,
              std::size_t limit) {
        if (out.size() < limit + 1) out.resize(limit + 1);
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
        z_.avail_in = static_cast<uInt>(size);
        while (z_.avail_in > 0) {
            if (length > limit) corrupt("inflated echo longer than the message sent");
            z_.next_out = reinterpret_cast<Bytef*>(out.data() + length);
            z_.avail_out = static_cast<uInt>(limit + 1 - length);
            const int rc = inflate(&z_, Z_SYNC_FLUSH);
            length = limit + 1 - z_.avail_out;
            if (rc != Z_OK && rc != Z_BUF_ERROR) corrupt("inflate failed");
        }
    }

private:
    z_stream z_{};
};

class ws_codec : public echo_codec {
public:
    ws_codec(const payload_set& payloads, const deflate_params& deflate, std::uint64_t seed)
        : echo_codec(payloads), rng_(seed), answer_rng_(~seed), deflate_(deflate) {
        if (deflate.enabled) {
            deflater_ = std::make_unique<deflater>(deflate.client_window_bits);
            inflater_ = std::make_unique<inflater>();
        }
    }

    void encode_next(byte_queue& out) override {
        const std::string& message = next_to_send();
        const unsigned first = 0x80 | (text() ? text_frame : binary_frame);
        if (!deflater_) return write_frame(out, first, message, rng_);
        write_frame(out, first | 0x40,
                    deflater_->compress(message, deflate_.client_no_context_takeover), rng_);
    }

    bool encode_close(byte_queue& out) override {
        write_frame(out, 0x80 | close_frame, std::string_view("\x03\xe8", 2), rng_);  // 1000
        return true;
    }

    bool peer_closed() const override { return peer_closed_; }

    std::size_t decode(const char* data, std::size_t size, byte_queue& out) override {
        std::size_t done = 0;
        while (size > 0) {
            std::size_t used = 0;
            if (!in_payload_) {
                used = take_header(data, size);
                if (in_payload_ && remaining_ == 0) done += end_frame(out);
            } else {
                used = static_cast<std::size_t>(std::min<std::uint64_t>(size, remaining_));
                take_payload(data, used);
                remaining_ -= used;
                if (remaining_ == 0) done += end_frame(out);
            }
            data += used, size -= used;
        }
        return done;
    }

private:
    // Collects the header (it may arrive split), then checks the frame it announces.
    std::size_t take_header(const char* data, std::size_t size) {
        std::size_t used = 0;
        while (used < size && header_have_ < header_needed()) header_[header_have_++] = data[used++];
        if (header_have_ < header_needed()) return used;
        start_frame();
        header_have_ = 0;
        in_payload_ = true;
        return used;
    }

    std::size_t header_needed() const {
        if (header_have_ < 2) return 2;
        const unsigned length = header_[1] & 0x7f;
        return 2 + (length == 126 ? 2 : length == 127 ? 8 : 0);
    }

    void start_frame() {
        fin_ = (header_[0] & 0x80) != 0;
        op_ = header_[0] & 0x0f;
        const bool rsv1 = (header_[0] & 0x40) != 0;
        if (header_[1] & 0x80) corrupt("the server masked a frame");
        if (header_[0] & 0x30) corrupt("RSV2/RSV3 set");
        remaining_ = header_[1] & 0x7f;
        if (remaining_ >= 126) {
            const std::size_t bytes = remaining_ == 126 ? 2 : 8;
            remaining_ = 0;
            for (std::size_t i = 0; i < bytes; ++i) remaining_ = remaining_ << 8 | header_[2 + i];
        }
        if (op_ >= close_frame) {
            if (!fin_ || remaining_ > 125 || rsv1) corrupt("invalid control frame");
            control_.clear();
            return;
        }
        start_data_frame(rsv1);
    }

    void start_data_frame(bool rsv1) {
        if (op_ == continuation) {
            if (!in_message_) corrupt("continuation frame outside a message");
            if (rsv1) corrupt("RSV1 on a continuation frame");
            return;
        }
        if (in_message_) corrupt("new message inside a fragmented one");
        if (op_ != (text() ? text_frame : binary_frame))
            corrupt(std::string("echo is ") + (op_ == text_frame ? "text" : "binary") +
                    ", sent the other type");
        if (rsv1 && !inflater_) corrupt("RSV1 without permessage-deflate");
        in_message_ = true;
        compressed_ = rsv1;
        offset_ = 0;
        inflated_length_ = 0;
    }

    void take_payload(const char* data, std::size_t n) {
        if (op_ >= close_frame) {
            control_.append(data, n);
        } else if (compressed_) {
            wire_bytes_in_ += n;
            inflater_->feed(data, n, inflated_, inflated_length_, expected().size());
        } else {
            wire_bytes_in_ += n;
            check_piece(expected(), offset_, data, n);
            offset_ += n;
        }
    }

    // Returns 1 when the frame completed an echo.
    std::size_t end_frame(byte_queue& out) {
        in_payload_ = false;
        if (op_ == ping_frame) write_frame(out, 0x80 | pong_frame, control_, answer_rng_);
        if (op_ == close_frame) peer_closed_ = true;
        if (op_ >= close_frame || !fin_) return 0;
        if (compressed_) {
            static constexpr char tail[] = {0, 0, '\xff', '\xff'};
            inflater_->feed(tail, 4, inflated_, inflated_length_, expected().size());
            check_piece(expected(), 0, inflated_.data(), inflated_length_);
            offset_ = inflated_length_;
        }
        if (offset_ != expected().size())
            corrupt("echo of " + std::to_string(offset_) + " bytes for a " +
                    std::to_string(expected().size()) + "-byte message");
        in_message_ = false;
        completed();
        return 1;
    }

    xorshift rng_;
    xorshift answer_rng_;  // masks pongs: decode() may run in a reader thread (session.cpp)
    deflate_params deflate_;
    std::unique_ptr<deflater> deflater_;
    std::unique_ptr<inflater> inflater_;

    unsigned char header_[14] = {};
    std::size_t header_have_ = 0;
    bool in_payload_ = false;
    bool fin_ = false;
    unsigned op_ = 0;
    std::uint64_t remaining_ = 0;

    bool in_message_ = false;
    bool compressed_ = false;
    std::size_t offset_ = 0;
    std::string inflated_;  // storage for the inflated echo...
    std::size_t inflated_length_ = 0;  // ...and how much of it holds this message
    std::string control_;
    bool peer_closed_ = false;
};

// ------------------------------------------------------------------ opening handshake

std::string base64(const unsigned char* data, std::size_t size) {
    std::string text(4 * ((size + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), data, static_cast<int>(size));
    return text;
}

std::string accept_key(const std::string& key) {
    const std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    return base64(digest, sizeof digest);
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The value of a header field in a response head, or "" (names compared case-insensitively).
std::string header_value(const std::string& head, std::string_view name) {
    const std::string lowered = lower(head);
    const std::string needle = "\r\n" + lower(name) + ":";
    const auto at = lowered.find(needle);
    if (at == std::string::npos) return {};
    const auto start = head.find_first_not_of(" \t", at + needle.size());
    const auto end = head.find("\r\n", start);
    return head.substr(start, end - start);
}

// The server's answer to our offer; we offered client_max_window_bits without a value, so
// the server may limit our window; its own window never matters to an inflater of 15 bits.
deflate_params parse_deflate_answer(const std::string& extensions) {
    deflate_params params;
    if (extensions.empty()) return params;
    const std::string value = lower(extensions);
    if (value.find("permessage-deflate") == std::string::npos)
        throw bench_error("unexpected extension: " + extensions);
    params.enabled = true;
    params.client_no_context_takeover = value.find("client_no_context_takeover") != std::string::npos;
    const auto bits = value.find("client_max_window_bits=");
    if (bits != std::string::npos)
        params.client_window_bits = std::atoi(value.c_str() + bits + 23 + (value[bits + 23] == '"'));
    if (params.client_window_bits < 9 || params.client_window_bits > 15)
        throw bench_error("client_max_window_bits we cannot honour: " + extensions);
    return params;
}

std::string read_head(transport& t, std::string& extra) {
    std::string bytes;
    char buffer[4096];
    for (;;) {
        const ssize_t n = t.read_some(buffer, sizeof buffer, true);
        if (n <= 0) throw bench_error("connection closed during the opening handshake");
        bytes.append(buffer, static_cast<std::size_t>(n));
        const auto end = bytes.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        extra.append(bytes, end + 4, std::string::npos);
        return bytes.substr(0, end + 2);
    }
}

}  // namespace

std::unique_ptr<echo_codec> make_raw_codec(const payload_set& payloads) {
    return std::make_unique<raw_codec>(payloads);
}

std::unique_ptr<echo_codec> make_ws_codec(const payload_set& payloads, const deflate_params& deflate,
                                          std::uint64_t seed) {
    return std::make_unique<ws_codec>(payloads, deflate, seed);
}

deflate_params ws_handshake(transport& t, const std::string& host_header, const std::string& path,
                            bool offer_deflate, std::string& extra) {
    unsigned char nonce[16];
    xorshift rng(reinterpret_cast<std::uintptr_t>(&t) ^ 0x5bd1e995);
    for (unsigned char& byte : nonce) byte = static_cast<unsigned char>(rng.next());
    const std::string key = base64(nonce, sizeof nonce);
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host_header +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n";
    if (offer_deflate) request += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    request += "\r\n";
    t.write_all(request.data(), request.size());

    const std::string head = read_head(t, extra);
    if (head.compare(0, 13, "HTTP/1.1 101 ") != 0)
        throw bench_error("handshake refused: " + head.substr(0, head.find("\r\n")));
    if (header_value(head, "Sec-WebSocket-Accept") != accept_key(key))
        throw bench_error("wrong Sec-WebSocket-Accept");
    const deflate_params params = parse_deflate_answer(header_value(head, "Sec-WebSocket-Extensions"));
    if (params.enabled && !offer_deflate) throw bench_error("extension we did not offer");
    return params;
}

}  // namespace loadgen

// Target: the data phase (frame parser, fragmentation, control frames, closing, limits,
// permessage-deflate) of either role, fed untrusted bytes cut into chunks the input chooses,
// through receive_data() or through prepare_receive()/commit_receive(), while this side
// echoes messages, sends keepalive pings and starts the closing handshake as the input says.
//
// Input layout (see make_corpus.py):
//   byte 0  flags: 0x01 we are the client (the input is what a server sends, unmasked),
//           0x02 permessage-deflate negotiated, 0x04 stream_fragments, 0x08 read through
//           prepare_receive/commit_receive, 0x10 small limits (bytes 2-3), 0x20 echo every
//           message back, 0x40 our_no_context_takeover, 0x80 peer_no_context_takeover
//   byte 1  window bits: 8 + (b & 7) ours, 8 + (b >> 4 & 7) the peer's
//   byte 2  with small limits, max_message_size = 32 * b
//   byte 3  with small limits, max_frame_size = 32 * b (0: same as max_message_size)
//   byte 4  bits 0-1 compression level (1, 6, 9, 0), bit 2 threshold 0 instead of 128,
//           bits 3-5 memory level - 1, bit 6 receive buffer of 7 bytes, bit 7 of 1000 bytes
//   byte 5  actions: 0x01 send a ping after each of the first 16 chunks, 0x02 call
//           send_close() after chunk number b >> 4
//   byte 6  the close: code close_codes[b % 16], reason empty (bits 4-5 = 0), "bye" (1),
//           124 bytes (2) or invalid UTF-8 (3)
//   bytes 7-10  chunk size table (fuzz_support.hpp)
//   rest    the bytes the peer sends
#include <cstring>

#include "fuzz_support.hpp"
#include "protocol_session.hpp"

using namespace syncws::core;

namespace {

// Codes send_close() must accept, and some it must refuse (1004-1006, 1015, 999, 2000, 5000).
constexpr std::uint16_t close_codes[16] = {1000, 1001, 1002, 1003, 1005, 1007, 1011, 1014,
                                           3000, 4999, 1004, 1006, 1015, 999, 2000, 5000};

std::string close_reason(std::uint8_t selector) {
    switch ((selector >> 4) & 3) {
        case 1: return "bye";
        case 2: return std::string(124, 'r');
        case 3: return "\xc3\x28";
        default: return {};
    }
}

void run(fuzz::input& in) {
    const std::uint8_t flags = in.byte();
    const std::uint8_t windows = in.byte();
    const std::uint8_t message_limit = in.byte();
    const std::uint8_t frame_limit = in.byte();
    const std::uint8_t codec = in.byte();
    const std::uint8_t actions = in.byte();
    const std::uint8_t close_selector = in.byte();
    fuzz::chunker chunks(in);
    const std::string_view wire = in.rest();

    const role side = (flags & 0x01) ? role::client : role::server;
    const bool deflate = flags & 0x02;
    const bool via_prepare = flags & 0x08;

    protocol_config config;
    config.stream_fragments = flags & 0x04;
    if (flags & 0x10) {
        config.max_message_size = std::size_t{message_limit} * 32;
        if (frame_limit != 0) config.max_frame_size = std::size_t{frame_limit} * 32;
    }
    if (codec & 0x40) config.receive_buffer_size = 7;
    if (codec & 0x80) config.receive_buffer_size = 1000;
    config.mask_keys = fuzz::counting_mask_keys();
    const std::size_t max_message_size = config.max_message_size;

    // The peer takes whatever we write: no limits.
    protocol_config peer_config;
    peer_config.max_message_size = unlimited;
    peer_config.mask_keys = fuzz::counting_mask_keys();

    fuzz::open_protocol us(side, config);
    fuzz::open_protocol peer(side == role::client ? role::server : role::client, peer_config);
    if (deflate) {
        deflate_parameters p;
        p.our_window_bits = 8 + (windows & 7);
        p.peer_window_bits = 8 + ((windows >> 4) & 7);
        p.our_no_context_takeover = flags & 0x40;
        p.peer_no_context_takeover = flags & 0x80;
        deflate_options options;
        static constexpr int levels[] = {1, 6, 9, 0};
        options.compression_level = levels[codec & 3];
        options.threshold = (codec & 0x04) ? 0 : 128;
        options.memory_level = 1 + ((codec >> 3) & 7);
        us.enable_deflate(p, options);
        peer.enable_deflate(fuzz::mirrored(p), deflate_options{});
    }

    fuzz::session_settings settings;
    settings.max_message_size = max_message_size;
    settings.stream_fragments = config.stream_fragments;
    settings.echo = flags & 0x20;
    fuzz::session session(us, peer, settings);

    std::size_t chunk_number = 0;
    chunks.each(wire, [&](std::string_view piece) {
        if (!via_prepare) {
            us.receive_data(piece);
        } else {
            // The I/O layer's way: read into the region, possibly less than it offers.
            while (!piece.empty()) {
                small_read_buffer small;
                const receive_buffer region = us.prepare_receive(small);
                fuzz::check(region.size > 0, "prepare_receive() offered no room");
                const std::size_t n = std::min(region.size, piece.size());
                std::memcpy(region.data, piece.data(), n);
                us.commit_receive(n);
                piece.remove_prefix(n);
            }
        }
        session.settle();
        if ((actions & 0x01) && chunk_number < 16) session.send_ping();
        if ((actions & 0x02) && chunk_number == std::size_t(actions >> 4))
            session.send_close(close_codes[close_selector % 16], close_reason(close_selector));
        ++chunk_number;
        session.settle();
    });
    session.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // receive_data() documents no exception for peer misbehaviour
    return fuzz::run_input(data, size, "the data phase", run);
}

// Target: a whole server connection. A real client_protocol writes a valid opening request
// (offering permessage-deflate and subprotocols as the input says); the server receives it
// cut into chunks, accepts it, and then receives untrusted bytes as if from the client,
// either after the handshake or glued to the request (frames sent before the 101 arrives).
// The client is the peer: it must accept the 101 and every byte the server writes after it.
//
// Input layout (see make_corpus.py):
//   byte 0  flags: 0x01 the server accepts permessage-deflate, 0x02 the client offers it,
//           0x04 stream_fragments, 0x08 read through prepare_receive/commit_receive,
//           0x10 small limits (byte 3), 0x20 echo every message back, 0x40 the untrusted
//           bytes arrive with the request, 0x80 subprotocols are offered and supported
//   byte 1  server deflate options, byte 2 client deflate options: window_bits
//           9 + (b & 7) (at most 15), peer_window_bits 8 + (b >> 3 & 7), bit 6
//           no_context_takeover, bit 7 peer_no_context_takeover
//   byte 3  with small limits: max_message_size = 32 * b and max_head_bytes = 1024 + 8 * b
//   bytes 4-7  chunk size table (fuzz_support.hpp)
//   rest    the bytes the client sends after its request
#include <cstring>
#include <variant>

#include "fuzz_support.hpp"
#include "protocol_session.hpp"
#include "syncws/core/client_protocol.hpp"
#include "syncws/core/server_protocol.hpp"
#include "syncws/core/uri.hpp"

using namespace syncws::core;

namespace {

// The RFC 6455 §1.3 example key, so that responses in the corpus stay valid.
constexpr std::string_view client_key = "dGhlIHNhbXBsZSBub25jZQ==";

deflate_options options_from(std::uint8_t b) {
    deflate_options options;
    options.window_bits = std::min(15, 9 + (b & 7));
    options.peer_window_bits = 8 + ((b >> 3) & 7);
    options.no_context_takeover = b & 0x40;
    options.peer_no_context_takeover = b & 0x80;
    return options;
}

std::string output_of(protocol& p) {
    output_queue out;
    p.take_output(out);
    return out.flatten();
}

void feed(protocol& p, std::string_view piece, bool via_prepare) {
    if (!via_prepare) return p.receive_data(piece);
    while (!piece.empty()) {
        small_read_buffer small;
        const receive_buffer region = p.prepare_receive(small);
        fuzz::check(region.size > 0, "prepare_receive() offered no room");
        const std::size_t n = std::min(region.size, piece.size());
        std::memcpy(region.data, piece.data(), n);
        p.commit_receive(n);
        piece.remove_prefix(n);
    }
}

void run(fuzz::input& in) {
    const std::uint8_t flags = in.byte();
    const deflate_options server_deflate = options_from(in.byte());
    const deflate_options client_deflate = options_from(in.byte());
    const std::uint8_t limits = in.byte();
    fuzz::chunker chunks(in);
    const std::string_view untrusted = in.rest();
    const bool via_prepare = flags & 0x08;
    const bool early = flags & 0x40;

    server_handshake_config server_handshake;
    client_handshake_config client_handshake;
    if (flags & 0x01) server_handshake.deflate = server_deflate;
    if (flags & 0x02) client_handshake.deflate = client_deflate;
    if (flags & 0x80) {
        client_handshake.subprotocols = {"chat", "superchat"};
        server_handshake.subprotocols = {"superchat"};
    }
    protocol_config server_config;
    server_config.stream_fragments = flags & 0x04;
    if (flags & 0x10) {
        server_config.max_message_size = std::size_t{limits} * 32;
        server_config.http.max_head_bytes = 1024 + std::size_t{limits} * 8;
    }
    protocol_config client_config;
    client_config.max_message_size = unlimited;
    client_config.mask_keys = fuzz::counting_mask_keys();

    client_protocol client(parse_uri("ws://server.example.com/chat"), client_handshake,
                           client_config, std::string(client_key));
    const http_request request = client.connect();
    client.send_request(request);
    std::string stream = output_of(client);
    if (early) stream += untrusted;

    server_protocol server(server_handshake, server_config);
    fuzz::session_settings settings;
    settings.max_message_size = server_config.max_message_size;
    settings.stream_fragments = server_config.stream_fragments;
    settings.echo = flags & 0x20;
    fuzz::session session(server, client, settings);

    bool opened = false;
    const auto open = [&] {
        auto event = server.next_event();
        if (!event) {
            fuzz::check(server.output_size() == 0, "the server answered before the request");
            return;
        }
        const auto* received = std::get_if<http_request>(&*event);
        fuzz::check(received != nullptr, "the first event is not the request");
        fuzz::check(received->serialize() == request.serialize(),
                    "the server parsed another request than the client sent");
        // Early bytes past max_head_bytes make the server give up before it answers.
        if (server.handshake_error()) {
            fuzz::check(early, "handshake error on a valid request");
            return void(opened = true);
        }
        const http_response response = server.accept(*received);
        fuzz::check(response.status == 101 && !server.handshake_error(),
                    "a valid request was refused", std::to_string(response.status));
        server.send_response(response);
        fuzz::check(server.current_state() != state::connecting, "101 sent but not open");
        opened = true;

        // The client reads the 101 (and whatever frames follow it) through the session.
        const std::size_t head = response.serialize().size();
        session.settle(head);
        // (The frames after the 101 may have closed it already.)
        fuzz::check(client.current_state() != state::connecting && !client.handshake_error(),
                    "the client refused the server's 101");
        fuzz::check(server.subprotocol() == client.handshake_result().subprotocol,
                    "the two sides disagree on the subprotocol");
        const bool negotiated = server_handshake.deflate && client_handshake.deflate;
        fuzz::check((server.deflate() != nullptr) == negotiated &&
                        (client.deflate() != nullptr) == negotiated,
                    "permessage-deflate in force on the wrong sides");
        if (negotiated)
            fuzz::check(fuzz::mirrored(server.deflate()->parameters()) ==
                            client.deflate()->parameters(),
                        "the two sides disagree on the deflate parameters");
    };

    chunks.each(stream, [&](std::string_view piece) {
        if (server.transport_close_requested() && !opened) return;
        feed(server, piece, via_prepare);
        if (!opened)
            open();
        else
            session.settle();
    });
    fuzz::check(opened, "a whole valid request did not produce the request event");
    if (server.handshake_error()) return;  // the early-data case above: nothing was sent
    if (!early) {
        chunks.each(untrusted, [&](std::string_view piece) {
            feed(server, piece, via_prepare);
            session.settle();
        });
    }
    session.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::run_input(data, size, "the server connection", run);
}

// Target: permessage-deflate negotiation (RFC 7692 §5, §7.1) and the codecs it sets up.
//  - A server answers arbitrary offers: no exception; an agreement stays within the server's
//    options, and its response, read by a client that asked for nothing, gives the mirror
//    image of the server's parameters.
//  - A client reads an arbitrary response: only invalid_handshake; what it accepts honours
//    what the client asked for.
//  - A client's own offer is always accepted by a server, both sides agree, and messages
//    compressed by either side with those parameters inflate to themselves on the other.
//
// Input layout (see make_corpus.py):
//   bytes 0-1  server options, bytes 2-3 client options (options_from below)
//   rest       lines separated by '\n': the first is the server's response for the client,
//              the others are the offers for the server; then, after a line "--", the
//              messages to compress, separated by '\n'
#include <exception>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "syncws/core/deflate.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/handshake.hpp"
#include "syncws/core/protocol.hpp"

using namespace syncws::core;

namespace {

deflate_options options_from(fuzz::input& in) {
    const std::uint8_t a = in.byte();
    const std::uint8_t b = in.byte();
    deflate_options options;
    options.window_bits = std::min(15, 9 + (a & 7));
    options.peer_window_bits = 8 + ((a >> 3) & 7);
    options.no_context_takeover = a & 0x40;
    options.peer_no_context_takeover = a & 0x80;
    options.memory_level = 1 + (b & 7);
    options.compression_level = (b >> 3) % 11 - 1;  // -1 .. 9
    options.enabled = !(b & 0x80);
    return options;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (;;) {
        const std::size_t at = text.find(separator);
        parts.push_back(text.substr(0, at));
        if (at == std::string_view::npos) return parts;
        text.remove_prefix(at + 1);
    }
}

void check_range(const deflate_parameters& p) {
    fuzz::check(p.our_window_bits >= 8 && p.our_window_bits <= 15 && p.peer_window_bits >= 8 &&
                    p.peer_window_bits <= 15,
                "window bits outside 8-15");
}

void check_server_answer(const std::vector<std::string>& offers, const deflate_options& server) {
    const auto agreement = negotiate_deflate(offers, server);
    if (!agreement) return;
    fuzz::check(server.enabled, "agreed although disabled");
    const deflate_parameters& p = agreement->parameters;
    check_range(p);
    fuzz::check(p.our_window_bits <= server.window_bits, "server window over its option");
    fuzz::check(!server.no_context_takeover || p.our_no_context_takeover,
                "server_no_context_takeover option ignored");
    fuzz::check(!server.peer_no_context_takeover || p.peer_no_context_takeover,
                "client_no_context_takeover option ignored");
    bool named = false;
    for (const auto& offer : offers) {
        try {
            named = named || parse_extension_element(offer).name == deflate_extension_name;
        } catch (const syncws::invalid_handshake&) {
        }
    }
    fuzz::check(named, "agreed without a permessage-deflate offer");
    // A client that asked for nothing special reads the mirror image of the agreement.
    deflate_parameters client_view;
    try {
        client_view = accept_deflate_response(agreement->response, deflate_options{});
    } catch (const std::exception& e) {
        fuzz::check(false, "a client refuses the server's response", e.what());
    }
    // Without client_max_window_bits in the offer the client keeps 15 bits; the server then
    // expects nothing smaller.
    fuzz::check(client_view.our_window_bits <= p.peer_window_bits,
                "the client may compress with a larger window than the server inflates");
    fuzz::check(client_view.peer_window_bits == p.our_window_bits &&
                    client_view.our_no_context_takeover == p.peer_no_context_takeover &&
                    client_view.peer_no_context_takeover == p.our_no_context_takeover,
                "the client reads other parameters than the server agreed to",
                agreement->response);
}

void check_client_reading(std::string_view response, const deflate_options& client) {
    deflate_parameters p;
    try {
        p = accept_deflate_response(response, client);
    } catch (const syncws::invalid_handshake& e) {
        fuzz::check(e.status() == 0, "client-side error with a status");
        return;
    }
    check_range(p);
    fuzz::check(p.our_window_bits <= client.window_bits, "client window over its option");
    fuzz::check(p.peer_window_bits <= client.peer_window_bits, "server window over our limit");
    fuzz::check(!client.peer_no_context_takeover || p.peer_no_context_takeover,
                "accepted a response without the server_no_context_takeover asked for");
    fuzz::check(!client.no_context_takeover || p.our_no_context_takeover,
                "client_no_context_takeover option ignored");
}

// Messages go through compress() on one side and decompress() on the other, in order.
void round_trip(deflate_codec& sender, deflate_codec& receiver,
                const std::vector<std::string_view>& messages) {
    for (const std::string_view message : messages) {
        // Sent in two frames when it is long enough, as a fragmented message is.
        std::string compressed;
        const std::size_t half = message.size() / 2;
        sender.compress(message.substr(0, half), false, compressed);
        const std::size_t first_frame = compressed.size();
        sender.compress(message.substr(half), true, compressed);
        std::string inflated;
        const auto status1 = receiver.decompress(
            std::string_view(compressed).substr(0, first_frame), false, inflated, unlimited);
        const auto status2 = receiver.decompress(std::string_view(compressed).substr(first_frame),
                                                 true, inflated, unlimited);
        fuzz::check(status1 == inflate_status::ok && status2 == inflate_status::ok,
                    "our own compressed message does not inflate", receiver.error());
        fuzz::check(inflated == message, "a message does not inflate to itself");
    }
}

void check_own_offer(const deflate_options& client, deflate_options server,
                     const std::vector<std::string_view>& messages) {
    server.enabled = true;
    const std::string offer = make_deflate_offer(client);
    const auto agreement = negotiate_deflate({offer}, server);
    fuzz::check(agreement.has_value(), "a server declines our own offer", offer);
    deflate_parameters client_parameters;
    try {
        client_parameters = accept_deflate_response(agreement->response, client);
    } catch (const std::exception& e) {
        fuzz::check(false, "a client refuses the answer to its own offer",
                    offer + " -> " + agreement->response + ": " + e.what());
    }
    const deflate_parameters& server_parameters = agreement->parameters;
    fuzz::check(client_parameters.our_window_bits <= server_parameters.peer_window_bits &&
                    client_parameters.peer_window_bits == server_parameters.our_window_bits &&
                    client_parameters.our_no_context_takeover ==
                        server_parameters.peer_no_context_takeover &&
                    client_parameters.peer_no_context_takeover ==
                        server_parameters.our_no_context_takeover,
                "the two sides disagree", offer + " -> " + agreement->response);
    deflate_codec client_codec(client_parameters, client);
    deflate_codec server_codec(server_parameters, server);
    round_trip(client_codec, server_codec, messages);
    round_trip(server_codec, client_codec, messages);
}

void run(fuzz::input& in) {
    const deflate_options server = options_from(in);
    const deflate_options client = options_from(in);
    const std::string_view text = in.rest();
    const std::size_t divider = text.find("\n--\n");
    const auto lines = split(text.substr(0, divider), '\n');
    std::vector<std::string_view> messages;
    if (divider != std::string_view::npos) messages = split(text.substr(divider + 4), '\n');

    for (const auto line : lines) {
        try {
            (void)parse_extension_element(line);
        } catch (const syncws::invalid_handshake& e) {
            fuzz::check(e.status() == 400, "malformed element not a 400");
        }
    }
    check_client_reading(lines.front(), client);
    check_server_answer(std::vector<std::string>(lines.begin() + 1, lines.end()), server);
    if (client.enabled) check_own_offer(client, server, messages);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::run_input(data, size, "permessage-deflate negotiation", run);
}

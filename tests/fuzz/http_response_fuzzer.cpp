// Target: the HTTP response parser (head, Content-Length, chunked and read-until-close
// bodies) and the client's checks of the server's answer, through check_server_response()
// and through a client_protocol that receives the same bytes. The outcome must not depend
// on how the input is cut; limits hold; a parsed response without Transfer-Encoding is
// written back and parses to itself.
//
// Input layout (see make_corpus.py):
//   byte 0  0x01 small limits from bytes 1-3, 0x02 the stream ends after the input
//           (feed_eof), 0x04 the client offers permessage-deflate, 0x08 and subprotocols
//   byte 1  max_head_bytes = 64 + 16 * b, and max_line_bytes = 16 + 8 * b
//   byte 2  max_headers = b / 8
//   byte 3  max_body_bytes = 16 * b
//   bytes 4-7  chunk size table (fuzz_support.hpp)
//   rest    the bytes a server sends
#include <exception>
#include <string>
#include <variant>

#include "fuzz_support.hpp"
#include "syncws/core/client_protocol.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/handshake.hpp"
#include "syncws/core/http.hpp"
#include "syncws/core/uri.hpp"

using namespace syncws::core;

namespace {

// The RFC 6455 §1.3 example: the corpus holds its Sec-WebSocket-Accept.
constexpr std::string_view client_key = "dGhlIHNhbXBsZSBub25jZQ==";

struct outcome {
    parse_status status = parse_status::need_more;
    std::size_t consumed = 0;
    http_response response;
    std::string error;
};

outcome parse(std::string_view data, const http_limits& limits, bool eof, fuzz::chunker* chunks) {
    http_response_parser parser(limits);
    outcome o;
    bool finished = false;
    const auto feed = [&](std::string_view piece) {
        std::size_t used = 0;
        const parse_status status = parser.feed(piece, &used);
        fuzz::check(used <= piece.size(), "consumed more than given");
        if (finished) {
            fuzz::check(used == 0 && status == o.status, "parser moved after it finished");
            return;
        }
        o.status = status;
        o.consumed += used;
        if (status == parse_status::need_more)
            fuzz::check(used == piece.size(), "need_more without consuming everything");
        else
            finished = true;
    };
    if (chunks)
        chunks->each(data, feed);
    else
        feed(data);
    if (eof) {
        const parse_status status = parser.feed_eof();
        if (finished)
            fuzz::check(status == o.status, "end of stream changed a finished response");
        o.status = status;
        fuzz::check(status != parse_status::need_more, "end of stream left the response open");
    }
    o.response = parser.response();
    o.error = parser.error();
    return o;
}

bool same_fields(const http_headers& a, const http_headers& b) {
    if (a.size() != b.size()) return false;
    auto i = a.begin();
    for (auto j = b.begin(); j != b.end(); ++i, ++j)
        if (*i != *j) return false;
    return true;
}

bool same_response(const http_response& a, const http_response& b) {
    return a.status == b.status && a.reason == b.reason && a.version == b.version &&
           a.body == b.body && same_fields(a.headers, b.headers);
}

void check_parsed(std::string_view data, const outcome& o, const http_limits& limits) {
    const http_response& r = o.response;
    fuzz::check(r.status >= 100 && r.status <= 599, "status outside 100-599");
    fuzz::check(r.version == "HTTP/1.1" || r.version == "HTTP/1.0", "version not 1.0 or 1.1");
    fuzz::check(r.headers.size() <= limits.max_headers, "more fields than max_headers");
    fuzz::check(r.body.size() <= limits.max_body_bytes, "body over max_body_bytes");
    fuzz::check(o.consumed <= data.size(), "consumed more than given");
    if (r.status < 200 || r.status == 204 || r.status == 304) {
        fuzz::check(r.body.empty(), "a body on a response that cannot have one");
        // The head ends the response: what follows (frames after a 101) is the caller's.
        fuzz::check(o.consumed >= 4 && data.substr(o.consumed - 4, 4) == "\r\n\r\n",
                    "a bodiless response does not end at its empty line");
        fuzz::check(o.consumed <= limits.max_head_bytes, "head over max_head_bytes");
    }
    if (r.headers.contains("Transfer-Encoding")) return;  // the body is written as it is

    // Written back: a Content-Length is added to a body that ran to the end of the stream,
    // and an empty reason becomes the standard phrase.
    std::string text;
    try {
        text = r.serialize();
    } catch (const std::exception& e) {
        fuzz::check(false, "a parsed response cannot be serialized", e.what());
    }
    const http_limits roomy{1 << 30, 1 << 20, 1 << 30, 1 << 30};
    const outcome again = parse(text, roomy, true, nullptr);
    http_response expected = r;
    if (expected.reason.empty()) expected.reason = std::string(reason_phrase(r.status));
    if (!r.body.empty() && !r.headers.contains("Content-Length"))
        expected.headers.add("Content-Length", std::to_string(r.body.size()));
    fuzz::check(again.status == parse_status::done && same_response(again.response, expected),
                "a serialized response does not parse back to itself");
}

client_handshake_config client_config(std::uint8_t flags) {
    client_handshake_config config;
    if (flags & 0x04) config.deflate = deflate_options{};
    if (flags & 0x08) config.subprotocols = {"chat", "superchat"};
    return config;
}

// The client's view: check_server_response() throws only invalid_handshake (invalid_status
// for a status other than 101), and a client_protocol opens exactly when it accepts.
void check_client(std::string_view data, const outcome& whole, std::uint8_t flags,
                  const http_limits& limits, fuzz::chunker& chunks) {
    client_handshake_config config = client_config(flags);
    if (config.deflate) config.extension_offers.push_back(make_deflate_offer(*config.deflate));
    bool accepted = false;
    if (whole.status == parse_status::done) {
        try {
            const client_handshake_result result =
                check_server_response(whole.response, client_key, config);
            fuzz::check(whole.response.status == 101, "accepted a status other than 101");
            if (result.subprotocol)
                fuzz::check(*result.subprotocol == "chat" || *result.subprotocol == "superchat",
                            "accepted a subprotocol that was not offered");
            accepted = true;
        } catch (const syncws::invalid_status& e) {
            fuzz::check(whole.response.status != 101, "invalid_status for a 101");
        } catch (const syncws::invalid_handshake& e) {
            fuzz::check(e.status() == 0, "client-side handshake error with a status");
        }
    }

    protocol_config protocol_settings;
    protocol_settings.http = limits;
    client_protocol client(parse_uri("ws://server.example.com/chat"), client_config(flags),
                           protocol_settings, std::string(client_key));
    client.send_request(client.connect());
    chunks.each(data, [&](std::string_view piece) { client.receive_data(piece); });
    if (flags & 0x02) client.receive_eof();
    bool reported = false;
    while (auto event = client.next_event())
        if (std::holds_alternative<http_response>(*event)) reported = true;
    fuzz::check(reported == (whole.status == parse_status::done),
                "the client reports a response exactly when the parser completes one");
    if (reported && !client.handshake_error()) {
        // Opened: check_server_response agreed (the permessage-deflate answer is checked
        // after it, so a refusal does not mean that check_server_response refused).
        fuzz::check(accepted, "the client opened on a response that check_server_response refuses");
    } else if (whole.status == parse_status::failed ||
               (whole.status == parse_status::done && !accepted)) {
        fuzz::check(client.handshake_error() != nullptr, "refused without a handshake error");
    } else if (whole.status == parse_status::need_more) {
        fuzz::check(!client.handshake_error() && client.current_state() == state::connecting,
                    "gave up on an incomplete response before the end of the stream");
    }
    if (client.handshake_error()) {
        try {
            std::rethrow_exception(client.handshake_error());
        } catch (const syncws::invalid_handshake&) {
        } catch (const std::exception& e) {
            fuzz::check(false, "handshake_error() is not an invalid_handshake", e.what());
        }
    }
}

void run(fuzz::input& in) {
    const std::uint8_t flags = in.byte();
    const std::uint8_t head = in.byte(), headers = in.byte(), body = in.byte();
    http_limits limits;
    if (flags & 0x01) {
        limits.max_head_bytes = 64 + std::size_t{head} * 16;
        limits.max_line_bytes = 16 + std::size_t{head} * 8;
        limits.max_headers = headers / 8;
        limits.max_body_bytes = std::size_t{body} * 16;
    }
    fuzz::chunker chunks(in);
    fuzz::chunker client_chunks = chunks;
    const std::string_view data = in.rest();
    const bool eof = flags & 0x02;

    const outcome whole = parse(data, limits, eof, nullptr);
    const outcome pieces = parse(data, limits, eof, &chunks);
    fuzz::check(whole.status == pieces.status && whole.consumed == pieces.consumed &&
                    whole.error == pieces.error,
                "the outcome depends on how the input was cut",
                whole.error + " | " + pieces.error);
    if (whole.status == parse_status::done) {
        fuzz::check(same_response(whole.response, pieces.response),
                    "the response depends on how the input was cut");
        check_parsed(data, whole, limits);
    } else if (whole.status == parse_status::failed) {
        fuzz::check(!whole.error.empty(), "refused without saying why");
    }
    check_client(data, whole, flags, limits, client_chunks);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::run_input(data, size, "the response parser", run);
}

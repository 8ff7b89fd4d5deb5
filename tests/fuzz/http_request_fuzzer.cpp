// Target: the HTTP request head parser and the server's checks of an opening request.
// The same bytes are parsed in one piece and cut into chunks: the outcome must not depend
// on the cuts (a documented property of the parser). A parsed request must respect the
// limits, serialize without error and parse back to itself; a refused one must carry a
// status a server may answer with, and that answer must be writable.
//
// Input layout (see make_corpus.py):
//   byte 0  0x01: small limits from bytes 1-3, else the defaults
//   byte 1  max_head_bytes = 64 + 16 * b
//   byte 2  max_headers = b / 8
//   byte 3  max_line_bytes = 16 + 8 * b
//   bytes 4-7  chunk size table (fuzz_support.hpp)
//   rest    the bytes a client sends
#include <exception>
#include <string>

#include "fuzz_support.hpp"
#include "syncws/core/deflate.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/handshake.hpp"
#include "syncws/core/http.hpp"

using namespace syncws::core;

namespace {

struct outcome {
    parse_status status = parse_status::need_more;
    std::size_t consumed = 0;  // bytes of the input used, over every feed
    http_request request;
    std::string error;
    int error_status = 0;
};

outcome parse_whole(std::string_view data, const http_limits& limits) {
    http_request_parser parser(limits);
    outcome o;
    o.status = parser.feed(data, &o.consumed);
    fuzz::check(o.consumed <= data.size(), "consumed more than given");
    if (o.status == parse_status::need_more)
        fuzz::check(o.consumed == data.size(), "need_more without consuming everything");
    o.request = parser.request();
    o.error = parser.error();
    o.error_status = parser.error_status();
    return o;
}

outcome parse_in_chunks(std::string_view data, const http_limits& limits, fuzz::chunker& chunks) {
    http_request_parser parser(limits);
    outcome o;
    bool finished = false;
    chunks.each(data, [&](std::string_view piece) {
        std::size_t used = 0;
        const parse_status status = parser.feed(piece, &used);
        fuzz::check(used <= piece.size(), "consumed more than given");
        if (finished) {
            // Once done or failed, nothing more is consumed and the status stays.
            fuzz::check(used == 0 && status == o.status, "parser moved after it finished");
            return;
        }
        o.status = status;
        o.consumed += used;
        if (status == parse_status::need_more)
            fuzz::check(used == piece.size(), "need_more without consuming everything");
        else
            finished = true;
    });
    o.request = parser.request();
    o.error = parser.error();
    o.error_status = parser.error_status();
    return o;
}

bool same_request(const http_request& a, const http_request& b) {
    if (a.method != b.method || a.target != b.target || a.version != b.version ||
        a.headers.size() != b.headers.size())
        return false;
    auto i = a.headers.begin();
    for (auto j = b.headers.begin(); j != b.headers.end(); ++i, ++j)
        if (*i != *j) return false;
    return true;
}

// list() and has_token() read comma-separated elements with one shared rule.
void check_lists(const http_headers& headers, std::string_view name) {
    const auto elements = headers.list(name);
    for (const auto element : elements) {
        fuzz::check(!element.empty(), "list() gave an empty element");
        fuzz::check(headers.has_token(name, element), "has_token() misses a list() element");
    }
    fuzz::check(headers.has_token(name, "upgrade") ==
                    std::any_of(elements.begin(), elements.end(),
                                [](std::string_view e) { return iequals(e, "upgrade"); }),
                "has_token() and list() disagree");
}

void check_parsed(std::string_view data, const outcome& o, const http_limits& limits) {
    fuzz::check(o.consumed >= 4 && data.substr(o.consumed - 4, 4) == "\r\n\r\n",
                "the head does not end at an empty line");
    fuzz::check(o.consumed <= limits.max_head_bytes, "head over max_head_bytes");
    const http_request& r = o.request;
    fuzz::check(r.headers.size() <= limits.max_headers, "more fields than max_headers");
    fuzz::check(r.method.size() + r.target.size() + r.version.size() + 2 <= limits.max_line_bytes,
                "request line over max_line_bytes");
    fuzz::check(r.version == "HTTP/1.1" || r.version == "HTTP/1.0", "version not 1.0 or 1.1");
    for (const auto& [name, value] : r.headers) {
        fuzz::check(name.size() + 1 + value.size() <= limits.max_line_bytes,
                    "field line over max_line_bytes");
        fuzz::check(value.empty() || (value.front() != ' ' && value.front() != '\t' &&
                                      value.back() != ' ' && value.back() != '\t'),
                    "field value not trimmed");
    }
    check_lists(r.headers, "Connection");
    if (!r.headers.empty()) check_lists(r.headers, r.headers.begin()->first);

    // What was accepted can be written, and reads back the same.
    std::string text;
    try {
        text = r.serialize();
    } catch (const std::exception& e) {
        fuzz::check(false, "a parsed request cannot be serialized", e.what());
    }
    const http_limits roomy{1 << 30, 1 << 20, 1 << 30, 0};
    const outcome again = parse_whole(text, roomy);
    fuzz::check(again.status == parse_status::done && again.consumed == text.size() &&
                    same_request(again.request, r),
                "a serialized request does not parse back to itself");

    // The server's checks: only invalid_handshake, with a status from the documented set.
    server_handshake_config config;
    config.deflate = deflate_options::for_server();
    try {
        const server_handshake_request offer = check_client_request(r, config);
        fuzz::check(offer.key.size() == 24, "accepted a key that is not 16 bytes in base64");
        std::vector<std::string> extensions;
        if (auto agreement = negotiate_deflate(offer.extension_offers, *config.deflate))
            extensions.push_back(agreement->response);
        const http_response response =
            build_accept_response(offer.key, select_subprotocol(offer.subprotocols, {"chat"}),
                                  extensions);
        fuzz::check(response.status == 101, "accept response is not 101");
        (void)response.serialize();
    } catch (const syncws::invalid_handshake& e) {
        const int s = e.status();
        fuzz::check(s == 400 || s == 403 || s == 405 || s == 426 || s == 505,
                    "handshake refused with an undocumented status", std::to_string(s));
        (void)build_error_response(e).serialize();
    }
}

void run(fuzz::input& in) {
    const std::uint8_t flags = in.byte();
    http_limits limits;
    const std::uint8_t head = in.byte(), headers = in.byte(), line = in.byte();
    if (flags & 0x01) {
        limits.max_head_bytes = 64 + std::size_t{head} * 16;
        limits.max_headers = headers / 8;
        limits.max_line_bytes = 16 + std::size_t{line} * 8;
    }
    fuzz::chunker chunks(in);
    const std::string_view data = in.rest();

    const outcome whole = parse_whole(data, limits);
    const outcome pieces = parse_in_chunks(data, limits, chunks);
    fuzz::check(whole.status == pieces.status && whole.consumed == pieces.consumed &&
                    whole.error == pieces.error && whole.error_status == pieces.error_status,
                "the outcome depends on how the input was cut",
                whole.error + " | " + pieces.error);
    if (whole.status == parse_status::done) {
        fuzz::check(same_request(whole.request, pieces.request),
                    "the request depends on how the input was cut");
        check_parsed(data, whole, limits);
    } else if (whole.status == parse_status::failed) {
        const int s = whole.error_status;
        fuzz::check(s == 400 || s == 414 || s == 431 || s == 505,
                    "refused with an undocumented status", std::to_string(s));
        fuzz::check(!whole.error.empty(), "refused without saying why");
        // What the server writes back (server_protocol does exactly this).
        (void)build_error_response(syncws::invalid_handshake(whole.error, s)).serialize();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::run_input(data, size, "the request parser", run);
}

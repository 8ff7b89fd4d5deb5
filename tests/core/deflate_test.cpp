#define ZLIB_CONST  // zlib takes const input pointers, as in lib/core/deflate.cpp
#include "syncws/core/deflate.hpp"

#include <doctest.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "syncws/core/error.hpp"
#include "test_support.hpp"

using namespace syncws::core;
using test::bytes;

// Checks that an error message contains part, showing the whole message when it does not.
#define CHECK_SAYS(text, part)                                                    \
    do {                                                                          \
        const std::string said_ = (text);                                         \
        CHECK_MESSAGE(said_.find(part) != std::string::npos, "message: ", said_); \
    } while (false)

namespace {

// ------------------------------------------------------------------ negotiation helpers

deflate_parameters parameters(int ours, int peers, bool our_reset = false,
                              bool peer_reset = false) {
    deflate_parameters p;
    p.our_window_bits = ours;
    p.peer_window_bits = peers;
    p.our_no_context_takeover = our_reset;
    p.peer_no_context_takeover = peer_reset;
    return p;
}

std::string show(const deflate_parameters& p) {
    return "ours " + std::to_string(p.our_window_bits) +
           (p.our_no_context_takeover ? " reset" : "") + ", peer's " +
           std::to_string(p.peer_window_bits) + (p.peer_no_context_takeover ? " reset" : "");
}

// The server's answer to offers, which must exist.
deflate_agreement agree(const std::vector<std::string>& offers,
                        const deflate_options& options = {}) {
    const auto agreement = negotiate_deflate(offers, options);
    REQUIRE_MESSAGE(agreement.has_value(), "no offer accepted");
    return *agreement;
}

// The message of the invalid_handshake that accept_deflate_response throws, which must be a
// client-side one (status 0).
std::string response_error(std::string_view response, const deflate_options& options = {}) {
    try {
        const auto p = accept_deflate_response(response, options);
        FAIL("accepted, with ", show(p));
    } catch (const syncws::invalid_handshake& e) {
        CHECK(e.status() == 0);
        return e.what();
    }
    return {};
}

// The message of the invalid_argument that validate() throws.
std::string options_error(const deflate_options& options) {
    try {
        options.validate();
        FAIL("validate() accepted the options");
    } catch (const syncws::invalid_argument& e) {
        return e.what();
    }
    return {};
}

// ------------------------------------------------------------------ compression helpers

constexpr std::string_view tail("\x00\x00\xff\xff", 4);
constexpr std::size_t no_limit = std::size_t(1) << 40;

// Inflates raw deflate data with zlib itself, as a peer would, with a window of window_bits.
class zlib_inflater {
public:
    explicit zlib_inflater(int window_bits) {
        REQUIRE(inflateInit2(&s_, -window_bits) == Z_OK);
    }
    ~zlib_inflater() { inflateEnd(&s_); }
    zlib_inflater(const zlib_inflater&) = delete;
    zlib_inflater& operator=(const zlib_inflater&) = delete;

    // A whole message as sent on the wire: the tail is put back (RFC 7692 §7.2.2).
    std::string message(std::string_view payload) {
        return inflate(std::string(payload) + std::string(tail));
    }

    std::string inflate(std::string_view data) {
        s_.next_in = reinterpret_cast<const Bytef*>(data.data());
        s_.avail_in = static_cast<uInt>(data.size());
        std::string out;
        char buffer[4096];
        do {
            s_.next_out = reinterpret_cast<Bytef*>(buffer);
            s_.avail_out = sizeof buffer;
            const int rc = ::inflate(&s_, Z_SYNC_FLUSH);
            CHECK_MESSAGE((rc == Z_OK || rc == Z_BUF_ERROR), "zlib inflate: ", rc, " ",
                          s_.msg ? s_.msg : "");
            if (rc != Z_OK && rc != Z_BUF_ERROR) break;
            out.append(buffer, sizeof buffer - s_.avail_out);
        } while (s_.avail_out == 0 || s_.avail_in != 0);
        return out;
    }

    void reset() { inflateReset(&s_); }

private:
    z_stream s_{};
};

// Deflates with zlib itself, as a peer would: each message sync-flushed, tail removed.
class zlib_deflater {
public:
    explicit zlib_deflater(int window_bits, int level = Z_DEFAULT_COMPRESSION) {
        REQUIRE(deflateInit2(&s_, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    }
    ~zlib_deflater() { deflateEnd(&s_); }
    zlib_deflater(const zlib_deflater&) = delete;
    zlib_deflater& operator=(const zlib_deflater&) = delete;

    std::string message(std::string_view data) {
        std::string out = flushed(data, Z_SYNC_FLUSH);
        REQUIRE(out.size() >= 4);
        REQUIRE(out.substr(out.size() - 4) == tail);
        out.resize(out.size() - 4);
        return out;
    }

    // The data, then a flush, as Python's zlib does it: compress() then flush(). (A second
    // deflate() with Z_SYNC_FLUSH and no input in between would write nothing.)
    std::string flushed(std::string_view data, int flush) {
        s_.next_in = reinterpret_cast<const Bytef*>(data.data());
        s_.avail_in = static_cast<uInt>(data.size());
        std::string out;
        run(Z_NO_FLUSH, out);
        run(flush, out);
        return out;
    }

    void run(int flush, std::string& out) {
        char buffer[4096];
        do {
            s_.next_out = reinterpret_cast<Bytef*>(buffer);
            s_.avail_out = sizeof buffer;
            const int rc = deflate(&s_, flush);
            REQUIRE((rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR));
            out.append(buffer, sizeof buffer - s_.avail_out);
        } while (s_.avail_out == 0 || s_.avail_in != 0);
    }

    void set_dictionary(std::string_view dictionary) {
        REQUIRE(deflateSetDictionary(&s_, reinterpret_cast<const Bytef*>(dictionary.data()),
                                     static_cast<uInt>(dictionary.size())) == Z_OK);
    }

private:
    z_stream s_{};
};

std::string compress(deflate_codec& codec, std::string_view data) {
    std::string out;
    codec.compress(data, true, out);
    return out;
}

// A whole message through decompress, which must succeed.
std::string decompress(deflate_codec& codec, std::string_view payload,
                       std::size_t max_size = no_limit) {
    std::string out;
    const inflate_status status = codec.decompress(payload, true, out, max_size);
    CHECK_MESSAGE(status == inflate_status::ok, "error: ", codec.error());
    return out;
}

inflate_status decompress_status(deflate_codec& codec, std::string_view payload,
                                 std::size_t max_size = no_limit) {
    std::string out;
    return codec.decompress(payload, true, out, max_size);
}

// Messages of every kind: empty, tiny, text, repetitive, random (incompressible), larger
// than the biggest window and than one output step.
std::vector<std::string> sample_messages() {
    std::mt19937 random(7);
    std::string noise(70000, '\0');
    for (char& c : noise) c = static_cast<char>(random());
    std::string text;
    while (text.size() < 100000)
        text += "The quick brown fox jumps over the lazy dog " + std::to_string(text.size()) + ". ";
    return {"",
            "a",
            "Hello",
            std::string(1000, 'x'),
            text.substr(0, 300),
            noise.substr(0, 1000),
            text,
            noise,
            "Hello",
            text.substr(5000, 40000),
            "",
            std::string(200000, '\0')};
}

// A codec pair: `sender` compresses what `receiver` inflates, with the same parameters seen
// from each side.
struct codec_pair {
    codec_pair(int window_bits, bool no_context_takeover, const deflate_options& options = {})
        : sender(parameters(window_bits, 15, no_context_takeover, false), options),
          receiver(parameters(15, window_bits, false, no_context_takeover), options) {}
    deflate_codec sender;
    deflate_codec receiver;
};

// Raw deflate bits, least significant first (RFC 1951 §3.1.1), to write streams by hand.
class bit_writer {
public:
    void bits(unsigned value, int count) {
        for (int i = 0; i < count; ++i) put((value >> i) & 1);
    }
    // Huffman codes are packed starting with their most significant bit.
    void code(unsigned value, int count) {
        for (int i = count - 1; i >= 0; --i) put((value >> i) & 1);
    }
    // A fixed-Huffman literal below 144 (RFC 1951 §3.2.6: 8 bits, 0x30 + value).
    void literal(unsigned char byte) { code(0x30 + byte, 8); }
    // A match of length 3 (code 257, 7 bits) at a distance of 193..384.
    void match3(unsigned distance) {
        code(1, 7);
        if (distance <= 256) {
            code(15, 5);  // distances 193..256, 6 extra bits
            bits(distance - 193, 6);
        } else {
            code(16, 5);  // distances 257..384, 7 extra bits
            bits(distance - 257, 7);
        }
    }
    void end_of_block() { code(0, 7); }
    // The start of the empty stored block that a flush writes: its header and the padding to
    // a byte boundary. The receiver puts back the rest (LEN, NLEN: 00 00 ff ff).
    std::string flushed() {
        bits(0, 3);
        while (bit_ != 0) put(0);
        return out_;
    }

private:
    void put(unsigned bit) {
        if (bit_ == 0) out_.push_back('\0');
        out_.back() = static_cast<char>(out_.back() | (bit << bit_));
        bit_ = (bit_ + 1) % 8;
    }
    std::string out_;
    int bit_ = 0;
};

}  // namespace

// =================================================================== options

TEST_SUITE("deflate options") {

TEST_CASE("the defaults are a client's: full windows, context takeover, level 6") {
    const deflate_options options;
    CHECK(options.enabled);
    CHECK(options.window_bits == 15);
    CHECK(options.peer_window_bits == 15);
    CHECK(options.memory_level == 8);
    CHECK(options.compression_level == 6);
    CHECK_FALSE(options.no_context_takeover);
    CHECK_FALSE(options.peer_no_context_takeover);
    CHECK_NOTHROW(options.validate());
}

TEST_CASE("a server's defaults are a 12-bit window both ways and memLevel 5") {
    const deflate_options options = deflate_options::for_server();
    CHECK(options.window_bits == 12);
    CHECK(options.peer_window_bits == 12);
    CHECK(options.memory_level == 5);
    CHECK(options.enabled);
    CHECK_NOTHROW(options.validate());
}

TEST_CASE("validate accepts every value at the ends of each range") {
    for (int bits : {9, 15}) {
        deflate_options options;
        options.window_bits = bits;
        CHECK_NOTHROW(options.validate());
    }
    for (int bits : {8, 15}) {
        deflate_options options;
        options.peer_window_bits = bits;
        CHECK_NOTHROW(options.validate());
    }
    for (int level : {1, 9}) {
        deflate_options options;
        options.memory_level = level;
        CHECK_NOTHROW(options.validate());
    }
    for (int level : {-1, 0, 9}) {
        deflate_options options;
        options.compression_level = level;
        CHECK_NOTHROW(options.validate());
    }
}

TEST_CASE("validate names the field that is out of range") {
    deflate_options options;
    options.window_bits = 8;  // zlib cannot compress with an 8-bit window
    CHECK_SAYS(options_error(options), "window_bits");
    CHECK_SAYS(options_error(options), "9 to 15");
    options.window_bits = 16;
    CHECK_SAYS(options_error(options), "window_bits is 16");

    options = {};
    options.peer_window_bits = 7;
    CHECK_SAYS(options_error(options), "peer_window_bits is 7");
    options.peer_window_bits = 16;
    CHECK_SAYS(options_error(options), "peer_window_bits");

    options = {};
    options.memory_level = 0;
    CHECK_SAYS(options_error(options), "memory_level is 0");
    options.memory_level = 10;
    CHECK_SAYS(options_error(options), "memory_level");

    options = {};
    options.compression_level = -2;
    CHECK_SAYS(options_error(options), "compression_level is -2");
    options.compression_level = 10;
    CHECK_SAYS(options_error(options), "compression_level");
}

TEST_CASE("negotiation and codecs refuse invalid options") {
    deflate_options options;
    options.memory_level = 0;
    CHECK_THROWS_AS(make_deflate_offer(options), syncws::invalid_argument);
    CHECK_THROWS_AS(negotiate_deflate({"permessage-deflate"}, options), syncws::invalid_argument);
    CHECK_THROWS_AS(accept_deflate_response("permessage-deflate", options),
                    syncws::invalid_argument);
    CHECK_THROWS_AS(deflate_codec(parameters(15, 15), options), syncws::invalid_argument);
}

TEST_CASE("a codec refuses parameters outside 8 to 15 bits") {
    CHECK_THROWS_AS(deflate_codec(parameters(7, 15), {}), syncws::invalid_argument);
    CHECK_THROWS_AS(deflate_codec(parameters(15, 16), {}), syncws::invalid_argument);
    CHECK_NOTHROW(deflate_codec(parameters(8, 8), {}));
}

}  // TEST_SUITE

// =================================================================== the client's offer

TEST_SUITE("RFC 7692 §7.1 the client's offer") {

TEST_CASE("the default offer lets the server limit our window") {
    CHECK(make_deflate_offer({}) == "permessage-deflate; client_max_window_bits");
}

TEST_CASE("an offer names each parameter asked for, in a fixed order") {
    deflate_options options;
    options.no_context_takeover = true;
    options.peer_no_context_takeover = true;
    options.peer_window_bits = 10;
    options.window_bits = 12;
    CHECK(make_deflate_offer(options) ==
          "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
          "server_max_window_bits=10; client_max_window_bits=12");
}

TEST_CASE("an offer limits the server's window only below 15 bits") {
    deflate_options options;
    options.peer_window_bits = 8;
    CHECK(make_deflate_offer(options) ==
          "permessage-deflate; server_max_window_bits=8; client_max_window_bits");
}

TEST_CASE("a server's options as a client's offer") {
    CHECK(make_deflate_offer(deflate_options::for_server()) ==
          "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
}

}  // TEST_SUITE

// =================================================================== the server's answer

TEST_SUITE("RFC 7692 §7.1 the server's answer") {

TEST_CASE("a plain offer is accepted as it is when the server has no limits of its own") {
    const auto agreement = agree({"permessage-deflate"});
    CHECK(agreement.response == "permessage-deflate");
    CHECK(agreement.parameters == parameters(15, 15));
}

TEST_CASE("the default client offer is accepted as it is by a server without limits") {
    const auto agreement = agree({"permessage-deflate; client_max_window_bits"});
    CHECK(agreement.response == "permessage-deflate");
    CHECK(agreement.parameters == parameters(15, 15));
}

TEST_CASE("a server with a smaller window says so, and limits a client that lets it") {
    const auto agreement =
        agree({"permessage-deflate; client_max_window_bits"}, deflate_options::for_server());
    CHECK(agreement.response ==
          "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    CHECK(agreement.parameters == parameters(12, 12));
}

TEST_CASE("a server cannot limit a client that did not offer client_max_window_bits") {
    const auto agreement = agree({"permessage-deflate"}, deflate_options::for_server());
    CHECK(agreement.response == "permessage-deflate; server_max_window_bits=12");
    CHECK(agreement.parameters == parameters(12, 15));
}

TEST_CASE("server_max_window_bits in the offer limits the server's window and is answered") {
    const auto agreement = agree({"permessage-deflate; server_max_window_bits=10"});
    CHECK(agreement.response == "permessage-deflate; server_max_window_bits=10");
    CHECK(agreement.parameters == parameters(10, 15));
}

TEST_CASE("server_max_window_bits=15 is answered even though it limits nothing") {
    const auto agreement = agree({"permessage-deflate; server_max_window_bits=15"});
    CHECK(agreement.response == "permessage-deflate; server_max_window_bits=15");
    CHECK(agreement.parameters == parameters(15, 15));
}

TEST_CASE("a server answers a smaller server_max_window_bits than offered when its own is") {
    const auto agreement =
        agree({"permessage-deflate; server_max_window_bits=14"}, deflate_options::for_server());
    CHECK(agreement.response == "permessage-deflate; server_max_window_bits=12");
    CHECK(agreement.parameters == parameters(12, 15));
}

TEST_CASE("server_max_window_bits=8 is accepted: the server compresses for an 8-bit window") {
    const auto agreement = agree({"permessage-deflate; server_max_window_bits=8"});
    CHECK(agreement.response == "permessage-deflate; server_max_window_bits=8");
    CHECK(agreement.parameters == parameters(8, 15));
}

TEST_CASE("a client's own limit in client_max_window_bits is answered and kept") {
    const auto agreement = agree({"permessage-deflate; client_max_window_bits=10"});
    CHECK(agreement.response == "permessage-deflate; client_max_window_bits=10");
    CHECK(agreement.parameters == parameters(15, 10));
}

TEST_CASE("client_max_window_bits=15 is answered with its value") {
    const auto agreement = agree({"permessage-deflate; client_max_window_bits=15"});
    CHECK(agreement.response == "permessage-deflate; client_max_window_bits=15");
    CHECK(agreement.parameters == parameters(15, 15));
}

TEST_CASE("the smaller of the client's and the server's limits on the client's window wins") {
    const auto options = deflate_options::for_server();
    auto agreement = agree({"permessage-deflate; client_max_window_bits=14"}, options);
    CHECK(agreement.response ==
          "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12");
    CHECK(agreement.parameters == parameters(12, 12));
    agreement = agree({"permessage-deflate; client_max_window_bits=9"}, options);
    CHECK(agreement.response ==
          "permessage-deflate; server_max_window_bits=12; client_max_window_bits=9");
    CHECK(agreement.parameters == parameters(12, 9));
}

TEST_CASE("a server may limit a client to an 8-bit window") {
    deflate_options options;
    options.peer_window_bits = 8;
    const auto agreement = agree({"permessage-deflate; client_max_window_bits"}, options);
    CHECK(agreement.response == "permessage-deflate; client_max_window_bits=8");
    CHECK(agreement.parameters == parameters(15, 8));
}

TEST_CASE("server_no_context_takeover in the offer is complied with and answered") {
    const auto agreement = agree({"permessage-deflate; server_no_context_takeover"});
    CHECK(agreement.response == "permessage-deflate; server_no_context_takeover");
    CHECK(agreement.parameters == parameters(15, 15, true, false));
}

TEST_CASE("a server that resets its compressor says server_no_context_takeover unasked") {
    deflate_options options;
    options.no_context_takeover = true;
    const auto agreement = agree({"permessage-deflate"}, options);
    CHECK(agreement.response == "permessage-deflate; server_no_context_takeover");
    CHECK(agreement.parameters == parameters(15, 15, true, false));
}

TEST_CASE("client_no_context_takeover in the offer is answered, so the server may reset") {
    const auto agreement = agree({"permessage-deflate; client_no_context_takeover"});
    CHECK(agreement.response == "permessage-deflate; client_no_context_takeover");
    CHECK(agreement.parameters == parameters(15, 15, false, true));
}

TEST_CASE("a server may forbid the client's context takeover unasked") {
    deflate_options options;
    options.peer_no_context_takeover = true;
    const auto agreement = agree({"permessage-deflate"}, options);
    CHECK(agreement.response == "permessage-deflate; client_no_context_takeover");
    CHECK(agreement.parameters == parameters(15, 15, false, true));
}

TEST_CASE("every parameter at once is answered in the order the client's offer uses") {
    const auto agreement =
        agree({"permessage-deflate; client_max_window_bits=11; server_max_window_bits=10; "
               "client_no_context_takeover; server_no_context_takeover"});
    CHECK(agreement.response ==
          "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
          "server_max_window_bits=10; client_max_window_bits=11");
    CHECK(agreement.parameters == parameters(10, 11, true, true));
}

TEST_CASE("values may be quoted strings") {
    const auto agreement = agree(
        {"permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=\"9\""});
    CHECK(agreement.response ==
          "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9");
    CHECK(agreement.parameters == parameters(10, 9));
}

TEST_CASE("whitespace around separators does not matter") {
    const auto agreement = agree({"permessage-deflate ;server_max_window_bits = 10 ; "
                                  "client_no_context_takeover"});
    CHECK(agreement.parameters == parameters(10, 15, false, true));
}

TEST_CASE("other extensions are skipped and the first permessage-deflate offer is taken") {
    const auto agreement = agree({"x-webkit-deflate-frame",
                                  "permessage-deflate; server_max_window_bits=10",
                                  "permessage-deflate"});
    CHECK(agreement.parameters == parameters(10, 15));
}

TEST_CASE("an extension named in another case is not permessage-deflate") {
    CHECK_FALSE(negotiate_deflate({"Permessage-Deflate"}, {}).has_value());
}

TEST_CASE("a server declines an offer with a duplicated parameter and takes the next one") {
    for (const char* offer :
         {"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
          "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
          "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
          "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
          "permessage-deflate; client_max_window_bits; client_max_window_bits"}) {
        CAPTURE(offer);
        CHECK_FALSE(negotiate_deflate({offer}, {}).has_value());
        const auto agreement = agree({offer, "permessage-deflate; server_max_window_bits=9"});
        CHECK(agreement.response == "permessage-deflate; server_max_window_bits=9");
    }
}

TEST_CASE("a server declines an offer with an unknown parameter and takes the next one") {
    for (const char* offer : {"permessage-deflate; foo", "permessage-deflate; x=1",
                              "permessage-deflate; Server_No_Context_Takeover",
                              "permessage-deflate; server_max_window_bit=10"}) {
        CAPTURE(offer);
        CHECK_FALSE(negotiate_deflate({offer}, {}).has_value());
        CHECK(agree({offer, "permessage-deflate"}).response == "permessage-deflate");
    }
}

TEST_CASE("a server declines window sizes outside 8 to 15 or written other than as 1*DIGIT") {
    for (const char* value : {"7", "16", "0", "08", "010", "1a", "a", "\"\"", "\"1 0\"", "-9",
                              "+9", "9.0", "100000000000000000000", "\"08\""}) {
        for (const char* name : {"server_max_window_bits", "client_max_window_bits"}) {
            const std::string offer = std::string("permessage-deflate; ") + name + "=" + value;
            CAPTURE(offer);
            CHECK_FALSE(negotiate_deflate({offer}, {}).has_value());
        }
    }
}

TEST_CASE("a server declines values where none is allowed and none where one is needed") {
    for (const char* offer : {"permessage-deflate; server_no_context_takeover=1",
                              "permessage-deflate; client_no_context_takeover=\"\"",
                              "permessage-deflate; server_max_window_bits"}) {
        CAPTURE(offer);
        CHECK_FALSE(negotiate_deflate({offer}, {}).has_value());
    }
}

TEST_CASE("a server declines malformed elements rather than failing") {
    CHECK_FALSE(negotiate_deflate({"permessage-deflate; x=\"open", "; x", ""}, {}).has_value());
}

TEST_CASE("a server with compression disabled accepts no offer") {
    deflate_options options;
    options.enabled = false;
    CHECK_FALSE(negotiate_deflate({"permessage-deflate"}, options).has_value());
}

TEST_CASE("no offer, no agreement") {
    CHECK_FALSE(negotiate_deflate({}, {}).has_value());
    CHECK_FALSE(negotiate_deflate({"x-custom"}, {}).has_value());
}

}  // TEST_SUITE

// =================================================================== the client's check

TEST_SUITE("RFC 7692 §7.1 the client checks the answer") {

TEST_CASE("a plain acceptance keeps full windows and context takeover") {
    CHECK(accept_deflate_response("permessage-deflate", {}) == parameters(15, 15));
}

TEST_CASE("server_max_window_bits unasked tells the server's window, which the client keeps") {
    CHECK(accept_deflate_response("permessage-deflate; server_max_window_bits=10", {}) ==
          parameters(15, 10));
    CHECK(accept_deflate_response("permessage-deflate; server_max_window_bits=8", {}) ==
          parameters(15, 8));
}

TEST_CASE("server_max_window_bits asked for may be answered with the same or a smaller value") {
    deflate_options options;
    options.peer_window_bits = 10;
    CHECK(accept_deflate_response("permessage-deflate; server_max_window_bits=10", options) ==
          parameters(15, 10));
    CHECK(accept_deflate_response("permessage-deflate; server_max_window_bits=9", options) ==
          parameters(15, 9));
}

TEST_CASE("a server_max_window_bits above the one asked for fails, naming both") {
    deflate_options options;
    options.peer_window_bits = 10;
    const std::string what =
        response_error("permessage-deflate; server_max_window_bits=11", options);
    CHECK_SAYS(what, "server_max_window_bits=11");
    CHECK_SAYS(what, "10");
}

TEST_CASE("the lack of a server_max_window_bits asked for fails") {
    deflate_options options;
    options.peer_window_bits = 12;
    CHECK_SAYS(response_error("permessage-deflate", options), "server_max_window_bits");
}

TEST_CASE("client_max_window_bits in the answer limits the client's window") {
    CHECK(accept_deflate_response("permessage-deflate; client_max_window_bits=10", {}) ==
          parameters(10, 15));
    CHECK(accept_deflate_response("permessage-deflate; client_max_window_bits=8", {}) ==
          parameters(8, 15));
}

TEST_CASE("a client keeps its own smaller window when the server allows a larger one") {
    deflate_options options;
    options.window_bits = 9;
    CHECK(accept_deflate_response("permessage-deflate; client_max_window_bits=12", options) ==
          parameters(9, 15));
    CHECK(accept_deflate_response("permessage-deflate", options) == parameters(9, 15));
}

TEST_CASE("client_max_window_bits without a value in an answer fails") {
    CHECK_SAYS(response_error("permessage-deflate; client_max_window_bits"),
               "client_max_window_bits");
}

TEST_CASE("client_no_context_takeover in the answer makes the client reset its compressor") {
    CHECK(accept_deflate_response("permessage-deflate; client_no_context_takeover", {}) ==
          parameters(15, 15, true, false));
}

TEST_CASE("a client that offered client_no_context_takeover resets even if not answered") {
    deflate_options options;
    options.no_context_takeover = true;
    CHECK(accept_deflate_response("permessage-deflate", options) ==
          parameters(15, 15, true, false));
}

TEST_CASE("server_no_context_takeover unasked lets the client reset its decompressor") {
    CHECK(accept_deflate_response("permessage-deflate; server_no_context_takeover", {}) ==
          parameters(15, 15, false, true));
}

TEST_CASE("server_no_context_takeover asked for must be in the answer") {
    deflate_options options;
    options.peer_no_context_takeover = true;
    CHECK(accept_deflate_response("permessage-deflate; server_no_context_takeover", options) ==
          parameters(15, 15, false, true));
    CHECK_SAYS(response_error("permessage-deflate", options), "server_no_context_takeover");
}

TEST_CASE("an answer with a duplicated parameter fails, naming it") {
    CHECK_SAYS(response_error("permessage-deflate; server_no_context_takeover; "
                              "server_no_context_takeover"),
               "server_no_context_takeover");
    CHECK_SAYS(response_error("permessage-deflate; server_max_window_bits=10; "
                              "server_max_window_bits=10"),
               "server_max_window_bits");
    CHECK_SAYS(response_error("permessage-deflate; client_max_window_bits=10; "
                              "client_max_window_bits=9"),
               "client_max_window_bits");
}

TEST_CASE("an answer with an unknown parameter fails, naming it") {
    CHECK_SAYS(response_error("permessage-deflate; x-mode=fast"), "x-mode");
}

TEST_CASE("an answer with an invalid value fails, naming the parameter and the value") {
    const std::string what = response_error("permessage-deflate; server_max_window_bits=16");
    CHECK_SAYS(what, "server_max_window_bits");
    CHECK_SAYS(what, "16");
    CHECK_SAYS(response_error("permessage-deflate; client_max_window_bits=07"), "07");
    CHECK_SAYS(response_error("permessage-deflate; server_no_context_takeover=yes"),
               "server_no_context_takeover");
    CHECK_SAYS(response_error("permessage-deflate; server_max_window_bits"),
               "server_max_window_bits");
}

TEST_CASE("an answer with quoted values is read unquoted") {
    CHECK(accept_deflate_response(
              "permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=\"11\"",
              {}) == parameters(11, 10));
}

TEST_CASE("an answer for another extension or a malformed one fails as a client error") {
    CHECK_SAYS(response_error("x-webkit-deflate-frame"), "x-webkit-deflate-frame");
    response_error("permessage-deflate; x=\"open");
    response_error("");
}

TEST_CASE("a client's offer and our server's answer agree on the same parameters") {
    std::vector<deflate_options> clients(6), servers(4);
    clients[1].no_context_takeover = true;
    clients[2].peer_no_context_takeover = true;
    clients[3].peer_window_bits = 9;
    clients[4].window_bits = 10;
    clients[5] = deflate_options::for_server();
    clients[5].peer_window_bits = 8;
    servers[1] = deflate_options::for_server();
    servers[2].no_context_takeover = true;
    servers[2].peer_no_context_takeover = true;
    servers[3].window_bits = 9;
    servers[3].peer_window_bits = 8;
    for (const auto& client : clients) {
        for (const auto& server : servers) {
            const std::string offer = make_deflate_offer(client);
            const auto agreement = agree({offer}, server);
            CAPTURE(offer);
            CAPTURE(agreement.response);
            const auto by_client = accept_deflate_response(agreement.response, client);
            const deflate_parameters& by_server = agreement.parameters;
            CHECK(by_client.our_window_bits == by_server.peer_window_bits);
            CHECK(by_client.peer_window_bits == by_server.our_window_bits);
            CHECK(by_client.our_no_context_takeover == by_server.peer_no_context_takeover);
            CHECK(by_client.peer_no_context_takeover == by_server.our_no_context_takeover);
            CHECK(by_client.our_window_bits <= client.window_bits);
            CHECK(by_client.peer_window_bits <= client.peer_window_bits);
            CHECK(by_server.our_window_bits <= server.window_bits);
        }
    }
}

}  // TEST_SUITE

// =================================================================== compression

TEST_SUITE("RFC 7692 §7.2 compression") {

TEST_CASE("the RFC's examples of compressed messages inflate to Hello") {
    deflate_codec codec(parameters(15, 15), {});
    // §7.2.3.1: one compressed block; §7.2.3.2: the same again, referring back to the first.
    CHECK(decompress(codec, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})) == "Hello");
    CHECK(decompress(codec, bytes({0xf2, 0x00, 0x11, 0x00, 0x00})) == "Hello");
    // §7.2.3.3: a stored block; §7.2.3.4: a block with BFINAL set; §7.2.3.5: two blocks.
    CHECK(decompress(codec, bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
                                   0x00})) == "Hello");
    CHECK(decompress(codec, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})) == "Hello");
    CHECK(decompress(codec, bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9,
                                   0xc9, 0x07, 0x00})) == "Hello");
    CHECK(decompress(codec, bytes({0xf2, 0x00, 0x11, 0x00, 0x00})) == "Hello");
}

TEST_CASE("Hello compresses to the RFC's bytes, and again to the shorter back-reference") {
    deflate_codec codec(parameters(15, 15), {});
    CHECK(compress(codec, "Hello") == bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    CHECK(compress(codec, "Hello") == bytes({0xf2, 0x00, 0x11, 0x00, 0x00}));
}

TEST_CASE("without context takeover every Hello compresses to the same bytes") {
    deflate_codec codec(parameters(15, 15, true, false), {});
    for (int i = 0; i < 3; ++i)
        CHECK(compress(codec, "Hello") == bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
}

TEST_CASE("an empty message compresses to a single 00 byte, first or later, and inflates back") {
    for (bool reset : {false, true}) {
        codec_pair pair(15, reset);
        zlib_inflater zlib(15);
        for (const char* text : {"", "", "Hello", "", ""}) {
            const std::string payload = compress(pair.sender, text);
            if (*text == '\0') CHECK(payload == bytes({0x00}));
            CHECK(decompress(pair.receiver, payload) == text);
            CHECK(zlib.message(payload) == text);
            if (reset) zlib.reset();
        }
    }
}

TEST_CASE("an empty last part of a fragmented message still ends the message properly") {
    codec_pair pair(15, false);
    zlib_inflater zlib(15);
    std::string payload;
    pair.sender.compress("Hello", false, payload);
    pair.sender.compress("", true, payload);
    CHECK(decompress(pair.receiver, payload) == "Hello");
    CHECK(zlib.message(payload) == "Hello");
    CHECK(decompress(pair.receiver, compress(pair.sender, "Hello")) == "Hello");
}

TEST_CASE("messages round-trip with every window size, with and without context takeover") {
    const auto messages = sample_messages();
    for (int bits = 8; bits <= 15; ++bits) {
        for (bool reset : {false, true}) {
            CAPTURE(bits);
            CAPTURE(reset);
            codec_pair pair(bits, reset);
            for (int round = 0; round < 3; ++round)
                for (const auto& message : messages)
                    CHECK(decompress(pair.receiver, compress(pair.sender, message)) == message);
        }
    }
}

TEST_CASE("context takeover makes a repeated message much smaller, and its lack does not") {
    const std::string message =
        "{\"type\":\"update\",\"symbol\":\"ACME\",\"price\":123.45,\"volume\":1000000}";
    for (int bits = 8; bits <= 15; ++bits) {
        CAPTURE(bits);
        codec_pair keep(bits, false), reset(bits, true);
        const std::string first = compress(keep.sender, message);
        CHECK(decompress(keep.receiver, first) == message);
        CHECK(compress(reset.sender, message) == first);
        for (int i = 0; i < 5; ++i) {
            const std::string again = compress(keep.sender, message);
            CHECK(decompress(keep.receiver, again) == message);
            if (bits > 8) CHECK(again.size() * 4 < first.size());  // 8: run-length matches only
            CHECK(compress(reset.sender, message) == first);
        }
    }
}

TEST_CASE("our output inflates with zlib's own raw inflater of the same window") {
    const auto messages = sample_messages();
    for (int bits = 8; bits <= 15; ++bits) {
        for (bool reset : {false, true}) {
            CAPTURE(bits);
            CAPTURE(reset);
            deflate_codec codec(parameters(bits, 15, reset, false), {});
            zlib_inflater zlib(bits);
            for (const auto& message : messages) {
                CHECK(zlib.message(compress(codec, message)) == message);
                if (reset) zlib.reset();
            }
        }
    }
}

TEST_CASE("what zlib's own raw deflater makes inflates with us") {
    const auto messages = sample_messages();
    for (int bits = 9; bits <= 15; ++bits) {
        for (bool reset : {false, true}) {
            CAPTURE(bits);
            CAPTURE(reset);
            deflate_codec codec(parameters(15, bits, false, reset), {});
            std::optional<zlib_deflater> zlib;
            zlib.emplace(bits);
            for (const auto& message : messages) {
                if (reset) zlib.emplace(bits);
                CHECK(decompress(codec, zlib->message(message)) == message);
            }
        }
    }
}

TEST_CASE("compression levels and memory levels all round-trip") {
    const std::string text = sample_messages()[6];
    for (int level = -1; level <= 9; ++level) {
        for (int memory : {1, 5, 9}) {
            deflate_options options;
            options.compression_level = level;
            options.memory_level = memory;
            codec_pair pair(12, false, options);
            CAPTURE(level);
            CAPTURE(memory);
            const std::string payload = compress(pair.sender, text);
            if (level != 0) CHECK(payload.size() < text.size() / 3);
            CHECK(decompress(pair.receiver, payload) == text);
        }
    }
}

TEST_CASE("a message compressed in parts inflates the same when cut anywhere, even byte by byte") {
    const std::string text = sample_messages()[6].substr(0, 3000);
    // A message before, so that this one refers back into the window.
    const std::string history = text.substr(1000);
    deflate_codec sender(parameters(15, 15), {});
    const std::string first = compress(sender, history);
    std::string payload;
    sender.compress(text.substr(0, 10), false, payload);
    sender.compress("", false, payload);
    sender.compress(text.substr(10, 2000), false, payload);
    sender.compress(text.substr(2010), true, payload);
    const std::string next = compress(sender, history);

    zlib_inflater zlib(15);
    CHECK(zlib.message(first) == history);
    CHECK(zlib.message(payload) == text);

    std::size_t splits = 0;
    test::for_each_split(payload, [&](const std::vector<std::string_view>& pieces) {
        deflate_codec receiver(parameters(15, 15), {});
        REQUIRE(decompress(receiver, first) == history);
        std::string out;
        for (const std::string_view piece : pieces)
            REQUIRE(receiver.decompress(piece, false, out, no_limit) == inflate_status::ok);
        REQUIRE(receiver.decompress("", true, out, no_limit) == inflate_status::ok);
        CHECK(out == text);
        // The receiver is ready for the next message.
        CHECK(decompress(receiver, next) == history);
        ++splits;
    });
    CHECK(splits == payload.size() + 2);
}

TEST_CASE("the last piece of a message may come with fin itself") {
    const std::string text = sample_messages()[4];
    deflate_codec sender(parameters(15, 15), {});
    const std::string payload = compress(sender, text);
    for (std::size_t cut = 0; cut <= payload.size(); ++cut) {
        deflate_codec receiver(parameters(15, 15), {});
        std::string out;
        CHECK(receiver.decompress(payload.substr(0, cut), false, out, no_limit) ==
              inflate_status::ok);
        CHECK(receiver.decompress(payload.substr(cut), true, out, no_limit) == inflate_status::ok);
        CHECK(out == text);
    }
}

TEST_CASE("decompress appends to what out holds already") {
    codec_pair pair(15, false);
    std::string out = "prefix:";
    CHECK(pair.receiver.decompress(compress(pair.sender, "Hello"), true, out, no_limit) ==
          inflate_status::ok);
    CHECK(out == "prefix:Hello");
}

}  // TEST_SUITE

// =================================================================== limits

namespace {

// 1 MiB of zeros compressed and sync-flushed, repeated: a sync-flushed stream can be
// repeated as it is, since it starts with a literal and then refers back 1 byte at a time.
std::string zip_bomb(std::size_t mebibytes) {
    zlib_deflater zlib(15, 9);
    const std::string chunk = zlib.flushed(std::string(std::size_t(1) << 20, '\0'), Z_SYNC_FLUSH);
    std::string bomb;
    bomb.reserve(chunk.size() * mebibytes);
    for (std::size_t i = 0; i < mebibytes; ++i) bomb += chunk;
    bomb.resize(bomb.size() - tail.size());
    return bomb;
}

// How many bytes zlib inflates a message to, without keeping them.
std::uint64_t inflated_size(std::string_view payload) {
    const std::string input = std::string(payload) + std::string(tail);
    z_stream s{};
    REQUIRE(inflateInit2(&s, -15) == Z_OK);
    s.next_in = reinterpret_cast<const Bytef*>(input.data());
    s.avail_in = static_cast<uInt>(input.size());
    std::vector<unsigned char> buffer(1 << 18);
    std::uint64_t total = 0;
    int rc = Z_OK;
    do {
        s.next_out = buffer.data();
        s.avail_out = static_cast<uInt>(buffer.size());
        rc = inflate(&s, Z_SYNC_FLUSH);
        total += buffer.size() - s.avail_out;
    } while (rc == Z_OK && (s.avail_out == 0 || s.avail_in != 0));
    inflateEnd(&s);
    return total;
}

}  // namespace

TEST_SUITE("decompression limits") {

TEST_CASE("a zip bomb of 1 MiB that inflates to 1 GiB stops at the limit with too_big") {
    const std::string bomb = zip_bomb(1024);
    CHECK(bomb.size() < (std::size_t(11) << 20) / 10);
    CHECK(inflated_size(bomb) == (std::uint64_t(1) << 30));

    const std::size_t limit = std::size_t(1) << 20;
    deflate_codec codec(parameters(15, 15), {});
    std::string out;
    CHECK(codec.decompress(bomb, true, out, limit) == inflate_status::too_big);
    CHECK(out.size() <= limit);
    CHECK(out.find_first_not_of('\0') == std::string::npos);
    CHECK(codec.memory_in_use() < 64 * 1024);
}

TEST_CASE("a zip bomb fed in frames stops at the limit with too_big") {
    const std::string bomb = zip_bomb(64);
    const std::size_t limit = 10 << 20;
    deflate_codec codec(parameters(15, 15), {});
    std::string out;
    inflate_status status = inflate_status::ok;
    std::size_t fed = 0;
    while (status == inflate_status::ok && fed < bomb.size()) {
        const std::string_view frame = std::string_view(bomb).substr(fed, 4096);
        fed += frame.size();
        status = codec.decompress(frame, fed == bomb.size(), out, limit);
        CHECK(out.size() <= limit);
    }
    CHECK(status == inflate_status::too_big);
    CHECK(fed < bomb.size() / 4);  // it stopped at about 10 MiB out of 64 MiB
}

TEST_CASE("a message of exactly the limit fits and one byte more does not") {
    const std::string text = sample_messages()[6];
    deflate_codec sender(parameters(15, 15, true, false), {});
    const std::string payload = compress(sender, text);
    for (const std::size_t prefix : {std::size_t(0), std::size_t(100)}) {
        CAPTURE(prefix);
        deflate_codec fits(parameters(15, 15, false, true), {});
        std::string out(prefix, '.');
        CHECK(fits.decompress(payload, true, out, prefix + text.size()) == inflate_status::ok);
        CHECK(out.substr(prefix) == text);

        deflate_codec too_big(parameters(15, 15, false, true), {});
        out.assign(prefix, '.');
        CHECK(too_big.decompress(payload, true, out, prefix + text.size() - 1) ==
              inflate_status::too_big);
        CHECK(out.size() <= prefix + text.size() - 1);
    }
}

TEST_CASE("out already past the limit is too big as soon as anything inflates") {
    codec_pair pair(15, false);
    std::string out(10, '.');
    CHECK(pair.receiver.decompress(compress(pair.sender, "Hello"), true, out, 5) ==
          inflate_status::too_big);
    CHECK(out.size() == 10);
}

TEST_CASE("a limit of zero takes only empty messages") {
    codec_pair pair(15, true);
    CHECK(decompress(pair.receiver, compress(pair.sender, ""), 0).empty());
    CHECK(decompress_status(pair.receiver, compress(pair.sender, "a"), 0) ==
          inflate_status::too_big);
}

}  // TEST_SUITE

// =================================================================== corrupt input

TEST_SUITE("corrupt compressed data") {

TEST_CASE("bytes that are not deflate data are corrupt, with zlib's explanation") {
    deflate_codec codec(parameters(15, 15), {});
    CHECK(codec.error().empty());
    CHECK(decompress_status(codec, bytes({0xff, 0xff, 0xff})) == inflate_status::corrupt);
    CHECK_SAYS(codec.error(), "invalid block type");
}

TEST_CASE("a stored block whose length check fails is corrupt") {
    deflate_codec codec(parameters(15, 15), {});
    CHECK(decompress_status(codec, bytes({0x00, 0x05, 0x00, 0x00, 0x00, 'H'})) ==
          inflate_status::corrupt);
    CHECK_SAYS(codec.error(), "invalid stored block lengths");
}

TEST_CASE("corrupt data is reported even when it comes in a non-final piece") {
    deflate_codec codec(parameters(15, 15), {});
    std::string out;
    CHECK(codec.decompress(bytes({0xff, 0xff}), false, out, no_limit) == inflate_status::corrupt);
    CHECK_FALSE(codec.error().empty());
}

TEST_CASE("a reference farther back than the peer's window is corrupt") {
    std::mt19937 random(1);
    std::string noise(1000, '\0');
    for (char& c : noise) c = static_cast<char>(random());
    zlib_deflater zlib(15);
    deflate_codec codec(parameters(15, 9), {});
    CHECK(decompress(codec, zlib.message(noise)) == noise);
    CHECK(decompress_status(codec, zlib.message(noise)) == inflate_status::corrupt);
    CHECK_SAYS(codec.error(), "invalid distance too far back");
}

TEST_CASE("a peer that did not keep its promise of no context takeover is caught") {
    // The peer said client_no_context_takeover (so we reset) but referred back anyway.
    zlib_deflater zlib(15);
    deflate_codec codec(parameters(15, 15, false, true), {});
    const std::string text = sample_messages()[4];
    CHECK(decompress(codec, zlib.message(text)) == text);
    CHECK(decompress_status(codec, zlib.message(text)) == inflate_status::corrupt);
    CHECK_SAYS(codec.error(), "too far back");
}

TEST_CASE("a message that still ends in 00 00 ff ff ends inside a block and is corrupt") {
    zlib_deflater zlib(15);
    deflate_codec codec(parameters(15, 15), {});
    CHECK(decompress_status(codec, zlib.flushed("Hello", Z_SYNC_FLUSH)) == inflate_status::corrupt);
    CHECK_SAYS(codec.error(), "ends inside a deflate block");
}

TEST_CASE("an empty payload ends inside a stored block and is corrupt; an empty message is 00") {
    deflate_codec codec(parameters(15, 15), {});
    CHECK(decompress_status(codec, "") == inflate_status::corrupt);
    CHECK_SAYS(codec.error(), "ends inside a deflate block");
}

TEST_CASE("a truncated message is corrupt") {
    deflate_codec codec(parameters(15, 15), {});
    CHECK(decompress_status(codec, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07})) ==
          inflate_status::corrupt);
}

}  // TEST_SUITE

// =================================================================== final blocks

TEST_SUITE("RFC 7692 §7.2.3.4 blocks with BFINAL set") {

TEST_CASE("a message after a final block may refer back to the one before it") {
    // A sender that ends each message with a final block starts a new deflate stream for the
    // next; with context takeover its window still holds the earlier messages.
    deflate_codec codec(parameters(15, 15), {});
    CHECK(decompress(codec, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})) == "Hello");
    zlib_deflater zlib(15);
    zlib.set_dictionary("Hello");
    const std::string again = zlib.message("Hello, Hello");
    CHECK(again.size() < 10);
    CHECK(decompress(codec, again) == "Hello, Hello");
}

TEST_CASE("a final block may be followed by more blocks in the same message") {
    deflate_codec codec(parameters(15, 15), {});
    const std::string payload = bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) +
                                zlib_deflater(15).message(" world");
    CHECK(decompress(codec, payload) == "Hello world");
    CHECK(decompress(codec, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})) == "Hello");
}

TEST_CASE("after a final block without context takeover the next message starts afresh") {
    deflate_codec codec(parameters(15, 15, false, true), {});
    for (int i = 0; i < 3; ++i)
        CHECK(decompress(codec, bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})) ==
              "Hello");
}

}  // TEST_SUITE

// =================================================================== 8-bit windows

TEST_SUITE("8-bit windows") {

TEST_CASE("an 8-bit window inflates a reference 256 bytes back into the previous message") {
    std::string history;
    bit_writer first;
    first.bits(0, 1);  // BFINAL 0
    first.bits(1, 2);  // BTYPE 01: fixed Huffman codes
    for (int i = 0; i < 300; ++i) {
        history.push_back(static_cast<char>(32 + i % 90));
        first.literal(static_cast<unsigned char>(history.back()));
    }
    first.end_of_block();
    const std::string first_payload = first.flushed();

    const auto reference = [](unsigned distance) {
        bit_writer second;
        second.bits(0, 1);
        second.bits(1, 2);
        second.match3(distance);
        second.end_of_block();
        return second.flushed();
    };

    deflate_codec codec(parameters(15, 8), {});
    CHECK(decompress(codec, first_payload) == history);
    CHECK(decompress(codec, reference(256)) == history.substr(300 - 256, 3));

    // The inflater holds exactly the 8-bit window the peer was limited to: 257 bytes back
    // is beyond it, though the previous message was longer.
    deflate_codec strict(parameters(15, 8), {});
    CHECK(decompress(strict, first_payload) == history);
    CHECK(decompress_status(strict, reference(257)) == inflate_status::corrupt);
    CHECK_SAYS(strict.error(), "too far back");
}

TEST_CASE("compressing for an 8-bit window uses matches of distance 1 only") {
    // A random block repeated: a 9-bit window finds the repeats (200 bytes back), while
    // run-length matches, which any window can decode, find nothing to shorten.
    std::mt19937 random(3);
    std::string block(200, '\0');
    for (char& c : block) c = static_cast<char>(random());
    std::string repeated;
    for (int i = 0; i < 10; ++i) repeated += block;

    deflate_codec nine(parameters(9, 15), {});
    CHECK(compress(nine, repeated).size() < 500);
    deflate_codec eight(parameters(8, 15), {});
    const std::string payload = compress(eight, repeated);
    CHECK(payload.size() > 1500);  // literals, Huffman-coded
    CHECK(zlib_inflater(8).message(payload) == repeated);

    // Runs of one byte still compress.
    const std::string runs = std::string(1000, 'x') + std::string(1000, 'y');
    const std::string short_payload = compress(eight, runs);
    CHECK(short_payload.size() < 40);
    CHECK(zlib_inflater(8).message(short_payload) == runs);
}

}  // TEST_SUITE

// =================================================================== memory

TEST_SUITE("deflate memory") {

TEST_CASE("a codec holds no zlib memory until it is used, and each stream only once used") {
    deflate_codec codec(parameters(15, 15), {});
    CHECK(codec.memory_in_use() == 0);
    compress(codec, "Hello");
    const std::size_t deflater = codec.memory_in_use();
    CHECK(deflater > 0);
    compress(codec, "Hello");
    CHECK(codec.memory_in_use() == deflater);

    deflate_codec receiver(parameters(15, 15), {});
    CHECK(receiver.memory_in_use() == 0);
    decompress(receiver, bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    const std::size_t inflater = receiver.memory_in_use();
    CHECK(inflater > 0);
    CHECK(inflater < deflater);
}

TEST_CASE("memory in use follows the window and memory level") {
    const auto in_use = [](int bits, int memory_level) {
        deflate_options options;
        options.memory_level = memory_level;
        deflate_codec codec(parameters(bits, bits), options);
        const std::string text = sample_messages()[6];
        CHECK(decompress(codec, zlib_deflater(bits).message(text)) == text);
        compress(codec, text);
        return codec.memory_in_use();
    };
    // zlib.h: deflate needs 2^(windowBits+2) + 2^(memLevel+9) bytes, inflate 2^windowBits.
    const std::size_t big = in_use(15, 8);
    CHECK(big >= (std::size_t(1) << 17) + (std::size_t(1) << 17) + (std::size_t(1) << 15));
    CHECK(big < 320 * 1024);
    const std::size_t server = in_use(12, 5);
    CHECK(server < 64 * 1024);
    CHECK(in_use(9, 1) < server);
}

TEST_CASE("a server's default codec holds less than 64 KiB while compressing") {
    const deflate_options options = deflate_options::for_server();
    const auto agreement = agree({"permessage-deflate; client_max_window_bits"}, options);
    deflate_codec codec(agreement.parameters, options);
    const std::string text = sample_messages()[6];
    CHECK(decompress(codec, zlib_deflater(12).message(text)) == text);
    compress(codec, text);
    CHECK(codec.memory_in_use() < 64 * 1024);
}

}  // TEST_SUITE

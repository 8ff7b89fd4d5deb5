#define ZLIB_CONST  // zlib's input pointers are const: it never writes to what it reads
#include "syncws/core/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

#include "syncws/core/error.hpp"
#include "syncws/core/handshake.hpp"

namespace syncws::core {

namespace {

constexpr int max_window_bits = 15;

// RFC 7692 §7.1: the parameters, named from the server's and the client's side.
constexpr std::string_view server_no_context_takeover = "server_no_context_takeover";
constexpr std::string_view client_no_context_takeover = "client_no_context_takeover";
constexpr std::string_view server_max_window_bits = "server_max_window_bits";
constexpr std::string_view client_max_window_bits = "client_max_window_bits";

// §7.2.1: a flushed message ends with an empty stored block, whose last 4 bytes stay off the
// wire; the receiver puts them back (§7.2.2).
constexpr std::string_view flush_tail("\x00\x00\xff\xff", 4);

void check_range(std::string_view field, int value, int min, int max,
                 std::string_view why = {}) {
    if (value >= min && value <= max) return;
    throw invalid_argument(std::string(field) + " is " + std::to_string(value) + "; it must be " +
                           std::to_string(min) + " to " + std::to_string(max) + std::string(why));
}

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

// ---------------------------------------------------------------- negotiation

// The parameters of one offer or response, as written.
struct written_parameters {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::optional<int> server_max_window_bits;
    bool client_max_window_bits = false;  // present, with or without a value
    std::optional<int> client_max_window_bits_value;
};

// §7.1.2.1, §7.1.2.2: a decimal integer without leading zeros, from 8 to 15.
std::optional<int> window_bits_value(std::string_view text) {
    if (text.empty() || text.size() > 2 || text.front() == '0') return std::nullopt;
    int value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    if (value < 8 || value > max_window_bits) return std::nullopt;
    return value;
}

// Reads the parameters of an element into out and says what is wrong, or "" (§7: unknown,
// duplicated or invalid parameters). Only an offer may leave client_max_window_bits without a
// value (§7.1.2.2).
std::string read_parameters(const extension_element& element, bool response,
                            written_parameters& out) {
    const auto& parameters = element.parameters;
    for (auto it = parameters.begin(); it != parameters.end(); ++it) {
        const std::string& name = it->first;
        const std::optional<std::string>& value = it->second;
        const auto same_name = [&](const auto& other) { return other.first == name; };
        if (std::find_if(parameters.begin(), it, same_name) != it)
            return "parameter " + name + " appears twice";
        if (name == server_no_context_takeover || name == client_no_context_takeover) {
            if (value) return name + " takes no value, but has " + quote(*value);
            (name == server_no_context_takeover ? out.server_no_context_takeover
                                                : out.client_no_context_takeover) = true;
        } else if (name == server_max_window_bits || name == client_max_window_bits) {
            const bool server = name == server_max_window_bits;
            if (!value && (server || response)) return name + " needs a value";
            if (!server) out.client_max_window_bits = true;
            if (!value) continue;
            const auto bits = window_bits_value(*value);
            if (!bits)
                return name + "=" + quote(*value) +
                       " is not a window size: 8 to 15, without leading zeros";
            (server ? out.server_max_window_bits : out.client_max_window_bits_value) = bits;
        } else {
            return "unknown parameter " + quote(name);
        }
    }
    return {};
}

// The element as a client or server would write it, for parameters that are all valid.
std::string write_element(const written_parameters& p) {
    std::string element(deflate_extension_name);
    if (p.client_no_context_takeover) element += "; " + std::string(client_no_context_takeover);
    if (p.server_no_context_takeover) element += "; " + std::string(server_no_context_takeover);
    if (p.server_max_window_bits)
        element += "; " + std::string(server_max_window_bits) + "=" +
                   std::to_string(*p.server_max_window_bits);
    if (p.client_max_window_bits) {
        element += "; " + std::string(client_max_window_bits);
        if (p.client_max_window_bits_value)
            element += "=" + std::to_string(*p.client_max_window_bits_value);
    }
    return element;
}

// The server's side of §7.1 for an offer it can read: it complies with what the client asks
// for and adds its own limits.
deflate_agreement answer(const written_parameters& offer, const deflate_options& options) {
    deflate_parameters p;
    p.our_window_bits =
        std::min(options.window_bits, offer.server_max_window_bits.value_or(max_window_bits));
    p.our_no_context_takeover = offer.server_no_context_takeover || options.no_context_takeover;
    // client_no_context_takeover offered is a hint; answered, it binds the client (§7.1.1.2).
    p.peer_no_context_takeover =
        offer.client_no_context_takeover || options.peer_no_context_takeover;
    // Without client_max_window_bits in the offer the client may use 15 bits whatever we say.
    if (offer.client_max_window_bits)
        p.peer_window_bits = std::min(options.peer_window_bits,
                                      offer.client_max_window_bits_value.value_or(max_window_bits));

    written_parameters response;
    response.server_no_context_takeover = p.our_no_context_takeover;
    response.client_no_context_takeover = p.peer_no_context_takeover;
    // Accepting server_max_window_bits means answering it (§7.1.2.1); unasked, it tells the
    // client how little it needs to keep.
    if (offer.server_max_window_bits || p.our_window_bits < max_window_bits)
        response.server_max_window_bits = p.our_window_bits;
    if (offer.client_max_window_bits_value || p.peer_window_bits < max_window_bits) {
        response.client_max_window_bits = true;
        response.client_max_window_bits_value = p.peer_window_bits;
    }
    return {write_element(response), p};
}

[[noreturn]] void fail_response(std::string_view element, const std::string& problem) {
    throw invalid_handshake("the server's permessage-deflate response " + quote(element) +
                                " is not acceptable: " + problem,
                            0);
}

}  // namespace

deflate_options deflate_options::for_server() noexcept {
    deflate_options options;
    options.window_bits = 12;
    options.memory_level = 5;
    options.peer_window_bits = 12;
    return options;
}

void deflate_options::validate() const {
    check_range("deflate_options::window_bits", window_bits, 9, max_window_bits,
                " (zlib cannot compress with an 8-bit window)");
    check_range("deflate_options::peer_window_bits", peer_window_bits, 8, max_window_bits);
    check_range("deflate_options::memory_level", memory_level, 1, 9);
    check_range("deflate_options::compression_level", compression_level, -1, 9);
}

bool deflate_parameters::operator==(const deflate_parameters& other) const noexcept {
    return our_window_bits == other.our_window_bits &&
           peer_window_bits == other.peer_window_bits &&
           our_no_context_takeover == other.our_no_context_takeover &&
           peer_no_context_takeover == other.peer_no_context_takeover;
}

std::string make_deflate_offer(const deflate_options& options) {
    options.validate();
    written_parameters offer;
    offer.client_no_context_takeover = options.no_context_takeover;
    offer.server_no_context_takeover = options.peer_no_context_takeover;
    if (options.peer_window_bits < max_window_bits)
        offer.server_max_window_bits = options.peer_window_bits;
    // Always offered, so that a server may limit our window; with a value, it is our own
    // limit (a hint the server may repeat).
    offer.client_max_window_bits = true;
    if (options.window_bits < max_window_bits)
        offer.client_max_window_bits_value = options.window_bits;
    return write_element(offer);
}

deflate_parameters accept_deflate_response(std::string_view element,
                                           const deflate_options& options) {
    options.validate();
    extension_element parsed;
    try {
        parsed = parse_extension_element(element);
    } catch (const invalid_handshake& malformed) {
        fail_response(element, malformed.what());
    }
    if (parsed.name != deflate_extension_name)
        fail_response(element, "it names another extension");
    written_parameters answer;
    const std::string problem = read_parameters(parsed, true, answer);
    if (!problem.empty()) fail_response(element, problem);

    // §7.1.1.1, §7.1.2.1: a server accepts what we asked for by repeating it.
    if (options.peer_no_context_takeover && !answer.server_no_context_takeover)
        fail_response(element, "it lacks the server_no_context_takeover that we asked for");
    const int asked_window = options.peer_window_bits;
    if (asked_window < max_window_bits && !answer.server_max_window_bits)
        fail_response(element, "it lacks the server_max_window_bits=" +
                                    std::to_string(asked_window) + " that we asked for");
    if (answer.server_max_window_bits && *answer.server_max_window_bits > asked_window)
        fail_response(element, "server_max_window_bits=" +
                                    std::to_string(*answer.server_max_window_bits) +
                                    " exceeds the " + std::to_string(asked_window) +
                                    " bits that we asked for");

    // Our offer always has client_max_window_bits, so the server may answer it (§7.1.2.2).
    deflate_parameters p;
    p.our_window_bits = std::min(options.window_bits,
                                 answer.client_max_window_bits_value.value_or(max_window_bits));
    p.peer_window_bits = answer.server_max_window_bits.value_or(max_window_bits);
    p.our_no_context_takeover = options.no_context_takeover || answer.client_no_context_takeover;
    p.peer_no_context_takeover = answer.server_no_context_takeover;
    return p;
}

std::optional<deflate_agreement> negotiate_deflate(const std::vector<std::string>& offers,
                                                   const deflate_options& options) {
    if (!options.enabled) return std::nullopt;
    options.validate();
    for (const auto& offer : offers) {
        // §7: an offer the server cannot read is declined; the next one may do.
        extension_element parsed;
        try {
            parsed = parse_extension_element(offer);
        } catch (const invalid_handshake&) {
            continue;
        }
        written_parameters wanted;
        if (parsed.name != deflate_extension_name ||
            !read_parameters(parsed, false, wanted).empty())
            continue;
        return answer(wanted, options);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------- compression

namespace {

// The most zlib takes in one call (its counts are 32-bit); larger inputs go in pieces.
constexpr std::size_t max_zlib_piece = std::size_t(1) << 30;

// zlib allocates through these, so that memory_in_use() reports what it really holds. Each
// block starts with its size, in a header that keeps the alignment malloc gives.
constexpr std::size_t allocation_header = alignof(std::max_align_t);
static_assert(allocation_header >= sizeof(std::size_t));

voidpf counting_alloc(voidpf counter, uInt items, uInt size) {
    const std::size_t bytes = std::size_t{items} * size;
    void* block = std::malloc(allocation_header + bytes);
    if (block == nullptr) return Z_NULL;
    std::memcpy(block, &bytes, sizeof bytes);
    *static_cast<std::size_t*>(counter) += bytes;
    return static_cast<char*>(block) + allocation_header;
}

void counting_free(voidpf counter, voidpf address) {
    if (address == Z_NULL) return;
    void* block = static_cast<char*>(address) - allocation_header;
    std::size_t bytes = 0;
    std::memcpy(&bytes, block, sizeof bytes);
    *static_cast<std::size_t*>(counter) -= bytes;
    std::free(block);
}

z_stream counted_stream(std::size_t& counter) {
    z_stream s{};
    s.zalloc = counting_alloc;
    s.zfree = counting_free;
    s.opaque = &counter;
    return s;
}

void check_init(int rc, const char* what) {
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK)
        throw error(std::string("zlib refused ") + what + " (error " + std::to_string(rc) + ")");
}

[[maybe_unused]] bool ends_with(const std::string& text, std::string_view end) {
    return text.size() >= end.size() &&
           text.compare(text.size() - end.size(), end.size(), end) == 0;
}

// Our compressor. A z_stream points into itself once initialised: it never moves.
class raw_deflater {
public:
    raw_deflater(const deflate_parameters& parameters, const deflate_options& options,
                 std::size_t& counter)
        : s_(counted_stream(counter)), reset_after_message_(parameters.our_no_context_takeover) {
        // zlib refuses a raw 8-bit window. With 9 bits and run-length matches only (distance
        // 1), the output needs no more than 1 byte of window to inflate.
        const bool eight = parameters.our_window_bits == 8;
        check_init(deflateInit2(&s_, options.compression_level, Z_DEFLATED,
                                -(eight ? 9 : parameters.our_window_bits), options.memory_level,
                                eight ? Z_RLE : Z_DEFAULT_STRATEGY),
                   "deflateInit2");
    }
    ~raw_deflater() { deflateEnd(&s_); }
    raw_deflater(const raw_deflater&) = delete;
    raw_deflater& operator=(const raw_deflater&) = delete;

    void compress(std::string_view data, bool fin, std::string& out) {
        const std::size_t start = out.size();
        do {
            const std::size_t piece = std::min(data.size(), max_zlib_piece);
            s_.next_in = reinterpret_cast<const Bytef*>(data.data());
            s_.avail_in = static_cast<uInt>(piece);
            data.remove_prefix(piece);
            // Every part is flushed, so that its frame can go out now.
            run(data.empty() ? Z_SYNC_FLUSH : Z_NO_FLUSH, out);
        } while (!data.empty());
        if (!fin) return;
        if (out.size() == start) {
            // zlib makes no second flush in a row: nothing came since the last part. The
            // message still needs the RFC's ending, an empty stored block less its last 4
            // bytes: 00 (§7.2.3.6).
            out.push_back('\0');
        } else {
            assert(ends_with(out, flush_tail));
            out.resize(out.size() - flush_tail.size());
        }
        if (reset_after_message_) deflateReset(&s_);
    }

private:
    void run(int flush, std::string& out) {
        for (;;) {
            // Enough for the input and a flush marker, so one round is the rule.
            const std::size_t room = deflateBound(&s_, s_.avail_in) + 16;
            const std::size_t old = out.size();
            out.resize(old + room);
            s_.next_out = reinterpret_cast<Bytef*>(&out[old]);
            s_.avail_out = static_cast<uInt>(room);
            const int rc = deflate(&s_, flush);
            out.resize(old + room - s_.avail_out);
            // Z_BUF_ERROR: nothing to do (a flush right after a flush).
            if (rc != Z_OK && rc != Z_BUF_ERROR)
                throw error("zlib deflate failed (error " + std::to_string(rc) + ")");
            if (s_.avail_in == 0 && s_.avail_out != 0) return;
        }
    }

    z_stream s_;
    bool reset_after_message_;
};

// Our decompressor.
class raw_inflater {
public:
    raw_inflater(const deflate_parameters& parameters, std::size_t& counter)
        : s_(counted_stream(counter)),
          window_bits_(parameters.peer_window_bits),
          reset_after_message_(parameters.peer_no_context_takeover) {
        // zlib inflates raw data with any window from 8 bits.
        check_init(inflateInit2(&s_, -window_bits_), "inflateInit2");
    }
    ~raw_inflater() { inflateEnd(&s_); }
    raw_inflater(const raw_inflater&) = delete;
    raw_inflater& operator=(const raw_inflater&) = delete;

    inflate_status decompress(std::string_view data, bool fin, std::string& out,
                              std::size_t max_size, std::string& reason) {
        inflate_status status = feed(data, out, max_size, reason);
        if (status != inflate_status::ok || !fin) return status;
        status = feed(flush_tail, out, max_size, reason);
        if (status != inflate_status::ok) return status;
        // With the tail back, a message ends where a block does (§7.2.1); zlib sets bit 128
        // of data_type there. If not, the sender left its own tail in or cut the message
        // short, and the next message would be read from the middle of a block.
        if (!stream_start_ && (s_.data_type & 128) == 0) {
            reason = "the compressed message ends inside a deflate block";
            return inflate_status::corrupt;
        }
        if (reset_after_message_) start_stream(false);
        return status;
    }

private:
    // Output goes to out in steps: about 4 times the input at first (text rarely inflates
    // more), doubling while zlib fills them, up to 64 KiB. A small message clears little
    // memory, and a bomb gets at most max_size in bounded steps.
    static constexpr std::size_t min_step = 256;
    static constexpr std::size_t max_step = std::size_t(64) << 10;

    inflate_status feed(std::string_view input, std::string& out, std::size_t max_size,
                        std::string& reason) {
        std::size_t step = std::clamp(std::min(input.size(), max_step) * 4, min_step, max_step);
        s_.avail_in = 0;
        for (;;) {
            if (s_.avail_in == 0 && !input.empty()) {
                const std::size_t piece = std::min(input.size(), max_zlib_piece);
                s_.next_in = reinterpret_cast<const Bytef*>(input.data());
                s_.avail_in = static_cast<uInt>(piece);
                input.remove_prefix(piece);
            }
            const std::size_t old = out.size();
            const std::size_t room = std::min(step, old < max_size ? max_size - old : 0);
            // Once out is full, zlib gets one byte elsewhere: if it uses it, the message is
            // too big.
            char beyond_limit = 0;
            out.resize(old + room);
            s_.next_out = reinterpret_cast<Bytef*>(room > 0 ? &out[old] : &beyond_limit);
            s_.avail_out = static_cast<uInt>(room > 0 ? room : 1);
            const uInt input_before = s_.avail_in;
            const int rc = ::inflate(&s_, Z_SYNC_FLUSH);
            if (room == 0 && s_.avail_out == 0) return inflate_status::too_big;
            out.resize(old + room - (room > 0 ? s_.avail_out : 0));
            if (s_.avail_in != input_before) stream_start_ = false;

            switch (rc) {
                case Z_OK:
                case Z_BUF_ERROR:  // no progress possible: all input used, all output given
                    break;
                case Z_STREAM_END:
                    start_stream(true);
                    break;
                case Z_MEM_ERROR:
                    throw std::bad_alloc();
                default:  // Z_DATA_ERROR, and Z_NEED_DICT, which raw data cannot ask for
                    reason = s_.msg != nullptr ? s_.msg : "zlib error " + std::to_string(rc);
                    return inflate_status::corrupt;
            }
            if (s_.avail_out == 0) {
                step = std::min(step * 2, max_step);
            } else if (s_.avail_in == 0 && input.empty()) {
                return inflate_status::ok;
            }
        }
    }

    // Starts a new deflate stream: after a final block (BFINAL, §7.2.3.4), which ends zlib's
    // stream but not the connection's, keeping the window for what follows to refer back
    // into; or after a message without the peer's context takeover, dropping it.
    void start_stream(bool keep_window) {
        std::string window;
        uInt size = 0;
        if (keep_window) {
            window.resize(std::size_t(1) << window_bits_);
            inflateGetDictionary(&s_, reinterpret_cast<Bytef*>(&window[0]), &size);
        }
        inflateReset(&s_);
        if (size > 0)
            inflateSetDictionary(&s_, reinterpret_cast<const Bytef*>(window.data()), size);
        stream_start_ = true;
    }

    z_stream s_;
    int window_bits_;
    bool reset_after_message_;
    bool stream_start_ = true;  // nothing read since the stream (re)started
};

void check_parameters(const deflate_parameters& p) {
    check_range("deflate_parameters::our_window_bits", p.our_window_bits, 8, max_window_bits);
    check_range("deflate_parameters::peer_window_bits", p.peer_window_bits, 8, max_window_bits);
}

}  // namespace

struct deflate_codec::zstreams {
    std::size_t bytes = 0;  // what zlib holds; declared first, as the streams count into it
    std::optional<raw_deflater> deflater;
    std::optional<raw_inflater> inflater;
};

deflate_codec::deflate_codec(const deflate_parameters& parameters, const deflate_options& options)
    : parameters_(parameters), options_(options) {
    options_.validate();
    check_parameters(parameters_);
}

deflate_codec::~deflate_codec() = default;

void deflate_codec::compress(std::string_view data, bool fin, std::string& out) {
    if (!z_) z_ = std::make_unique<zstreams>();
    if (!z_->deflater) z_->deflater.emplace(parameters_, options_, z_->bytes);
    z_->deflater->compress(data, fin, out);
}

inflate_status deflate_codec::decompress(std::string_view data, bool fin, std::string& out,
                                         std::size_t max_size) {
    if (!z_) z_ = std::make_unique<zstreams>();
    if (!z_->inflater) z_->inflater.emplace(parameters_, z_->bytes);
    return z_->inflater->decompress(data, fin, out, max_size, error_);
}

std::size_t deflate_codec::memory_in_use() const noexcept { return z_ ? z_->bytes : 0; }

}  // namespace syncws::core

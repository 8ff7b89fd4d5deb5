// permessage-deflate (RFC 7692): negotiating its parameters in the opening handshake, and
// compressing and decompressing whole messages with zlib's raw deflate.
//
// Parameters are named from the point of view of one side: "ours" is what this side
// compresses with, "the peer's" is what it inflates. The wire names (server_*, client_*)
// are mapped according to the role.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "syncws/core/frame.hpp"

namespace syncws::core {

/// The extension's name in Sec-WebSocket-Extensions.
inline constexpr std::string_view deflate_extension_name = "permessage-deflate";

/// Whether a message we send may be compressed, when permessage-deflate was negotiated.
enum class compression {
    /// Compressed when its size reaches deflate_options::threshold; a fragmented message
    /// (whose size is not known when it starts) always is.
    automatic,
    /// Sent as it is: for data that is already compressed (images, archives).
    never,
};

/// What one side wants from permessage-deflate. The defaults are a client's: offer
/// compression, let the server limit our window (client_max_window_bits without a value).
/// for_server() gives a server's: window 12 bits, memLevel 5, and the client asked for a
/// 12-bit window too (about 50 KiB of zlib memory per connection once messages went both
/// ways, against about 300 KiB with the client's defaults).
struct deflate_options {
    /// Offer (client) or accept (server) permessage-deflate at all.
    bool enabled = true;
    /// The window our compressor uses, 9–15 bits (the peer may ask for less). zlib cannot
    /// compress with an 8-bit window; when a peer demands 8, we compress with matches of
    /// distance 1 only, which any window can decode.
    int window_bits = 15;
    /// zlib memLevel of our compressor, 1–9: memory for the hash chains, 2^(level+9) bytes.
    int memory_level = 8;
    /// zlib compression level, 0–9, or -1 for zlib's default (6); 1 is fastest.
    int compression_level = 6;
    /// Reset our compressor after every message (we send *_no_context_takeover for our
    /// side): the peer need not keep our window between messages; worse ratio. Our
    /// compressor keeps its memory (it is reset, not freed).
    bool no_context_takeover = false;
    /// Ask the peer to reset its compressor after every message; our decompressor is then
    /// reset after every message too. A client fails the handshake if the server refuses.
    bool peer_no_context_takeover = false;
    /// The largest window we let the peer compress with, 8–15 bits (15: no limit). A server
    /// can only limit a client that offered client_max_window_bits; a client fails the
    /// handshake if the server does not agree to its limit.
    int peer_window_bits = 15;
    /// Messages smaller than this are sent uncompressed (compression would not pay).
    std::size_t threshold = 128;

    /// A server's defaults: window_bits 12, memory_level 5, peer_window_bits 12.
    static deflate_options for_server() noexcept;
    /// Throws invalid_argument naming the field that is out of range: window_bits 9–15,
    /// peer_window_bits 8–15, memory_level 1–9, compression_level -1–9.
    void validate() const;
};

/// The parameters in force on a connection, from one side's point of view.
struct deflate_parameters {
    /// Window our compressor may use (8–15; 8 means "distance-1 matches only", see above).
    int our_window_bits = 15;
    /// Window the peer compresses with, which our decompressor must hold (8–15).
    int peer_window_bits = 15;
    bool our_no_context_takeover = false;
    bool peer_no_context_takeover = false;

    bool operator==(const deflate_parameters& other) const noexcept;
};

// ---------------------------------------------------------------- negotiation (RFC 7692 §5, §7.1)

/// The client's offer, one Sec-WebSocket-Extensions element:
/// "permessage-deflate; client_max_window_bits" with the defaults, and in general
/// "permessage-deflate[; client_no_context_takeover][; server_no_context_takeover]
/// [; server_max_window_bits=N]; client_max_window_bits[=N]". client_max_window_bits is
/// always offered, so that a server may limit our window. Throws invalid_argument for
/// invalid options.
/// Thread-safety: pure function.
std::string make_deflate_offer(const deflate_options& options);

/// Checks the server's answer (one element named permessage-deflate) against our offer
/// (make_deflate_offer(options)) and returns the parameters in force. Throws
/// syncws::invalid_handshake (status 0) saying what is wrong, as RFC 7692 §7 requires the
/// client to fail the connection: an unknown or duplicated parameter, an invalid value
/// (window bits are 8 to 15 without leading zeros, quoted or not), client_max_window_bits
/// without a value, a server_max_window_bits above what we asked for, or the lack of a
/// server_max_window_bits or server_no_context_takeover we asked for (§7.1.1.1, §7.1.2.1).
/// server_max_window_bits unasked is allowed: the server tells how small its window is.
/// Throws invalid_argument for invalid options.
/// Thread-safety: pure function.
deflate_parameters accept_deflate_response(std::string_view element, const deflate_options& options);

/// What a server answers to the offers.
struct deflate_agreement {
    std::string response;           ///< the element for the 101 response
    deflate_parameters parameters;  ///< in force from the server's point of view
};

/// Picks the first permessage-deflate offer (in the client's order) that the server can
/// accept, skipping other extensions. Offers with unknown, duplicated or invalid parameters
/// are declined (RFC 7692 §7), not failed. Returns nothing when options.enabled is false or
/// no offer is acceptable. What the client asks for is complied with (a smaller window, no
/// context takeover) and the server's own limits are added; the response repeats every
/// parameter that binds either side. Throws invalid_argument for invalid options.
/// Thread-safety: pure function.
std::optional<deflate_agreement> negotiate_deflate(const std::vector<std::string>& offers,
                                                   const deflate_options& options);

// ---------------------------------------------------------------- compression (RFC 7692 §7.2)

/// Result of inflating part of a message.
enum class inflate_status {
    ok,        ///< all input consumed, output appended
    too_big,   ///< the output would exceed the limit (close 1009)
    /// not valid deflate data (error() has zlib's reason), or a message that, with
    /// 00 00 ff ff put back, ends inside a deflate block (close 1007)
    corrupt,
};

/// zlib streams for one connection: a compressor for the messages we send and a
/// decompressor for those we receive. Each is allocated on first use, so a connection that
/// negotiated compression but is idle costs no zlib memory.
/// Thread-safety: none; one thread at a time (the protocol's).
class deflate_codec {
public:
    /// options gives the compression level and memory level. Throws invalid_argument for
    /// invalid options or window bits outside 8–15.
    deflate_codec(const deflate_parameters& parameters, const deflate_options& options);
    ~deflate_codec();
    deflate_codec(const deflate_codec&) = delete;
    deflate_codec& operator=(const deflate_codec&) = delete;

    /// Compresses the next part of the message being sent and appends the bytes to out.
    /// fin ends the message: the output is flushed to a byte boundary and the final
    /// 00 00 ff ff is removed (§7.2.1); without context takeover the compressor is then reset.
    /// A non-final part is flushed too (Z_SYNC_FLUSH), so that its frame can go out now.
    /// A final part that adds nothing (an empty message) gives the single byte 00.
    /// Throws std::bad_alloc when zlib runs out of memory.
    void compress(std::string_view data, bool fin, std::string& out);

    /// Inflates the next compressed bytes of a received message, appending to out in chunks
    /// and never letting out grow past max_size bytes in total (out may already hold part of
    /// the message). fin: these are the last bytes of the message; the 00 00 ff ff tail is
    /// appended to the input (§7.2.2), and without the peer's context takeover the
    /// decompressor is reset afterwards. A block with BFINAL set (§7.2.3.4) ends zlib's
    /// stream but not the connection's: a new stream may follow, in the same message or the
    /// next, and it may refer back into the window as context takeover allows. Output grows
    /// in steps of at most 64 KiB, so a small input that would inflate to gigabytes stops
    /// with too_big once out holds max_size bytes. After too_big or corrupt the codec must
    /// not be used for receiving again. Throws std::bad_alloc when zlib runs out of memory.
    inflate_status decompress(std::string_view data, bool fin, std::string& out,
                              std::size_t max_size);

    /// zlib's message for the last corrupt result ("invalid distance too far back" ...).
    const std::string& error() const noexcept { return error_; }

    const deflate_parameters& parameters() const noexcept { return parameters_; }
    /// Bytes zlib holds right now for the two streams (for memory measurements).
    std::size_t memory_in_use() const noexcept;

private:
    struct zstreams;
    deflate_parameters parameters_;
    deflate_options options_;
    std::unique_ptr<zstreams> z_;
    std::string error_;
};

}  // namespace syncws::core

// Target: deflate_codec::decompress fed arbitrary compressed messages, as a peer would send
// them, under a size limit. Each message is inflated by two codecs with the same parameters:
// in one piece, and cut into chunks (as frames and reads cut a message). The results must
// agree, the output never exceeds the limit, and zlib's memory stays bounded. After too_big
// or corrupt a codec is not used again (its documented contract).
//
// Input layout (see make_corpus.py):
//   byte 0  bits 0-2: peer_window_bits 8 + b, bit 3 peer_no_context_takeover
//   byte 1  max_size = 1 << (b % 24) (1 B .. 8 MiB), or unlimited for 0xff
//   bytes 2-5  chunk size table (fuzz_support.hpp)
//   rest    messages, each a 2-byte little-endian length and that many bytes
#include <exception>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "syncws/core/deflate.hpp"
#include "syncws/core/protocol.hpp"

using namespace syncws::core;

namespace {

// zlib's inflate state and window (32 KiB at most) with room to spare.
constexpr std::size_t max_zlib_memory = 64 * 1024;

struct inflated {
    inflate_status status = inflate_status::ok;
    std::string data;
};

inflated inflate_chunks(deflate_codec& codec, std::string_view message, std::size_t max_size,
                        fuzz::chunker& chunks) {
    std::vector<std::string_view> pieces;
    chunks.each(message, [&](std::string_view piece) { pieces.push_back(piece); });
    if (pieces.empty()) pieces.emplace_back();
    inflated out;
    for (std::size_t i = 0; i < pieces.size(); ++i) {
        out.status = codec.decompress(pieces[i], i + 1 == pieces.size(), out.data, max_size);
        fuzz::check(out.data.size() <= max_size, "output over the limit");
        if (out.status != inflate_status::ok) break;
    }
    return out;
}

void run(fuzz::input& in) {
    const std::uint8_t settings = in.byte();
    const std::uint8_t limit = in.byte();
    fuzz::chunker chunks(in);
    deflate_parameters parameters;
    parameters.peer_window_bits = 8 + (settings & 7);
    parameters.peer_no_context_takeover = settings & 0x08;
    const std::size_t max_size = limit == 0xff ? unlimited : std::size_t(1) << (limit % 24);

    deflate_codec whole(parameters, deflate_options{});
    deflate_codec cut(parameters, deflate_options{});
    while (!in.empty()) {
        const std::string_view message = in.take(in.u16());
        inflated a;
        a.status = whole.decompress(message, true, a.data, max_size);
        fuzz::check(a.data.size() <= max_size, "output over the limit");
        const inflated b = inflate_chunks(cut, message, max_size, chunks);
        if (a.status != b.status) {
            // zlib checks a match distance against the window it keeps plus what it wrote in
            // the current call, so a peer that uses a larger window than negotiated is caught
            // or not depending on where its message was cut. Either outcome is safe; no other
            // difference is.
            const auto too_far = [](const deflate_codec& c) {
                return c.error() == "invalid distance too far back";
            };
            fuzz::check(parameters.peer_window_bits < 15 &&
                            ((a.status == inflate_status::corrupt && too_far(whole)) ||
                             (b.status == inflate_status::corrupt && too_far(cut))),
                        "the status depends on how the message was cut",
                        std::to_string(int(a.status)) + " whole, " +
                            std::to_string(int(b.status)) + " cut: " + whole.error() + " | " +
                            cut.error());
            return;
        }
        if (a.status == inflate_status::ok)
            fuzz::check(a.data == b.data, "the output depends on how the message was cut");
        else if (a.status == inflate_status::corrupt)
            fuzz::check(!whole.error().empty() && !cut.error().empty(), "corrupt without reason");
        fuzz::check(whole.memory_in_use() <= max_zlib_memory, "zlib holds too much memory",
                    std::to_string(whole.memory_in_use()));
        if (a.status != inflate_status::ok) return;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // decompress() documents only std::bad_alloc, which must not happen here
    return fuzz::run_input(data, size, "decompress", run);
}

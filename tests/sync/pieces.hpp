// Large frames written in pieces, for the tests of a reader that waits for most of a frame
// at once (SO_RCVLOWAT): each piece must wake it when it is the last one to come.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

namespace test {

/// size bytes that differ from their neighbours, so that a piece out of place shows.
inline std::string patterned(std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + i / 251);
    return bytes;
}

/// The pieces of wire, cut at the given offsets, written one by one with a pause between
/// them, so that a reader sees each arrive while it waits for the rest. write(piece) sends.
template <class Write>
void write_in_pieces(const std::string& wire, const std::vector<std::size_t>& cuts, Write write) {
    std::size_t from = 0;
    for (const std::size_t cut : cuts) {
        write(wire.substr(from, cut - from));
        from = cut;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    write(wire.substr(from));
}

/// Ways to cut a frame of about 300 KiB: pieces smaller and larger than what a reader waits
/// for at once, a last piece of a few bytes, and cuts inside its header.
inline std::vector<std::vector<std::size_t>> large_frame_cuts() {
    return {{200 * 1024, 260 * 1024},
            {4, 100 * 1024, 299 * 1024},
            {64 * 1024, 128 * 1024, 192 * 1024, 256 * 1024},
            {16 * 1024 + 3, 300 * 1024 + 5}};
}

}  // namespace test

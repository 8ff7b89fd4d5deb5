// Sends a file of any size as one binary message in 64 KiB fragments, and prints what the
// server answers. usage: file_sender URI FILE   (file_receiver.cpp receives)
//
// Only one chunk is in memory at a time. Each send_fragment() returns once its frame is
// handed to the kernel, so a slow server slows the reading of the file down (backpressure)
// instead of filling memory.
#include <fstream>
#include <iostream>
#include <string>

#include <syncws/syncws.hpp>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: file_sender URI FILE\n";
        return 2;
    }
    std::ifstream file(argv[2], std::ios::binary);
    if (!file) {
        std::cerr << "file_sender: cannot open " << argv[2] << "\n";
        return 1;
    }
    try {
        syncws::client_options options;
        options.compression.enabled = false;  // see file_receiver.cpp
        auto ws = syncws::connect(argv[1], options);

        // A fragment says whether it is the last one, so read one chunk ahead: the chunk
        // in hand is the last when nothing follows it. An empty file is one empty fragment.
        constexpr std::size_t chunk_size = 64 * 1024;
        std::string chunk(chunk_size, '\0'), next(chunk_size, '\0');
        const auto read_into = [&](std::string& buffer) {
            buffer.resize(chunk_size);
            file.read(buffer.data(), chunk_size);
            buffer.resize(static_cast<std::size_t>(file.gcount()));
            return !file.bad();
        };
        bool ok = read_into(chunk);
        while (ok) {
            ok = read_into(next);
            if (!ok) break;
            const bool last = next.empty();
            ws.send_fragment(chunk, last, syncws::message_type::binary);
            if (last) break;
            chunk.swap(next);
        }
        if (!ok) {
            // A message cannot be taken back: closing with an error tells the server to drop it.
            ws.close(syncws::core::close_code::internal_error, "cannot read the file");
            std::cerr << "file_sender: error reading " << argv[2] << "\n";
            return 1;
        }
        std::cout << ws.recv().data << std::endl;
    } catch (const syncws::error& e) {
        std::cerr << "file_sender: " << e.what() << "\n";
        return 1;
    }
}

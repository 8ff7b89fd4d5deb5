// Receives large files sent as fragmented binary messages, one fragment at a time, and
// answers each with its SHA-256. usage: file_receiver [PORT]   (file_sender.cpp sends)
//
// recv_fragment() hands out each fragment as soon as its frame is complete, so a file of
// any size passes through a buffer of one frame: nothing here holds the whole file.
#include <openssl/evp.h>
#include <signal.h>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <syncws/syncws.hpp>

namespace {

// SHA-256 with OpenSSL (which syncws links already), fed piece by piece.
class sha256 {
public:
    sha256() { EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr); }
    void update(const std::string& bytes) { EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()); }
    std::string hex_digest() {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int size = 0;
        EVP_DigestFinal_ex(context_.get(), digest, &size);
        static constexpr char digits[] = "0123456789abcdef";
        std::string hex;
        for (unsigned int i = 0; i < size; ++i) {
            hex += digits[digest[i] >> 4];
            hex += digits[digest[i] & 0xf];
        }
        return hex;
    }

private:
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context_{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

}  // namespace

int main(int argc, char** argv) {
    sigset_t stop_signals;  // blocked in every thread; the main thread waits for them below
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::server_options options;
    options.host = "127.0.0.1";
    options.port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8765);
    // The size limit counts the whole message even when it is read fragment by fragment, so
    // it is the largest file accepted. It also bounds one frame, which is buffered whole:
    // a client that sends a file as a single frame costs that much memory.
    options.settings.max_message_size = std::size_t{1} << 30;  // 1 GiB
    // Already-compressed files (most large ones) gain nothing from permessage-deflate.
    options.compression.enabled = false;

    syncws::server server(options, [](syncws::server_connection& ws) {
        // One file per message, as many as the client sends; recv_fragment() throws
        // connection_closed once the client has closed, which ends the handler.
        for (;;) {
            sha256 hash;
            std::uint64_t size = 0;
            syncws::fragment piece;
            do {
                piece = ws.recv_fragment();
                hash.update(piece.data);
                size += piece.data.size();
            } while (!piece.fin);
            ws.send("sha256 " + hash.hex_digest() + " bytes " + std::to_string(size));
        }
    });
    server.start();
    std::cout << "listening on ws://" << server.address() << std::endl;

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server.shutdown();
}

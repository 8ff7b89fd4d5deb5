// raw_echo_server: the limit the WebSocket servers are measured against. A blocking TCP echo
// server with a thread created per connection (the plainest threaded server there is) and
// the same 64 KiB reads as syncws; no framing: every byte read is written back.
//
// With --websocket it is instead the floor under every WebSocket server: after the opening
// handshake, the complete frames of each read are unmasked into server frames (same opcode
// and FIN; a ping's echo is a pong, a close's ends the connection) and written back with one
// write, as the raw echo writes what it read. That is the least any WebSocket server must do
// per message; it checks nothing else (it only serves our load generator), and takes frames
// of up to 1 MiB, the largest the scenarios send: every row where the question is whether a
// target is reachable at all by a WebSocket server.
//
//   raw_echo_server [--host 127.0.0.1] [--port 0] [--tls-cert FILE --tls-key FILE] [--websocket]
//
// Prints "listening on tcp://HOST:PORT" (tls:// with a certificate, ws:// with --websocket)
// once it accepts.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "lean_mask.hpp"

namespace {

constexpr std::size_t buffer_size = 64 * 1024;  // as syncws's receive buffer

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "raw_echo_server: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

// The byte stream of one connection, plain or TLS.
struct stream {
    int fd;
    SSL* ssl = nullptr;

    ssize_t read(char* data, std::size_t size) const {
        if (ssl) return SSL_read(ssl, data, static_cast<int>(size));
        ssize_t n;
        while ((n = ::recv(fd, data, size, 0)) < 0 && errno == EINTR) {
        }
        return n;
    }
    bool write_all(const char* data, std::size_t size) const {
        while (size > 0) {
            const ssize_t n = ssl ? SSL_write(ssl, data, static_cast<int>(size))
                                  : ::send(fd, data, size, MSG_NOSIGNAL);
            if (n <= 0) {
                if (!ssl && n < 0 && errno == EINTR) continue;
                return false;
            }
            data += n;
            size -= static_cast<std::size_t>(n);
        }
        return true;
    }
};

void echo(stream s) {
    // Not zero-filled: only the pages a read touches become resident, as in a lean server.
    const std::unique_ptr<char[]> buffer(new char[buffer_size]);
    for (;;) {
        const ssize_t n = s.read(buffer.get(), buffer_size);
        if (n <= 0 || !s.write_all(buffer.get(), static_cast<std::size_t>(n))) break;
    }
}

// ------------------------------------------------------------------ --websocket

constexpr std::size_t max_head = 8 * 1024;
// A whole frame of the largest message the scenarios send (1 MiB) with its longest header:
// the floor echoes complete frames, as a WebSocket server delivers complete messages.
constexpr std::size_t max_frame = 1024 * 1024 + 14;

// Reads the opening handshake's request head into buffer and answers it with 101; returns
// how many bytes of buffer follow the head (the first frames), or -1.
long accept_websocket(const stream& s, char* buffer) {
    std::size_t have = 0;
    std::string_view head;
    while (head.empty()) {
        const ssize_t n = s.read(buffer + have, max_head - have);
        if (n <= 0) return -1;
        have += static_cast<std::size_t>(n);
        const std::string_view bytes(buffer, have);
        const auto end = bytes.find("\r\n\r\n");
        if (end != std::string_view::npos) head = bytes.substr(0, end + 4);
        else if (have == max_head) return -1;
    }
    std::string lowered(head);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto name = lowered.find("\r\nsec-websocket-key:");
    if (name == std::string::npos) return -1;
    const auto start = head.find_first_not_of(" \t", name + 20);
    const std::string key =
        std::string(head.substr(start, head.find("\r\n", start) - start)) +
        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest);
    char accept[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(accept), digest, SHA_DIGEST_LENGTH);
    const std::string response = std::string("HTTP/1.1 101 Switching Protocols\r\n"
                                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                             "Sec-WebSocket-Accept: ") + accept + "\r\n\r\n";
    if (!s.write_all(response.data(), response.size())) return -1;
    std::memmove(buffer, buffer + head.size(), have - head.size());
    return static_cast<long>(have - head.size());
}

// Turns the complete client frames at the start of in[0, size) into server frames in out;
// returns the bytes of in used, and sets out_size, closed (a close frame was echoed) and
// next_frame (the whole size of the incomplete frame left, when its header is in).
// -1: a frame the floor does not take (unmasked, or larger than max_frame).
long echo_frames(const unsigned char* in, std::size_t size, char* out, std::size_t& out_size,
                 bool& closed, std::size_t& next_frame) {
    std::size_t used = 0;
    out_size = 0;
    next_frame = 0;
    while (!closed && size - used >= 2) {
        const unsigned char* frame = in + used;
        if (!(frame[1] & 0x80)) return -1;
        // The length's own size: 7 bits, or 16 or 64 after them (RFC 6455 section 5.2).
        const unsigned code = frame[1] & 0x7f;
        const std::size_t extended = code == 127 ? 8 : code == 126 ? 2 : 0, header = 2 + extended;
        if (size - used < header) break;
        std::uint64_t length = code;
        if (extended > 0) {
            length = 0;
            for (std::size_t i = 0; i < extended; ++i) length = (length << 8) | frame[2 + i];
        }
        if (length > max_frame - header - 4) return -1;
        if (size - used < header + 4 + length) {
            next_frame = header + 4 + length;
            break;
        }
        const unsigned char* key = frame + header;
        const unsigned char* payload = key + 4;
        const unsigned op = frame[0] & 0x0f;
        char* echo = out + out_size;
        echo[0] = static_cast<char>((frame[0] & 0xf0) | (op == 9 ? 10 : op));
        echo[1] = static_cast<char>(code);
        std::memcpy(echo + 2, frame + 2, extended);
        bench::lean_mask_copy(echo + header, reinterpret_cast<const char*>(payload), length, key);
        out_size += header + length;
        used += header + 4 + length;
        closed = op == 8;
    }
    return static_cast<long>(used);
}

// A buffer that grows to the largest frame seen: a connection echoing small messages holds
// 64 KiB like the raw echo, not the 1 MiB a large message needs.
struct frame_buffer {
    std::unique_ptr<char[]> data{new char[buffer_size]};
    std::size_t size = buffer_size;

    void fit(std::size_t frame, std::size_t keep) {
        if (frame <= size) return;
        std::unique_ptr<char[]> larger(new char[frame]);
        std::memcpy(larger.get(), data.get(), keep);
        data = std::move(larger);
        size = frame;
    }
};

void echo_websocket(const stream& s) {
    // A server frame is 4 bytes shorter than the client frame it echoes: out never overflows.
    frame_buffer in, out;
    long pending = accept_websocket(s, in.data.get());
    bool closed = false;
    while (pending >= 0 && !closed) {
        const ssize_t n = s.read(in.data.get() + pending, in.size - static_cast<std::size_t>(pending));
        if (n <= 0) break;
        const std::size_t have = static_cast<std::size_t>(pending + n);
        std::size_t out_size = 0, next_frame = 0;
        const long used = echo_frames(reinterpret_cast<unsigned char*>(in.data.get()), have,
                                      out.data.get(), out_size, closed, next_frame);
        if (used < 0) {
            std::fprintf(stderr, "raw_echo_server: a frame --websocket does not take\n");
            break;
        }
        if (out_size > 0 && !s.write_all(out.data.get(), out_size)) break;
        pending = static_cast<long>(have - static_cast<std::size_t>(used));
        std::memmove(in.data.get(), in.data.get() + used, static_cast<std::size_t>(pending));
        in.fit(next_frame, static_cast<std::size_t>(pending));
        out.fit(next_frame, 0);
    }
}

// ------------------------------------------------------------------ connections

void serve_connection(int fd, SSL_CTX* tls, bool websocket) {
    stream s{fd};
    if (websocket) {
        echo_websocket(s);
    } else if (tls) {
        s.ssl = SSL_new(tls);
        SSL_set_fd(s.ssl, fd);
        if (SSL_accept(s.ssl) == 1) echo(s);
        SSL_shutdown(s.ssl);
        SSL_free(s.ssl);
    } else {
        echo(s);
    }
    ::close(fd);
}

SSL_CTX* make_tls(const std::string& cert, const std::string& key) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        std::exit(1);
    }
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return ctx;
}

int listen_on(const std::string& host, int port, std::uint16_t& bound_port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) die("bad IPv4 address " + host);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("bind");
    if (::listen(fd, SOMAXCONN) != 0) die("listen");
    socklen_t length = sizeof address;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    bound_port = ntohs(address.sin_port);
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1", cert, key;
    int port = 0;
    bool websocket = false;
    for (int i = 1; i < argc; ++i) {
        const std::string option = argv[i];
        if (option == "--websocket") {
            websocket = true;
            continue;
        }
        if (i + 1 == argc) die("option " + option + " needs a value");
        const std::string value = argv[++i];
        if (option == "--host") host = value;
        else if (option == "--port") port = std::atoi(value.c_str());
        else if (option == "--tls-cert") cert = value;
        else if (option == "--tls-key") key = value;
        else die("unknown option " + option);
    }
    ::signal(SIGPIPE, SIG_IGN);
    if (websocket && !cert.empty()) die("--websocket is plain TCP only");
    SSL_CTX* tls = cert.empty() ? nullptr : make_tls(cert, key);
    std::uint16_t bound = 0;
    const int listener = listen_on(host, port, bound);
    std::printf("listening on %s://%s:%u%s\n", websocket ? "ws" : tls ? "tls" : "tcp", host.c_str(),
                bound, websocket ? "/" : "");
    std::fflush(stdout);
    for (;;) {
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
            die("accept");
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::thread(serve_connection, fd, tls, websocket).detach();
    }
}

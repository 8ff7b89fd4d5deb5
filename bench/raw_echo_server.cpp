// raw_echo_server: the limit the WebSocket servers are measured against. A blocking TCP echo
// server with a thread created per connection (the plainest threaded server there is) and
// the same 64 KiB reads as syncws; no framing: every byte read is written back.
//
//   raw_echo_server [--host 127.0.0.1] [--port 0] [--tls-cert FILE --tls-key FILE]
//
// Prints "listening on tcp://HOST:PORT" (tls:// with a certificate) once it accepts.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

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

void serve_connection(int fd, SSL_CTX* tls) {
    stream s{fd};
    if (tls) {
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
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string option = argv[i], value = argv[i + 1];
        if (option == "--host") host = value;
        else if (option == "--port") port = std::atoi(value.c_str());
        else if (option == "--tls-cert") cert = value;
        else if (option == "--tls-key") key = value;
        else die("unknown option " + option);
    }
    ::signal(SIGPIPE, SIG_IGN);
    SSL_CTX* tls = cert.empty() ? nullptr : make_tls(cert, key);
    std::uint16_t bound = 0;
    const int listener = listen_on(host, port, bound);
    std::printf("listening on %s://%s:%u\n", tls ? "tls" : "tcp", host.c_str(), bound);
    std::fflush(stdout);
    for (;;) {
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE) continue;
            die("accept");
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::thread(serve_connection, fd, tls).detach();
    }
}

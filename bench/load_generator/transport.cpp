#include "transport.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "split_tls.hpp"

namespace loadgen {

namespace {

[[noreturn]] void fail_errno(const std::string& what) {
    throw bench_error(what + ": " + std::strerror(errno));
}

std::string openssl_error(const std::string& what) {
    char text[256] = "unknown error";
    if (const unsigned long code = ERR_get_error()) ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    return what + ": " + text;
}

// The benchmarks use numeric loopback addresses; no resolver in the connection-rate loop.
sockaddr_storage numeric_address(const std::string& host, std::uint16_t port, socklen_t& length) {
    sockaddr_storage storage{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        length = sizeof *v6;
    } else {
        throw bench_error("not a numeric address: " + host);
    }
    return storage;
}

// The connection-rate scenario opens tens of thousands of connections. The side that closes
// first keeps each one in TIME_WAIT for a minute, and when that is the client (raw TCP: the
// client's FIN ends the echo) connect() soon spends its time searching the 28k ephemeral
// ports for a free one, which would slow the raw server's row for a reason of ours. Spreading
// the connections over source addresses 127.0.0.2-251 (IP_BIND_ADDRESS_NO_PORT: the port is
// still chosen by connect) gives every server the same ample supply of ports.
void spread_loopback_source(int fd, const sockaddr_storage& destination) {
    if (destination.ss_family != AF_INET) return;
    const auto& to = reinterpret_cast<const sockaddr_in&>(destination);
    if ((ntohl(to.sin_addr.s_addr) >> 24) != 127) return;
    static std::atomic<std::uint32_t> next{0};
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl((127u << 24) | (2 + next++ % 250));
    const int one = 1;
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) fail_errno("bind");
}

int connect_tcp(const std::string& host, std::uint16_t port) {
    socklen_t length = 0;
    const sockaddr_storage address = numeric_address(host, port, length);
    const int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_errno("socket");
    spread_loopback_source(fd, address);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), length) != 0) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        fail_errno("connect to " + host + ":" + std::to_string(port));
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

class tcp_transport : public transport {
public:
    explicit tcp_transport(int fd) : transport(fd) {}

    ssize_t write_some(const char* data, std::size_t size, bool block) override {
        for (;;) {
            const ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT));
            if (n >= 0) return n;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return would_block;
            if (errno != EINTR) fail_errno("send");
        }
    }

    ssize_t read_some(char* data, std::size_t size, bool block) override {
        for (;;) {
            const ssize_t n = ::recv(fd_, data, size, block ? 0 : MSG_DONTWAIT);
            if (n >= 0) return n;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return would_block;
            if (errno != EINTR) fail_errno("recv");
        }
    }
};

// OpenSSL's handshake on fd (which stays the caller's); secrets, when given, receive the
// traffic secrets through the context's key-log callback.
ssl_st* tls_handshake(int fd, const tls_client_context& context, traffic_secrets* secrets) {
    ssl_st* ssl = SSL_new(context.get());
    if (ssl && SSL_set_app_data(ssl, secrets) == 1 && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1)
        return ssl;
    const std::string error = openssl_error("TLS handshake");
    SSL_free(ssl);
    throw bench_error(error);
}

class tls_transport : public transport {
public:
    // On a throw the base class closes the socket.
    tls_transport(int fd, const tls_client_context& context)
        : transport(fd), ssl_(tls_handshake(fd, context, nullptr)) {}
    ~tls_transport() override { SSL_free(ssl_); }

    void allow_nonblocking() override {
        const int flags = ::fcntl(fd_, F_GETFL);
        ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
        nonblocking_ = true;
    }

    // With the socket non-blocking, every call is; `block` then only documents intent and
    // the caller waits in poll().
    ssize_t write_some(const char* data, std::size_t size, bool block) override {
        return result(SSL_write(ssl_, data, static_cast<int>(size)), block, "TLS write");
    }

    ssize_t read_some(char* data, std::size_t size, bool block) override {
        return result(SSL_read(ssl_, data, static_cast<int>(size)), block, "TLS read");
    }

    void shutdown_write() override {
        SSL_shutdown(ssl_);
        transport::shutdown_write();
    }

private:
    ssize_t result(int rc, bool block, const char* what) {
        if (rc > 0) return rc;
        switch (SSL_get_error(ssl_, rc)) {
            case SSL_ERROR_ZERO_RETURN: return end_of_stream;
            case SSL_ERROR_WANT_READ:
            case SSL_ERROR_WANT_WRITE:
                if (block && !nonblocking_) break;
                return would_block;
            default: break;
        }
        throw bench_error(openssl_error(what));
    }

    ssl_st* ssl_ = nullptr;
    bool nonblocking_ = false;
};

}  // namespace

transport::~transport() { ::close(fd_); }

void transport::wait(bool want_write) const {
    pollfd p{fd_, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
    while (::poll(&p, 1, -1) < 0) {
        if (errno != EINTR) fail_errno("poll");
    }
}

void transport::write_all(const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = write_some(data, size, true);
        if (n == would_block) {
            wait(true);
            continue;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

void transport::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

tls_client_context::tls_client_context(bool duplex) : ctx_(SSL_CTX_new(TLS_client_method())) {
    if (!ctx_) throw bench_error(openssl_error("SSL_CTX_new"));
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    // A server that closes without close_notify has still ended the stream.
    SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Pipelined writes hand OpenSSL a buffer that may grow (and move) between retries.
    SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (duplex) {
        // split_tls: TLS 1.3 records, keyed from the secrets the key log reports.
        SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
        SSL_CTX_set_keylog_callback(ctx_, [](const SSL* ssl, const char* line) {
            if (auto* secrets = static_cast<traffic_secrets*>(SSL_get_app_data(ssl))) secrets->take(line);
        });
    }
    duplex_ = duplex;
}

tls_client_context::~tls_client_context() { SSL_CTX_free(ctx_); }

std::unique_ptr<transport> open_transport(const std::string& host, std::uint16_t port,
                                          const tls_client_context* tls) {
    const int fd = connect_tcp(host, port);
    if (!tls) return std::make_unique<tcp_transport>(fd);
    if (!tls->duplex()) return std::make_unique<tls_transport>(fd, *tls);
    traffic_secrets secrets;
    ssl_st* ssl = nullptr;
    try {
        ssl = tls_handshake(fd, *tls, &secrets);
    } catch (...) {
        ::close(fd);
        throw;
    }
    return split_tls_transport(fd, ssl, secrets);
}

}  // namespace loadgen

// Plain sockets for the load generator: TCP, or TLS through OpenSSL, nothing in between.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <sys/types.h>

struct ssl_ctx_st;
struct ssl_st;

namespace loadgen {

/// A failure the benchmark must report: a refused connection, a reset, a corrupt echo.
class bench_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// What read_some() and write_some() return besides a byte count.
inline constexpr ssize_t end_of_stream = 0;
inline constexpr ssize_t would_block = -1;

/// One connection. Blocking calls are the fast path of strict ping-pong (one syscall per
/// direction); non-blocking calls plus wait() drive pipelined traffic from a single
/// thread, where a blocking write could deadlock against a server that echoes while we
/// are still writing.
class transport {
public:
    virtual ~transport();
    transport(const transport&) = delete;
    transport& operator=(const transport&) = delete;

    /// Bytes written (> 0) or would_block (only when !block). Throws bench_error.
    virtual ssize_t write_some(const char* data, std::size_t size, bool block) = 0;
    /// Bytes read (> 0), end_of_stream, or would_block (only when !block).
    virtual ssize_t read_some(char* data, std::size_t size, bool block) = 0;
    /// Non-blocking calls only work after this (TLS needs O_NONBLOCK on the socket).
    virtual void allow_nonblocking() {}
    /// Waits until the socket is readable (or writable, when want_write).
    void wait(bool want_write) const;

    void write_all(const char* data, std::size_t size);
    /// Half-closes (TCP FIN, or TLS close_notify then FIN).
    virtual void shutdown_write();
    int fd() const { return fd_; }

protected:
    explicit transport(int fd) : fd_(fd) {}
    int fd_;
};

/// Client-side TLS settings shared by all connections: no verification (the servers use a
/// throwaway self-signed certificate). With duplex, its connections are TLS 1.3 and
/// full-duplex: one thread may write while another reads (split_tls.hpp).
class tls_client_context {
public:
    explicit tls_client_context(bool duplex = false);
    ~tls_client_context();
    tls_client_context(const tls_client_context&) = delete;
    tls_client_context& operator=(const tls_client_context&) = delete;
    ssl_ctx_st* get() const { return ctx_; }
    bool duplex() const { return duplex_; }

private:
    ssl_ctx_st* ctx_;
    bool duplex_ = false;
};

/// Connects to host:port with TCP_NODELAY; with tls non-null, runs the TLS handshake too.
std::unique_ptr<transport> open_transport(const std::string& host, std::uint16_t port,
                                          const tls_client_context* tls);

}  // namespace loadgen

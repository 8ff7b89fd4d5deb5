// Peers for the reliability tests, each on a real loopback socket:
// - raw_client: a WebSocket client on a plain socket that sends exactly the bytes a test
//   gives it (masked frames, headers announcing more than follows) and reads with a bound;
// - peer_process: a child process holding one end of a connection, so that a test can kill
//   it (SIGKILL) or freeze it (SIGSTOP) as a real peer dies or hangs;
// - tool_server: `syncws serve --echo` from the build, in a process of its own (meson gives
//   its path in the SYNCWS_TOOL environment variable).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <doctest.h>

#include "syncws/core/close.hpp"
#include "syncws/core/frame.hpp"
#include "syncws/core/mask.hpp"

extern char** environ;

namespace reliability {

using syncws::core::opcode;

/// A masked client frame announcing `announced` payload bytes (the payload's size unless
/// given), with the payload that follows.
inline std::string client_frame(opcode op, const std::string& payload, bool fin = true,
                                std::uint64_t announced = UINT64_MAX) {
    const syncws::core::mask_key key{0x12, 0x34, 0x56, 0x78};
    unsigned char header[syncws::core::max_frame_header_size];
    const std::size_t n = syncws::core::encode_frame_header(
        header, fin, false, op, announced == UINT64_MAX ? payload.size() : announced, &key);
    std::string masked = payload;
    syncws::core::apply_mask(masked.data(), masked.size(), key);
    return std::string(reinterpret_cast<const char*>(header), n) + masked;
}

/// A WebSocket client made of a plain socket. Reads and writes give up after 20 s (they
/// throw), so that a test fails instead of hanging.
class raw_client {
public:
    explicit raw_client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        timeval tv{20, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE_MESSAGE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0,
                        std::strerror(errno));
    }
    raw_client(raw_client&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}
    raw_client& operator=(raw_client&&) = delete;
    ~raw_client() { close(); }

    int fd() const { return fd_; }
    /// Gives the socket away (to a peer_process).
    int release() { return std::exchange(fd_, -1); }
    void close() {
        if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    }

    static std::string request() {
        return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    }

    void send_bytes(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    /// The head of one HTTP response, up to its empty line.
    std::string read_head() {
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill()) throw std::runtime_error("the server closed before a whole response: " + buffer_);
        std::string head = buffer_.substr(0, end + 4);
        buffer_.erase(0, end + 4);
        return head;
    }

    void open_websocket() {
        send_bytes(request());
        const std::string head = read_head();
        REQUIRE_MESSAGE(head.rfind("HTTP/1.1 101 ", 0) == 0, head);
    }

    void send_frame(opcode op, const std::string& payload, bool fin = true) {
        send_bytes(client_frame(op, payload, fin));
    }

    struct frame {
        opcode op;
        std::string payload;
        std::uint16_t close_code() const {
            REQUIRE(op == opcode::close);
            REQUIRE(payload.size() >= 2);
            return static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                              static_cast<unsigned char>(payload[1]));
        }
    };

    /// The next frame from the server; pings (keepalive) are answered and skipped.
    frame read_frame() {
        for (;;) {
            frame f = read_any_frame();
            if (f.op == opcode::ping) {
                send_frame(opcode::pong, f.payload);
                continue;
            }
            return f;
        }
    }

    frame read_any_frame() {
        for (;;) {
            syncws::core::frame_header header;
            std::size_t size = 0;
            const auto status = syncws::core::decode_frame_header(
                reinterpret_cast<const unsigned char*>(buffer_.data()), buffer_.size(), &header, &size);
            REQUIRE(status != syncws::core::decode_status::invalid_length);
            if (status == syncws::core::decode_status::ok && buffer_.size() >= size + header.payload_length) {
                frame f{header.op, buffer_.substr(size, header.payload_length)};
                buffer_.erase(0, size + header.payload_length);
                return f;
            }
            if (!fill()) throw std::runtime_error("the server closed the connection instead of sending a frame");
        }
    }

    /// Echo round trip of one text message.
    void check_echo(const std::string& text) {
        send_frame(opcode::text, text);
        const frame f = read_frame();
        CHECK(f.op == opcode::text);
        CHECK(f.payload == text);
    }

    /// Reads and drops everything until the server ends the stream; true on EOF or reset.
    bool read_until_closed() {
        buffer_.clear();
        while (fill()) buffer_.clear();
        return true;
    }

    /// Our close, the server's answer, its end of stream.
    void close_cleanly() {
        send_frame(opcode::close, syncws::core::close_frame{1000, ""}.serialize());
        CHECK(read_frame().close_code() == 1000);
        read_until_closed();
        close();
    }

private:
    // One read into the buffer; false at the end of the stream or a reset.
    bool fill() {
        char data[65536];
        for (;;) {
            const ssize_t n = ::recv(fd_, data, sizeof data, 0);
            if (n > 0) {
                buffer_.append(data, static_cast<std::size_t>(n));
                return true;
            }
            if (n == 0) return false;
            if (errno == EINTR) continue;
            if (errno == ECONNRESET) return false;
            if (errno == EAGAIN || errno == EWOULDBLOCK) throw std::runtime_error("timed out reading from the server");
            throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
        }
    }

    int fd_ = -1;
    std::string buffer_;
};

/// A child process that holds one end of a connection. The parent's copy of the socket is
/// closed, so the connection lives and dies with the child: SIGKILL ends it as a crash
/// would (the kernel closes the socket), SIGSTOP freezes the peer while the kernel still
/// acknowledges what arrives.
///
/// The child is a fork() of a multi-threaded process, so body(socket) may only make
/// async-signal-safe calls (write, read, send ...); every byte it needs is prepared before.
/// After body, the child tells the parent (wait_ready) and waits to be killed.
class peer_process {
public:
    template <class Body>
    peer_process(int socket, Body body) {
        int ready[2];
        REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(ready[0]);
            body(socket);
            const char byte = 1;
            (void)!::write(ready[1], &byte, 1);
            for (;;) ::pause();
        }
        ::close(ready[1]);
        ::close(socket);
        ready_ = ready[0];
    }
    peer_process(const peer_process&) = delete;
    peer_process& operator=(const peer_process&) = delete;
    ~peer_process() {
        kill(SIGKILL);
        ::close(ready_);
    }

    /// True once body has returned in the child.
    bool wait_ready(std::chrono::milliseconds bound = std::chrono::seconds(20)) {
        pollfd p{ready_, POLLIN, 0};
        char byte;
        return ::poll(&p, 1, static_cast<int>(bound.count())) == 1 && ::read(ready_, &byte, 1) == 1;
    }

    void signal(int number) {
        if (pid_ > 0) ::kill(pid_, number);
    }
    /// Sends the signal and, for SIGKILL, waits until the process is gone.
    void kill(int number) {
        if (pid_ <= 0) return;
        ::kill(pid_, number);
        if (number == SIGKILL) {
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int ready_ = -1;
};

/// Writes all of bytes with write(2) only (usable in a peer_process body).
inline bool write_all(int fd, const char* bytes, std::size_t size) noexcept {
    while (size > 0) {
        const ssize_t n = ::write(fd, bytes, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// `syncws serve --echo --port 0` from the build, in a process of its own. Its stderr is
/// the test's.
class tool_server {
public:
    tool_server() {
        const char* tool = std::getenv("SYNCWS_TOOL");
        REQUIRE_MESSAGE(tool != nullptr, "SYNCWS_TOOL must name the syncws executable");
        int out[2];
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        const char* argv[] = {tool, "serve", "--echo", "--port", "0", nullptr};
        const int rc = ::posix_spawn(&pid_, tool, &actions, nullptr, const_cast<char**>(argv), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        REQUIRE_MESSAGE(rc == 0, std::strerror(rc));
        // "listening on ws://127.0.0.1:PORT"
        std::string line;
        char c;
        pollfd p{out[0], POLLIN, 0};
        while (line.find('\n') == std::string::npos && ::poll(&p, 1, 20000) == 1 && ::read(out[0], &c, 1) == 1)
            line += c;
        stdout_ = out[0];  // kept open: a write to a closed pipe would kill the server
        const auto colon = line.rfind(':');
        if (line.rfind("listening on ws://", 0) != 0 || colon == std::string::npos) {
            kill(SIGKILL);  // the destructor of a half-made object does not run
            ::close(stdout_);
            FAIL("syncws serve did not start: " << line);
        }
        port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    }
    tool_server(const tool_server&) = delete;
    tool_server& operator=(const tool_server&) = delete;
    ~tool_server() {
        kill(SIGKILL);
        ::close(stdout_);
    }

    std::string uri() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }
    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }

    void signal(int number) {
        if (pid_ > 0) ::kill(pid_, number);
    }
    void kill(int number) {
        if (pid_ <= 0) return;
        if (number == SIGKILL) ::kill(pid_, SIGCONT);  // harmless; a stopped child dies either way
        ::kill(pid_, number);
        if (number == SIGKILL) {
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }

private:
    pid_t pid_ = -1;
    int stdout_ = -1;
    std::uint16_t port_ = 0;
};

}  // namespace reliability

#include "socket_transport.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "syncws/core/error.hpp"

namespace syncws::detail {

void set_close_on_exec(int fd) noexcept {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}


namespace {

// SO_RCVTIMEO / SO_SNDTIMEO take a timeval; zero means "no timeout".
timeval to_timeval(clock::duration d) {
    const auto us = std::max<long long>(
        1, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(us / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
    return tv;
}

// The socket's own timeouts, so that a blocking read or write costs one system call and still
// honours a deadline. The value last set is cached: the common case (no deadline, or the same
// one) costs no setsockopt.
class socket_timeout {
public:
    explicit socket_timeout(int option) : option_(option) {}

    /// Arms the timeout for deadline; false if the deadline already passed.
    bool arm(int fd, clock::time_point deadline) {
        if (deadline == no_deadline) return set(fd, timeval{}, true);
        const auto remaining = deadline - clock::now();
        if (remaining <= clock::duration::zero()) return false;
        return set(fd, to_timeval(remaining), false);
    }

private:
    bool set(int fd, timeval tv, bool infinite) {
        if (infinite && infinite_) return true;
        ::setsockopt(fd, SOL_SOCKET, option_, &tv, sizeof tv);
        infinite_ = infinite;
        return true;
    }

    int option_;
    bool infinite_ = true;  // a new socket has no timeout
};

[[noreturn]] void throw_network_error(const char* what, int error_number) {
    throw syncws::error(std::string(what) + ": " + std::strerror(error_number));
}

class socket_transport final : public transport {
public:
    /// Owns fd from now on.
    socket_transport(int fd, std::string local, std::string remote)
        : fd_(fd), local_(std::move(local)), remote_(std::move(remote)) {}

    ~socket_transport() override { ::close(fd_); }

    read_result read(char* buffer, std::size_t size, clock::time_point deadline) override {
        for (;;) {
            if (!receive_timeout_.arm(fd_, deadline)) return {read_status::timeout};
            const ssize_t n = ::recv(fd_, buffer, size, 0);
            if (n > 0) return {read_status::data, static_cast<std::size_t>(n)};
            if (n == 0) return {read_status::eof};
            if (errno == EINTR) continue;
            // The socket's timeout fired; loop to check the deadline (the timeout is rounded).
            if (errno == EAGAIN || errno == EWOULDBLOCK) continue;
            if (aborted_.load()) return {read_status::eof};
            throw_network_error("cannot read from the connection", errno);
        }
    }

    read_result try_read(char* buffer, std::size_t size) override {
        for (;;) {
            const ssize_t n = ::recv(fd_, buffer, size, MSG_DONTWAIT);
            if (n > 0) return {read_status::data, static_cast<std::size_t>(n)};
            if (n == 0) return {read_status::eof};
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return {read_status::would_block};
            if (aborted_.load()) return {read_status::eof};
            throw_network_error("cannot read from the connection", errno);
        }
    }

    void write(const std::vector<std::string_view>& pieces, clock::time_point deadline) override {
        std::size_t index = 0;   // first piece not fully written
        std::size_t offset = 0;  // bytes of it already written
        while (index < pieces.size()) {
            if (!send_timeout_.arm(fd_, deadline))
                throw timeout_error("timed out sending: the peer is not reading");
            const ssize_t n = send_pieces(pieces, index, offset, 0);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
                throw_network_error("cannot write to the connection", errno);
            }
            advance(pieces, index, offset, static_cast<std::size_t>(n));
        }
    }

    std::size_t try_write(const std::vector<std::string_view>& pieces) override {
        std::size_t index = 0, offset = 0, total = 0;
        while (index < pieces.size()) {
            const ssize_t n = send_pieces(pieces, index, offset, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                throw_network_error("cannot write to the connection", errno);
            }
            advance(pieces, index, offset, static_cast<std::size_t>(n));
            total += static_cast<std::size_t>(n);
        }
        return total;
    }

    void shutdown_write() noexcept override { ::shutdown(fd_, SHUT_WR); }

    void abort() noexcept override {
        // shutdown, not close: the descriptor stays ours until destruction, so a thread still
        // inside recv() can never end up reading a descriptor the OS reused.
        aborted_.store(true);
        ::shutdown(fd_, SHUT_RDWR);
    }

    int native_handle() const noexcept override { return fd_; }
    std::string local_address() const override { return local_; }
    std::string remote_address() const override { return remote_; }

private:
    // One gather write of the unwritten pieces: header and payload leave in one segment.
    ssize_t send_pieces(const std::vector<std::string_view>& pieces, std::size_t index,
                        std::size_t offset, int flags) {
        iovec vectors[64];
        std::size_t count = 0;
        for (std::size_t i = index; i < pieces.size() && count < std::size(vectors); ++i) {
            const std::size_t skip = i == index ? offset : 0;
            vectors[count].iov_base = const_cast<char*>(pieces[i].data() + skip);
            vectors[count].iov_len = pieces[i].size() - skip;
            ++count;
        }
        msghdr message{};
        message.msg_iov = vectors;
        message.msg_iovlen = count;
        return ::sendmsg(fd_, &message, flags | MSG_NOSIGNAL);
    }

    static void advance(const std::vector<std::string_view>& pieces, std::size_t& index,
                        std::size_t& offset, std::size_t n) {
        while (n > 0 && index < pieces.size()) {
            const std::size_t left = pieces[index].size() - offset;
            if (n < left) {
                offset += n;
                return;
            }
            n -= left;
            ++index;
            offset = 0;
        }
        while (index < pieces.size() && pieces[index].size() == offset) {
            ++index;
            offset = 0;
        }
    }

    int fd_ = -1;
    std::string local_;
    std::string remote_;
    socket_timeout receive_timeout_{SO_RCVTIMEO};
    socket_timeout send_timeout_{SO_SNDTIMEO};
    std::atomic<bool> aborted_{false};
};

}  // namespace

asio::io_context& io() {
    static asio::io_context* const context = new asio::io_context;
    return *context;
}

std::string describe(const asio::ip::tcp::endpoint& endpoint) {
    const asio::ip::address address = endpoint.address();
    const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
    return host + ":" + std::to_string(endpoint.port());
}

std::string describe(const asio::local::stream_protocol::endpoint& endpoint) {
    return endpoint.path();
}

namespace {

// Every frame is one gather write, so Nagle's algorithm would only add delay.
void set_no_delay(int fd) noexcept {
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// The local (or with peer, the remote) address of a socket, as an Asio endpoint.
template <class Endpoint>
Endpoint endpoint_of(int fd, bool peer) {
    Endpoint endpoint;
    auto size = static_cast<socklen_t>(endpoint.capacity());
    if ((peer ? ::getpeername(fd, endpoint.data(), &size) : ::getsockname(fd, endpoint.data(), &size)) == 0)
        endpoint.resize(size);
    return endpoint;
}

// Takes ownership of fd, also when this throws.
template <class Endpoint>
std::unique_ptr<transport> adopt(int fd) {
    try {
        return std::make_unique<socket_transport>(fd, describe(endpoint_of<Endpoint>(fd, false)),
                                                  describe(endpoint_of<Endpoint>(fd, true)));
    } catch (...) {
        ::close(fd);
        throw;
    }
}

}  // namespace

// The descriptor leaves Asio (release(), or never given to it when accepted): a socket Asio
// owns is registered with its epoll reactor, which nothing here runs, yet every segment that
// arrives then also wakes that epoll in the kernel, and registering and deregistering take
// a process-wide lock.
std::unique_ptr<transport> make_socket_transport(asio::ip::tcp::socket socket) {
    asio::error_code ignored;
    const int fd = socket.release(ignored);
    set_no_delay(fd);
    return adopt<asio::ip::tcp::endpoint>(fd);
}

std::unique_ptr<transport> make_socket_transport(asio::local::stream_protocol::socket socket) {
    asio::error_code ignored;
    return adopt<asio::local::stream_protocol::endpoint>(socket.release(ignored));
}

std::unique_ptr<transport> make_socket_transport(int accepted, bool unix_domain) {
    if (unix_domain) return adopt<asio::local::stream_protocol::endpoint>(accepted);
    set_no_delay(accepted);
    return adopt<asio::ip::tcp::endpoint>(accepted);
}

}  // namespace syncws::detail

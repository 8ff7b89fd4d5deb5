#include "socket_transport.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>
#include <type_traits>

#include "syncws/core/error.hpp"

namespace syncws::detail {

void set_close_on_exec(int fd) noexcept {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}


namespace {

// Waits until fd is ready for events (or has an error or hang-up for the next call to
// report); false once the deadline passed. Only a read or write that would block gets here:
// the fast path is one system call, and the socket carries no timeout state.
bool wait_ready(int fd, short events, clock::time_point deadline) {
    for (;;) {
        timespec timeout{};
        if (deadline != no_deadline) {
            const auto remaining = deadline - clock::now();
            if (remaining <= clock::duration::zero()) return false;
            const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining).count();
            timeout.tv_sec = static_cast<time_t>(ns / 1000000000);
            timeout.tv_nsec = static_cast<long>(ns % 1000000000);
        }
        pollfd p{fd, events, 0};
        const int ready = ::ppoll(&p, 1, deadline == no_deadline ? nullptr : &timeout, nullptr);
        if (ready > 0 || (ready < 0 && errno != EINTR)) return true;
    }
}

// Below this much of a frame still to come, a reader wakes for every piece: such frames
// arrive in few pieces anyway, and arming and disarming the mark are two more system calls
// (armed from 64 KiB, the server of 4 x 64 KiB echoes took more CPU per echo, not less).
constexpr std::uint64_t low_water_threshold = 128 * 1024;
// The most a reader waits to gather before it wakes. Linux grows the receive buffer to hold
// it; a 1 MiB frame then costs about 4 wake-ups rather than one per segment or TLS record,
// each of which also costs the sender's CPU the work of waking us.
constexpr std::uint64_t low_water_cap = 256 * 1024;

// Whether a TCP socket's low water mark can be trusted to wake its reader. Before Linux
// 5.12 a poll() could sleep with the mark unmet while the receive queue was full ("tcp: fix
// SO_RCVLOWAT hangs with fat skbs", 5.7, and "tcp: fix SO_RCVLOWAT related hangs under mem
// pressure", 5.12): the peer could then send nothing more. Older kernels get a wake-up per
// piece, as before. (A Unix socket's poll() ignores the mark, so it is never set there.)
bool low_water_wakes_reliably() {
    static const bool reliable = [] {
        utsname system{};
        int major = 0;
        int minor = 0;
        if (::uname(&system) != 0 || std::sscanf(system.release, "%d.%d", &major, &minor) != 2)
            return false;
        return major > 5 || (major == 5 && minor >= 12);
    }();
    return reliable;
}

[[noreturn]] void throw_network_error(const char* what, int error_number) {
    throw syncws::error(std::string(what) + ": " + std::strerror(error_number));
}

class socket_transport final : public transport {
public:
    /// Owns fd from now on. local_address names the socket's own end when asked: rarely,
    /// so a new connection does not pay a system call for it. use_low_water: whether
    /// expect_input() may set SO_RCVLOWAT (see low_water_wakes_reliably()).
    socket_transport(int fd, std::string remote, std::string (*local_address)(int fd), bool use_low_water)
        : fd_(fd), use_low_water_(use_low_water), remote_(std::move(remote)), local_address_(local_address) {}

    ~socket_transport() override { ::close(fd_); }

    read_result read(char* buffer, std::size_t size, clock::time_point deadline) override {
        // Without a deadline, one blocking call; with one, a call that does not block, and
        // only if nothing is there yet a wait for the socket to become readable. With a low
        // water mark armed, also the latter: a blocking recv() that took some bytes sleeps
        // until the mark is queued on top of them, which may be more than is coming, while
        // poll() wakes once the mark is queued, which is certain to happen.
        const int flags = deadline == no_deadline && low_water_ == 1 ? 0 : MSG_DONTWAIT;
        for (;;) {
            const ssize_t n = ::recv(fd_, buffer, size, flags);
            if (n > 0) return {read_status::data, static_cast<std::size_t>(n)};
            if (n == 0) return end_of_stream();
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!wait_ready(fd_, POLLIN, deadline)) return {read_status::timeout};
                continue;
            }
            if (aborted_.load()) return {read_status::eof};
            throw_network_error("cannot read from the connection", errno);
        }
    }

    // SO_RCVLOWAT: the kernel then wakes a poll() on the socket (ours, the monitor's epoll)
    // only once that many bytes are queued, or the stream ends, fails, or the receive buffer
    // fills. Set only when it changes: a frame arms it once and the next disarms it.
    void expect_input(std::uint64_t bytes) override {
        if (!use_low_water_) return;
        const int low_water = bytes >= low_water_threshold
                                  ? static_cast<int>(std::min(bytes, low_water_cap))
                                  : 1;
        if (low_water == low_water_) return;
        if (::setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &low_water, sizeof low_water) == 0)
            low_water_ = low_water;
    }

    read_result try_read(char* buffer, std::size_t size) override {
        for (;;) {
            const ssize_t n = ::recv(fd_, buffer, size, MSG_DONTWAIT);
            if (n > 0) return {read_status::data, static_cast<std::size_t>(n)};
            if (n == 0) return end_of_stream();
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
            const ssize_t n = send_pieces(pieces, index, offset, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    if (!wait_ready(fd_, POLLOUT, deadline))
                        throw timeout_error("timed out sending: the peer is not reading");
                    continue;
                }
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

    void shutdown_write() noexcept override {
        write_shut_.store(true);
        ::shutdown(fd_, SHUT_WR);
    }

    void abort() noexcept override {
        if (aborted_.exchange(true)) return;
        // Both directions over already (a server's usual close): no call on this socket can
        // block any more, so there is nothing to cut short and the system call is spared.
        if (write_shut_.load() && eof_read_.load()) return;
        // shutdown, not close: the descriptor stays ours until destruction, so a thread still
        // inside recv() can never end up reading a descriptor the OS reused.
        ::shutdown(fd_, SHUT_RDWR);
    }

    int native_handle() const noexcept override { return fd_; }
    std::string local_address() const override { return local_address_(fd_); }
    std::string remote_address() const override { return remote_; }

private:
    // One gather write of the unwritten pieces: header and payload leave in one segment.
    // A single piece (a small frame is built whole) goes with send(), which the kernel
    // takes on a shorter path than sendmsg()'s message header and vector import.
    ssize_t send_pieces(const std::vector<std::string_view>& pieces, std::size_t index,
                        std::size_t offset, int flags) {
        if (index + 1 == pieces.size())
            return ::send(fd_, pieces[index].data() + offset, pieces[index].size() - offset,
                          flags | MSG_NOSIGNAL);
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

    read_result end_of_stream() noexcept {
        eof_read_.store(true);
        return {read_status::eof};
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
    bool use_low_water_;
    int low_water_ = 1;  // SO_RCVLOWAT as set (the reader's own, see expect_input())
    std::string remote_;
    std::string (*local_address_)(int fd);
    std::atomic<bool> aborted_{false};
    std::atomic<bool> write_shut_{false};  // shutdown_write() was called
    std::atomic<bool> eof_read_{false};    // a read saw the peer's end of stream
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

template <class Endpoint>
std::string local_address_of(int fd) {
    return describe(endpoint_of<Endpoint>(fd, false));
}

template <class Endpoint>
std::optional<std::string> describe_as(const peer_address& peer) noexcept {
    try {
        Endpoint endpoint;
        if (peer.size > endpoint.capacity()) return std::nullopt;
        std::memcpy(endpoint.data(), &peer.storage, peer.size);
        endpoint.resize(peer.size);
        return describe(endpoint);
    } catch (...) {
        return std::nullopt;
    }
}

// Takes ownership of fd, also when this throws. The peer's address is asked of the socket
// unless the caller already named it.
template <class Endpoint>
std::unique_ptr<transport> adopt(int fd, std::optional<std::string> peer = std::nullopt) {
    try {
        if (!peer) peer = describe(endpoint_of<Endpoint>(fd, true));
        const bool use_low_water = std::is_same_v<Endpoint, asio::ip::tcp::endpoint> && low_water_wakes_reliably();
        return std::make_unique<socket_transport>(fd, std::move(*peer), &local_address_of<Endpoint>, use_low_water);
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

std::optional<std::string> describe(const peer_address& peer, bool unix_domain) noexcept {
    return unix_domain ? describe_as<asio::local::stream_protocol::endpoint>(peer)
                       : describe_as<asio::ip::tcp::endpoint>(peer);
}

std::unique_ptr<transport> make_socket_transport(int accepted, std::optional<std::string> peer,
                                                 bool unix_domain) {
    if (unix_domain) return adopt<asio::local::stream_protocol::endpoint>(accepted, std::move(peer));
    set_no_delay(accepted);
    return adopt<asio::ip::tcp::endpoint>(accepted, std::move(peer));
}

}  // namespace syncws::detail

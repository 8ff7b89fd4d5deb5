#include "tcp_connect.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <sstream>
#include <thread>

#include <asio.hpp>

#include "syncws/core/error.hpp"
#include "socket_transport.hpp"

namespace syncws::detail {

namespace {

std::string describe_target(const std::string& host, std::uint16_t port) {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Resolution has no timeout of its own, so it runs on a helper thread that we stop waiting
// for at the deadline (it then finishes in the background and its result is dropped).
asio::ip::tcp::resolver::results_type resolve(const std::string& host, std::uint16_t port,
                                              clock::time_point deadline) {
    asio::error_code ec;
    const asio::ip::address literal = asio::ip::make_address(host, ec);
    if (!ec) {
        return asio::ip::tcp::resolver::results_type::create(
            asio::ip::tcp::endpoint(literal, port), host, std::to_string(port));
    }
    auto task = std::make_shared<std::packaged_task<asio::ip::tcp::resolver::results_type()>>(
        [host, port = std::to_string(port)] {
            asio::ip::tcp::resolver resolver(io());
            return resolver.resolve(host, port);
        });
    auto result = task->get_future();
    std::thread([task] { (*task)(); }).detach();
    if (deadline != no_deadline && result.wait_until(deadline) != std::future_status::ready)
        throw timeout_error("timed out resolving " + host);
    try {
        return result.get();
    } catch (const std::system_error& e) {
        throw error("cannot resolve " + host + ": " + e.code().message());
    }
}

// Waits until a non-blocking connect completes or the deadline passes.
asio::error_code wait_connected(int fd, clock::time_point deadline) {
    pollfd p{fd, POLLOUT, 0};
    for (;;) {
        int wait_ms = -1;
        if (deadline != no_deadline) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
            if (left <= 0) return asio::error::timed_out;
            wait_ms = static_cast<int>(std::min<long long>(left, 1 << 30));
        }
        const int ready = ::poll(&p, 1, wait_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) return asio::error::timed_out;
        break;
    }
    int socket_error = 0;
    socklen_t length = sizeof socket_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &socket_error, &length);
    return asio::error_code(socket_error, asio::system_category());
}

// A connect bounded by the deadline: non-blocking connect, then poll for completion.
template <class Socket, class Endpoint>
asio::error_code connect_before(Socket& socket, const Endpoint& endpoint, clock::time_point deadline) {
    asio::error_code ec;
    socket.open(endpoint.protocol(), ec);
    if (!ec) set_close_on_exec(socket.native_handle());
    if (ec) return ec;
    socket.non_blocking(true, ec);
    socket.connect(endpoint, ec);
    if (ec == asio::error::would_block || ec == asio::error::in_progress)
        ec = wait_connected(socket.native_handle(), deadline);
    if (!ec) socket.non_blocking(false, ec);
    return ec;
}

}  // namespace

std::unique_ptr<transport> open_tcp(const std::string& host, std::uint16_t port,
                                    clock::time_point deadline) {
    std::string failures;
    bool timed_out = false;
    // Every resolved address in turn (IPv6 and IPv4), until one accepts.
    for (const auto& entry : resolve(host, port, deadline)) {
        asio::ip::tcp::socket socket(io());
        const asio::error_code ec = connect_before(socket, entry.endpoint(), deadline);
        if (!ec) return make_socket_transport(std::move(socket));
        timed_out = ec == asio::error::timed_out;
        std::ostringstream where;
        where << entry.endpoint();
        failures += (failures.empty() ? "" : "; ") + where.str() + ": " + ec.message();
        if (timed_out) break;
    }
    const std::string text = "cannot connect to " + describe_target(host, port) + " (" + failures + ")";
    if (timed_out) throw timeout_error(text);
    throw error(text);
}

std::unique_ptr<transport> open_unix(const std::string& path, clock::time_point deadline) {
    asio::local::stream_protocol::socket socket(io());
    const asio::error_code ec =
        connect_before(socket, asio::local::stream_protocol::endpoint(path), deadline);
    if (ec == asio::error::timed_out) throw timeout_error("timed out connecting to " + path);
    if (ec) throw error("cannot connect to " + path + ": " + ec.message());
    return make_socket_transport(std::move(socket));
}

}  // namespace syncws::detail

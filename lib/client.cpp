#include "syncws/client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <future>
#include <sstream>
#include <string>
#include <thread>

#include <asio.hpp>

#include "connection_engine.hpp"
#include "socket_transport.hpp"

namespace syncws {

namespace {

using detail::clock;

using detail::io;

std::string describe_target(const core::uri& target) {
    return target.host_header() + (target.has_default_port() ? ":" + std::to_string(target.port) : "");
}

// Resolution has no timeout of its own, so it runs on a helper thread that we stop waiting
// for at the deadline (it then finishes in the background and its result is dropped).
asio::ip::tcp::resolver::results_type resolve(const core::uri& target, clock::time_point deadline) {
    asio::error_code ec;
    const asio::ip::address literal = asio::ip::make_address(target.host, ec);
    if (!ec) {
        return asio::ip::tcp::resolver::results_type::create(
            asio::ip::tcp::endpoint(literal, target.port), target.host, std::to_string(target.port));
    }
    auto task = std::make_shared<std::packaged_task<asio::ip::tcp::resolver::results_type()>>(
        [host = target.host, port = std::to_string(target.port)] {
            asio::ip::tcp::resolver resolver(io());
            return resolver.resolve(host, port);
        });
    auto result = task->get_future();
    std::thread([task] { (*task)(); }).detach();
    if (deadline != detail::no_deadline &&
        result.wait_until(deadline) != std::future_status::ready)
        throw timeout_error("timed out resolving " + target.host);
    try {
        return result.get();
    } catch (const std::system_error& e) {
        throw error("cannot resolve " + target.host + ": " + e.code().message());
    }
}

// A TCP connect bounded by the deadline: non-blocking connect, then poll for completion.
asio::error_code connect_before(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& endpoint,
                                clock::time_point deadline) {
    asio::error_code ec;
    socket.open(endpoint.protocol(), ec);
    if (ec) return ec;
    socket.non_blocking(true, ec);
    socket.connect(endpoint, ec);
    if (ec == asio::error::would_block || ec == asio::error::in_progress) {
        pollfd p{socket.native_handle(), POLLOUT, 0};
        for (;;) {
            int wait_ms = -1;
            if (deadline != detail::no_deadline) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
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
        ::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &socket_error, &length);
        ec = asio::error_code(socket_error, asio::system_category());
    }
    if (!ec) socket.non_blocking(false, ec);
    return ec;
}

std::unique_ptr<detail::transport> open_stream(const core::uri& target, const client_options& options,
                                               clock::time_point deadline) {
    if (!options.unix_socket.empty()) {
        asio::local::stream_protocol::socket socket(io());
        asio::error_code ec;
        socket.connect(asio::local::stream_protocol::endpoint(options.unix_socket), ec);
        if (ec) throw error("cannot connect to " + options.unix_socket + ": " + ec.message());
        return detail::make_socket_transport(std::move(socket));
    }
    std::string failures;
    bool timed_out = false;
    // Every resolved address in turn (IPv6 and IPv4), until one accepts.
    for (const auto& entry : resolve(target, deadline)) {
        asio::ip::tcp::socket socket(io());
        const asio::error_code ec = connect_before(socket, entry.endpoint(), deadline);
        if (!ec) return detail::make_socket_transport(std::move(socket));
        timed_out = ec == asio::error::timed_out;
        std::ostringstream where;
        where << entry.endpoint();
        failures += (failures.empty() ? "" : "; ") + where.str() + ": " + ec.message();
        if (timed_out) break;
    }
    const std::string text = "cannot connect to " + describe_target(target) + " (" + failures + ")";
    if (timed_out) throw timeout_error(text);
    throw error(text);
}

}  // namespace

client_connection::client_connection(std::shared_ptr<detail::connection_engine> engine,
                                     core::uri target)
    : connection(std::move(engine)), uri_(std::move(target)) {}

const core::uri& client_connection::uri() const { return uri_; }

client_connection connect(std::string_view text) { return connect(text, client_options()); }

client_connection connect(std::string_view text, const client_options& options) {
    const connection_settings& settings = options.settings;
    const clock::time_point deadline = settings.open_timeout > duration::zero()
                                           ? clock::now() + settings.open_timeout
                                           : detail::no_deadline;
    core::uri target = core::parse_uri(text);
    if (target.secure)
        throw error("wss:// is not supported yet: TLS support is being built (use ws://)");

    auto stream = open_stream(target, options, deadline);

    core::client_handshake_config handshake;
    handshake.origin = options.origin;
    handshake.subprotocols = options.subprotocols;
    handshake.extra_headers = options.extra_headers;
    if (!options.user_agent.empty() && !handshake.extra_headers.contains("User-Agent"))
        handshake.extra_headers.add("User-Agent", options.user_agent);

    core::protocol_config config;
    config.max_message_size = settings.max_message_size;
    config.stream_fragments = true;  // the engine assembles messages (see recv_fragment)
    auto protocol = std::make_unique<core::client_protocol>(target, std::move(handshake), config);
    const core::http_request request = protocol->connect();

    auto engine = std::make_shared<detail::connection_engine>(std::move(protocol), std::move(stream), settings);
    engine->run_client_handshake(request, deadline);
    return client_connection(std::move(engine), std::move(target));
}

}  // namespace syncws

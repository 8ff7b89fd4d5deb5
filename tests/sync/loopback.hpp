// Test fixtures for the blocking layer on real loopback sockets: a connected pair of our own
// client and server connections, and a raw peer that misbehaves on purpose.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio.hpp>

#include "../../lib/connection_engine.hpp"
#include "../../lib/socket_transport.hpp"
#include "syncws/core/frame.hpp"
#include "syncws/core/mask.hpp"
#include "syncws/syncws.hpp"
#include "pieces.hpp"

namespace test {

using namespace std::chrono_literals;

using syncws::detail::io;

/// A client connected to a server-side connection in the same process, over 127.0.0.1 (or
/// ::1). The server side is built from the engine directly, so these tests do not depend on
/// syncws::server.
struct connected_pair {
    syncws::client_connection client;
    syncws::server_connection server;
};

inline connected_pair connect_pair(const syncws::connection_settings& server_settings,
                                   const syncws::client_options& client_options,
                                   const std::string& host = "127.0.0.1") {
    asio::ip::tcp::acceptor acceptor(io(), {asio::ip::make_address(host), 0});
    const auto port = acceptor.local_endpoint().port();
    auto accepted = std::async(std::launch::async, [&] {
        asio::ip::tcp::socket socket(io());
        acceptor.accept(socket);
        auto engine = std::make_shared<syncws::detail::connection_engine>(
            std::make_unique<syncws::core::server_protocol>(
                syncws::core::server_handshake_config{},
                syncws::detail::protocol_config_for(server_settings)),
            syncws::detail::make_socket_transport(std::move(socket)), server_settings);
        const bool open = engine->run_server_handshake(
            syncws::detail::clock::now() + 10s,
            [](syncws::core::server_protocol& p, const syncws::core::http_request& r) { return p.accept(r); });
        REQUIRE(open);
        return engine;
    });
    const std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    auto client = syncws::connect("ws://" + bracketed + ":" + std::to_string(port) + "/test", client_options);
    return {std::move(client), syncws::server_connection(accepted.get())};
}

inline connected_pair connect_pair() {
    return connect_pair(syncws::connection_settings(), syncws::client_options());
}

/// A peer written by hand with plain sockets, to misbehave in ways our own code never would:
/// it completes the server handshake and then does only what the test tells it.
class raw_server {
public:
    raw_server() : acceptor_(io(), {asio::ip::make_address("127.0.0.1"), 0}) {}

    std::string uri() const {
        return "ws://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/";
    }

    /// Accepts one client and answers its opening handshake with a 101, adding extra_headers
    /// (each line ending in \r\n) to the response.
    void accept_and_handshake(const std::string& extra_headers = "") {
        socket_ = std::make_unique<asio::ip::tcp::socket>(io());
        acceptor_.accept(*socket_);
        std::string head;
        char c;
        while (head.find("\r\n\r\n") == std::string::npos) {
            asio::read(*socket_, asio::buffer(&c, 1));
            head += c;
        }
        const auto key_at = head.find("Sec-WebSocket-Key: ") + 19;
        const std::string key = head.substr(key_at, head.find("\r\n", key_at) - key_at);
        write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: " + syncws::core::accept_key(key) + "\r\n" + extra_headers +
              "\r\n");
        request_ = head;
    }

    /// Connects our client to this peer and completes the handshake.
    syncws::client_connection connect_client(const syncws::client_options& options,
                                             const std::string& extra_headers = "") {
        auto accepted = std::async(std::launch::async, [&] { accept_and_handshake(extra_headers); });
        auto client = syncws::connect(uri(), options);
        accepted.get();
        return client;
    }

    void write(const std::string& bytes) { asio::write(*socket_, asio::buffer(bytes)); }
    /// Reads the client's next frame (blocking; call it through bounded()) and unmasks it.
    std::pair<syncws::core::opcode, std::string> read_frame() {
        unsigned char header[syncws::core::max_frame_header_size];
        std::size_t have = 0, size = 0;
        syncws::core::frame_header frame;
        while (syncws::core::decode_frame_header(header, have, &frame, &size) ==
               syncws::core::decode_status::need_more)
            asio::read(*socket_, asio::buffer(header + have++, 1));
        std::string payload(static_cast<std::size_t>(frame.payload_length), '\0');
        asio::read(*socket_, asio::buffer(payload));
        if (frame.masked) syncws::core::apply_mask(payload.data(), payload.size(), frame.key, 0);
        return {frame.op, payload};
    }
    /// Closes the socket without a close frame.
    void vanish() { socket_.reset(); }
    int fd() const { return socket_->native_handle(); }
    /// The client's opening request, as received.
    const std::string& request() const { return request_; }

private:
    asio::ip::tcp::acceptor acceptor_;
    std::unique_ptr<asio::ip::tcp::socket> socket_;
    std::string request_;
};

/// An unmasked server frame.
inline std::string server_frame(syncws::core::opcode op, const std::string& payload, bool fin = true,
                                bool rsv1 = false) {
    unsigned char header[syncws::core::max_frame_header_size];
    const std::size_t n = syncws::core::encode_frame_header(header, fin, rsv1, op, payload.size(), nullptr);
    return std::string(reinterpret_cast<const char*>(header), n) + payload;
}

/// Runs f on a thread and waits for it at most `bound`; fails the test instead of hanging.
template <class F>
auto bounded(F f, std::chrono::seconds bound = 20s) {
    auto result = std::async(std::launch::async, std::move(f));
    REQUIRE(result.wait_for(bound) == std::future_status::ready);
    return result.get();
}

/// As bounded(), for a wait with no timeout of its own on a socket (recv() without one, a
/// blocking read): past the bound it shuts fd down, which ends the wait, and fails the test.
template <class F>
auto bounded_on_socket(int fd, F f, std::chrono::seconds bound = 20s) {
    auto result = std::async(std::launch::async, std::move(f));
    if (result.wait_for(bound) != std::future_status::ready) {
        ::shutdown(fd, SHUT_RDWR);
        FAIL_CHECK("still waiting after " << bound.count() << " s: ended by shutting the socket down");
    }
    return result.get();
}

/// The data of the next `count` messages c receives through recv() with no timeout, while
/// another thread writes wire to it in pieces through write() (write_in_pieces()). Bounded
/// by shutting peer_fd down.
template <class Write>
std::vector<std::string> receive_written_in_pieces(syncws::connection& c, int peer_fd, const std::string& wire,
                                                   const std::vector<std::size_t>& cuts, std::size_t count,
                                                   Write write) {
    std::thread writer([&] {
        try {
            write_in_pieces(wire, cuts, write);
        } catch (...) {
            // The socket was shut down: the reader's side reports the failure.
        }
    });
    struct joined {
        std::thread& thread;
        ~joined() { thread.join(); }
    } join_writer{writer};
    return bounded_on_socket(peer_fd, [&c, count] {
        std::vector<std::string> data;
        for (std::size_t i = 0; i < count; ++i) data.push_back(c.recv().data);
        return data;
    });
}

}  // namespace test

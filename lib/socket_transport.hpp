// TCP and Unix-domain socket transports over Asio sockets. Internal.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "transport.hpp"

namespace syncws::detail {

/// The io_context every socket is created with. Nothing ever runs it (synchronous calls
/// only). Never destroyed: sockets held by the monitor thread may outlive static
/// destruction at exit.
asio::io_context& io();

/// "127.0.0.1:8765", "[::1]:8765", or a Unix socket path.
std::string describe(const asio::ip::tcp::endpoint& endpoint);
std::string describe(const asio::local::stream_protocol::endpoint& endpoint);

/// Keeps a socket from being inherited by child processes (Asio opens sockets without
/// SOCK_CLOEXEC; a child must not hold our connections or listener open).
void set_close_on_exec(int fd) noexcept;

/// Wraps a connected TCP socket (TCP_NODELAY is set here).
std::unique_ptr<transport> make_socket_transport(asio::ip::tcp::socket socket);
/// Wraps a connected Unix-domain stream socket.
std::unique_ptr<transport> make_socket_transport(asio::local::stream_protocol::socket socket);
/// The peer's address as accept() returned it, which spares asking the socket again.
struct peer_address {
    sockaddr_storage storage{};
    socklen_t size = 0;
};
/// As the transport names its peer: "127.0.0.1:5000", "[::1]:5000", a Unix socket's path
/// ("" for an unnamed one). Nothing when it cannot (no memory, an address too long).
std::optional<std::string> describe(const peer_address& peer, bool unix_domain) noexcept;

/// Wraps an accepted socket, TCP or Unix-domain, and takes ownership of it. The peer is
/// as describe() named it, or asked of the socket when it could not.
std::unique_ptr<transport> make_socket_transport(int accepted, std::optional<std::string> peer,
                                                 bool unix_domain);

}  // namespace syncws::detail

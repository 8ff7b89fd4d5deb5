// TCP and Unix-domain socket transports over Asio sockets. Internal.
#pragma once

#include <memory>

#include <asio.hpp>

#include "transport.hpp"

namespace syncws::detail {

/// Wraps a connected TCP socket (TCP_NODELAY is set here).
std::unique_ptr<transport> make_socket_transport(asio::ip::tcp::socket socket);
/// Wraps a connected Unix-domain stream socket.
std::unique_ptr<transport> make_socket_transport(asio::local::stream_protocol::socket socket);

}  // namespace syncws::detail

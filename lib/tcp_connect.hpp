// Opening TCP connections within a deadline: resolution on a helper thread, then every
// resolved address in turn with a non-blocking connect. Internal.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "transport.hpp"

namespace syncws::detail {

/// Connects to host:port (a DNS name or an IP literal) and wraps the socket. Throws
/// timeout_error when the deadline passes, syncws::error naming every address that failed.
std::unique_ptr<transport> open_tcp(const std::string& host, std::uint16_t port,
                                    clock::time_point deadline);

/// Connects to a Unix-domain stream socket.
std::unique_ptr<transport> open_unix(const std::string& path, clock::time_point deadline);

}  // namespace syncws::detail

// Abrupt disconnects: a client whose socket goes away without a close frame, as when its
// process dies, its cable is pulled or a middlebox resets the connection.
//
// syncws has no public "drop the socket" call (a connection always tries to close
// properly), so the soak client finds its own connection's socket by its addresses and
// cuts it underneath the library. The descriptor itself stays open and owned by the library
// (cut, not closed), so no descriptor number can be reused behind its back; the library
// then sees an end of stream or an error on its next read or write, as it would after a
// real network failure.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <syncws/connection.hpp>

namespace soak {

/// "127.0.0.1:8765" or "[::1]:8765", as syncws::connection::local_address() writes it.
inline std::string describe_address(const sockaddr_storage& address) {
    char host[INET6_ADDRSTRLEN] = {};
    if (address.ss_family == AF_INET) {
        const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
        ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(v4.sin_port));
    }
    if (address.ss_family == AF_INET6) {
        const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
        ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6.sin6_port));
    }
    return {};
}

/// The descriptor of the connection's TCP socket in this process, or -1 if none matches.
inline int socket_of(const syncws::connection& ws) {
    const std::string local = ws.local_address();
    const std::string remote = ws.remote_address();
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    int found = -1;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        const int fd = std::atoi(entry->d_name);
        sockaddr_storage mine{}, peer{};
        socklen_t mine_size = sizeof mine, peer_size = sizeof peer;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &mine_size) != 0) continue;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) continue;
        if (describe_address(mine) == local && describe_address(peer) == remote) {
            found = fd;
            break;
        }
    }
    ::closedir(dir);
    return found;
}

enum class cut {
    /// shutdown(SHUT_RDWR): the peer gets a FIN (after the bytes already queued), with no
    /// close frame and, over TLS, no close_notify.
    fin,
    /// connect(AF_UNSPEC) disconnects a TCP socket: the peer gets a RST, and whatever was
    /// still queued to send is thrown away, so a large message is cut mid-frame.
    reset,
};

/// Cuts the connection's socket; false if it could not be found.
inline bool cut_connection(const syncws::connection& ws, cut how) {
    const int fd = socket_of(ws);
    if (fd < 0) return false;
    if (how == cut::fin) return ::shutdown(fd, SHUT_RDWR) == 0;
    sockaddr unspecified{};
    unspecified.sa_family = AF_UNSPEC;
    return ::connect(fd, &unspecified, sizeof unspecified) == 0;
}

}  // namespace soak

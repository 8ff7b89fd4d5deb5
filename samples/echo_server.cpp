// The README's five-line echo server (C++20 for the designated initializer).
#include <syncws/syncws.hpp>

int main() {
    syncws::serve({.port = 8765}, [](syncws::server_connection& ws) {
        for (auto& message : ws) ws.send(message);   // until the client closes
    });
}

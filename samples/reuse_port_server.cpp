// Several processes serving one port (SO_REUSEPORT): run it twice with the same PORT, and
// the kernel spreads new connections between them. That is how a new version starts before
// the old one stops (no refused connection during a deploy), or how one process per core
// shares a port. usage: reuse_port_server NAME [PORT]
//
// Each client is greeted with "NAME (pid N)", then echoed. With PORT 0 the first process
// gets a free port; start the others with the port it prints.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <syncws/syncws.hpp>

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::cerr << "usage: reuse_port_server NAME [PORT]\n";
        return 2;
    }
    sigset_t stop_signals;  // blocked in every thread; the main thread waits for them below
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::server_options options;
    options.host = "127.0.0.1";
    options.port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 8765);
    // Every process on the port must set it (and run as the same user); without it the
    // second one fails with "Address already in use".
    options.reuse_port = true;

    const std::string greeting = std::string(argv[1]) + " (pid " + std::to_string(::getpid()) + ")";
    try {
        syncws::server server(options, [&](syncws::server_connection& ws) {
            ws.send(greeting);
            for (auto& message : ws) ws.send(message);
        });
        server.start();
        std::cout << "listening on ws://" << server.address() << std::endl;

        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        // Connections still waiting in this process's accept queue are lost when it stops
        // listening: the kernel does not hand them to the other process. Stopping one
        // process while the other keeps serving loses at most those few.
        server.shutdown();
    } catch (const syncws::error& e) {
        std::cerr << "reuse_port_server: " << e.what() << "\n";
        return 1;
    }
}

// An echo server on a Unix-domain socket: for clients on the same machine (a local daemon
// and its tools, a reverse proxy in front), with no TCP port open to the network and access
// controlled by the socket file's permissions. usage: unix_socket_server PATH
#include <signal.h>

#include <iostream>

#include <syncws/syncws.hpp>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: unix_socket_server PATH\n";
        return 2;
    }
    sigset_t stop_signals;  // blocked in every thread; the main thread waits for them below
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::server_options options;
    // A socket file left behind by a server that died is replaced; a live server's is not.
    options.unix_socket = argv[1];
    try {
        syncws::server server(options, [](syncws::server_connection& ws) {
            for (auto& message : ws) ws.send(message);
        });
        server.start();
        std::cout << "listening on unix:" << server.address() << std::endl;

        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        server.shutdown();  // also removes the socket file
    } catch (const syncws::error& e) {
        std::cerr << "unix_socket_server: " << e.what() << "\n";
        return 1;
    }
}

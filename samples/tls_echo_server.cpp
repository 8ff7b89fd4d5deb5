// A wss:// echo server. usage: tls_echo_server CERT.pem KEY.pem [PORT]
//
// Give it a certificate chain (server certificate first, then intermediates) and its key;
// clients then reach it as wss://HOST:PORT/. Stops on Ctrl-C or SIGTERM.
#include <signal.h>

#include <cstdlib>
#include <iostream>

#include <syncws/syncws.hpp>

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::cerr << "usage: tls_echo_server CERT.pem KEY.pem [PORT]\n";
        return 2;
    }
    // Block the stop signals before any thread starts, so that every thread inherits the
    // mask and only sigwait() below sees them: no handler runs in the middle of a send.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::server_options options;
    options.host = "127.0.0.1";  // "" listens on every interface
    options.port = static_cast<std::uint16_t>(argc > 3 ? std::atoi(argv[3]) : 8765);
    // Setting the certificate turns TLS on: this server speaks wss:// only. The files are
    // read now, so a wrong path or a key that does not match fails here, not at the first
    // client (syncws::tls_error says which).
    options.tls.cert_file = argv[1];
    options.tls.key_file = argv[2];

    try {
        syncws::server server(options, [](syncws::server_connection& ws) {
            for (auto& message : ws) ws.send(message);
        });
        server.start();
        std::cout << "listening on wss://" << server.address() << std::endl;

        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        server.shutdown();  // open connections get 1001 "server shutting down"
    } catch (const syncws::error& e) {
        std::cerr << "tls_echo_server: " << e.what() << "\n";
        return 1;
    }
}

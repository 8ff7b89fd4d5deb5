// Talks to a server on a Unix-domain socket. usage: unix_socket_client PATH MESSAGE
//
// The URI still matters: its host goes into the Host header and its path is the resource
// requested; only the transport changes.
#include <iostream>

#include <syncws/syncws.hpp>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: unix_socket_client PATH MESSAGE\n";
        return 2;
    }
    try {
        syncws::client_options options;
        options.unix_socket = argv[1];
        auto ws = syncws::connect("ws://localhost/", options);
        ws.send(argv[2]);
        std::cout << ws.recv().data << std::endl;
    } catch (const syncws::error& e) {
        std::cerr << "unix_socket_client: " << e.what() << "\n";
        return 1;
    }
}

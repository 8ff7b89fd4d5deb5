// A program that uses an installed syncws the way an application would: it includes only the
// umbrella header, starts an echo server on 127.0.0.1 (port chosen by the OS), connects to it,
// sends one message and checks the echo. The install tests build it with pkg-config, with
// CMake's find_package and as a meson subproject, and check what it prints:
//   syncws SYNCWS_VERSION MAJOR.MINOR.PATCH
//   echo: <the message>
// Exit status 0 only if the echo came back intact within the deadline.
#include <syncws/syncws.hpp>

#include <chrono>
#include <exception>
#include <iostream>
#include <string>

int main() {
    try {
        std::cout << "syncws " << SYNCWS_VERSION << " " << SYNCWS_VERSION_MAJOR << "."
                  << SYNCWS_VERSION_MINOR << "." << SYNCWS_VERSION_PATCH << "\n";

        syncws::server_options options;
        options.host = "127.0.0.1";
        syncws::server server(options, [](syncws::server_connection& ws) {
            for (auto& message : ws) ws.send(message);
        });
        server.start();

        auto ws = syncws::connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        const std::string sent = "hello from an installed syncws";
        ws.send(sent);
        // Bounded: a broken install must fail the test, not hang it.
        auto echo = ws.recv(std::chrono::seconds(20));
        if (!echo) {
            std::cerr << "no echo within 20 s\n";
            return 1;
        }
        std::cout << "echo: " << echo->data << "\n";
        ws.close();
        return echo->data == sent ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "consumer failed: " << e.what() << "\n";
        return 1;
    }
}

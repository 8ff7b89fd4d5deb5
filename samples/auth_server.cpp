// A server behind HTTP Basic authentication, with a health check that needs none.
// usage: AUTH_USER=alice AUTH_PASSWORD=secret auth_server [PORT]
//
// GET /healthz answers plain HTTP 200 "ok" (for a load balancer or Kubernetes probe); every
// other request must carry the credentials (ws://alice:secret@host:port/ in syncws and
// browsers), or gets 401. An authenticated client is greeted by name, then echoed.
// The credentials come from the environment because a command line is visible to every
// user of the machine (ps). Basic auth sends them in clear: use it over wss:// only.
#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include <syncws/syncws.hpp>

int main(int argc, char** argv) {
    const char* user = std::getenv("AUTH_USER");
    const char* password = std::getenv("AUTH_PASSWORD");
    if (user == nullptr || password == nullptr) {
        std::cerr << "usage: AUTH_USER=NAME AUTH_PASSWORD=SECRET auth_server [PORT]\n";
        return 2;
    }
    sigset_t stop_signals;  // blocked in every thread; the main thread waits for them below
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::server_options options;
    options.host = "127.0.0.1";
    options.port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8765);

    // Runs on worker threads, several at once: it only reads these two strings.
    const std::string expected_user = user, expected_password = password;
    auto require_credentials = syncws::basic_auth(
        "syncws sample", [=](std::string_view u, std::string_view p) {
            // Both compared in constant time, and both always compared, so that the time
            // taken says nothing about which one was wrong.
            const bool user_ok = syncws::constant_time_equals(u, expected_user);
            const bool password_ok = syncws::constant_time_equals(p, expected_password);
            return user_ok && password_ok;
        });

    // process_request sees each request before the WebSocket handshake; an answer it returns
    // is sent as plain HTTP instead of upgrading. The health check comes first, so that it
    // needs no credentials.
    options.process_request = [require_credentials](const syncws::core::http_request& request)
        -> std::optional<syncws::core::http_response> {
        if (request.target == "/healthz") {
            syncws::core::http_response ok;
            ok.headers.add("Content-Type", "text/plain");
            ok.headers.add("Cache-Control", "no-store");
            ok.body = "ok\n";
            return ok;
        }
        return require_credentials(request);  // nothing (go on) or a 401
    };

    syncws::server server(options, [](syncws::server_connection& ws) {
        // Only requests that passed basic_auth get here, so the header is there and valid.
        const auto credentials = syncws::parse_basic_authorization(ws.request());
        ws.send("hello, " + credentials->user);
        for (auto& message : ws) ws.send(message);
    });
    server.start();
    std::cout << "listening on ws://" << server.address() << std::endl;

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server.shutdown();
}

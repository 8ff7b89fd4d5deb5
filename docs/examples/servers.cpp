// The code of docs/servers.md. docs/meson.build compiles it (C++17) but never runs it, and
// docs/check_snippets.py checks that every block of the guide is taken from here, so the
// guide cannot drift away from the headers. One function per section of the guide.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <syncws/syncws.hpp>

using namespace std::chrono_literals;

void serve_until_the_process_ends() {
    syncws::server_options options;
    options.port = 8765;
    syncws::serve(options, [](syncws::server_connection& ws) {
        for (auto& message : ws) ws.send(message);      // until the client closes
    });
}

void a_server_object() {
    syncws::server_options options;
    options.host = "127.0.0.1";                         // "" listens on every interface
    options.port = 0;                                   // the OS chooses a free port
    syncws::server server(options, [](syncws::server_connection& ws) {
        ws.send("hello, " + ws.remote_address());
        for (auto& message : ws) ws.send(message);
    });
    std::cout << "listening on " << server.address() << "\n";
    server.start();          // accepts on a background thread and returns
    std::this_thread::sleep_for(60s);
    server.shutdown();       // 1001 to every client, waits for the handlers, joins threads
}

void stopping_on_a_signal() {
    // Block the stop signals before any thread starts: every thread inherits the mask, and
    // only sigwait() below sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::server_options options;
    options.port = 8765;
    syncws::server server(options, [](syncws::server_connection& ws) {
        for (auto& message : ws) ws.send(message);
    });
    server.start();
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    server.shutdown(5s);     // handlers get 5 s to return; then their connections are aborted
}

void one_handler_per_path(syncws::server_connection& ws) {
    const syncws::core::http_request& request = ws.request();
    if (request.target == "/echo") {
        for (auto& message : ws) ws.send(message);
    } else if (request.target.rfind("/rooms/", 0) == 0) {
        const std::string room = request.target.substr(7);
        ws.send("welcome to " + room);
    } else {
        ws.close(syncws::core::close_code::policy_violation, "unknown path");
    }
}

void plain_http_on_the_same_port(syncws::server_options& options) {
    options.process_request = [](const syncws::core::http_request& request)
        -> std::optional<syncws::core::http_response> {
        if (request.target == "/health") {
            syncws::core::http_response ok;             // 200 OK
            ok.headers.add("Content-Type", "text/plain");
            ok.body = "ok\n";
            return ok;
        }
        if (request.target != "/chat") {
            syncws::core::http_response not_found;
            not_found.status = 404;
            not_found.body = "no WebSocket here\n";
            return not_found;
        }
        return std::nullopt;                            // go on with the WebSocket handshake
    };
}

void basic_authentication(syncws::server_options& options, const std::string& password) {
    options.process_request = syncws::basic_auth(
        "my service", [password](std::string_view user, std::string_view given) {
            const bool user_ok = syncws::constant_time_equals(user, "alice");
            const bool password_ok = syncws::constant_time_equals(given, password);
            return user_ok && password_ok;
        });
}

void who_is_it(syncws::server_connection& ws) {
    // Only requests that passed basic_auth reach the handler.
    std::optional<syncws::basic_credentials> credentials =
        syncws::parse_basic_authorization(ws.request());
    ws.send("hello, " + credentials->user);
}

void browsers_and_subprotocols(syncws::server_options& options) {
    // Browsers send Origin; a page from another site must not use the user's cookies here.
    options.allowed_origins = {"https://app.example", "https://admin.app.example"};
    options.subprotocols = {"chat.v2", "chat.v1"};      // our preference, first match wins
    options.extra_response_headers.add("Cache-Control", "no-store");
}

void using_the_subprotocol(syncws::server_connection& ws) {
    if (ws.subprotocol() == "chat.v2") {
        ws.send("{\"hello\": 2}");
    } else {
        ws.send("hello");   // chat.v1, or a client that offered none
    }
}

void broadcasting() {
    syncws::server_options options;
    options.port = 8765;
    // The handlers run only once serve_forever() is called, after `room` is constructed.
    syncws::server room(options, [&room](syncws::server_connection& ws) {
        for (auto& message : ws) room.broadcast(message);   // to every open connection
    });
    room.serve_forever();
}

// State shared by the handlers must be locked: each handler runs on its own thread.
struct user_directory {
    std::mutex mutex;
    std::map<std::uint64_t, std::string> names;   // by connection id

    void add(std::uint64_t id, std::string name) {
        std::lock_guard<std::mutex> lock(mutex);
        names[id] = std::move(name);
    }
    void remove(std::uint64_t id) {
        std::lock_guard<std::mutex> lock(mutex);
        names.erase(id);
    }
};

void shared_state() {
    user_directory users;
    syncws::server_options options;
    options.port = 8765;
    syncws::serve(options, [&users](syncws::server_connection& ws) {
        users.add(ws.id(), ws.recv().data);          // the first message is a name
        try {
            for (auto& message : ws) ws.send(message);
        } catch (const syncws::connection_closed&) {
        }
        users.remove(ws.id());
    });
}

void limits_and_timeouts(syncws::server_options& options) {
    options.max_connections = 200;                      // then 503 with Retry-After
    options.settings.max_message_size = 64 * 1024;      // then close 1009
    options.settings.open_timeout = 5s;                 // TLS + HTTP request within 5 s
    options.settings.ping_interval = 30s;
    options.settings.ping_timeout = 10s;
}

void a_unix_socket_server() {
    syncws::server_options options;
    options.unix_socket = "/run/myapp/ws.sock";         // instead of host and port
    syncws::serve(options, [](syncws::server_connection& ws) {
        for (auto& message : ws) ws.send(message);
    });
}

int main() {}

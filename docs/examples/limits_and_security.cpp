// The code of docs/limits_and_security.md. docs/meson.build compiles it (C++17) but never
// runs it, and docs/check_snippets.py checks that every block of the guide is taken from
// here, so the guide cannot drift away from the headers. One function per section.
#include <chrono>
#include <iostream>
#include <string>

#include <syncws/syncws.hpp>

using namespace std::chrono_literals;

void size_limits(syncws::server_options& options) {
    options.settings.max_message_size = 256 * 1024;   // a larger message: close 1009
    options.settings.max_queue = 1024 * 1024;         // unread input beyond this: TCP pushes back
    options.max_connections = 500;                    // the 501st client gets 503
}

void timeouts(syncws::client_options& options) {
    options.settings.open_timeout = 5s;     // DNS + TCP + proxy + TLS + handshake, together
    options.settings.send_timeout = 10s;    // a peer that stops reading fails the connection
    options.settings.close_timeout = 2s;
    options.settings.ping_interval = 15s;   // 0s: no keepalive
    options.settings.ping_timeout = 15s;
}

void a_message_too_big(syncws::client_connection& ws) {
    try {
        syncws::message m = ws.recv();
    } catch (const syncws::connection_closed_error& e) {
        // We failed the connection with 1009: e.sent() holds our close frame.
        if (e.sent() && e.sent()->code == syncws::core::close_code::message_too_big)
            std::cerr << "the peer sent more than max_message_size\n";
    }
}

void only_our_pages(syncws::server_options& options) {
    options.allowed_origins = {"https://app.example"};   // other sites' pages get 403
}

void only_known_users(syncws::server_options& options, std::string password) {
    options.process_request = syncws::basic_auth(
        "my service", [password](std::string_view user, std::string_view given) {
            const bool user_ok = syncws::constant_time_equals(user, "alice");
            const bool password_ok = syncws::constant_time_equals(given, password);
            return user_ok && password_ok;
        });
}

void text_that_is_not_utf8(syncws::client_connection& ws, const std::string& latin1) {
    try {
        ws.send(latin1);                   // refused before anything is sent
    } catch (const syncws::protocol_error&) {
        ws.send(syncws::binary(latin1));   // bytes go as binary
    }
}

void headers_from_users(syncws::client_options& options, const std::string& token) {
    // A value with CR or LF would let someone add headers of their own: connect() throws
    // syncws::invalid_argument instead of sending it.
    options.extra_headers.add("X-Token", token);
}

int main() {}

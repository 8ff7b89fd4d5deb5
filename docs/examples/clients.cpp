// The code of docs/clients.md. docs/meson.build compiles it (C++17) but never runs it, and
// docs/check_snippets.py checks that every block of the guide is taken from here, so the
// guide cannot drift away from the headers. One function per section of the guide.
#include <syncws/syncws.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

using namespace std::chrono_literals;

void first_connection() {
    auto ws = syncws::connect("ws://localhost:8765/");
    ws.send("hello");                      // a text message
    syncws::message reply = ws.recv();     // blocks until a whole message arrives
    std::cout << reply.data << "\n";
    ws.close();                            // 1000; waits for the server's close frame
}

void sending_and_receiving(syncws::client_connection& ws, const std::string& bytes) {
    ws.send("text must be valid UTF-8");
    ws.send(syncws::binary(bytes));                     // any bytes, as a binary message
    ws.send(syncws::binary(bytes.data(), bytes.size()));

    syncws::message m = ws.recv();
    if (m.is_binary()) std::cout << m.data.size() << " bytes\n";

    std::optional<syncws::message> next = ws.recv(500ms);
    if (!next) std::cout << "nothing within 500 ms; the connection is still usable\n";
}

void reading_until_the_end(syncws::client_connection& ws) {
    for (auto& message : ws) std::cout << message.data << "\n";
    // Here the server closed cleanly (1000, 1001 or an empty close frame).
}

void why_it_closed(syncws::client_connection& ws) {
    try {
        for (;;) std::cout << ws.recv().data << "\n";
    } catch (const syncws::connection_closed& e) {
        // what() says what each side sent ("received 1001 (going away) server shutting
        // down; then sent ..."), or that the connection was lost without a close frame.
        std::cerr << e.what() << "\n";
        if (!e.clean()) std::cerr << "the connection ended with code " << e.code() << "\n";
    }
}

void when_connect_fails() {
    try {
        auto ws = syncws::connect("wss://example.com/feed");
    } catch (const syncws::invalid_status& e) {
        // The server answered with something other than 101: a 401, a 404, a 503 ...
        std::cerr << "HTTP " << e.response().status << ": " << e.response().body << "\n";
    } catch (const syncws::tls_error& e) {
        std::cerr << "TLS: " << e.what() << "\n";
    } catch (const syncws::timeout_error& e) {
        std::cerr << "no connection within open_timeout: " << e.what() << "\n";
    } catch (const syncws::error& e) {
        std::cerr << e.what() << "\n";   // refused, unreachable, name not found ...
    }
}

void choosing_options() {
    syncws::client_options options;
    options.settings.open_timeout = 5s;
    options.settings.max_message_size = 1024 * 1024;
    options.subprotocols = {"chat.v2", "chat.v1"};      // in order of preference
    options.extra_headers.add("Authorization", "Bearer 0123456789abcdef");
    options.origin = "https://app.example";
    auto ws = syncws::connect("wss://example.com/chat", options);
    if (ws.subprotocol()) std::cout << "the server chose " << *ws.subprotocol() << "\n";
}

void credentials_in_the_uri() {
    // Sent as "Authorization: Basic ..." (use wss:// so that they are not sent in clear).
    auto ws = syncws::connect("wss://alice:secret@example.com/private");
}

void over_a_unix_socket() {
    syncws::client_options options;
    options.unix_socket = "/run/myapp/ws.sock";
    // The URI still gives the Host header and the resource.
    auto ws = syncws::connect("ws://localhost/events", options);
}

void one_thread_receives_another_sends(syncws::client_connection& ws) {
    std::thread receiver([&ws] {
        try {
            for (auto& message : ws) std::cout << "received " << message.data << "\n";
        } catch (const syncws::connection_closed& e) {
            std::cerr << e.what() << "\n";
        }
    });
    for (std::string line; std::getline(std::cin, line);) ws.send(line);
    ws.close();        // wakes the receiver, whose loop then ends
    receiver.join();
}

void large_messages(syncws::client_connection& ws, const std::string& header,
                    const std::string& body) {
    // Sending in parts: one message, one frame per part.
    ws.send_fragment(header, false, syncws::message_type::binary);
    ws.send_fragment(body, true, syncws::message_type::binary);  // fin: the message ends

    // Receiving in parts: each fragment as soon as its frame is complete.
    for (;;) {
        syncws::fragment part = ws.recv_fragment();
        std::cout << "got " << part.data.size() << " bytes\n";
        if (part.fin) break;                            // the last part of the message
    }
}

void measuring_round_trips(syncws::client_connection& ws) {
    syncws::pong_waiter pong = ws.ping();
    syncws::duration round_trip = pong.wait(2s);        // timeout_error after 2 s
    std::cout << std::chrono::duration_cast<std::chrono::microseconds>(round_trip).count()
              << " us\n";
}

void compressed_or_not(syncws::client_connection& ws, const std::string& jpeg) {
    ws.send(syncws::binary(jpeg), syncws::compression::never);  // already compressed

    syncws::client_options options;
    options.compression.enabled = false;                // do not even offer it
}

void connecting_with_retries() {
    syncws::retry_options retry;
    retry.max_attempts = 5;                             // then the last error is thrown
    std::optional<syncws::client_connection> ws =
        syncws::connect_with_retry("ws://localhost:8765/", syncws::client_options(), retry);
    if (ws) ws->send("hello");                          // empty only after request_stop()
}

void staying_connected() {
    syncws::retry_options retry;
    retry.initial_delay = 100ms;
    retry.max_delay = 10s;
    for (auto& ws : syncws::reconnecting_client("ws://localhost:8765/feed",
                                                syncws::client_options(), retry)) {
        try {
            ws.send("subscribe");
            for (auto& message : ws) std::cout << message.data << "\n";
        } catch (const syncws::connection_closed& e) {
            std::cerr << e.what() << "\n";
        }   // the server went away: the loop connects again
    }
}

void stopping_from_another_thread() {
    syncws::retry_options retry;
    syncws::stop_source stop = retry.stop;              // copies share one flag
    std::thread worker([retry] {
        for (auto& ws : syncws::reconnecting_client("ws://localhost:8765/feed",
                                                    syncws::client_options(), retry)) {
            try {
                for (auto& message : ws) std::cout << message.data << "\n";
            } catch (const syncws::connection_closed&) {
            }
        }
    });
    std::this_thread::sleep_for(60s);
    stop.request_stop();   // wakes a wait between attempts, closes the open connection (1001)
    worker.join();
}

int main() {}

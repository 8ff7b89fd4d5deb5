// The sans-I/O core on its own: a client and a server protocol connected by two strings
// instead of a socket. It shows the contract every I/O layer follows: feed bytes in, write
// what take_output() hands back, handle the events.
#include <iostream>
#include <string>
#include <variant>

#include <syncws/core/client_protocol.hpp>
#include <syncws/core/server_protocol.hpp>

using namespace syncws::core;

// Moves everything `from` wants written into `to`, as a socket would.
void transfer(protocol& from, protocol& to) {
    output_queue out;
    from.take_output(out);
    if (!out.empty()) to.receive_data(out.flatten());
    if (from.transport_close_requested()) to.receive_eof();
}

void print_events(const char* who, protocol& p, server_protocol* server = nullptr) {
    while (auto e = p.next_event()) {
        if (auto* request = std::get_if<http_request>(&*e)) {
            std::cout << who << " got the opening request for " << request->target << "\n";
            server->send_response(server->accept(*request));
        } else if (auto* response = std::get_if<http_response>(&*e)) {
            std::cout << who << " got HTTP " << response->status << "\n";
        } else if (auto* message = std::get_if<message_event>(&*e)) {
            std::cout << who << " got " << (message->text ? "text" : "binary") << ": "
                      << message->data << "\n";
            if (server) server->send_text("echo: " + message->data);
        } else if (auto* close = std::get_if<close_event>(&*e)) {
            std::cout << who << " got close " << close->frame.to_string() << "\n";
        }
    }
}

int main() {
    client_protocol client(parse_uri("ws://localhost/demo"));
    server_protocol server;

    client.send_request(client.connect());
    transfer(client, server);
    print_events("server", server, &server);
    transfer(server, client);
    print_events("client", client);

    client.send_text("hello, sans-I/O world");
    transfer(client, server);
    print_events("server", server, &server);
    transfer(server, client);
    print_events("client", client);

    client.send_close(close_code::normal, "done");
    transfer(client, server);
    print_events("server", server, &server);
    transfer(server, client);  // the echoed close, then the server ends the transport
    print_events("client", client);
    transfer(client, server);  // the client closes its end in turn

    std::cout << "client state: " << to_string(client.current_state())
              << ", server state: " << to_string(server.current_state()) << "\n";
    return client.current_state() == state::closed ? 0 : 1;
}

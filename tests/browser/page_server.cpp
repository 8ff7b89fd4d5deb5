// The server side of browser_test.js. One port answers plain HTTP with the test page (so the
// page's origin is this server, as a real deployment's would be) and WebSocket at:
//
//   /echo           sends a JSON text message with the extensions the browser offered and
//                   the ones this server accepted, as the server saw its own handshake; then,
//                   for every message, a JSON report of what arrived ({"type", "size",
//                   "sha256"}) followed by the message itself, echoed. When the page closes,
//                   prints "the page closed: CODE REASON" on stdout.
//   /server-closes  closes at once with 4002 "bye from server", then prints
//                   "the page answered: CODE REASON" (the browser's close frame).
//
// Usage: page_server PAGE.html [--no-compression]
// Prints "listening on http://127.0.0.1:PORT/" and serves until its standard input ends: the
// driver holds the other end of that pipe, so the server cannot outlive the test.

#include <openssl/sha.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <syncws/syncws.hpp>

namespace {

// Handlers run on several worker threads; each stdout line must come out whole.
void print_line(const std::string& line) {
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    std::cout << line << std::endl;
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string sha256_hex(std::string_view data) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
    std::string hex;
    for (const unsigned char byte : digest) {
        char pair[3];
        std::snprintf(pair, sizeof pair, "%02x", byte);
        hex += pair;
    }
    return hex;
}

// What arrived, in a form the driver can compare with what the page sent: the page's bytes
// are checked here, independently of the echo that checks the other direction.
std::string report(const syncws::message& m) {
    return std::string("{\"type\":") + (m.is_text() ? "\"text\"" : "\"binary\"") +
           ",\"size\":" + std::to_string(m.data.size()) + ",\"sha256\":\"" + sha256_hex(m.data) + "\"}";
}

std::string header(const syncws::core::http_headers& headers, std::string_view name) {
    return std::string(headers.get(name).value_or(""));
}

void echo(syncws::server_connection& ws) {
    ws.send("{\"offered\":" + json_string(header(ws.request().headers, "Sec-WebSocket-Extensions")) +
            ",\"accepted\":" + json_string(header(ws.response().headers, "Sec-WebSocket-Extensions")) + "}");
    try {
        for (;;) {
            const syncws::message m = ws.recv();
            ws.send(report(m));
            ws.send(m);
        }
    } catch (const syncws::connection_closed& e) {
        print_line("the page closed: " + std::to_string(e.code()) + " " + e.reason());
    }
}

void server_closes(syncws::server_connection& ws) {
    ws.close(4002, "bye from server");
    print_line("the page answered: " + std::to_string(ws.close_code()) + " " + ws.close_reason());
}

std::optional<syncws::core::http_response> answer(const std::string& page,
                                                  const syncws::core::http_request& request) {
    const bool upgrade = request.headers.has_token("Upgrade", "websocket");
    if (upgrade && (request.target == "/echo" || request.target == "/server-closes")) return std::nullopt;
    syncws::core::http_response response;
    if (!upgrade && request.target == "/") {
        response.headers.add("Content-Type", "text/html; charset=utf-8");
        response.headers.add("Cache-Control", "no-store");
        response.body = page;
    } else {
        response.status = 404;  // /favicon.ico among others
        response.body = "Not found.\n";
    }
    response.headers.add("Connection", "close");
    return response;
}

}  // namespace

int main(int argc, char** argv) {
    const bool compression = !(argc == 3 && std::string_view(argv[2]) == "--no-compression");
    if (argc < 2 || argc > 3 || (argc == 3 && compression)) {
        std::cerr << "usage: page_server PAGE.html [--no-compression]\n";
        return 2;
    }
    std::ifstream file(argv[1], std::ios::binary);
    std::ostringstream page;
    page << file.rdbuf();
    if (!file || page.str().empty()) {
        std::cerr << "page_server: cannot read " << argv[1] << "\n";
        return 2;
    }

    syncws::server_options options;
    options.host = "127.0.0.1";
    options.compression.enabled = compression;
    options.process_request = [page = page.str()](const syncws::core::http_request& request) {
        return answer(page, request);
    };
    syncws::server server(options, [](syncws::server_connection& ws) {
        if (ws.request().target == "/echo") echo(ws);
        else server_closes(ws);
    });
    server.start();
    print_line("listening on http://" + server.address() + "/");

    for (std::string line; std::getline(std::cin, line);) {
    }
    server.shutdown();
}

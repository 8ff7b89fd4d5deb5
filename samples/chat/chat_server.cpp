// A chat room for browsers: one program serves the page and the WebSocket on the same port,
// and relays every message to everyone in the room.
//
//   build/samples/chat/chat_server 8765      then open http://127.0.0.1:8765/ in two tabs
//
// Any WebSocket client can join too: build/tools/syncws connect ws://127.0.0.1:8765/

#include <syncws/syncws.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

// The page, kept in the program so that it cannot get lost. It shows messages with
// textContent, never as HTML: what one user types cannot run as script in another's page.
const char* const chat_page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>syncws chat</title>
<style>
  body { font-family: sans-serif; max-width: 40em; margin: 2em auto; }
  #log { list-style: none; padding: 0; min-height: 10em; border: 1px solid #ccc; }
  #log li { padding: 0.2em 0.5em; }
  form { display: flex; gap: 0.5em; margin-top: 0.5em; }
  #text { flex: 1; }
</style>
</head>
<body>
<h1>syncws chat</h1>
<p id="status">connecting...</p>
<ul id="log"></ul>
<form id="form">
  <input id="text" autocomplete="off" placeholder="Say something" autofocus>
  <button>Send</button>
</form>
<script>
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(scheme + "//" + location.host + "/chat");
  const status = document.getElementById("status");
  const log = document.getElementById("log");
  const text = document.getElementById("text");

  socket.onopen = () => { status.textContent = "connected"; };
  socket.onclose = (event) => { status.textContent = "disconnected (" + event.code + ")"; };
  socket.onmessage = (event) => {
    const line = document.createElement("li");
    line.textContent = event.data;
    log.append(line);
  };
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    if (text.value && socket.readyState === WebSocket.OPEN) socket.send(text.value);
    text.value = "";
  };
</script>
</body>
</html>
)html";

int main(int argc, char** argv) {
    syncws::server_options options;
    options.host = "127.0.0.1";  // this machine only; "" listens on every interface
    const int port = argc > 1 ? std::atoi(argv[1]) : 8765;  // 0: the OS chooses one
    if (port < 0 || port > 65535) {
        std::cerr << "usage: chat_server [PORT]\n";
        return 2;
    }
    options.port = static_cast<std::uint16_t>(port);
    options.settings.max_message_size = 64 * 1024;  // chat lines, not files

    // A browser first asks for the page with plain HTTP; its WebSocket then comes back to
    // the same port with an Upgrade request, which goes on to the handshake.
    options.process_request =
        [](const syncws::core::http_request& request) -> std::optional<syncws::core::http_response> {
        if (request.headers.has_token("Upgrade", "websocket")) return std::nullopt;
        syncws::core::http_response response;
        if (request.target == "/") {
            response.headers.add("Content-Type", "text/html; charset=utf-8");
            response.body = chat_page;
        } else {
            response.status = 404;
            response.body = "Not found.\n";
        }
        response.headers.add("Connection", "close");  // one request per connection here
        return response;
    };

    // Each connection's handler runs on its own thread; broadcast() is safe from any of them.
    // The handlers run only once serve_forever() is called, after `room` is constructed.
    syncws::server room(options, [&room](syncws::server_connection& ws) {
        const std::string joined =
            "someone joined, " + std::to_string(room.connection_count()) + " online";
        room.broadcast({syncws::message_type::text, joined});
        for (auto& message : ws) room.broadcast(message);  // until this client leaves
    });
    std::cout << "chat on http://" << room.address() << "/" << std::endl;
    room.serve_forever();
}

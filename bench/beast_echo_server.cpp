// beast_echo_server: the peer to beat. Boost.Beast's synchronous API, a thread created per
// connection, shaped like Beast's example/websocket/server/sync/websocket_server_sync.cpp,
// echoing each message with its type. Tuned as a careful user would tune it, so that the
// comparison is with Beast at its best: TCP_NODELAY, one read buffer reused for the whole
// connection, auto_fragment off (otherwise Beast splits writes into write_buffer_bytes
// frames), read_message_max 16 MiB (syncws's default).
//
//   beast_echo_server [--host 127.0.0.1] [--port 0] [--tls-cert FILE --tls-key FILE]
//                     [--deflate] [--deflate-window BITS] [--deflate-level N]
//                     [--deflate-mem-level N]
//
// --deflate enables permessage-deflate for the server role; the window applies to both
// directions (server_max_window_bits and client_max_window_bits), as syncws's server
// default does. Prints "listening on ws://HOST:PORT" (wss:// with a certificate).
//
// One translation unit on purpose: Beast's headers take long to compile.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

struct config {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    std::string cert, key;
    bool deflate = false;
    int deflate_window = 12;     // syncws's server default
    int deflate_level = 6;       // zlib's default, as syncws
    int deflate_mem_level = 5;   // syncws's server default
};

template <class Stream>
void configure(websocket::stream<Stream>& ws, const config& c) {
    ws.read_message_max(16 * 1024 * 1024);
    ws.auto_fragment(false);
    if (!c.deflate) return;
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    pmd.server_max_window_bits = c.deflate_window;
    pmd.client_max_window_bits = c.deflate_window;
    pmd.compLevel = c.deflate_level;
    pmd.memLevel = c.deflate_mem_level;
    ws.set_option(pmd);
}

// The echo loop; error codes rather than exceptions, so that the end of a connection costs
// no throw (the peer closing is the normal way out).
template <class Stream>
void echo(websocket::stream<Stream>& ws, const config& c) {
    configure(ws, c);
    beast::error_code ec;
    ws.accept(ec);
    if (ec) return;
    beast::flat_buffer buffer;
    for (;;) {
        ws.read(buffer, ec);
        if (ec) return;
        ws.text(ws.got_text());
        ws.write(buffer.data(), ec);
        if (ec) return;
        buffer.consume(buffer.size());
    }
}

void session(tcp::socket socket, ssl::context* tls, const config& c) {
    socket.set_option(tcp::no_delay(true));
    if (!tls) {
        websocket::stream<tcp::socket> ws(std::move(socket));
        echo(ws, c);
        return;
    }
    websocket::stream<beast::ssl_stream<tcp::socket>> ws(std::move(socket), *tls);
    beast::error_code ec;
    ws.next_layer().handshake(ssl::stream_base::server, ec);
    if (!ec) echo(ws, c);
}

config parse(int argc, char** argv) {
    config c;
    for (int i = 1; i < argc; ++i) {
        const std::string option = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(option + " needs a value");
            return argv[++i];
        };
        if (option == "--host") c.host = value();
        else if (option == "--port") c.port = static_cast<unsigned short>(std::stoi(value()));
        else if (option == "--tls-cert") c.cert = value();
        else if (option == "--tls-key") c.key = value();
        else if (option == "--deflate") c.deflate = true;
        else if (option == "--deflate-window") c.deflate_window = std::stoi(value());
        else if (option == "--deflate-level") c.deflate_level = std::stoi(value());
        else if (option == "--deflate-mem-level") c.deflate_mem_level = std::stoi(value());
        else throw std::runtime_error("unknown option " + option);
    }
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const config c = parse(argc, argv);
        ssl::context tls_context(ssl::context::tls_server);
        const bool tls = !c.cert.empty();
        if (tls) {
            tls_context.use_certificate_chain_file(c.cert);
            tls_context.use_private_key_file(c.key, ssl::context::pem);
        }
        net::io_context ioc(1);
        tcp::acceptor acceptor(ioc, {net::ip::make_address(c.host), c.port});
        std::printf("listening on %s://%s:%u/\n", tls ? "wss" : "ws", c.host.c_str(),
                    acceptor.local_endpoint().port());
        std::fflush(stdout);
        for (;;) {
            tcp::socket socket(ioc);
            acceptor.accept(socket);
            std::thread(session, std::move(socket), tls ? &tls_context : nullptr, std::cref(c)).detach();
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "beast_echo_server: %s\n", e.what());
        return 1;
    }
}

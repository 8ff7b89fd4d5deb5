// permessage-deflate through the blocking layer, on loopback sockets: negotiation with the
// defaults, messages of every size both ways, the switches users have, and bounded memory
// against a peer that sends a decompression bomb.
#include <doctest.h>

#include <zlib.h>

#include <atomic>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"

using namespace std::chrono_literals;
using syncws::core::opcode;

namespace {

// An echo server with the given options, running until the end of the scope.
struct echo_server {
    syncws::server server;
    explicit echo_server(syncws::server_options options = {})
        : server(with_loopback(std::move(options)), [](syncws::server_connection& ws) {
              for (auto& m : ws) ws.send(m);
          }) {
        server.start();
    }
    std::string uri() const { return "ws://127.0.0.1:" + std::to_string(server.port()) + "/"; }

    static syncws::server_options with_loopback(syncws::server_options options) {
        options.host = "127.0.0.1";
        return options;
    }
};

std::string extensions_of(const syncws::connection& ws) {
    return std::string(ws.response().headers.get("Sec-WebSocket-Extensions").value_or(""));
}

// JSON-like text that compresses well, of exactly size bytes.
std::string json_text(std::size_t size) {
    std::string text;
    for (int i = 0; text.size() < size; ++i)
        text += "{\"id\":" + std::to_string(i) + ",\"name\":\"user" + std::to_string(i % 97) +
                "\",\"active\":true},";
    text.resize(size);
    return text;
}

// Peak resident memory of this process, in KiB, since the last reset_peak_memory().
long peak_memory_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

void reset_peak_memory() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Raw deflate of size zero bytes (a multiple of 64 MiB) with the 00 00 ff ff tail removed:
// a bomb as a hostile server would send it. 64 MiB of zeros are compressed once, from a
// fresh stream and ending on a sync flush, so that the piece refers to nothing before it
// and can simply be repeated.
std::string deflate_bomb(std::size_t size) {
    constexpr std::size_t piece_size = std::size_t{64} << 20;
    z_stream z{};
    REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    const std::string zeros(1024 * 1024, '\0');
    std::string piece;
    char buffer[64 * 1024];
    for (std::size_t done = 0; done < piece_size; done += zeros.size()) {
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
        z.avail_in = static_cast<uInt>(zeros.size());
        const int flush = done + zeros.size() >= piece_size ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        do {
            z.next_out = reinterpret_cast<Bytef*>(buffer);
            z.avail_out = sizeof buffer;
            deflate(&z, flush);
            piece.append(buffer, sizeof buffer - z.avail_out);
        } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    std::string out;
    for (std::size_t done = 0; done < size; done += piece_size) out += piece;
    REQUIRE(out.size() > 4);
    out.resize(out.size() - 4);
    return out;
}

}  // namespace

TEST_SUITE("permessage-deflate over sockets") {

TEST_CASE("a default client and a default server negotiate compression with a 12-bit window") {
    echo_server echo;
    auto ws = syncws::connect(echo.uri());
    CHECK(ws.request().headers.get("Sec-WebSocket-Extensions").value_or("") ==
          "permessage-deflate; client_max_window_bits");
    const std::string accepted = extensions_of(ws);
    CHECK(accepted.find("permessage-deflate") == 0);
    CHECK(accepted.find("server_max_window_bits=12") != std::string::npos);
    CHECK(accepted.find("client_max_window_bits=12") != std::string::npos);
    ws.send("hello");
    CHECK(ws.recv().data == "hello");
}

TEST_CASE("compressed messages from 0 bytes to 16 MiB come back intact, text and binary") {
    echo_server echo;
    auto ws = syncws::connect(echo.uri());
    REQUIRE(!extensions_of(ws).empty());
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{127}, std::size_t{128},
                             std::size_t{4096}, std::size_t{65536}, std::size_t{1} << 20,
                             std::size_t{16} << 20}) {
        CAPTURE(size);
        const std::string text = json_text(size);
        ws.send(text);
        const auto back = ws.recv();
        CHECK(back.is_text());
        CHECK(back.data == text);

        std::string bytes(size, '\0');
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7919) >> 3);
        ws.send(syncws::binary(bytes));
        const auto echoed = ws.recv();
        CHECK(echoed.is_binary());
        CHECK(echoed.data == bytes);
    }
}

TEST_CASE("turning compression off on either side gives uncompressed messages that still work") {
    SUBCASE("off in the client") {
        echo_server echo;
        syncws::client_options options;
        options.compression.enabled = false;
        auto ws = syncws::connect(echo.uri(), options);
        CHECK(!ws.request().headers.contains("Sec-WebSocket-Extensions"));
        CHECK(extensions_of(ws).empty());
        ws.send(json_text(10000));
        CHECK(ws.recv().data == json_text(10000));
    }
    SUBCASE("off in the server") {
        syncws::server_options server_options;
        server_options.compression.enabled = false;
        echo_server echo(server_options);
        auto ws = syncws::connect(echo.uri());
        CHECK(extensions_of(ws).empty());
        ws.send(json_text(10000));
        CHECK(ws.recv().data == json_text(10000));
    }
}

TEST_CASE("without context takeover on both sides, many messages still round-trip") {
    syncws::server_options server_options;
    server_options.compression.no_context_takeover = true;
    echo_server echo(server_options);
    syncws::client_options options;
    options.compression.no_context_takeover = true;
    auto ws = syncws::connect(echo.uri(), options);
    const std::string accepted = extensions_of(ws);
    CHECK(accepted.find("server_no_context_takeover") != std::string::npos);
    CHECK(accepted.find("client_no_context_takeover") != std::string::npos);
    for (int i = 0; i < 200; ++i) {
        const std::string text = json_text(100 + static_cast<std::size_t>(i) * 37);
        ws.send(text);
        REQUIRE(ws.recv().data == text);
    }
}

TEST_CASE("a message sent with compression::never goes out without RSV1 and arrives intact") {
    test::raw_server peer;
    auto ws = peer.connect_client({}, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    const std::string data(4096, 'z');
    ws.send(syncws::binary(data), syncws::compression::never);
    // The raw peer reads the frame header: RSV1 clear, length as sent.
    unsigned char header[8];
    REQUIRE(::recv(peer.fd(), header, sizeof header, MSG_WAITALL) == sizeof header);
    CHECK((header[0] & 0x40) == 0);
    CHECK((header[1] & 0x7f) == 126);
    CHECK(((header[2] << 8) | header[3]) == 4096);
    peer.vanish();  // so that closing does not wait for a close frame that will not come
}

TEST_CASE("streamed fragments of compressed messages arrive in order") {
    echo_server echo;
    auto ws = syncws::connect(echo.uri());
    const std::string a = json_text(3000), b = json_text(5000), c = json_text(7);
    ws.send_fragments({a, b, c});
    std::string whole;
    for (;;) {
        auto f = ws.recv_fragment();
        whole += f.data;
        if (f.fin) break;
    }
    CHECK(whole == a + b + c);
}

TEST_CASE("a 1 MiB frame that inflates to 1 GiB fails with 1009 and memory stays bounded") {
    const std::string bomb = deflate_bomb(std::size_t{1} << 30);
    CHECK(bomb.size() < 2 * 1024 * 1024);
    test::raw_server peer;
    syncws::client_options options;
    options.settings.max_message_size = 1024 * 1024;
    // The raw peer never answers our close frame: do not wait long for it.
    options.settings.close_timeout = 1s;
    auto ws = peer.connect_client(options, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    reset_peak_memory();
    const long before = peak_memory_kib();
    // Written from another thread: the client stops reading the frame once it has failed.
    const std::string wire = test::server_frame(opcode::binary, bomb, true, true);
    auto writing = std::async(std::launch::async, [&] {
        try {
            peer.write(wire);
        } catch (const std::exception&) {
        }
    });
    test::bounded([&] {
        try {
            ws.recv();
            FAIL("the bomb was accepted");
        } catch (const syncws::connection_closed& e) {
            REQUIRE(e.sent());
            CHECK(e.sent()->code == syncws::core::close_code::message_too_big);
        }
    });
    ::shutdown(peer.fd(), SHUT_RDWR);  // ends the writer's blocked write, if any
    writing.get();
    const long grown = peak_memory_kib() - before;
    MESSAGE("peak memory grew by " << grown << " KiB while refusing the bomb");
    // Sanitizers keep shadow memory for every byte touched; the bound is still far below
    // the gigabyte the bomb would take.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    constexpr long bound_kib = 64 * 1024;
#else
    constexpr long bound_kib = 8 * 1024;
#endif
    CHECK(grown < bound_kib);
}

TEST_CASE("eight threads sending compressed messages at once keep each thread's order") {
    echo_server echo;
    auto ws = syncws::connect(echo.uri());
    constexpr int senders = 8, per_sender = 200;
    std::vector<std::thread> threads;
    for (int t = 0; t < senders; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_sender; ++i)
                ws.send(std::to_string(t) + ":" + std::to_string(i) + ":" + json_text(200 + 13 * i));
        });
    std::vector<int> next(senders, 0);
    for (int received = 0; received < senders * per_sender; ++received) {
        const auto m = test::bounded([&] { return ws.recv(); });
        const auto colon = m.data.find(':'), second = m.data.find(':', colon + 1);
        const int t = std::stoi(m.data.substr(0, colon));
        const int i = std::stoi(m.data.substr(colon + 1, second - colon - 1));
        REQUIRE(i == next[t]);
        CHECK(m.data.substr(second + 1) == json_text(200 + 13 * i));
        ++next[t];
    }
    for (auto& thread : threads) thread.join();
}

}  // TEST_SUITE

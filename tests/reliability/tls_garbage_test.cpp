// Garbage on a wss:// port: random bytes, a record header announcing more than TLS allows,
// a stream of zeros, a ClientHello cut short. The server logs why it dropped each client
// (log level info: it is the client's fault), drops it, and serves real wss:// clients
// before, during and after.
//
// A plain ws:// client on a TLS port is tests/sync/tls_test.cpp ("a plain ws:// client on a
// TLS port gets an error, and the server logs why"), and a silent client there is dropped at
// open_timeout ("a silent client holds up no other client").
#include <doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../sync/loopback.hpp"
#include "../sync/test_certificates.hpp"
#include "peers.hpp"
#include "process_probe.hpp"
#include "syncws/syncws.hpp"

using namespace std::chrono_literals;
using reliability::raw_client;

namespace {

/// Log lines at info level or above, from any thread.
struct log_lines {
    std::mutex mutex;
    std::vector<std::string> lines;
    syncws::logger logger() {
        return [this](syncws::log_level level, std::string_view text, std::uint64_t) {
            if (level == syncws::log_level::debug) return;
            std::lock_guard<std::mutex> lk(mutex);
            lines.emplace_back(std::string(syncws::to_string(level)) + ": " + std::string(text));
        };
    }
    std::size_t count(const std::string& part) {
        std::lock_guard<std::mutex> lk(mutex);
        std::size_t n = 0;
        for (const auto& l : lines) n += l.find(part) != std::string::npos;
        return n;
    }
    /// Each distinct line once, with how often it came.
    std::string summary() {
        std::lock_guard<std::mutex> lk(mutex);
        std::map<std::string, int> counts;
        for (const auto& l : lines) ++counts[l];
        std::string text;
        for (const auto& [l, n] : counts) text += "  " + std::to_string(n) + " x " + l + "\n";
        return text;
    }
};

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937 random(seed);
    std::string bytes(size, '\0');
    for (auto& b : bytes) b = static_cast<char>(random() & 0xff);
    return bytes;
}

/// The start of a TLS 1.2 ClientHello record, announcing 512 bytes of which 40 follow.
std::string truncated_client_hello() {
    std::string record = {'\x16', '\x03', '\x01', '\x02', '\x00',  // handshake record, 512 bytes
                          '\x01', '\x00', '\x01', '\xfc',          // ClientHello, 508 bytes
                          '\x03', '\x03'};                         // TLS 1.2
    return record + std::string(29, '\x2a');
}

void check_echo(syncws::connection& ws, const std::string& text) {
    ws.send(text);
    const auto m = ws.recv(20s);
    REQUIRE(m);
    CHECK(m->data == text);
}

}  // namespace

TEST_SUITE("reliability: garbage on a TLS port") {

TEST_CASE("garbage of every kind on a wss:// port is logged and dropped while real clients are served") {
    const auto& certs = test::test_certificates();
    log_lines log;
    syncws::server_options options;
    options.host = "127.0.0.1";
    options.tls.cert_file = certs.server_cert;
    options.tls.key_file = certs.server_key;
    options.settings.open_timeout = 2s;  // for the ClientHello that never ends
    options.settings.logger = log.logger();
    syncws::server server(options, [](syncws::server_connection& ws) {
        for (auto& m : ws) ws.send(m);
    });
    server.start();
    syncws::client_options trusting;
    trusting.tls.ca_file = certs.ca;
    const std::string url = "wss://localhost:" + std::to_string(server.port()) + "/";
    auto before = syncws::connect(url, trusting);
    check_echo(before, "before the garbage");

    struct kind {
        const char* name;
        std::string bytes;
    };
    const std::vector<kind> kinds = {
        {"64 KiB of random bytes", random_bytes(64 * 1024, 1)},
        {"a record header announcing 65535 bytes", std::string("\x16\x03\x01\xff\xff", 5) + random_bytes(4096, 2)},
        {"8 MiB of zeros", std::string(8 * 1024 * 1024, '\0')},
        {"a ClientHello cut short, then silence", truncated_client_hello()},
        {"an SSH banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"},
    };
    constexpr int per_kind = 10;
    const std::size_t logged_before = log.count("TLS handshake failed");
    reliability::reset_peak_memory();
    const long memory_before = reliability::peak_kib();

    std::atomic<int> dropped{0};
    std::vector<std::thread> attackers;
    for (const auto& k : kinds)
        for (int i = 0; i < per_kind; ++i)
            attackers.emplace_back([&] {
                raw_client c(server.port());
                try {
                    c.send_bytes(k.bytes);
                } catch (const std::exception&) {
                    // The server dropped us before it took everything: what we want.
                }
                if (c.read_until_closed()) ++dropped;
            });
    // Served while the garbage comes in.
    auto during = syncws::connect(url, trusting);
    check_echo(during, "during the garbage");
    for (auto& t : attackers) t.join();

    const int attempts = static_cast<int>(kinds.size()) * per_kind;
    CHECK(dropped.load() == attempts);
    // One line per client saying why; info, not error: it is the client's doing.
    CHECK(reliability::eventually([&] { return log.count("TLS handshake failed") == logged_before + attempts; }));
    CHECK(log.count("does not speak TLS") >= 4 * per_kind);
    CHECK(log.count("timed out in the TLS handshake") == per_kind);
    CHECK(log.count("error:") == 0);
    MESSAGE("figure: " << dropped.load() << " garbage connections dropped; peak memory grew by "
                       << reliability::peak_kib() - memory_before << " KiB; the log says:\n"
                       << log.summary());

    check_echo(before, "after the garbage");
    check_echo(during, "after the garbage too");
    auto after = syncws::connect(url, trusting);
    check_echo(after, "new after the garbage");
    CHECK(reliability::eventually([&] { return server.connection_count() == 3; }));
}

}  // TEST_SUITE

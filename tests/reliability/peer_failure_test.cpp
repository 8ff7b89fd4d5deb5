// Peers that die, freeze or stop reading, as real processes do: a child process killed with
// SIGKILL in the middle of a message, frozen with SIGSTOP, a `syncws serve` process that
// vanishes while our client waits in recv(), a client that never reads what a handler sends.
// Each time the side that stays gets a clear error within its deadline, and a server goes
// on serving everyone else.
//
// In-process versions of some of these rules are in tests/sync/connection_test.cpp ("a peer
// that vanishes mid-message gives 1006 to the thread in recv", "keepalive fails the
// connection with 1011 when the peer stops answering pings", "a peer that never reads makes
// send fail at send_timeout"); here the peer is another process, both roles are covered, and
// memory is measured.
#include <doctest.h>

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "../sync/loopback.hpp"
#include "peers.hpp"
#include "process_probe.hpp"
#include "syncws/syncws.hpp"

using namespace std::chrono_literals;
using reliability::peer_process;
using reliability::raw_client;
using syncws::core::opcode;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t mib = 1024 * 1024;

/// How a handler's connection ended, handed to the test's thread.
class outcome {
public:
    void set(const syncws::connection_closed& e) {
        std::lock_guard<std::mutex> lk(mutex_);
        what_ = e.what();
        code_ = e.code();
        sent_ = e.sent();
        error_ = dynamic_cast<const syncws::connection_closed_error*>(&e) != nullptr;
        when_ = clock_type::now();
        done_ = true;
        changed_.notify_all();
    }
    void set_other(const std::string& what) {
        std::lock_guard<std::mutex> lk(mutex_);
        what_ = what;
        when_ = clock_type::now();
        done_ = true;
        changed_.notify_all();
    }
    /// Waits at most 20 s; false if the connection had not ended by then.
    bool wait() {
        std::unique_lock<std::mutex> lk(mutex_);
        return changed_.wait_for(lk, 20s, [&] { return done_; });
    }
    bool done() {
        std::lock_guard<std::mutex> lk(mutex_);
        return done_;
    }
    std::string what() { std::lock_guard<std::mutex> lk(mutex_); return what_; }
    std::uint16_t code() { std::lock_guard<std::mutex> lk(mutex_); return code_; }
    std::optional<syncws::core::close_frame> sent() { std::lock_guard<std::mutex> lk(mutex_); return sent_; }
    bool error() { std::lock_guard<std::mutex> lk(mutex_); return error_; }
    clock_type::time_point when() { std::lock_guard<std::mutex> lk(mutex_); return when_; }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    bool done_ = false;
    bool error_ = false;
    std::string what_;
    std::uint16_t code_ = 0;
    std::optional<syncws::core::close_frame> sent_;
    clock_type::time_point when_;
};

/// Options for a server on 127.0.0.1 and a port the OS chooses.
syncws::server_options loopback_options() {
    syncws::server_options options;
    options.host = "127.0.0.1";
    return options;
}

/// An echo server. Connections to /bystander just echo; the outcome of any other one (how
/// its connection ended) is recorded.
struct watched_server {
    outcome watched;
    syncws::server server;

    explicit watched_server(const syncws::server_options& options)
        : server(options, [this](syncws::server_connection& ws) {
              if (ws.request().target == "/bystander") {
                  for (auto& m : ws) ws.send(m);
                  return;
              }
              try {
                  for (auto& m : ws) ws.send(m);
                  watched.set_other("the connection closed cleanly");
              } catch (const syncws::connection_closed& e) {
                  watched.set(e);
              }
          }) {
        server.start();
    }
    std::string uri(const std::string& target = "/bystander") const {
        return "ws://127.0.0.1:" + std::to_string(server.port()) + target;
    }
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

void check_echo(syncws::connection& ws, const std::string& text) {
    ws.send(text);
    const auto m = ws.recv(20s);
    REQUIRE(m);
    CHECK(m->data == text);
}

}  // namespace

TEST_SUITE("reliability: a peer killed mid-message") {

TEST_CASE("a client process killed in the middle of a 16 MiB message gives the handler 1006 at once; others are served") {
    watched_server s(loopback_options());
    auto bystander = syncws::connect(s.uri());
    check_echo(bystander, "before");

    raw_client victim(s.server.port());
    victim.open_websocket();
    // Half of a 16 MiB frame: the header announces 16 MiB, 8 MiB follow, then nothing.
    const std::string half = reliability::client_frame(opcode::binary, std::string(8 * mib, 'k'), true, 16 * mib);
    peer_process child(victim.release(), [&half](int socket) { reliability::write_all(socket, half.data(), half.size()); });
    REQUIRE(child.wait_ready());
    CHECK_FALSE(s.watched.done());  // the handler is still receiving the message

    const auto killed = clock_type::now();
    child.kill(SIGKILL);
    REQUIRE(s.watched.wait());
    MESSAGE("figure: the handler saw the end " << std::chrono::duration<double, std::milli>(s.watched.when() - killed).count()
                                               << " ms after SIGKILL: " << s.watched.what());
    CHECK(s.watched.error());
    CHECK(s.watched.code() == 1006);
    CHECK(contains(s.watched.what(), "lost"));
    CHECK(contains(s.watched.what(), "in the middle of a frame"));

    check_echo(bystander, "after");
    auto newcomer = syncws::connect(s.uri());
    check_echo(newcomer, "new");
    CHECK(reliability::eventually([&] { return s.server.connection_count() == 2; }));
}

TEST_CASE("a server process killed in the middle of a 16 MiB message gives the client in recv 1006 at once") {
    test::raw_server raw;
    auto client = raw.connect_client(syncws::client_options());
    // Half of a 16 MiB frame: the header announces 16 MiB, 8 MiB follow, then nothing.
    unsigned char header[syncws::core::max_frame_header_size];
    const std::size_t n = syncws::core::encode_frame_header(header, true, false, opcode::binary, 16 * mib, nullptr);
    const std::string wire = std::string(reinterpret_cast<const char*>(header), n) + std::string(8 * mib, 's');

    auto received = std::async(std::launch::async, [&client] {
        try {
            client.recv();
            return std::string("recv returned a message");
        } catch (const syncws::connection_closed_error& e) {
            return std::string(e.what()) + (e.code() == 1006 ? "" : " (not 1006)");
        }
    });
    peer_process child(::dup(raw.fd()), [&wire](int socket) { reliability::write_all(socket, wire.data(), wire.size()); });
    raw.vanish();  // our copy of the socket: now only the child holds the connection
    REQUIRE(child.wait_ready());
    CHECK(received.wait_for(100ms) == std::future_status::timeout);  // still receiving

    const auto killed = clock_type::now();
    child.kill(SIGKILL);
    REQUIRE(received.wait_for(20s) == std::future_status::ready);
    const std::string what = received.get();
    MESSAGE("figure: recv threw " << reliability::seconds_since(killed) * 1000 << " ms after SIGKILL: " << what);
    CHECK(contains(what, "1006"));
    CHECK_FALSE(contains(what, "not 1006"));
    CHECK(contains(what, "in the middle of a frame"));
}

}  // TEST_SUITE

TEST_SUITE("reliability: a frozen peer") {

TEST_CASE("a client process frozen with SIGSTOP is closed by the server's keepalive with 1011") {
    syncws::server_options options = loopback_options();
    options.settings.ping_interval = 200ms;
    options.settings.ping_timeout = 300ms;
    options.settings.close_timeout = 500ms;
    watched_server s(options);
    auto bystander = syncws::connect(s.uri());  // answers pings: must stay open

    raw_client frozen(s.server.port());
    frozen.open_websocket();
    peer_process child(frozen.release(), [](int) {});
    REQUIRE(child.wait_ready());
    child.signal(SIGSTOP);
    const auto stopped = clock_type::now();

    REQUIRE(s.watched.wait());
    MESSAGE("figure: closed " << std::chrono::duration<double, std::milli>(s.watched.when() - stopped).count()
                              << " ms after SIGSTOP (ping_interval 200 ms, ping_timeout 300 ms): " << s.watched.what());
    CHECK(s.watched.error());
    REQUIRE(s.watched.sent());
    CHECK(s.watched.sent()->code == 1011);
    CHECK(s.watched.sent()->reason == "keepalive ping timeout");
    // The frozen client cannot answer the close: the server gives up at close_timeout.
    CHECK(reliability::eventually([&] { return s.server.connection_count() == 1; }));
    check_echo(bystander, "answered every ping");
    child.signal(SIGCONT);
}

TEST_CASE("a syncws serve process frozen with SIGSTOP is detected by the client's keepalive with 1011") {
    reliability::tool_server server;
    syncws::client_options options;
    options.settings.ping_interval = 200ms;
    options.settings.ping_timeout = 300ms;
    options.settings.close_timeout = 500ms;
    auto client = syncws::connect(server.uri(), options);
    check_echo(client, "alive");

    server.signal(SIGSTOP);
    const auto stopped = clock_type::now();
    try {
        test::bounded([&] { return client.recv(); });
        FAIL("recv returned a message from a frozen server");
    } catch (const syncws::connection_closed_error& e) {
        MESSAGE("figure: recv threw " << reliability::seconds_since(stopped) * 1000 << " ms after SIGSTOP: " << std::string(e.what()));
        REQUIRE(e.sent());
        CHECK(e.sent()->code == 1011);
        CHECK(e.sent()->reason == "keepalive ping timeout");
    }
    CHECK(client.state() == syncws::core::state::closed);
    server.signal(SIGCONT);
}

}  // TEST_SUITE

TEST_SUITE("reliability: a server that vanishes") {

TEST_CASE("a syncws serve process killed while the client waits in recv makes recv throw 1006 at once") {
    reliability::tool_server server;
    auto client = syncws::connect(server.uri());
    check_echo(client, "alive");
    auto received = std::async(std::launch::async, [&client] {
        try {
            client.recv();
            return std::string("recv returned a message");
        } catch (const syncws::connection_closed_error& e) {
            return std::string(e.what()) + (e.code() == 1006 ? "" : " (not 1006)");
        }
    });
    CHECK(received.wait_for(100ms) == std::future_status::timeout);  // blocked in recv

    const auto killed = clock_type::now();
    server.kill(SIGKILL);
    REQUIRE(received.wait_for(20s) == std::future_status::ready);
    const std::string what = received.get();
    MESSAGE("figure: recv threw " << reliability::seconds_since(killed) * 1000 << " ms after SIGKILL: " << what);
    CHECK(contains(what, "1006"));
    CHECK_FALSE(contains(what, "not 1006"));
    CHECK(contains(what, "lost"));
    CHECK_THROWS_AS(client.send("anyone?"), syncws::connection_closed);
}

}  // TEST_SUITE

TEST_SUITE("reliability: a peer that never reads") {

TEST_CASE("a handler sending to a client that never reads fails at send_timeout with bounded memory") {
    syncws::server_options options = loopback_options();
    options.settings.send_timeout = 1s;
    const std::string chunk(mib, 'x');
    std::promise<std::pair<int, std::string>> result;
    syncws::server server(options, [&](syncws::server_connection& ws) {
        int sent = 0;
        try {
            for (; sent < 1000; ++sent) ws.send(syncws::binary(chunk));
            result.set_value({sent, "every send succeeded"});
        } catch (const syncws::timeout_error& e) {
            std::string after = "a send after the timeout succeeded";
            try {
                ws.send("after");
            } catch (const syncws::connection_closed& closed) {
                after = closed.what();
            }
            result.set_value({sent, std::string(e.what()) + " | then: " + after});
        }
    });
    server.start();

    reliability::reset_peak_memory();
    const long before = reliability::peak_kib();
    raw_client deaf(server.port());
    deaf.open_websocket();
    auto outcome = result.get_future();
    REQUIRE(outcome.wait_for(30s) == std::future_status::ready);
    const auto [sent, what] = outcome.get();
    const long grown = reliability::peak_kib() - before;
    MESSAGE("figure: " << sent << " MiB went into the kernel's buffers before the send deadline; peak memory grew by "
                       << grown << " KiB; " << what);
    CHECK(sent < 1000);
    CHECK(contains(what, "timed out"));
    CHECK(contains(what, "then: "));
    CHECK_FALSE(contains(what, "succeeded"));
    // Each frame is written from the caller's buffer: nothing is queued in user space.
    CHECK(grown < 8 * 1024 * reliability::sanitizer_factor);
    // The connection was failed: the server ends it, whatever we have not read.
    CHECK(deaf.read_until_closed());
    CHECK(reliability::eventually([&] { return server.connection_count() == 0; }));
}

}  // TEST_SUITE

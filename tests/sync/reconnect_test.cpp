// connect_with_retry and reconnecting_client (syncws/reconnect.hpp) against real servers on
// 127.0.0.1: a server that restarts on the same port, one that is down, one that refuses or
// is overloaded, and stop requests from another thread. Delays are checked by the values the
// backoff chose (on_retry), never by measuring time.
#include <doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "syncws/reconnect.hpp"
#include "syncws/syncws.hpp"

using namespace std::chrono_literals;

namespace {

using ms = std::chrono::milliseconds;

syncws::server_options local_options(std::uint16_t port = 0) {
    syncws::server_options options;
    options.host = "127.0.0.1";
    options.port = port;
    return options;
}

std::string uri_of(std::uint16_t port) { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }

/// A port on 127.0.0.1 where nothing listens: the OS chose it for a socket that is closed
/// again, so connecting is refused at once.
std::uint16_t closed_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

/// A server whose handler says which one it is, then echoes until the client leaves.
std::unique_ptr<syncws::server> start_named(const std::string& name, std::uint16_t port = 0) {
    auto server = std::make_unique<syncws::server>(local_options(port), [name](syncws::server_connection& ws) {
        ws.send(name);
        for (auto& m : ws) ws.send(m);
    });
    server->start();
    return server;
}

/// Short delays, no randomness: the delays a test sees are exactly the formula's.
syncws::retry_options quick_retry() {
    syncws::retry_options retry;
    retry.initial_delay = 1ms;
    retry.max_delay = 4ms;
    retry.factor = 2.0;
    retry.jitter = 0.0;
    return retry;
}

/// A count that a test can wait on, with a deadline.
class counter {
public:
    void increment() {
        std::lock_guard<std::mutex> lk(mutex_);
        ++value_;
        changed_.notify_all();
    }
    bool wait_for_at_least(int n, std::chrono::seconds bound = 10s) {
        std::unique_lock<std::mutex> lk(mutex_);
        return changed_.wait_for(lk, bound, [&] { return value_ >= n; });
    }
    int value() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return value_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    int value_ = 0;
};

/// A thread joined when it goes out of scope, also when a REQUIRE leaves the test early.
struct joining_thread {
    std::thread thread;
    ~joining_thread() {
        if (thread.joinable()) thread.join();
    }
};

syncws::core::http_response status_response(int status) {
    syncws::core::http_response r;
    r.status = status;
    r.body = "status " + std::to_string(status) + "\n";
    return r;
}

}  // namespace

TEST_SUITE("reconnect: backoff") {

TEST_CASE("the delay starts at initial_delay, grows by factor and stops at max_delay") {
    syncws::retry_options retry;
    retry.initial_delay = 100ms;
    retry.max_delay = 1s;
    retry.factor = 3.0;
    CHECK(syncws::backoff_delay(retry, 1) == ms(100));
    CHECK(syncws::backoff_delay(retry, 2) == ms(300));
    CHECK(syncws::backoff_delay(retry, 3) == ms(900));
    CHECK(syncws::backoff_delay(retry, 4) == ms(1000));
    // Far past where factor^n overflows an integer count: still max_delay, never garbage.
    CHECK(syncws::backoff_delay(retry, 100000) == ms(1000));
}

TEST_CASE("options that make no sense are refused with invalid_argument") {
    const auto refused = [](auto change) {
        syncws::retry_options retry;
        change(retry);
        CHECK_THROWS_AS(syncws::backoff_delay(retry, 1), syncws::invalid_argument);
        CHECK_THROWS_AS(syncws::connect_with_retry("ws://127.0.0.1:1/", syncws::client_options(), retry),
                        syncws::invalid_argument);
    };
    refused([](syncws::retry_options& r) { r.initial_delay = 0ms; });
    refused([](syncws::retry_options& r) { r.initial_delay = -1ms; });
    refused([](syncws::retry_options& r) { r.max_delay = r.initial_delay / 2; });
    refused([](syncws::retry_options& r) { r.factor = 0.5; });
    refused([](syncws::retry_options& r) { r.factor = std::nan(""); });
    refused([](syncws::retry_options& r) { r.jitter = 1.5; });
    refused([](syncws::retry_options& r) { r.jitter = -0.1; });
    refused([](syncws::retry_options& r) { r.max_attempts = -1; });
    CHECK_THROWS_AS(syncws::backoff_delay(syncws::retry_options(), 0), syncws::invalid_argument);
}

TEST_CASE("failed attempts against a server that is down wait longer and longer, then the last error is thrown") {
    syncws::retry_options retry = quick_retry();
    retry.max_attempts = 5;
    std::vector<int> attempts;
    std::vector<syncws::duration> delays;
    retry.on_retry = [&](const std::exception&, int failed, syncws::duration delay) {
        attempts.push_back(failed);
        delays.push_back(delay);
    };
    // The connection refused error itself, not a wrapper: the caller sees what went wrong.
    CHECK_THROWS_AS(syncws::connect_with_retry(uri_of(closed_port()), syncws::client_options(), retry),
                    syncws::error);
    CHECK(attempts == std::vector<int>{1, 2, 3, 4});
    CHECK(delays == std::vector<syncws::duration>{1ms, 2ms, 4ms, 4ms});
}

TEST_CASE("jitter takes a random share off each delay, never more than the share allowed") {
    syncws::retry_options retry = quick_retry();
    retry.initial_delay = retry.max_delay = 100ms;  // a constant nominal delay
    retry.jitter = 0.5;
    retry.max_attempts = 30;
    retry.on_retry = [&](const std::exception&, int, syncws::duration delay) {
        CHECK(delay >= 50ms);
        CHECK(delay <= 100ms);
        throw std::runtime_error(std::to_string(delay.count()));  // one delay per call, no waiting
    };
    std::vector<std::string> seen;
    for (int i = 0; i < 20; ++i) {
        try {
            syncws::connect_with_retry(uri_of(closed_port()), syncws::client_options(), retry);
        } catch (const std::runtime_error& e) {
            seen.emplace_back(e.what());
        }
    }
    REQUIRE(seen.size() == 20);
    // Twenty draws that were all the same would mean no jitter at all.
    CHECK(std::count(seen.begin(), seen.end(), seen.front()) < 20);
}

}  // TEST_SUITE

TEST_SUITE("reconnect: which errors are retried") {

TEST_CASE("network failures, timeouts and 5xx are transient; 4xx, bad certificates and bad URIs are not") {
    const auto status = [](int code) { return syncws::invalid_status(status_response(code)); };
    using reason = syncws::tls_error::reason;
    CHECK(syncws::is_transient_error(syncws::error("connection refused")));
    CHECK(syncws::is_transient_error(syncws::timeout_error("timed out")));
    CHECK(syncws::is_transient_error(syncws::invalid_handshake("the server closed the connection", 0)));
    for (int code : {408, 429, 500, 502, 503, 504}) CHECK(syncws::is_transient_error(status(code)));
    for (int code : {301, 400, 401, 403, 404, 426, 501}) CHECK_FALSE(syncws::is_transient_error(status(code)));
    CHECK(syncws::is_transient_error(syncws::tls_error(reason::handshake_failed, "the server closed")));
    CHECK(syncws::is_transient_error(syncws::tls_error(reason::io, "reset")));
    for (reason r : {reason::untrusted_issuer, reason::hostname_mismatch, reason::expired,
                     reason::not_yet_valid, reason::certificate_file})
        CHECK_FALSE(syncws::is_transient_error(syncws::tls_error(r, "certificate")));
    CHECK_FALSE(syncws::is_transient_error(syncws::invalid_uri("http://")));
    CHECK_FALSE(syncws::is_transient_error(syncws::invalid_argument("CR in a header")));
    CHECK_FALSE(syncws::is_transient_error(syncws::invalid_state("closed")));
    CHECK_FALSE(syncws::is_transient_error(std::runtime_error("not ours")));
}

TEST_CASE("a 403 is thrown at once, after one request, without waiting") {
    std::atomic<int> requests{0};
    syncws::server_options options = local_options();
    options.process_request = [&](const syncws::core::http_request&) -> std::optional<syncws::core::http_response> {
        ++requests;
        return status_response(403);
    };
    syncws::server server(options, [](syncws::server_connection&) {});
    server.start();
    syncws::retry_options retry = quick_retry();
    int retries = 0;
    retry.on_retry = [&](const std::exception&, int, syncws::duration) { ++retries; };
    try {
        syncws::connect_with_retry(uri_of(server.port()), syncws::client_options(), retry);
        FAIL("connected");
    } catch (const syncws::invalid_status& e) {
        CHECK(e.response().status == 403);
    }
    CHECK(requests == 1);
    CHECK(retries == 0);
}

TEST_CASE("a 503 is retried, and its Retry-After raises the delay up to max_delay") {
    std::atomic<int> requests{0};
    syncws::server_options options = local_options();
    options.process_request = [&](const syncws::core::http_request&) -> std::optional<syncws::core::http_response> {
        if (++requests > 2) return std::nullopt;  // room again: the handshake goes on
        auto busy = status_response(503);
        busy.headers.add("Retry-After", "1");
        return busy;
    };
    syncws::server server(options, [](syncws::server_connection& ws) { ws.send("welcome"); });
    server.start();
    syncws::retry_options retry = quick_retry();
    retry.max_delay = 50ms;  // below the 1 s asked for, so that the test stays quick
    std::vector<syncws::duration> delays;
    retry.on_retry = [&](const std::exception& e, int, syncws::duration delay) {
        CHECK(dynamic_cast<const syncws::invalid_status*>(&e) != nullptr);
        delays.push_back(delay);
    };
    auto ws = syncws::connect_with_retry(uri_of(server.port()), syncws::client_options(), retry);
    REQUIRE(ws.has_value());
    CHECK(ws->recv().data == "welcome");
    CHECK(requests == 3);
    CHECK(delays == std::vector<syncws::duration>{50ms, 50ms});
}

TEST_CASE("retry_if replaces the default choice of what to retry") {
    syncws::retry_options retry = quick_retry();
    retry.max_attempts = 10;
    int asked = 0;
    retry.retry_if = [&](const std::exception&) { return ++asked < 3; };
    CHECK_THROWS_AS(syncws::connect_with_retry(uri_of(closed_port()), syncws::client_options(), retry),
                    syncws::error);
    CHECK(asked == 3);
}

TEST_CASE("an invalid URI is refused before any attempt") {
    CHECK_THROWS_AS(syncws::reconnecting_client("http://example.com/"), syncws::invalid_uri);
    syncws::retry_options retry = quick_retry();
    int retries = 0;
    retry.on_retry = [&](const std::exception&, int, syncws::duration) { ++retries; };
    CHECK_THROWS_AS(syncws::connect_with_retry("ws://", syncws::client_options(), retry), syncws::invalid_uri);
    CHECK(retries == 0);
}

}  // TEST_SUITE

TEST_SUITE("reconnect: reconnecting_client") {

TEST_CASE("the client reconnects when the server restarts on the same port, after failed attempts") {
    auto first = start_named("first");
    const std::uint16_t port = first->port();

    counter failures;
    syncws::retry_options retry = quick_retry();
    retry.max_delay = 20ms;
    retry.on_retry = [&](const std::exception& e, int, syncws::duration) {
        CHECK(syncws::is_transient_error(e));
        failures.increment();
    };

    // The new server comes up only after the client has failed twice while it was away.
    std::unique_ptr<syncws::server> second;
    joining_thread restart;
    std::vector<std::string> greetings;
    syncws::reconnecting_client client(uri_of(port), syncws::client_options(), retry);
    for (auto& ws : client) {
        try {
            const auto greeting = ws.recv(10s);
            REQUIRE(greeting.has_value());
            greetings.push_back(greeting->data);
            if (greetings.size() == 2) break;
            first->shutdown();  // closes this connection with 1001
            restart.thread = std::thread([&] {
                if (failures.wait_for_at_least(2)) second = start_named("second", port);
            });
            ws.recv(10s);
            FAIL("the connection outlived its server");
        } catch (const syncws::connection_closed& e) {
            CHECK(e.code() == syncws::core::close_code::going_away);
        }
    }
    restart.thread.join();
    CHECK(greetings == std::vector<std::string>{"first", "second"});
    CHECK(failures.value() >= 2);
    CHECK(client.connections_opened() == 2);
}

TEST_CASE("a non-transient error leaves the range-for as an exception") {
    syncws::server_options options = local_options();
    options.process_request = [](const syncws::core::http_request&) -> std::optional<syncws::core::http_response> {
        return status_response(401);
    };
    syncws::server server(options, [](syncws::server_connection&) {});
    server.start();
    int iterations = 0;
    try {
        for (auto& ws : syncws::reconnecting_client(uri_of(server.port()), syncws::client_options(), quick_retry())) {
            (void)ws;
            ++iterations;
        }
        FAIL("the loop ended without an error");
    } catch (const syncws::invalid_status& e) {
        CHECK(e.response().status == 401);
    }
    CHECK(iterations == 0);
}

TEST_CASE("max_attempts counts afresh after each connection that opened") {
    auto server = start_named("up");
    syncws::retry_options retry = quick_retry();
    retry.max_attempts = 3;
    int failures = 0;
    retry.on_retry = [&](const std::exception&, int, syncws::duration) { ++failures; };
    syncws::reconnecting_client client(uri_of(server->port()), syncws::client_options(), retry);
    int opened = 0;
    CHECK_THROWS_AS(
        [&] {
            for (auto& ws : client) {
                ++opened;
                CHECK(ws.recv().data == "up");
                if (opened == 2) server->shutdown();  // from now on every attempt is refused
            }
        }(),
        syncws::error);
    CHECK(opened == 2);
    CHECK(failures == 2);  // the third failure is thrown, not waited for
}

}  // TEST_SUITE

TEST_SUITE("reconnect: stop") {

TEST_CASE("request_stop wakes a client waiting between attempts, which returns nothing") {
    syncws::retry_options retry;
    retry.initial_delay = retry.max_delay = 60s;  // a test that hangs here fails at its deadline
    counter failures;
    retry.on_retry = [&](const std::exception&, int, syncws::duration) { failures.increment(); };
    const std::string uri = uri_of(closed_port());
    auto waiting = std::async(std::launch::async, [&] {
        return syncws::connect_with_retry(uri, syncws::client_options(), retry);
    });
    REQUIRE(failures.wait_for_at_least(1));
    retry.stop.request_stop();
    REQUIRE(waiting.wait_for(10s) == std::future_status::ready);
    CHECK_FALSE(waiting.get().has_value());
    CHECK(failures.value() == 1);
}

TEST_CASE("a stop requested before the first attempt makes none") {
    auto server = start_named("never greeted");
    syncws::retry_options retry = quick_retry();
    retry.stop.request_stop();
    CHECK_FALSE(syncws::connect_with_retry(uri_of(server->port()), syncws::client_options(), retry).has_value());
    syncws::reconnecting_client client(uri_of(server->port()), syncws::client_options(), retry);
    CHECK(client.begin() == client.end());
    CHECK(client.connections_opened() == 0);
}

TEST_CASE("request_stop closes the connection handed out with 1001, waking recv, and ends the loop") {
    std::promise<std::optional<syncws::core::close_frame>> server_saw;
    syncws::server server(local_options(), [&](syncws::server_connection& ws) {
        try {
            for (auto& m : ws) (void)m;
        } catch (const syncws::connection_closed&) {
        }
        server_saw.set_value(ws.close_received());
    });
    server.start();

    syncws::retry_options retry = quick_retry();
    counter opened;
    joining_thread stopper{std::thread([&] {
        if (opened.wait_for_at_least(1)) retry.stop.request_stop();
    })};
    syncws::reconnecting_client client(uri_of(server.port()), syncws::client_options(), retry);
    int iterations = 0;
    for (auto& ws : client) {
        ++iterations;
        opened.increment();
        try {
            const auto m = ws.recv(10s);
            FAIL("recv was not woken by request_stop");
        } catch (const syncws::connection_closed& e) {
            REQUIRE(e.sent().has_value());
            CHECK(e.sent()->code == syncws::core::close_code::going_away);
        }
    }
    stopper.thread.join();
    CHECK(iterations == 1);
    auto saw = server_saw.get_future();
    REQUIRE(saw.wait_for(10s) == std::future_status::ready);
    const auto received = saw.get();
    REQUIRE(received.has_value());
    CHECK(received->code == syncws::core::close_code::going_away);
    CHECK(received->reason == "client stopping");
}

}  // TEST_SUITE

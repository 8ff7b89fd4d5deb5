// What a server and its connections tell an operator: log lines that name the connection
// ("c42") and its peer's address, and server::stats(), served here on /stats by a
// process_request hook as a health-check endpoint would.

#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>
#include <doctest.h>

#include "loopback.hpp"
#include "syncws/syncws.hpp"
#include "test_certificates.hpp"

namespace {

using namespace std::chrono_literals;

/// Log records as the logger received them, copied (the record's views die with the call).
struct log_capture {
    struct line {
        syncws::log_level level;
        std::string message;
        std::uint64_t connection_id;
        std::string remote_address;
        std::string formatted;
    };
    std::mutex mutex;
    std::vector<line> lines;

    syncws::logger logger() {
        return [this](const syncws::log_record& r) {
            std::lock_guard<std::mutex> lk(mutex);
            lines.push_back({r.level, std::string(r.message), r.connection_id,
                             std::string(r.remote_address), syncws::to_string(r)});
        };
    }
    /// The first line whose message contains part, if one came.
    std::optional<line> find(const std::string& part) {
        std::lock_guard<std::mutex> lk(mutex);
        for (const auto& l : lines)
            if (l.message.find(part) != std::string::npos) return l;
        return std::nullopt;
    }
};

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = 10s) {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

std::string url(const syncws::server& server, const std::string& path = "/") {
    return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

/// A plain TCP client whose every read gives up after a few seconds, so no test can hang.
asio::ip::tcp::socket raw_connect(std::uint16_t port) {
    asio::ip::tcp::socket socket(test::io());
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval limit{5, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    return socket;
}

/// Sends bytes (if any) and reads until the server closes; what it answered.
std::string send_and_read_all(std::uint16_t port, const std::string& bytes) {
    asio::ip::tcp::socket socket = raw_connect(port);
    if (!bytes.empty()) asio::write(socket, asio::buffer(bytes));
    std::string answer;
    char buffer[4096];
    asio::error_code ec;
    for (;;) {
        const std::size_t n = socket.read_some(asio::buffer(buffer), ec);
        if (ec) break;  // end of stream, reset, or our read timeout
        answer.append(buffer, n);
    }
    return answer;
}

/// GET target over plain HTTP; the body of the response (which must be 200).
std::string http_get(std::uint16_t port, const std::string& target) {
    asio::ip::tcp::socket socket = raw_connect(port);
    asio::write(socket, asio::buffer("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    std::string data;
    char buffer[4096];
    std::size_t head_end = std::string::npos;
    std::size_t length = 0;
    while (head_end == std::string::npos || data.size() < head_end + length) {
        data.append(buffer, socket.read_some(asio::buffer(buffer)));  // throws on timeout
        if (head_end == std::string::npos && (head_end = data.find("\r\n\r\n")) != std::string::npos) {
            head_end += 4;
            REQUIRE(data.rfind("HTTP/1.1 200 ", 0) == 0);
            const std::size_t at = data.find("Content-Length: ");
            REQUIRE(at < head_end);
            length = std::stoul(data.substr(at + 16));
        }
    }
    return data.substr(head_end, length);
}

/// The number after "name": in a flat or nested JSON object; fails the test if absent.
std::uint64_t json_number(const std::string& json, const std::string& name) {
    const std::string key = "\"" + name + "\":";
    const std::size_t at = json.find(key);
    REQUIRE_MESSAGE(at != std::string::npos, json);
    return std::stoull(json.substr(at + key.size()));
}

void echo(syncws::server_connection& ws) {
    for (auto& m : ws) ws.send(m);
}

/// A server on 127.0.0.1 that echoes, and answers GET /stats with its own stats() as JSON,
/// as a health-check or metrics endpoint would.
struct stats_server {
    log_capture log;
    std::unique_ptr<syncws::server> server;

    explicit stats_server(const std::function<void(syncws::server_options&)>& adjust = {},
                          syncws::handler handler = echo) {
        syncws::server_options options;
        options.host = "127.0.0.1";
        options.settings.logger = log.logger();
        // The hook runs on worker threads, only after start(): server is set by then.
        options.process_request = [this](const syncws::core::http_request& request)
            -> std::optional<syncws::core::http_response> {
            if (request.target != "/stats") return std::nullopt;
            syncws::core::http_response ok;
            ok.headers.add("Content-Type", "application/json");
            ok.body = syncws::to_json(server->stats());
            return ok;
        };
        if (adjust) adjust(options);
        server = std::make_unique<syncws::server>(std::move(options), std::move(handler));
        server->start();
    }
    std::uint16_t port() const { return server->port(); }
    /// GET /stats: the JSON body.
    std::string stats_json() {
        ++stats_requests;
        return http_get(port(), "/stats");
    }
    std::uint64_t stats_requests = 0;
    /// Every accepted connection is accounted for: upgraded or failed for a reason.
    bool settled() {
        const syncws::server_stats s = server->stats();
        return s.accepted == s.opened + s.handshake_failures.total();
    }
};

}  // namespace

TEST_CASE("connection ids are unique in the process and log lines name them c<id>") {
    auto first = test::connect_pair();
    auto second = test::connect_pair();
    CHECK(first.client.id() != 0);
    CHECK(first.client.id() != first.server.id());
    CHECK(first.client.id() != second.client.id());
    CHECK(first.server.id() != second.server.id());
    CHECK(syncws::connection_name(42) == "c42");
    CHECK(syncws::connection_name(0).empty());
}

TEST_CASE("a log line is formatted as level, connection name, peer address, then the text") {
    CHECK(syncws::to_string({syncws::log_level::warning, "keepalive ping timeout", 42, "127.0.0.1:51234"}) ==
          "warning c42 127.0.0.1:51234: keepalive ping timeout");
    CHECK(syncws::to_string({syncws::log_level::info, "listening on 127.0.0.1:8765", 0, ""}) ==
          "info: listening on 127.0.0.1:8765");
    CHECK(syncws::to_string({syncws::log_level::info, "TLS handshake failed", 0, "[::1]:4000"}) ==
          "info [::1]:4000: TLS handshake failed");
}

TEST_CASE("a logger written for (level, message, id) still works, the peer's address leading the message") {
    std::vector<std::uint64_t> ids;
    std::vector<std::string> messages;
    syncws::logger old_style = [&](syncws::log_level, std::string_view message, std::uint64_t id) {
        ids.push_back(id);
        messages.emplace_back(message);
    };
    REQUIRE(static_cast<bool>(old_style));
    old_style(syncws::log_record{syncws::log_level::error, "boom", 7, "127.0.0.1:1"});
    old_style(syncws::log_level::error, "bang", 8);
    CHECK(ids == std::vector<std::uint64_t>{7, 8});
    CHECK(messages == std::vector<std::string>{"127.0.0.1:1: boom", "bang"});

    // An empty function, as before, means the default logger.
    CHECK_FALSE(static_cast<bool>(syncws::logger(std::function<void(syncws::log_level, std::string_view, std::uint64_t)>())));
    CHECK_FALSE(static_cast<bool>(syncws::logger(nullptr)));
    void (*no_function)(const syncws::log_record&) = nullptr;
    CHECK_FALSE(static_cast<bool>(syncws::logger(no_function)));
    CHECK(static_cast<bool>(syncws::logger(syncws::log_to_stderr)));
}

TEST_CASE("a server connection's log lines carry its id and the client's address") {
    stats_server s({}, [](syncws::server_connection& ws) {
        ws.recv();
        throw std::runtime_error("the handler gave up");
    });
    auto client = syncws::connect(url(*s.server));
    client.send("go");
    CHECK_THROWS_AS(client.recv(5s), syncws::connection_closed);

    std::optional<log_capture::line> line;
    REQUIRE(eventually([&] { return (line = s.log.find("the handler gave up")).has_value(); }));
    CHECK(line->level == syncws::log_level::error);
    CHECK(line->connection_id != 0);
    CHECK(line->connection_id != client.id());  // the server's side has an id of its own
    CHECK(line->remote_address == client.local_address());
    CHECK(line->formatted == "error " + syncws::connection_name(line->connection_id) + " " +
                                 client.local_address() + ": connection handler failed: the handler gave up");
}

TEST_CASE("a client connection's log lines carry its id and the server's address") {
    test::raw_server peer;  // completes the handshake, then never answers a ping
    log_capture log;
    syncws::client_options options;
    options.settings.logger = log.logger();
    options.settings.ping_interval = 50ms;
    options.settings.ping_timeout = 100ms;
    auto client = peer.connect_client(options);

    std::optional<log_capture::line> line;
    REQUIRE(eventually([&] { return (line = log.find("keepalive ping timeout")).has_value(); }));
    CHECK(line->level == syncws::log_level::warning);
    CHECK(line->connection_id == client.id());
    CHECK(line->remote_address == client.remote_address());
    CHECK(peer.uri() == "ws://" + line->remote_address + "/");
}

TEST_CASE("a /stats endpoint reports the messages, bytes and handshake failures of a known exchange") {
    stats_server s([](syncws::server_options& o) { o.allowed_origins = {"", "https://good.example"}; });

    // One WebSocket connection: 3 messages (12 payload bytes) each way, one of them binary
    // and one sent in two fragments, which counts as one message.
    auto client = syncws::connect(url(*s.server));
    client.send("hello");
    client.send(syncws::binary("\x01\x02\x03", 3));
    client.send_fragments({"ab", "cd"});
    for (int i = 0; i < 3; ++i) REQUIRE(client.recv(5s));
    CHECK(json_number(s.stats_json(), "open_connections") == 1);
    client.close();  // returns once the server's handler ended: its counts are final

    // Turned away: a request that is no upgrade, and a browser from an Origin not allowed.
    CHECK(send_and_read_all(s.port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").rfind("HTTP/1.1 426 ", 0) == 0);
    syncws::client_options evil;
    evil.origin = "https://evil.example";
    CHECK_THROWS_AS(syncws::connect(url(*s.server), evil), syncws::invalid_status);

    // Each connection is counted once its handshake has ended, which the client may not
    // wait for: the endpoint's numbers settle shortly.
    REQUIRE(eventually([&] { return s.settled(); }));
    std::string json;
    REQUIRE(eventually([&] {
        json = s.stats_json();
        return json_number(json, "open_connections") == 0;
    }));
    CHECK(json_number(json, "opened") == 1);
    CHECK(json_number(json, "messages_received") == 3);
    CHECK(json_number(json, "bytes_received") == 12);
    CHECK(json_number(json, "messages_sent") == 3);
    CHECK(json_number(json, "bytes_sent") == 12);
    CHECK(json_number(json, "invalid_request") == 1);
    CHECK(json_number(json, "forbidden_origin") == 1);
    // Those before this one, once they ended: some may not have yet.
    CHECK(json_number(json, "process_request") < s.stats_requests);
    CHECK(json_number(json, "tls") == 0);
    CHECK(json_number(json, "timeout") == 0);
    CHECK(json_number(json, "over_limit") == 0);
    CHECK(json_number(json, "other") == 0);
    // Every connection so far, this request included, was accepted before it was answered.
    CHECK(json_number(json, "accepted") == 3 + s.stats_requests);
    CHECK(eventually([&] { return s.server->stats().handshake_failures.process_request == s.stats_requests; }));
}

TEST_CASE("stats count clients turned away with 503 past max_connections") {
    stats_server s([](syncws::server_options& o) { o.max_connections = 1; });
    auto client = syncws::connect(url(*s.server));
    CHECK_THROWS_AS(syncws::connect(url(*s.server)), syncws::invalid_status);
    // The server counts a connection open once it has sent the 101, which the client may
    // see first.
    CHECK(eventually([&] { return s.server->stats().open_connections == 1; }));
    const syncws::server_stats stats = s.server->stats();
    CHECK(stats.handshake_failures.over_limit == 1);
    CHECK(stats.accepted == 2);
    client.close();
    REQUIRE(eventually([&] { return s.settled(); }));
}

TEST_CASE("stats count a client that sends no request within open_timeout") {
    stats_server s([](syncws::server_options& o) { o.settings.open_timeout = 300ms; });
    // Silent until the server gives up on it and closes.
    CHECK(send_and_read_all(s.port(), "").empty());
    REQUIRE(eventually([&] { return s.settled(); }));
    CHECK(s.server->stats().handshake_failures.timeout == 1);
    CHECK(s.server->stats().handshake_failures.invalid_request == 0);
}

TEST_CASE("stats count a failed TLS handshake, whose log line names the client's address") {
    const test::certificates& certs = test::test_certificates();
    stats_server s([&](syncws::server_options& o) {
        o.tls.cert_file = certs.server_cert;
        o.tls.key_file = certs.server_key;
    });
    // Plain HTTP where TLS is expected.
    asio::ip::tcp::socket socket = raw_connect(s.port());
    const std::string client_address = "127.0.0.1:" + std::to_string(socket.local_endpoint().port());
    asio::write(socket, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")));
    REQUIRE(eventually([&] { return s.server->stats().handshake_failures.tls == 1; }));
    CHECK(s.server->stats().accepted == 1);
    CHECK(s.server->stats().opened == 0);

    std::optional<log_capture::line> line;
    REQUIRE(eventually([&] { return (line = s.log.find("plain HTTP")).has_value(); }));
    CHECK(line->level == syncws::log_level::info);
    CHECK(line->connection_id == 0);  // it never became a connection
    CHECK(line->remote_address == client_address);
}

TEST_CASE("broadcast counts one message per connection reached") {
    std::atomic<int> ready{0};
    stats_server s({}, [&](syncws::server_connection& ws) {
        ++ready;
        for (auto& m : ws) (void)m;
    });
    auto a = syncws::connect(url(*s.server));
    auto b = syncws::connect(url(*s.server));
    REQUIRE(eventually([&] { return ready == 2; }));
    s.server->broadcast(syncws::message{syncws::message_type::text, "news"});
    REQUIRE(a.recv(5s));
    REQUIRE(b.recv(5s));
    const syncws::server_stats stats = s.server->stats();
    CHECK(stats.messages_sent == 2);
    CHECK(stats.bytes_sent == 8);
    CHECK(stats.messages_received == 0);
}

TEST_CASE("messages sent on one connection from several threads at once are all counted") {
    constexpr int threads = 4, each = 2000;
    stats_server s({}, [&](syncws::server_connection& ws) {
        std::vector<std::thread> senders;
        for (int t = 0; t < threads; ++t)
            senders.emplace_back([&ws] {
                for (int i = 0; i < each; ++i) ws.send("0123456789");
            });
        for (auto& t : senders) t.join();
        for (auto& m : ws) (void)m;
    });
    auto client = syncws::connect(url(*s.server));
    for (int i = 0; i < threads * each; ++i) REQUIRE(client.recv(5s));
    const syncws::server_stats stats = s.server->stats();
    CHECK(stats.messages_sent == threads * each);
    CHECK(stats.bytes_sent == 10 * threads * each);
}

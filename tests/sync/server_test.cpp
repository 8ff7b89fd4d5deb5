// syncws::server on real sockets (127.0.0.1, ::1, Unix sockets). Most tests talk to it with a
// raw client written here with POSIX sockets, so that they depend on nothing but the server
// and can misbehave on purpose; a few use syncws::connect.
#include <doctest.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "syncws/core/frame.hpp"
#include "syncws/core/mask.hpp"
#include "syncws/syncws.hpp"
#include "pieces.hpp"
#include "temp_dir.hpp"

using namespace std::chrono_literals;
using syncws::core::opcode;

namespace {

// ------------------------------------------------------------------ helpers

/// Threads of this process now.
std::size_t thread_count() {
    std::size_t n = 0;
    if (DIR* dir = ::opendir("/proc/self/task")) {
        while (const dirent* entry = ::readdir(dir))
            if (entry->d_name[0] != '.') ++n;
        ::closedir(dir);
    }
    return n;
}

/// Polls until condition holds or bound passes; true if it held.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = 10s) {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// Runs f on a thread and waits for it at most bound; fails the test instead of hanging.
template <class F>
auto bounded(F f, std::chrono::seconds bound = 20s) {
    auto result = std::async(std::launch::async, std::move(f));
    REQUIRE(result.wait_for(bound) == std::future_status::ready);
    return result.get();
}

bool ipv6_available() {
    const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_addr = in6addr_loopback;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return ok;
}

using test::temp_dir;

/// Collects log lines, from any thread.
struct log_capture {
    struct line {
        syncws::log_level level;
        std::string text;
        std::uint64_t id;
    };
    std::mutex mutex;
    std::vector<line> lines;

    syncws::logger logger() {
        return [this](syncws::log_level level, std::string_view text, std::uint64_t id) {
            std::lock_guard<std::mutex> lk(mutex);
            lines.push_back({level, std::string(text), id});
        };
    }
    bool has(syncws::log_level level, const std::string& part) {
        std::lock_guard<std::mutex> lk(mutex);
        for (const auto& l : lines)
            if (l.level == level && l.text.find(part) != std::string::npos) return true;
        return false;
    }
};

struct frame {
    opcode op;
    std::string payload;
    bool fin;

    std::uint16_t close_code() const {
        REQUIRE(op == opcode::close);
        REQUIRE(payload.size() >= 2);
        return static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                          static_cast<unsigned char>(payload[1]));
    }
    std::string close_reason() const { return payload.substr(2); }
};

/// A WebSocket client written with plain POSIX sockets. Every read is bounded (it throws
/// after 10 s), so a test fails instead of hanging.
class raw_client {
public:
    static raw_client tcp(const std::string& host, std::uint16_t port) {
        raw_client c;
        if (host.find(':') != std::string::npos) {
            sockaddr_in6 address{};
            address.sin6_family = AF_INET6;
            address.sin6_port = htons(port);
            REQUIRE(::inet_pton(AF_INET6, host.c_str(), &address.sin6_addr) == 1);
            c.open(AF_INET6, reinterpret_cast<sockaddr*>(&address), sizeof address);
        } else {
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_port = htons(port);
            REQUIRE(::inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1);
            c.open(AF_INET, reinterpret_cast<sockaddr*>(&address), sizeof address);
        }
        return c;
    }
    static raw_client local(const std::string& path) {
        raw_client c;
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        c.open(AF_UNIX, reinterpret_cast<sockaddr*>(&address), sizeof address);
        return c;
    }
    static raw_client to(const syncws::server& s) { return tcp("127.0.0.1", s.port()); }

    raw_client(raw_client&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}
    raw_client& operator=(raw_client&&) = delete;
    ~raw_client() {
        if (fd_ >= 0) ::close(fd_);
    }

    int fd() const { return fd_; }

    void send_bytes(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    static std::string request(const std::string& target = "/", const std::string& extra = "") {
        return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n" + extra + "\r\n";
    }

    /// Reads one HTTP response: the head, and for a status other than 101 the body.
    syncws::core::http_response read_response() {
        syncws::core::http_response_parser parser;
        for (;;) {
            std::size_t used = 0;
            const auto status = parser.feed(buffer_, &used);
            buffer_.erase(0, used);
            if (status == syncws::core::parse_status::done) return parser.response();
            REQUIRE_MESSAGE(status != syncws::core::parse_status::failed, parser.error());
            if (!fill()) {
                REQUIRE(parser.feed_eof() == syncws::core::parse_status::done);
                return parser.response();
            }
        }
    }

    /// Sends an opening request and returns the response.
    syncws::core::http_response handshake(const std::string& target = "/", const std::string& extra = "") {
        send_bytes(request(target, extra));
        return read_response();
    }
    void open_websocket() {
        const auto response = handshake();
        REQUIRE(response.status == 101);
        REQUIRE(response.headers.get("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    /// A masked frame, as a client must send it.
    static std::string masked_frame(opcode op, const std::string& payload, bool fin = true) {
        const syncws::core::mask_key key{0x12, 0x34, 0x56, 0x78};
        unsigned char header[syncws::core::max_frame_header_size];
        const std::size_t n = syncws::core::encode_frame_header(header, fin, false, op, payload.size(), &key);
        std::string masked = payload;
        syncws::core::apply_mask(masked.data(), masked.size(), key);
        return std::string(reinterpret_cast<const char*>(header), n) + masked;
    }
    void send_frame(opcode op, const std::string& payload, bool fin = true) { send_bytes(masked_frame(op, payload, fin)); }
    void send_close(std::uint16_t code, const std::string& reason = "") {
        send_frame(opcode::close, syncws::core::close_frame{code, reason}.serialize());
    }

    frame read_frame() {
        for (;;) {
            syncws::core::frame_header header;
            std::size_t size = 0;
            const auto status = syncws::core::decode_frame_header(
                reinterpret_cast<const unsigned char*>(buffer_.data()), buffer_.size(), &header, &size);
            REQUIRE(status != syncws::core::decode_status::invalid_length);
            if (status == syncws::core::decode_status::ok && buffer_.size() >= size + header.payload_length) {
                REQUIRE_FALSE(header.masked);  // a server never masks
                frame f{header.op, buffer_.substr(size, header.payload_length), header.fin};
                buffer_.erase(0, size + header.payload_length);
                return f;
            }
            if (!fill()) throw std::runtime_error("the server closed the connection instead of sending a frame");
        }
    }

    /// Echo round trip of one text message.
    void check_echo(const std::string& text) {
        send_frame(opcode::text, text);
        const frame f = read_frame();
        CHECK(f.op == opcode::text);
        CHECK(f.payload == text);
    }

    /// The closing handshake started by us: our close, the server's echo, then its EOF.
    void close_cleanly() {
        send_close(1000);
        const frame f = read_frame();
        CHECK(f.close_code() == 1000);
        CHECK(read_until_closed());
    }

    /// Reads and drops everything until the server closes; true on EOF or reset. Then
    /// closes the socket, as a client does once the server closed TCP (RFC 6455 §7.1.1).
    bool read_until_closed() {
        buffer_.clear();
        for (;;) {
            char data[4096];
            const ssize_t n = ::recv(fd_, data, sizeof data, 0);
            if (n > 0) continue;
            if (errno == EINTR && n < 0) continue;
            if (n == 0 || errno == ECONNRESET) {
                ::close(std::exchange(fd_, -1));
                return true;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) throw std::runtime_error("timed out waiting for the server to close");
            throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
        }
    }

private:
    raw_client() = default;

    void open(int family, const sockaddr* address, socklen_t size) {
        fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        REQUIRE_MESSAGE(::connect(fd_, address, size) == 0, std::strerror(errno));
    }

    // One read into the buffer; false at EOF.
    bool fill() {
        char data[65536];
        for (;;) {
            const ssize_t n = ::recv(fd_, data, sizeof data, 0);
            if (n > 0) {
                buffer_.append(data, static_cast<std::size_t>(n));
                return true;
            }
            if (n == 0) return false;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) throw std::runtime_error("timed out reading from the server");
            if (errno == ECONNRESET) return false;
            throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
        }
    }

    int fd_ = -1;
    std::string buffer_;
};

void echo(syncws::server_connection& ws) {
    for (auto& m : ws) ws.send(m);
}

/// What a client does when the server closes: answers with the same code and waits for the
/// server's EOF. Returns the server's close code.
std::uint16_t answer_close(raw_client& client) {
    const frame close = client.read_frame();
    client.send_close(close.close_code());
    client.read_until_closed();
    return close.close_code();
}

/// Options for a server on 127.0.0.1 with an OS-chosen port, logging into capture.
syncws::server_options local_options(log_capture* capture = nullptr) {
    syncws::server_options options;
    options.host = "127.0.0.1";
    if (capture) options.settings.logger = capture->logger();
    return options;
}

}  // namespace

// ------------------------------------------------------------------ addresses

TEST_SUITE("server: listening") {

TEST_CASE("an echo handler answers over IPv4 and a close from the client is clean") {
    syncws::server server(local_options(), echo);
    server.start();
    raw_client client = raw_client::to(server);
    client.open_websocket();
    client.check_echo("hello");
    client.send_frame(opcode::binary, std::string("\x00\x01\x02", 3));
    const frame f = client.read_frame();
    CHECK(f.op == opcode::binary);
    CHECK(f.payload == std::string("\x00\x01\x02", 3));
    client.close_cleanly();
}

TEST_CASE("port 0 lets the OS choose a port that port() and address() report") {
    syncws::server server(local_options(), echo);
    CHECK(server.port() != 0);
    CHECK(server.address() == "127.0.0.1:" + std::to_string(server.port()));
    server.start();
    raw_client client = raw_client::to(server);
    client.open_websocket();
    client.check_echo("port");
}

TEST_CASE("an IPv6 loopback server answers over ::1") {
    if (!ipv6_available()) {
        MESSAGE("no IPv6 on this host: skipped");
        return;
    }
    syncws::server_options options;
    options.host = "::1";
    syncws::server server(options, echo);
    CHECK(server.address() == "[::1]:" + std::to_string(server.port()));
    server.start();
    raw_client client = raw_client::tcp("::1", server.port());
    client.open_websocket();
    client.check_echo("six");
    client.close_cleanly();
}

TEST_CASE("a handler sees the client's address as the client's own end of the socket, IPv4 and IPv6") {
    std::vector<std::string> hosts{"127.0.0.1"};
    if (ipv6_available()) hosts.push_back("::1");
    for (const std::string& host : hosts) {
        CAPTURE(host);
        std::promise<std::string> seen;
        syncws::server_options options;
        options.host = host;
        syncws::server server(options, [&seen](syncws::server_connection& c) {
            seen.set_value(c.remote_address());
            c.recv();
        });
        server.start();
        syncws::client_connection client = syncws::connect(
            "ws://" + (host == "::1" ? "[::1]" : host) + ":" + std::to_string(server.port()));
        auto remote = seen.get_future();
        REQUIRE(remote.wait_for(10s) == std::future_status::ready);
        CHECK(remote.get() == client.local_address());
        client.close();
    }
}

TEST_CASE("an empty host listens on every interface, IPv4 included") {
    syncws::server_options options;  // host ""
    syncws::server server(options, echo);
    const std::string port = std::to_string(server.port());
    CHECK((server.address() == "[::]:" + port || server.address() == "0.0.0.0:" + port));
    server.start();
    raw_client v4 = raw_client::tcp("127.0.0.1", server.port());
    v4.open_websocket();
    v4.check_echo("four");
    if (ipv6_available() && server.address().front() == '[') {
        raw_client v6 = raw_client::tcp("::1", server.port());
        v6.open_websocket();
        v6.check_echo("six");
    }
}

TEST_CASE("a host name is resolved, and our client reaches it") {
    syncws::server_options options;
    options.host = "localhost";
    syncws::server server(options, echo);
    CHECK(server.port() != 0);
    server.start();
    auto client = syncws::connect("ws://localhost:" + std::to_string(server.port()) + "/");
    client.send("resolved");
    CHECK(client.recv(10s)->data == "resolved");
}

TEST_CASE("an address in use fails with an error that names the address") {
    syncws::server first(local_options(), echo);
    syncws::server_options options = local_options();
    options.port = first.port();
    try {
        syncws::server second(options, echo);
        FAIL("a second server bound the same port");
    } catch (const syncws::error& e) {
        const std::string what = e.what();
        CHECK(what.find("cannot listen on 127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
        CHECK(what.find("in use") != std::string::npos);
    }
    options.host = "localhost";  // a name: the message says which of its addresses failed
    try {
        syncws::server second(options, echo);
        FAIL("a second server bound the same port");
    } catch (const syncws::error& e) {
        const std::string what = e.what();
        CHECK(what.find("cannot listen on localhost:" + std::to_string(first.port()) + " (127.0.0.1:") !=
              std::string::npos);
    }
}

TEST_CASE("an extra response header that could inject a line is refused at construction") {
    syncws::server_options options = local_options();
    options.extra_response_headers.add("X-Bad", "a\r\nSet-Cookie: evil=1");
    CHECK_THROWS_AS(syncws::server(options, echo), syncws::error);
}

TEST_CASE("a Unix socket server answers, and its socket file goes away at shutdown") {
    temp_dir dir;
    const std::string path = dir.path + "/ws.sock";
    syncws::server_options options;
    options.unix_socket = path;
    syncws::server server(options, echo);
    CHECK(server.address() == path);
    CHECK(server.port() == 0);
    server.start();
    {
        raw_client client = raw_client::local(path);
        client.open_websocket();
        client.check_echo("unix");
        client.close_cleanly();
    }
    server.shutdown();
    struct stat st {};
    CHECK(::lstat(path.c_str(), &st) != 0);
}

TEST_CASE("a large frame whose pieces arrive while the server waits is echoed whole, over TCP and over a Unix socket") {
    // Over TCP the server's reader sleeps until most of the rest of the frame is there
    // (SO_RCVLOWAT); a Unix socket's poll() has no such mark. The client's reads give up
    // after 10 s, so a reader waiting for more than the frame owes fails the test.
    temp_dir dir;
    syncws::server_options unix_options;
    unix_options.unix_socket = dir.path + "/ws.sock";
    syncws::server over_tcp(local_options(), echo);
    syncws::server over_unix(unix_options, echo);
    over_tcp.start();
    over_unix.start();
    const std::string payload = test::patterned(300 * 1024);
    const std::string wire = raw_client::masked_frame(opcode::binary, payload);
    for (const bool unix_socket : {false, true}) {
        for (const auto& cuts : test::large_frame_cuts()) {
            CAPTURE(unix_socket);
            CAPTURE(cuts.front());
            raw_client client = unix_socket ? raw_client::local(unix_options.unix_socket) : raw_client::to(over_tcp);
            client.open_websocket();
            test::write_in_pieces(wire, cuts, [&client](const std::string& piece) { client.send_bytes(piece); });
            const frame f = client.read_frame();
            CHECK(f.op == opcode::binary);
            CHECK(f.payload == payload);
            client.close_cleanly();
        }
    }
}

TEST_CASE("a stale Unix socket file is replaced, but a live server's or a plain file is not") {
    temp_dir dir;
    const std::string path = dir.path + "/ws.sock";
    {
        // A socket file whose server is gone.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        ::close(fd);
    }
    syncws::server_options options;
    options.unix_socket = path;
    syncws::server server(options, echo);
    server.start();
    CHECK_THROWS_WITH_AS(syncws::server(options, echo), doctest::Contains("another server"), syncws::error);
    raw_client client = raw_client::local(path);
    client.open_websocket();  // the first server still owns the path

    const std::string file = dir.path + "/plain";
    std::ofstream(file) << "data";
    options.unix_socket = file;
    CHECK_THROWS_WITH_AS(syncws::server(options, echo), doctest::Contains("not a socket"), syncws::error);
    struct stat st {};
    CHECK(::lstat(file.c_str(), &st) == 0);
}

}  // TEST_SUITE

// ------------------------------------------------------------------ hooks

TEST_SUITE("server: handshake hooks") {

TEST_CASE("process_request answers a health check and a 401 on the same port as WebSocket") {
    syncws::server_options options = local_options();
    options.process_request = [](const syncws::core::http_request& request) -> std::optional<syncws::core::http_response> {
        if (request.target == "/health") {
            syncws::core::http_response ok;
            ok.status = 200;
            ok.headers.add("Content-Type", "text/plain");
            ok.body = "OK\n";
            return ok;
        }
        if (request.headers.get("Authorization") != "Bearer secret") {
            syncws::core::http_response denied;
            denied.status = 401;
            denied.headers.add("WWW-Authenticate", "Bearer");
            denied.body = "token needed\n";
            return denied;
        }
        return std::nullopt;
    };
    syncws::server server(options, echo);
    server.start();

    // A plain HTTP health check, as a load balancer sends it.
    raw_client health = raw_client::to(server);
    health.send_bytes("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const auto ok = health.read_response();
    CHECK(ok.status == 200);
    CHECK(ok.body == "OK\n");

    raw_client anonymous = raw_client::to(server);
    const auto denied = anonymous.handshake("/feed");
    CHECK(denied.status == 401);
    CHECK(denied.headers.get("WWW-Authenticate") == "Bearer");
    CHECK(denied.body == "token needed\n");
    CHECK(anonymous.read_until_closed());

    raw_client allowed = raw_client::to(server);
    CHECK(allowed.handshake("/feed", "Authorization: Bearer secret\r\n").status == 101);
    allowed.check_echo("authorized");
}

TEST_CASE("process_request that throws gives the client a 500 and logs an error") {
    log_capture log;
    syncws::server_options options = local_options(&log);
    options.process_request = [](const syncws::core::http_request&) -> std::optional<syncws::core::http_response> {
        throw std::runtime_error("database down");
    };
    syncws::server server(options, echo);
    server.start();
    raw_client client = raw_client::to(server);
    CHECK(client.handshake().status == 500);
    CHECK(log.has(syncws::log_level::error, "database down"));
}

TEST_CASE("the server's first preferred subprotocol that the client offers is chosen") {
    syncws::server_options options = local_options();
    options.subprotocols = {"chat", "superchat"};
    std::promise<std::optional<std::string>> seen;
    syncws::server server(options, [&](syncws::server_connection& ws) { seen.set_value(ws.subprotocol()); });
    server.start();
    raw_client client = raw_client::to(server);
    const auto response = client.handshake("/", "Sec-WebSocket-Protocol: superchat, chat\r\n");
    REQUIRE(response.status == 101);
    CHECK(response.headers.get("Sec-WebSocket-Protocol") == "chat");
    auto future = seen.get_future();
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    CHECK(future.get() == std::optional<std::string>("chat"));

    raw_client other = raw_client::to(server);
    const auto none = other.handshake("/", "Sec-WebSocket-Protocol: mqtt\r\n");
    CHECK(none.status == 101);
    CHECK_FALSE(none.headers.contains("Sec-WebSocket-Protocol"));
}

TEST_CASE("select_subprotocol replaces the default choice and sees what the client offered") {
    syncws::server_options options = local_options();
    options.subprotocols = {"a"};
    options.select_subprotocol = [](const std::vector<std::string>& offered) -> std::optional<std::string> {
        if (offered.empty()) return std::nullopt;
        return offered.back();
    };
    syncws::server server(options, echo);
    server.start();
    auto client = syncws::connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/",
                                  [] {
                                      syncws::client_options o;
                                      o.subprotocols = {"a", "b"};
                                      return o;
                                  }());
    CHECK(client.subprotocol() == std::optional<std::string>("b"));
}

TEST_CASE("an origin that is not allowed gets 403, an allowed one gets through") {
    log_capture log;
    syncws::server_options options = local_options(&log);
    options.allowed_origins = {"https://good.example"};
    syncws::server server(options, echo);
    server.start();

    raw_client evil = raw_client::to(server);
    const auto forbidden = evil.handshake("/", "Origin: https://evil.example\r\n");
    CHECK(forbidden.status == 403);
    CHECK_FALSE(forbidden.body.empty());
    CHECK(log.has(syncws::log_level::info, "403"));

    raw_client none = raw_client::to(server);
    CHECK(none.handshake().status == 403);  // "" is not in the list: Origin is required

    raw_client good = raw_client::to(server);
    CHECK(good.handshake("/", "Origin: https://good.example\r\n").status == 101);
    good.check_echo("welcome");
}

TEST_CASE("extra response headers and the Server header are in the handshake response") {
    syncws::server_options options = local_options();
    options.extra_response_headers.add("X-Region", "eu-west");
    options.extra_response_headers.add("Set-Cookie", "session=1");
    syncws::server server(options, echo);
    server.start();
    raw_client client = raw_client::to(server);
    const auto response = client.handshake();
    REQUIRE(response.status == 101);
    CHECK(response.headers.get("X-Region") == "eu-west");
    CHECK(response.headers.get("Set-Cookie") == "session=1");
    CHECK(response.headers.get("Server") == "syncws/" SYNCWS_VERSION);

    syncws::server_options anonymous = local_options();
    anonymous.server_header.clear();
    syncws::server quiet(anonymous, echo);
    quiet.start();
    raw_client other = raw_client::to(quiet);
    const auto plain = other.handshake();
    REQUIRE(plain.status == 101);
    CHECK_FALSE(plain.headers.contains("Server"));
}

TEST_CASE("a request that is not a WebSocket handshake gets 400 or 426 with a body saying why") {
    syncws::server_options options = local_options();
    syncws::server server(options, echo);
    server.start();

    raw_client no_upgrade = raw_client::to(server);
    no_upgrade.send_bytes("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const auto upgrade_required = no_upgrade.read_response();
    CHECK(upgrade_required.status == 426);
    CHECK(upgrade_required.headers.get("Upgrade") == "websocket");
    CHECK_FALSE(upgrade_required.body.empty());

    raw_client no_key = raw_client::to(server);
    no_key.send_bytes("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n");
    const auto bad = no_key.read_response();
    CHECK(bad.status == 400);
    CHECK(bad.body.find("Sec-WebSocket-Key") != std::string::npos);

    raw_client garbage = raw_client::to(server);
    garbage.send_bytes("HELLO THERE\r\n\r\n");
    const auto malformed = garbage.read_response();
    CHECK(malformed.status == 400);
    CHECK_FALSE(malformed.body.empty());
    CHECK(garbage.read_until_closed());
}

TEST_CASE("our client sees a rejection as invalid_status carrying the response") {
    syncws::server_options options = local_options();
    options.allowed_origins = {"https://good.example"};
    syncws::server server(options, echo);
    server.start();
    try {
        syncws::connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        FAIL("connect succeeded");
    } catch (const syncws::invalid_status& e) {
        CHECK(e.response().status == 403);
    }
}

}  // TEST_SUITE

// ------------------------------------------------------------------ limits

TEST_SUITE("server: limits") {

TEST_CASE("past max_connections a new client gets 503 with Retry-After while the others go on") {
    log_capture log;
    syncws::server_options options = local_options(&log);
    options.max_connections = 2;
    syncws::server server(options, echo);
    server.start();
    raw_client first = raw_client::to(server);
    first.open_websocket();
    raw_client second = raw_client::to(server);
    second.open_websocket();

    raw_client third = raw_client::to(server);
    const auto busy = third.handshake();
    CHECK(busy.status == 503);
    CHECK(busy.headers.get("Retry-After") == "1");
    CHECK_FALSE(busy.body.empty());
    CHECK(third.read_until_closed());
    CHECK(log.has(syncws::log_level::warning, "connection limit"));

    first.check_echo("still here");
    second.check_echo("me too");

    // Once a connection ends, there is room again.
    first.close_cleanly();
    CHECK(eventually([&] {
        raw_client next = raw_client::to(server);
        const auto response = next.handshake();
        if (response.status != 101) return false;
        next.check_echo("room");
        return true;
    }));
}

TEST_CASE("our client sees 503 at the connection limit as invalid_status with Retry-After") {
    log_capture log;
    syncws::server_options options = local_options(&log);
    options.max_connections = 0;
    syncws::server server(options, echo);
    server.start();
    try {
        syncws::connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
        FAIL("connect succeeded");
    } catch (const syncws::invalid_status& e) {
        CHECK(e.response().status == 503);
        CHECK(e.response().headers.get("Retry-After") == "1");
    }
}

TEST_CASE("a client slow with its handshake blocks no other client and is dropped at open_timeout") {
    log_capture log;
    syncws::server_options options = local_options(&log);
    options.settings.open_timeout = 500ms;
    syncws::server server(options, echo);
    server.start();

    raw_client silent = raw_client::to(server);  // sends nothing
    raw_client trickle = raw_client::to(server);  // sends the request one byte at a time
    std::atomic<bool> stop_trickling{false};
    std::thread trickler([&] {
        const std::string request = raw_client::request();
        for (std::size_t i = 0; i < request.size() - 2 && !stop_trickling; ++i) {
            try {
                trickle.send_bytes(request.substr(i, 1));
            } catch (const std::exception&) {
                return;  // dropped by the server
            }
            std::this_thread::sleep_for(20ms);
        }
    });

    raw_client prompt = raw_client::to(server);
    prompt.open_websocket();
    prompt.check_echo("not blocked");

    CHECK(silent.read_until_closed());
    CHECK(trickle.read_until_closed());
    stop_trickling = true;
    trickler.join();
    CHECK(log.has(syncws::log_level::info, "timed out"));
    prompt.check_echo("still open");
}

TEST_CASE("running out of descriptors makes the server back off and accept again, serving the rest") {
    log_capture log;
    syncws::server server(local_options(&log), echo);
    server.start();
    raw_client existing = raw_client::to(server);
    existing.open_websocket();

    // A client socket made before the descriptors run out (connect needs none).
    const int waiting = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(waiting >= 0);
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    int highest = 0;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
        while (const dirent* entry = ::readdir(dir))
            if (entry->d_name[0] != '.') highest = std::max(highest, std::atoi(entry->d_name));
        ::closedir(dir);
    }
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(highest + 8);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::vector<int> fillers;
    for (int fd; (fd = ::dup(0)) >= 0;) fillers.push_back(fd);

    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(server.port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int connected = ::connect(waiting, reinterpret_cast<sockaddr*>(&address), sizeof address);
    const bool warned = eventually([&] { return log.has(syncws::log_level::warning, "cannot accept"); });
    existing.check_echo("served meanwhile");

    for (int fd : fillers) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    REQUIRE(connected == 0);
    CHECK(warned);

    const std::string request = raw_client::request();
    REQUIRE(::send(waiting, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    timeval tv{10, 0};
    ::setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char head[12] = {};
    CHECK(::recv(waiting, head, sizeof head, MSG_WAITALL) == static_cast<ssize_t>(sizeof head));
    CHECK(std::string(head, sizeof head) == "HTTP/1.1 101");
    ::close(waiting);
}

}  // TEST_SUITE

// ------------------------------------------------------------------ handlers and threads

TEST_SUITE("server: handlers and shutdown") {

TEST_CASE("a handler that returns closes the connection with 1000") {
    syncws::server server(local_options(), [](syncws::server_connection& ws) { ws.send("bye"); });
    server.start();
    raw_client client = raw_client::to(server);
    client.open_websocket();
    CHECK(client.read_frame().payload == "bye");
    const frame close = client.read_frame();
    CHECK(close.close_code() == 1000);
    client.send_close(1000);
    CHECK(client.read_until_closed());
}

TEST_CASE("a handler that throws is logged and its connection closed with 1011") {
    log_capture log;
    syncws::server server(local_options(&log), [](syncws::server_connection& ws) {
        if (ws.recv().data == "boom") throw std::runtime_error("boom went the handler");
        throw 42;  // not even a std::exception
    });
    server.start();
    for (const std::string trigger : {"boom", "other"}) {
        raw_client client = raw_client::to(server);
        client.open_websocket();
        client.send_frame(opcode::text, trigger);
        const frame close = client.read_frame();
        CHECK(close.close_code() == 1011);
        client.send_close(1000);
        CHECK(client.read_until_closed());
    }
    CHECK(log.has(syncws::log_level::error, "boom went the handler"));
    CHECK(log.has(syncws::log_level::error, "not a std::exception"));
}

TEST_CASE("a handler that lets connection_closed escape after the peer left is not an error") {
    log_capture log;
    std::atomic<int> ended{0};
    syncws::server server(local_options(&log), [&](syncws::server_connection& ws) {
        struct count {
            std::atomic<int>& n;
            ~count() { ++n; }
        } on_exit{ended};
        for (;;) ws.send(ws.recv());
    });
    server.start();
    raw_client client = raw_client::to(server);
    client.open_websocket();
    client.check_echo("once");
    client.close_cleanly();
    CHECK(eventually([&] { return ended == 1; }));
    CHECK_FALSE(log.has(syncws::log_level::error, ""));
}

TEST_CASE("connection_count counts open connections") {
    syncws::server server(local_options(), echo);
    server.start();
    CHECK(server.connection_count() == 0);
    {
        raw_client a = raw_client::to(server);
        a.open_websocket();
        raw_client b = raw_client::to(server);
        b.open_websocket();
        CHECK(eventually([&] { return server.connection_count() == 2; }));
        a.close_cleanly();
        CHECK(eventually([&] { return server.connection_count() == 1; }));
    }
    CHECK(eventually([&] { return server.connection_count() == 0; }));
}

TEST_CASE("a client that keeps its socket open after the closing handshake is dropped at close_timeout") {
    syncws::server_options options = local_options();
    options.settings.close_timeout = 300ms;
    std::atomic<bool> ended{false};
    syncws::server server(options, [&](syncws::server_connection& ws) {
        echo(ws);
        ended = true;
    });
    server.start();
    raw_client client = raw_client::to(server);
    client.open_websocket();
    client.send_close(1000);
    CHECK(client.read_frame().close_code() == 1000);
    // The server closed TCP first; this client never closes its end, and the worker must not
    // wait for it beyond close_timeout.
    CHECK(eventually([&] { return ended.load(); }));
    CHECK(eventually([&] { return server.connection_count() == 0; }));
}

TEST_CASE("broadcast sends a message to every open connection") {
    syncws::server server(local_options(), [](syncws::server_connection& ws) {
        for (auto& m : ws) (void)m;  // just keep the connection until the client closes
    });
    server.start();
    std::vector<raw_client> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(raw_client::to(server));
        clients.back().open_websocket();
    }
    REQUIRE(eventually([&] { return server.connection_count() == 3; }));
    server.broadcast({syncws::message_type::text, "news"});
    server.broadcast({syncws::message_type::binary, std::string("\x01\x02", 2)});
    for (auto& c : clients) {
        const frame text = c.read_frame();
        CHECK(text.op == opcode::text);
        CHECK(text.payload == "news");
        const frame bytes = c.read_frame();
        CHECK(bytes.op == opcode::binary);
        CHECK(bytes.payload == std::string("\x01\x02", 2));
    }
    // A connection that is gone is skipped, the others still get the message.
    clients[0].close_cleanly();
    REQUIRE(eventually([&] { return server.connection_count() == 2; }));
    server.broadcast({syncws::message_type::text, "again"});
    CHECK(clients[1].read_frame().payload == "again");
    CHECK(clients[2].read_frame().payload == "again");
}

TEST_CASE("broadcast skips a client that stops reading once its send times out") {
    log_capture log;
    syncws::server_options options = local_options(&log);
    options.settings.send_timeout = 300ms;
    syncws::server server(options, [](syncws::server_connection& ws) {
        for (auto& m : ws) (void)m;
    });
    server.start();
    raw_client reader = raw_client::to(server);
    reader.open_websocket();
    raw_client stalled = raw_client::to(server);  // never reads after its handshake
    stalled.open_websocket();
    REQUIRE(eventually([&] { return server.connection_count() == 2; }));

    constexpr int count = 24;
    const std::string big(1 << 20, 'x');  // enough to fill the stalled client's buffers
    auto received = std::async(std::launch::async, [&] {
        int n = 0;
        while (n < count && reader.read_frame().payload.size() == big.size()) ++n;
        return n;
    });
    bounded([&] {
        for (int i = 0; i < count; ++i) server.broadcast({syncws::message_type::text, big});
    });
    REQUIRE(received.wait_for(20s) == std::future_status::ready);
    CHECK(received.get() == count);
    CHECK(eventually([&] { return server.connection_count() == 1; }));  // the stalled one failed
}

TEST_CASE("worker threads are reused for connection after connection") {
    std::mutex mutex;
    std::set<long> workers;  // kernel thread ids, which are not reused quickly like pthread ids
    const std::size_t threads_before = thread_count();
    std::size_t most_threads = 0;
    {
        syncws::server server(local_options(), [&](syncws::server_connection& ws) {
            {
                std::lock_guard<std::mutex> lk(mutex);
                workers.insert(static_cast<long>(::syscall(SYS_gettid)));
            }
            echo(ws);
        });
        server.start();
        for (int i = 0; i < 30; ++i) {
            raw_client client = raw_client::to(server);
            client.open_websocket();
            client.check_echo("again");
            client.close_cleanly();
            // Let the worker go back to the pool before the next client comes.
            REQUIRE(eventually([&] { return server.connection_count() == 0; }));
            most_threads = std::max(most_threads, thread_count());
        }
    }
    // Accept thread + monitor + a worker or two (one may be finishing as the next client comes).
    CHECK(workers.size() <= 3);
    CHECK(most_threads <= threads_before + 5);
}

TEST_CASE("a spare worker ends once it has been idle for idle_worker_timeout") {
    syncws::server_options options = local_options();
    options.idle_worker_timeout = 50ms;
    syncws::server server(options, echo);
    server.start();
    std::size_t while_open = 0;  // the accept thread, the connection's worker, the monitor...
    {
        raw_client client = raw_client::to(server);
        client.open_websocket();
        client.check_echo("one");
        while_open = thread_count();
        client.close_cleanly();
    }
    REQUIRE(eventually([&] { return server.connection_count() == 0; }));
    // The worker ends after 50 ms and the monitor thread (one per process) 1 s after the
    // last connection; with the default 30 s the worker would outlast this wait.
    CHECK(eventually([&] { return thread_count() <= while_open - 2; }));
}

TEST_CASE("shutdown closes open connections with 1001, returns, and joins every thread it started") {
    const std::size_t threads_before = thread_count();
    std::atomic<int> handlers_ended{0};
    syncws::server server(local_options(), [&](syncws::server_connection& ws) {
        struct count {
            std::atomic<int>& n;
            ~count() { ++n; }
        } on_exit{handlers_ended};
        echo(ws);  // blocked in recv when shutdown comes
    });
    server.start();
    std::vector<raw_client> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(raw_client::to(server));
        clients.back().open_websocket();
    }
    raw_client handshaking = raw_client::to(server);  // connected, request not sent
    REQUIRE(eventually([&] { return server.connection_count() == 3; }));
    CHECK(thread_count() > threads_before);

    // Each client does what a client does: answers the close and waits for the server's EOF.
    std::vector<std::future<frame>> answers;
    for (auto& c : clients)
        answers.push_back(std::async(std::launch::async, [&c] {
            const frame close = c.read_frame();
            c.send_close(close.close_code());
            c.read_until_closed();
            return close;
        }));
    bounded([&] { server.shutdown(10s); });
    for (auto& answer : answers) {
        REQUIRE(answer.wait_for(10s) == std::future_status::ready);
        const frame close = answer.get();
        CHECK(close.close_code() == 1001);
        CHECK(close.close_reason() == "server shutting down");
    }
    CHECK(handlers_ended == 3);
    CHECK(server.connection_count() == 0);
    CHECK(handshaking.read_until_closed());
    // Every thread of the server is joined; only the process-wide monitor may linger a moment.
    CHECK(thread_count() <= threads_before + 1);
    CHECK(eventually([&] { return thread_count() <= threads_before; }));
    // Nobody listens any more.
    const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(server.port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(::connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0);
    ::close(probe);
}

TEST_CASE("shutdown with a timeout too long to add to the clock closes with 1001 rather than aborting") {
    log_capture log;
    syncws::server server(local_options(&log), echo);
    server.start();
    raw_client client = raw_client::to(server);
    client.open_websocket();
    REQUIRE(eventually([&] { return server.connection_count() == 1; }));
    auto answer = std::async(std::launch::async, [&client] {
        const frame close = client.read_frame();
        client.send_close(close.close_code());
        client.read_until_closed();
        return close;
    });
    bounded([&] { server.shutdown(syncws::duration::max()); });
    REQUIRE(answer.wait_for(10s) == std::future_status::ready);
    CHECK(answer.get().close_code() == 1001);
    // An overflowed deadline lies in the past: shutdown would abort what was still open.
    CHECK_FALSE(log.has(syncws::log_level::warning, "shutdown deadline reached"));
}

TEST_CASE("shutdown gives up on a peer that never answers the close after close_timeout") {
    syncws::server_options options = local_options();
    options.settings.close_timeout = 300ms;  // shorter than the shutdown deadline
    syncws::server server(options, echo);
    server.start();
    raw_client mute = raw_client::to(server);
    mute.open_websocket();
    REQUIRE(eventually([&] { return server.connection_count() == 1; }));
    bounded([&] { server.shutdown(10s); });
    CHECK(mute.read_frame().close_code() == 1001);
    CHECK(mute.read_until_closed());
}

TEST_CASE("shutdown aborts connections whose peer never answers, at its deadline") {
    log_capture log;
    syncws::server_options options = local_options(&log);
    options.settings.close_timeout = 60s;  // longer than the shutdown deadline
    syncws::server server(options, echo);
    server.start();
    raw_client mute = raw_client::to(server);
    mute.open_websocket();
    REQUIRE(eventually([&] { return server.connection_count() == 1; }));
    bounded([&] { server.shutdown(300ms); });
    CHECK(mute.read_frame().close_code() == 1001);
    CHECK(mute.read_until_closed());
    CHECK(log.has(syncws::log_level::warning, "aborted 1 connection"));
}

TEST_CASE("serve_forever runs on the calling thread and returns after shutdown") {
    syncws::server server(local_options(), echo);
    auto serving = std::async(std::launch::async, [&] { server.serve_forever(); });
    {
        raw_client client = raw_client::to(server);
        client.open_websocket();
        client.check_echo("forever");
        client.close_cleanly();
    }
    CHECK_THROWS_AS(server.start(), syncws::invalid_state);  // already serving
    server.shutdown();
    REQUIRE(serving.wait_for(10s) == std::future_status::ready);
    serving.get();
    bounded([&] { server.serve_forever(); });  // after shutdown: returns at once
}

TEST_CASE("shutdown is idempotent and safe from several threads at once") {
    syncws::server server(local_options(), echo);
    server.start();
    raw_client client = raw_client::to(server);
    client.open_websocket();
    REQUIRE(eventually([&] { return server.connection_count() == 1; }));
    auto answer = std::async(std::launch::async, [&] { return answer_close(client); });
    std::thread a([&] { server.shutdown(); });
    std::thread b([&] { server.shutdown(); });
    a.join();
    b.join();
    server.shutdown();
    REQUIRE(answer.wait_for(10s) == std::future_status::ready);
    CHECK(answer.get() == 1001);
}

TEST_CASE("a handler may shut its own server down") {
    std::optional<syncws::server> server;
    server.emplace(local_options(), [&](syncws::server_connection& ws) {
        for (auto& m : ws) {
            if (m.data == "stop") server->shutdown(10s);
        }
    });
    auto serving = std::async(std::launch::async, [&] { server->serve_forever(); });
    raw_client other = raw_client::to(*server);
    other.open_websocket();
    raw_client stopper = raw_client::to(*server);
    stopper.open_websocket();
    REQUIRE(eventually([&] { return server->connection_count() == 2; }));
    auto other_answer = std::async(std::launch::async, [&] { return answer_close(other); });
    auto stopper_answer = std::async(std::launch::async, [&] { return answer_close(stopper); });
    stopper.send_frame(opcode::text, "stop");
    REQUIRE(other_answer.wait_for(20s) == std::future_status::ready);
    CHECK(other_answer.get() == 1001);
    REQUIRE(stopper_answer.wait_for(20s) == std::future_status::ready);
    CHECK(stopper_answer.get() == 1001);
    REQUIRE(serving.wait_for(20s) == std::future_status::ready);
    serving.get();
    bounded([&] { server.reset(); });  // joins the handler's thread
}

TEST_CASE("our client talks to the server: echo, close codes both ways") {
    syncws::server server(local_options(), echo);
    server.start();
    auto client = syncws::connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/chat");
    client.send("hello");
    CHECK(client.recv(10s)->data == "hello");
    client.send(syncws::binary("\x00\xff", 2));
    const auto m = client.recv(10s);
    REQUIRE(m);
    CHECK(m->is_binary());
    CHECK(client.response().headers.get("Server") == "syncws/" SYNCWS_VERSION);
    client.close();
    CHECK(client.close_code() == 1000);

    auto second = syncws::connect("ws://127.0.0.1:" + std::to_string(server.port()) + "/");
    bounded([&] { server.shutdown(5s); });
    CHECK_THROWS_AS(second.recv(10s), syncws::connection_closed_ok);
    CHECK(second.close_code() == 1001);
}

}  // TEST_SUITE

// wss:// on real sockets over loopback: certificate verification and each way it fails,
// mutual TLS, the server's TLS handshake on its workers, closing over TLS, and threads
// sharing one TLS session under stress. Certificates are made at test time
// (test_certificates.hpp). Some peers are written here with OpenSSL directly, to do what our
// own code never does (close TCP without close_notify, speak only TLS 1.0 ...).
#include <doctest/doctest.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../../lib/tcp_connect.hpp"
#include "../../lib/tls_context.hpp"
#include "../../lib/tls_transport.hpp"
#include "loopback.hpp"
#include "test_certificates.hpp"

using namespace std::chrono_literals;
using syncws::tls_error;
using syncws::core::opcode;
using reason = syncws::tls_error::reason;

namespace {

// ------------------------------------------------------------------ helpers

const test::certificates& certs() { return test::test_certificates(); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Collects log lines, from any thread.
struct log_capture {
    struct line {
        syncws::log_level level;
        std::string text;
    };
    std::mutex mutex;
    std::vector<line> lines;

    syncws::logger logger() {
        return [this](syncws::log_level level, std::string_view text, std::uint64_t) {
            std::lock_guard<std::mutex> lk(mutex);
            lines.push_back({level, std::string(text)});
        };
    }
    /// The first line containing part, waiting for it up to 10 s; empty if none came.
    std::optional<line> wait_for(const std::string& part) {
        const auto until = std::chrono::steady_clock::now() + 10s;
        for (;;) {
            {
                std::lock_guard<std::mutex> lk(mutex);
                for (const auto& l : lines)
                    if (contains(l.text, part)) return l;
            }
            if (std::chrono::steady_clock::now() >= until) return std::nullopt;
            std::this_thread::sleep_for(5ms);
        }
    }
    std::string all() {
        std::lock_guard<std::mutex> lk(mutex);
        std::string text;
        for (const auto& l : lines) text += std::string(syncws::to_string(l.level)) + ": " + l.text + "\n";
        return text;
    }
};

void echo(syncws::server_connection& ws) {
    for (auto& m : ws) ws.send(m);
}

std::string bracketed(const std::string& host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

/// A wss:// echo server with the given certificate, logging into log.
struct tls_server {
    log_capture log;
    syncws::server server;

    tls_server(const std::string& cert, const std::string& key,
               const std::function<void(syncws::server_options&)>& adjust = {},
               const std::string& host = "127.0.0.1")
        : server(options(cert, key, adjust, host), echo) {
        server.start();
    }

    syncws::server_options options(const std::string& cert, const std::string& key,
                                   const std::function<void(syncws::server_options&)>& adjust,
                                   const std::string& host) {
        syncws::server_options o;
        o.host = host;
        o.tls.cert_file = cert;
        o.tls.key_file = key;
        o.settings.logger = log.logger();
        // The TLS layer is under test here; compression has tests of its own.
        o.compression.enabled = false;
        if (adjust) adjust(o);
        return o;
    }

    std::string url(const std::string& host = "localhost") const {
        return "wss://" + bracketed(host) + ":" + std::to_string(server.port()) + "/";
    }
};

syncws::client_options trusting(const std::string& ca_file) {
    syncws::client_options o;
    o.tls.ca_file = ca_file;
    o.compression.enabled = false;
    return o;
}

syncws::client_options trusting_test_ca() { return trusting(certs().ca); }

/// What connect() threw; fails the test if it connected.
template <class Exception = syncws::error>
std::optional<Exception> connect_failure(const std::string& url, const syncws::client_options& options) {
    try {
        syncws::connect(url, options);
    } catch (const Exception& e) {
        return e;
    }
    FAIL("connected to " << url << " although that had to fail");
    return std::nullopt;
}

void check_echo(syncws::client_connection& ws, const std::string& text) {
    ws.send(text);
    CHECK(ws.recv().data == text);
}

/// The TLS handshake alone, with host as the name the certificate must have, over TCP to
/// 127.0.0.1:port: host-name rules can be tested without DNS.
void tls_handshake(std::uint16_t port, const std::string& host) {
    const auto deadline = syncws::detail::deadline_after(10s);
    syncws::detail::tls_connect(syncws::detail::open_tcp("127.0.0.1", port, deadline),
                                syncws::detail::client_context(trusting_test_ca().tls), host, true, deadline);
}

std::optional<tls_error> tls_handshake_failure(std::uint16_t port, const std::string& host) {
    try {
        tls_handshake(port, host);
    } catch (const tls_error& e) {
        return e;
    }
    return std::nullopt;
}

// ------------------------------------------------------------------ raw OpenSSL peers

using context_ptr = std::shared_ptr<SSL_CTX>;

context_ptr raw_context(bool server, const std::string& cert = {}, const std::string& key = {}) {
    context_ptr context(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()), SSL_CTX_free);
    REQUIRE(context);
    if (!cert.empty()) {
        REQUIRE(SSL_CTX_use_certificate_chain_file(context.get(), cert.c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(context.get(), key.c_str(), SSL_FILETYPE_PEM) == 1);
    }
    return context;
}

/// Only TLS 1.0, as an old peer: OpenSSL 3 needs security level 0 for that.
context_ptr tls10_context(bool server) {
    context_ptr context = server ? raw_context(true, certs().server_cert, certs().server_key) : raw_context(false);
    SSL_CTX_set_security_level(context.get(), 0);
    SSL_CTX_set_cipher_list(context.get(), "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(context.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(context.get(), TLS1_VERSION);
    return context;
}

struct frame {
    opcode op;
    std::string payload;
};

/// One TLS connection driven with OpenSSL over a blocking socket; every read gives up
/// after 10 s, so a test fails instead of hanging.
class raw_tls {
public:
    raw_tls(asio::ip::tcp::socket socket, const context_ptr& context, bool server)
        : socket_(std::make_unique<asio::ip::tcp::socket>(std::move(socket))),
          ssl_(SSL_new(context.get()), SSL_free), server_(server) {
        const timeval ten_seconds{10, 0};
        ::setsockopt(socket_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
        SSL_set_fd(ssl_.get(), socket_->native_handle());
    }

    /// The TLS handshake; false if it failed.
    bool handshake() {
        ERR_clear_error();
        const bool ok = (server_ ? SSL_accept(ssl_.get()) : SSL_connect(ssl_.get())) == 1;
        ERR_clear_error();
        return ok;
    }

    void write(const std::string& bytes) {
        std::size_t written = 0;
        REQUIRE(SSL_write_ex(ssl_.get(), bytes.data(), bytes.size(), &written) == 1);
        REQUIRE(written == bytes.size());
    }

    std::string read_exactly(std::size_t n) {
        std::string bytes(n, '\0');
        std::size_t got = 0;
        while (got < n) {
            std::size_t chunk = 0;
            REQUIRE(SSL_read_ex(ssl_.get(), bytes.data() + got, n - got, &chunk) == 1);
            got += chunk;
        }
        return bytes;
    }

    std::string read_head() {
        std::string head;
        while (!contains(head, "\r\n\r\n")) head += read_exactly(1);
        return head;
    }

    /// Server side of the opening handshake.
    void accept_websocket() {
        const std::string head = read_head();
        const auto at = head.find("Sec-WebSocket-Key: ") + 19;
        write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: " + syncws::core::accept_key(head.substr(at, head.find("\r\n", at) - at)) +
              "\r\n\r\n");
    }

    /// Client side of the opening handshake.
    void open_websocket() {
        write("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        REQUIRE(contains(read_head(), " 101 "));
    }

    /// A frame as this side sends it: masked (with a zero key) from a client.
    std::string frame_bytes(opcode op, const std::string& payload) const {
        if (server_) return test::server_frame(op, payload);
        unsigned char header[syncws::core::max_frame_header_size];
        const syncws::core::mask_key zero{};
        const std::size_t n = syncws::core::encode_frame_header(header, true, false, op, payload.size(), &zero);
        return std::string(reinterpret_cast<const char*>(header), n) + payload;
    }

    void send_frame(opcode op, const std::string& payload) { write(frame_bytes(op, payload)); }

    frame read_frame() {
        const std::string start = read_exactly(2);
        const auto byte = [](char c) { return static_cast<unsigned char>(c); };
        std::uint64_t length = byte(start[1]) & 0x7f;
        const int extra = length == 126 ? 2 : length == 127 ? 8 : 0;
        if (extra > 0) {
            length = 0;
            for (const char c : read_exactly(static_cast<std::size_t>(extra))) length = length << 8 | byte(c);
        }
        const bool masked = (byte(start[1]) & 0x80) != 0;
        const std::string key = masked ? read_exactly(4) : std::string();
        std::string payload = read_exactly(static_cast<std::size_t>(length));
        for (std::size_t i = 0; masked && i < payload.size(); ++i) payload[i] ^= key[i % 4];
        return {static_cast<opcode>(byte(start[0]) & 0x0f), payload};
    }

    /// Reads frames up to a close frame.
    frame read_close() {
        for (;;) {
            frame f = read_frame();
            if (f.op == opcode::close) return f;
        }
    }

    /// True when the peer's next record is its close_notify.
    bool receives_close_notify() {
        char byte;
        std::size_t n = 0;
        ERR_clear_error();
        const int result = SSL_read_ex(ssl_.get(), &byte, 1, &n);
        const bool close_notify = result == 0 && SSL_get_error(ssl_.get(), result) == SSL_ERROR_ZERO_RETURN;
        ERR_clear_error();
        return close_notify;
    }

    /// True when the peer closed TCP: no more bytes, whatever TLS says.
    bool receives_end_of_stream() {
        char byte;
        const ssize_t n = ::recv(socket_->native_handle(), &byte, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

    void send_close_notify() { SSL_shutdown(ssl_.get()); }
    /// TLS 1.3: new keys for what this side sends, and the peer must renew its own (its
    /// answer comes from its reading side, in the middle of whatever it is writing).
    void request_key_update() { REQUIRE(SSL_key_update(ssl_.get(), SSL_KEY_UPDATE_REQUESTED) == 1); }
    /// Ends TCP with no close_notify.
    void close_tcp() { socket_.reset(); }
    int fd() const { return socket_->native_handle(); }

private:
    std::unique_ptr<asio::ip::tcp::socket> socket_;
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
    bool server_;
};

/// A TLS server peer written with OpenSSL: listens on 127.0.0.1, accepts one client.
class raw_tls_server {
public:
    explicit raw_tls_server(context_ptr context = raw_context(true, certs().server_cert, certs().server_key))
        : acceptor_(test::io(), {asio::ip::make_address("127.0.0.1"), 0}), context_(std::move(context)) {}

    std::string url() const { return "wss://localhost:" + std::to_string(acceptor_.local_endpoint().port()) + "/"; }

    raw_tls accept() {
        asio::ip::tcp::socket socket(test::io());
        acceptor_.accept(socket);
        return raw_tls(std::move(socket), context_, true);
    }

    /// Our client connected to this peer, through TLS and the opening handshake.
    std::pair<syncws::client_connection, raw_tls> connect_client() {
        auto accepted = std::async(std::launch::async, [this] {
            raw_tls peer = accept();
            REQUIRE(peer.handshake());
            peer.accept_websocket();
            return peer;
        });
        auto client = syncws::connect(url(), trusting_test_ca());
        return {std::move(client), accepted.get()};
    }

private:
    asio::ip::tcp::acceptor acceptor_;
    context_ptr context_;
};

/// A TLS client peer written with OpenSSL, connected to port on 127.0.0.1.
raw_tls raw_tls_client(std::uint16_t port, const context_ptr& context = raw_context(false)) {
    asio::ip::tcp::socket socket(test::io());
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
    return raw_tls(std::move(socket), context, false);
}

// ------------------------------------------------------------------ the transport alone

using syncws::detail::transport;

/// A transport in front of another whose try_write() takes at most limit bytes: a socket
/// whose buffer is nearly full.
class trickle final : public transport {
public:
    trickle(std::unique_ptr<transport> inner, std::size_t limit) : inner_(std::move(inner)), limit_(limit) {}

    syncws::detail::read_result read(char* b, std::size_t n, syncws::detail::clock::time_point d) override {
        return inner_->read(b, n, d);
    }
    syncws::detail::read_result try_read(char* b, std::size_t n) override { return inner_->try_read(b, n); }
    void write(const std::vector<std::string_view>& pieces, syncws::detail::clock::time_point d) override {
        inner_->write(pieces, d);
    }
    std::size_t try_write(const std::vector<std::string_view>& pieces) override {
        std::vector<std::string_view> some;
        std::size_t left = limit_;
        for (const auto piece : pieces) {
            some.push_back(piece.substr(0, left));
            left -= some.back().size();
        }
        return inner_->try_write(some);
    }
    void shutdown_write() noexcept override { inner_->shutdown_write(); }
    void abort() noexcept override { inner_->abort(); }
    int native_handle() const noexcept override { return inner_->native_handle(); }
    std::string local_address() const override { return inner_->local_address(); }
    std::string remote_address() const override { return inner_->remote_address(); }

private:
    std::unique_ptr<transport> inner_;
    std::size_t limit_;
};

/// Both ends of a TLS session over a socket pair; the client's try_write() takes at most
/// client_write_limit bytes per call.
std::pair<std::unique_ptr<transport>, std::unique_ptr<transport>> tls_pair(std::size_t client_write_limit,
                                                                          bool server_reads_ahead = false) {
    asio::local::stream_protocol::socket a(test::io()), b(test::io());
    asio::local::connect_pair(a, b);
    const auto deadline = syncws::detail::deadline_after(10s);
    syncws::tls_server_options server_options;
    server_options.cert_file = certs().server_cert;
    server_options.key_file = certs().server_key;
    std::shared_ptr<SSL_CTX> server_context = syncws::detail::server_context(server_options);
    if (server_reads_ahead) SSL_CTX_set_read_ahead(server_context.get(), 1);
    auto server = std::async(std::launch::async, [&] {
        return syncws::detail::tls_accept(syncws::detail::make_socket_transport(std::move(b)),
                                          server_context, deadline);
    });
    auto client = syncws::detail::tls_connect(
        std::make_unique<trickle>(syncws::detail::make_socket_transport(std::move(a)), client_write_limit),
        syncws::detail::client_context(trusting_test_ca().tls), "localhost", true, deadline);
    return {std::move(client), server.get()};
}

/// Waits until the socket under t holds at least `bytes` unread bytes; false after 10 s.
bool wait_for_unread(transport& t, int bytes) {
    int queued = 0;
    for (int i = 0; i < 1000; ++i) {
        ::ioctl(t.native_handle(), FIONREAD, &queued);
        if (queued >= bytes) return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

/// Everything the transport gives until its end of stream.
std::string read_to_end(transport& t) {
    std::string all;
    char buffer[4096];
    for (;;) {
        const auto r = t.read(buffer, sizeof buffer, syncws::detail::deadline_after(10s));
        if (r.status == syncws::detail::read_status::eof) return all;
        REQUIRE(r.status == syncws::detail::read_status::data);
        all.append(buffer, r.size);
    }
}

}  // namespace

// ------------------------------------------------------------------ verification

TEST_SUITE("tls: verification") {

TEST_CASE("a wss client verifies the server against a CA file and echoes messages of every size") {
    tls_server s(certs().server_cert, certs().server_key);
    auto ws = syncws::connect(s.url(), trusting_test_ca());
    for (const std::size_t size : {0, 1, 125, 126, 16383, 16384, 16385, 65536, 1024 * 1024}) {
        std::string bytes(size, '\0');
        for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + size);
        ws.send(syncws::binary(bytes));
        const syncws::message m = ws.recv();
        CHECK(m.is_binary());
        CHECK(m.data == bytes);
    }
    check_echo(ws, "héllo over TLS");
    ws.close();
    CHECK(ws.state() == syncws::core::state::closed);
}

TEST_CASE("the system trust store is the default, and the test CA is not in it") {
    tls_server s(certs().server_cert, certs().server_key);
    syncws::client_options defaults;
    const auto e = connect_failure<tls_error>(s.url(), defaults);
    REQUIRE(e);
    CHECK(e->why() == reason::untrusted_issuer);
    CHECK(std::string(e->what()) ==
          "certificate verify failed for localhost: the certificate is issued by an untrusted CA "
          "(CN=syncws test CA)");
}

TEST_CASE("a certificate from an untrusted CA fails and the error names that CA") {
    tls_server s(certs().untrusted_server_cert, certs().untrusted_server_key);
    const auto e = connect_failure<tls_error>(s.url(), trusting_test_ca());
    REQUIRE(e);
    CHECK(e->why() == reason::untrusted_issuer);
    CHECK(contains(e->what(), "issued by an untrusted CA (CN=syncws untrusted test CA)"));
}

TEST_CASE("a self-signed certificate fails as untrusted, and insecure accepts it") {
    tls_server s(certs().self_signed_cert, certs().self_signed_key);
    const auto e = connect_failure<tls_error>(s.url(), trusting_test_ca());
    REQUIRE(e);
    CHECK(e->why() == reason::untrusted_issuer);
    CHECK(contains(e->what(), "the certificate is self-signed (CN=localhost) and not trusted"));

    syncws::client_options insecure = trusting_test_ca();
    insecure.tls.insecure = true;
    auto ws = syncws::connect(s.url(), insecure);
    check_echo(ws, "encrypted, not authenticated");
    ws.close();
}

TEST_CASE("a certificate for another host fails with hostname_mismatch and the names it has") {
    tls_server s(certs().other_host_cert, certs().other_host_key);
    const auto e = connect_failure<tls_error>(s.url(), trusting_test_ca());
    REQUIRE(e);
    CHECK(e->why() == reason::hostname_mismatch);
    CHECK(std::string(e->what()) ==
          "certificate verify failed for localhost: the certificate is for another host "
          "(it names DNS:other.example)");
}

TEST_CASE("an expired certificate fails with expired and its end date") {
    tls_server s(certs().expired_cert, certs().expired_key);
    const auto e = connect_failure<tls_error>(s.url(), trusting_test_ca());
    REQUIRE(e);
    CHECK(e->why() == reason::expired);
    CHECK(std::string(e->what()) ==
          "certificate verify failed for localhost: the certificate has expired "
          "(notAfter 2020-02-01 00:00:00Z)");
}

TEST_CASE("IP addresses are matched against IP SANs, IPv4 and IPv6") {
    SUBCASE("127.0.0.1 and ::1 named in the certificate") {
        tls_server v4(certs().server_cert, certs().server_key);
        auto a = syncws::connect(v4.url("127.0.0.1"), trusting_test_ca());
        check_echo(a, "v4");
        a.close();
        tls_server v6(certs().server_cert, certs().server_key, {}, "::1");
        auto b = syncws::connect(v6.url("::1"), trusting_test_ca());
        check_echo(b, "v6");
        b.close();
    }
    SUBCASE("::1 not named in the certificate") {
        tls_server v6(certs().ipv4_only_cert, certs().ipv4_only_key, {}, "::1");
        const auto e = connect_failure<tls_error>(v6.url("::1"), trusting_test_ca());
        REQUIRE(e);
        CHECK(e->why() == reason::hostname_mismatch);
        CHECK(contains(e->what(), "for ::1: the certificate is for another host "
                                  "(it names DNS:localhost, IP:127.0.0.1)"));
    }
    SUBCASE("127.0.0.2 not named in the certificate") {
        tls_server v4(certs().server_cert, certs().server_key, {}, "127.0.0.2");
        const auto e = connect_failure<tls_error>(v4.url("127.0.0.2"), trusting_test_ca());
        REQUIRE(e);
        CHECK(e->why() == reason::hostname_mismatch);
    }
}

TEST_CASE("wildcards follow RFC 6125: one whole left-most label, never part of one") {
    tls_server wildcard(certs().wildcard_cert, certs().wildcard_key);
    const std::uint16_t port = wildcard.server.port();
    CHECK_NOTHROW(tls_handshake(port, "a.example.test"));
    CHECK_NOTHROW(tls_handshake(port, "Mixed-Case.EXAMPLE.test"));
    for (const char* host : {"example.test", "a.b.example.test", "a.example.test.other", "aexample.test"}) {
        CAPTURE(host);
        const auto e = tls_handshake_failure(port, host);
        REQUIRE(e);
        CHECK(e->why() == reason::hostname_mismatch);
        CHECK(contains(e->what(), "it names DNS:*.example.test"));
    }

    tls_server partial(certs().partial_wildcard_cert, certs().partial_wildcard_key);
    for (const char* host : {"foo.example.test", "f.example.test"}) {
        CAPTURE(host);
        const auto e = tls_handshake_failure(partial.server.port(), host);
        REQUIRE(e);
        CHECK(e->why() == reason::hostname_mismatch);
    }
}

TEST_CASE("a wss client against a plain ws server says it does not speak TLS") {
    syncws::server_options o;
    o.host = "127.0.0.1";
    syncws::server plain(o, echo);
    plain.start();
    const std::string url = "wss://localhost:" + std::to_string(plain.port()) + "/";
    const auto e = connect_failure<tls_error>(url, trusting_test_ca());
    REQUIRE(e);
    CHECK(e->why() == reason::handshake_failed);
    CHECK(contains(e->what(), "TLS handshake failed: the server does not speak TLS"));
}

TEST_CASE("a server that speaks only TLS 1.0 fails with a message that says so") {
    // It answers our hello (TLS 1.2 and 1.3 offered) with a protocol_version alert.
    raw_tls_server old(tls10_context(true));
    auto peer = std::async(std::launch::async, [&] { return old.accept().handshake(); });
    const auto e = connect_failure<tls_error>(old.url(), trusting_test_ca());
    REQUIRE(e);
    CHECK(e->why() == reason::handshake_failed);
    CHECK(std::string(e->what()) ==
          "TLS handshake failed: the server does not support TLS 1.2 or later (alert: protocol version)");
    CHECK_FALSE(peer.get());
}

TEST_CASE("certificate files that cannot be used fail with certificate_file") {
    const auto server_failure = [](const std::string& cert, const std::string& key) -> std::string {
        syncws::server_options o;
        o.host = "127.0.0.1";
        o.tls.cert_file = cert;
        o.tls.key_file = key;
        try {
            syncws::server s(o, echo);
        } catch (const tls_error& e) {
            CHECK(e.why() == reason::certificate_file);
            return e.what();
        }
        return "(no error)";
    };
    CHECK(server_failure(certs().directory + "/missing.pem", certs().server_key) ==
          "cannot load the certificate chain " + certs().directory + "/missing.pem: No such file or directory");
    CHECK(server_failure(certs().server_cert, certs().other_host_key) ==
          "the private key in " + certs().other_host_key + " does not match the certificate in " +
              certs().server_cert);
    CHECK(contains(server_failure(certs().directory + "/openssl.cnf", certs().server_key),
                   "cannot load the certificate chain"));

    tls_server s(certs().server_cert, certs().server_key);
    const auto missing_ca = connect_failure<tls_error>(s.url(), trusting(certs().directory + "/none.pem"));
    REQUIRE(missing_ca);
    CHECK(missing_ca->why() == reason::certificate_file);
    CHECK(contains(missing_ca->what(), "cannot load the CA file"));
    syncws::client_options wrong_key = trusting_test_ca();
    wrong_key.tls.cert_file = certs().client_cert;
    wrong_key.tls.key_file = certs().server_key;
    const auto mismatch = connect_failure<tls_error>(s.url(), wrong_key);
    REQUIRE(mismatch);
    CHECK(contains(mismatch->what(), "does not match the certificate"));
}

TEST_CASE("client contexts are shared between connections with equal options") {
    const auto a = syncws::detail::client_context(trusting_test_ca().tls);
    const auto b = syncws::detail::client_context(trusting_test_ca().tls);
    CHECK(a == b);
    syncws::tls_client_options other = trusting_test_ca().tls;
    other.insecure = true;
    CHECK(syncws::detail::client_context(other) != a);
}

}  // TEST_SUITE

// ------------------------------------------------------------------ mutual TLS

TEST_SUITE("tls: mutual TLS") {

namespace {
void require_client_certificates(syncws::server_options& o) { o.tls.client_ca_file = certs().ca; }
}  // namespace

TEST_CASE("a client with a certificate from the trusted CA gets through") {
    tls_server s(certs().server_cert, certs().server_key, require_client_certificates);
    syncws::client_options o = trusting_test_ca();
    o.tls.cert_file = certs().client_cert;
    o.tls.key_file = certs().client_key;
    auto ws = syncws::connect(s.url(), o);
    check_echo(ws, "mutually authenticated");
    ws.close();
}

TEST_CASE("a client without a certificate fails with a clear error on both sides") {
    tls_server s(certs().server_cert, certs().server_key, require_client_certificates);
    // TLS 1.3 clients learn it after their side of the handshake, from the server's alert.
    const auto e = connect_failure<tls_error>(s.url(), trusting_test_ca());
    REQUIRE(e);
    CHECK(e->why() == reason::handshake_failed);
    CHECK(std::string(e->what()) ==
          "TLS handshake failed: the server requires a client certificate (tls.cert_file and tls.key_file)");
    const auto logged = s.log.wait_for("the client sent no certificate, and this server requires one");
    REQUIRE(logged);
    CHECK(logged->level == syncws::log_level::info);
}

TEST_CASE("a client certificate from another CA fails with a clear error on both sides") {
    tls_server s(certs().server_cert, certs().server_key, require_client_certificates);
    syncws::client_options o = trusting_test_ca();
    o.tls.cert_file = certs().other_client_cert;
    o.tls.key_file = certs().other_client_key;
    const auto e = connect_failure<tls_error>(s.url(), o);
    REQUIRE(e);
    CHECK(e->why() == reason::handshake_failed);
    CHECK(std::string(e->what()) ==
          "TLS handshake failed: the server rejected the client certificate (alert: unknown CA)");
    CHECK(s.log.wait_for("client certificate verify failed: the certificate is issued by an untrusted CA "
                         "(CN=syncws untrusted test CA)"));
}

}  // TEST_SUITE

// ------------------------------------------------------------------ the server

TEST_SUITE("tls: server") {

TEST_CASE("a silent client holds up no other client and is dropped at open_timeout") {
    tls_server s(certs().server_cert, certs().server_key,
                 [](syncws::server_options& o) { o.settings.open_timeout = 5s; });
    asio::ip::tcp::socket silent(test::io());
    silent.connect({asio::ip::make_address("127.0.0.1"), s.server.port()});

    auto ws = syncws::connect(s.url(), trusting_test_ca());
    check_echo(ws, "served while another client says nothing");
    ws.close();
    char byte;
    CHECK(::recv(silent.native_handle(), &byte, 1, MSG_DONTWAIT) < 0);  // still waited for

    const timeval ten_seconds{10, 0};
    ::setsockopt(silent.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &ten_seconds, sizeof ten_seconds);
    const ssize_t n = ::recv(silent.native_handle(), &byte, 1, 0);
    CHECK((n == 0 || (n < 0 && errno == ECONNRESET)));  // dropped, not still waiting
    const auto logged = s.log.wait_for("timed out in the TLS handshake with the client");
    REQUIRE(logged);
    CHECK(logged->level == syncws::log_level::info);
}

TEST_CASE("shutdown cuts short a TLS handshake that has no engine yet") {
    auto s = std::make_unique<tls_server>(certs().server_cert, certs().server_key,
                                          [](syncws::server_options& o) { o.settings.open_timeout = 60s; });
    asio::ip::tcp::socket silent(test::io());
    silent.connect({asio::ip::make_address("127.0.0.1"), s->server.port()});
    std::this_thread::sleep_for(200ms);  // a worker is in the handshake by now
    test::bounded([&] { s->server.shutdown(1s); }, 10s);
}

TEST_CASE("a plain ws:// client on a TLS port gets an error, and the server logs why") {
    tls_server s(certs().server_cert, certs().server_key);
    const syncws::client_options plain;
    const auto e = connect_failure("ws://127.0.0.1:" + std::to_string(s.server.port()) + "/", plain);
    REQUIRE(e);
    const auto logged = s.log.wait_for("the client sent plain HTTP, not TLS (a ws:// client on a wss:// port?)");
    REQUIRE(logged);
    CHECK(logged->level == syncws::log_level::info);
    // And the server goes on serving.
    auto ws = syncws::connect(s.url(), trusting_test_ca());
    check_echo(ws, "still here");
    ws.close();
}

TEST_CASE("a client that rejects the server's certificate is logged with its alert") {
    tls_server s(certs().server_cert, certs().server_key);
    syncws::client_options defaults;  // the system store does not know the test CA
    CHECK(connect_failure<tls_error>(s.url(), defaults));
    CHECK(s.log.wait_for("TLS handshake failed: the client rejected the server's certificate (alert: unknown CA)"));
}

TEST_CASE("a client that offers only TLS 1.0 is named as such in the log") {
    tls_server s(certs().server_cert, certs().server_key);
    raw_tls old = raw_tls_client(s.server.port(), tls10_context(false));
    CHECK_FALSE(old.handshake());
    CHECK(s.log.wait_for("TLS handshake failed: the client offered only TLS 1.0 (TLS 1.2 or later is required)"));
}

}  // TEST_SUITE

// ------------------------------------------------------------------ closing

TEST_SUITE("tls: closing") {

TEST_CASE("the server sends close_notify before its end of stream after the close handshake") {
    tls_server s(certs().server_cert, certs().server_key);
    raw_tls peer = raw_tls_client(s.server.port());
    REQUIRE(peer.handshake());
    peer.open_websocket();
    peer.send_frame(opcode::close, std::string("\x03\xe8", 2));
    CHECK(peer.read_close().payload == std::string("\x03\xe8", 2));
    CHECK(peer.receives_close_notify());
    CHECK(peer.receives_end_of_stream());
}

TEST_CASE("our client answers the server's close_notify with its own") {
    raw_tls_server server;
    auto [client, peer] = server.connect_client();
    auto closing = std::async(std::launch::async, [&client = client] { client.close(); });
    CHECK(peer.read_close().payload == std::string("\x03\xe8", 2));
    peer.send_frame(opcode::close, std::string("\x03\xe8", 2));
    peer.send_close_notify();
    CHECK(peer.receives_close_notify());
    peer.close_tcp();
    closing.get();
    CHECK_THROWS_AS(client.recv(), syncws::connection_closed_ok);
}

TEST_CASE("a peer that closes TCP without close_notify after the close handshake closes cleanly") {
    raw_tls_server server;
    auto [client, peer] = server.connect_client();
    auto closing = std::async(std::launch::async, [&client = client] { client.close(); });
    peer.read_close();
    peer.send_frame(opcode::close, std::string("\x03\xe8", 2));
    peer.close_tcp();
    closing.get();
    CHECK(client.close_received()->code == 1000);
    CHECK_THROWS_AS(client.recv(), syncws::connection_closed_ok);
}

TEST_CASE("truncation before the close handshake is 1006, with or without close_notify") {
    for (const bool close_notify : {false, true}) {
        CAPTURE(close_notify);
        raw_tls_server server;
        auto [client, peer] = server.connect_client();
        peer.send_frame(opcode::text, "last words");
        if (close_notify) peer.send_close_notify();
        peer.close_tcp();
        CHECK(client.recv().data == "last words");
        try {
            client.recv();
            FAIL("recv() after the connection was cut did not throw");
        } catch (const syncws::connection_closed_error& e) {
            CHECK(e.code() == 1006);
        }
    }
}

TEST_CASE("recv without a timeout gets a large frame whose records arrive in pieces while it waits, alone or before the next message") {
    // The reader sleeps until most of the rest of the frame is there, less what OpenSSL may
    // already hold of a record: never for more ciphertext than the peer is going to send.
    const std::string payload = test::patterned(300 * 1024);
    for (const bool alone : {true, false}) {
        for (const auto& cuts : test::large_frame_cuts()) {
            CAPTURE(alone);
            CAPTURE(cuts.front());
            raw_tls_server server;
            auto [client, peer] = server.connect_client();
            const std::string frame = peer.frame_bytes(opcode::binary, payload);
            const std::string wire = alone ? frame : frame + peer.frame_bytes(opcode::text, "after");
            const auto received = test::receive_written_in_pieces(
                client, peer.fd(), wire, cuts, alone ? 1 : 2, [&peer = peer](const std::string& piece) { peer.write(piece); });
            CHECK(received[0] == payload);
            if (!alone) CHECK(received[1] == "after");
        }
    }
}

TEST_CASE("a close that came in the same TLS record as a message completes while nobody calls recv") {
    // The message is large, so that the client reads exactly its payload: the close frame
    // behind it stays inside the TLS layer, where the socket's readiness cannot show it.
    raw_tls_server server;
    auto [client, peer] = server.connect_client();
    const std::string message(100000, 'x');
    const std::string close = peer.frame_bytes(opcode::close, std::string("\x03\xe8", 2));
    peer.write(peer.frame_bytes(opcode::binary, message) + close);  // close shares the last record
    CHECK(client.recv().data.size() == message.size());
    // No recv() from here on: the monitor must answer the close.
    CHECK(peer.read_close().payload == std::string("\x03\xe8", 2));
}

}  // TEST_SUITE

// ------------------------------------------------------------------ the transport alone

TEST_SUITE("tls: transport") {

TEST_CASE("ciphertext the socket cannot take yet stays queued in order, and the FIN waits for it") {
    auto [client, server] = tls_pair(100);
    auto received = std::async(std::launch::async, [&server = server] { return read_to_end(*server); });
    std::string payload(50000, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i % 251);
    const std::vector<std::string_view> pieces{"head", "", payload};
    CHECK(client->try_write(pieces) == 4 + payload.size());  // encrypted, though not all sent
    CHECK(client->has_buffered_output());
    client->shutdown_write();  // close_notify and FIN queue up behind
    int calls = 0;
    while (client->has_buffered_output()) {
        client->try_write({});
        REQUIRE(++calls < 100000);
    }
    CHECK(calls > 100);  // it really went out a little at a time
    CHECK(received.get() == "head" + payload);
}

TEST_CASE("try_write takes no more plaintext while earlier ciphertext waits") {
    auto [client, server] = tls_pair(10);
    const std::string first(1000, 'a');
    CHECK(client->try_write({first}) == first.size());
    CHECK(client->try_write({"more"}) == 0);  // the caller keeps it
    while (client->has_buffered_output()) client->try_write({});
    CHECK(client->try_write({"more"}) == 4);
    client->shutdown_write();
    while (client->has_buffered_output()) client->try_write({});
    CHECK(read_to_end(*server) == first + "more");
}

TEST_CASE("input held inside the TLS layer is reported until it is read") {
    auto [client, server] = tls_pair(SIZE_MAX);
    client->write({"0123456789"}, syncws::detail::deadline_after(10s));
    char buffer[10];
    const auto r = server->read(buffer, 3, syncws::detail::deadline_after(10s));
    REQUIRE(r.status == syncws::detail::read_status::data);
    CHECK(std::string(buffer, r.size) == "012");
    CHECK(server->has_buffered_input());  // the socket has nothing more to say
    const auto rest = server->try_read(buffer, sizeof buffer);
    REQUIRE(rest.status == syncws::detail::read_status::data);
    CHECK(std::string(buffer, rest.size) == "3456789");
    CHECK_FALSE(server->has_buffered_input());
    CHECK(server->try_read(buffer, sizeof buffer).status == syncws::detail::read_status::would_block);
}

TEST_CASE("records fetched together and read one at a time are all delivered, the later ones without the socket") {
    auto [client, server] = tls_pair(SIZE_MAX);
    client->write({"one"}, syncws::detail::deadline_after(10s));
    client->write({"two"}, syncws::detail::deadline_after(10s));
    // Both records in the server's socket before it reads, so that one fetch takes both.
    REQUIRE(wait_for_unread(*server, 50));
    char buffer[3];  // room for one record's plaintext: the second one's ciphertext waits
    const auto first = server->read(buffer, sizeof buffer, syncws::detail::deadline_after(10s));
    REQUIRE(first.status == syncws::detail::read_status::data);
    CHECK(std::string(buffer, first.size) == "one");
    int unread = -1;
    ::ioctl(server->native_handle(), FIONREAD, &unread);
    CHECK(unread == 0);  // the second record was fetched with the first
    CHECK(server->has_buffered_input());
    const auto second = server->try_read(buffer, sizeof buffer);
    REQUIRE(second.status == syncws::detail::read_status::data);
    CHECK(std::string(buffer, second.size) == "two");
    CHECK_FALSE(server->has_buffered_input());
}

TEST_CASE("records that OpenSSL read ahead (a caller's SSL_CTX may ask it to) are delivered without waiting for the socket") {
    auto [client, server] = tls_pair(SIZE_MAX, true);
    client->write({"one"}, syncws::detail::deadline_after(10s));
    client->write({"two"}, syncws::detail::deadline_after(10s));
    // Both records (5 + 3 + 1 + 16 bytes each in TLS 1.3) in the server's socket before
    // it reads, so that one read hands both to OpenSSL.
    REQUIRE(wait_for_unread(*server, 50));
    std::string got;
    char buffer[100];
    const auto first = server->read(buffer, sizeof buffer, syncws::detail::deadline_after(10s));
    REQUIRE(first.status == syncws::detail::read_status::data);
    got.append(buffer, first.size);
    if (got.size() < 6) {
        // The client sends nothing more: the rest must come from what OpenSSL holds.
        const auto second = server->read(buffer, sizeof buffer, syncws::detail::deadline_after(2s));
        REQUIRE(second.status == syncws::detail::read_status::data);
        got.append(buffer, second.size);
    }
    CHECK(got == "onetwo");
}

}  // TEST_SUITE

// ------------------------------------------------------------------ threads sharing one session

TEST_SUITE("tls: concurrency") {

namespace {

constexpr int sender_threads = 8;
constexpr int messages_per_thread = 2000;

// Message seq of sender t: who and which, then bytes that depend on both, of varied size
// (some span several TLS records).
std::string numbered_message(int t, int seq) {
    const std::size_t size = seq % 97 == 0 ? 20000 + static_cast<std::size_t>(t) * 1000
                                           : static_cast<std::size_t>(seq * 13 + t) % 600;
    std::string m = std::to_string(t) + ":" + std::to_string(seq) + ":";
    for (std::size_t i = 0; i < size; ++i) m += static_cast<char>('a' + (t * 7 + seq + i) % 26);
    return m;
}

// Checks that every sender's messages arrive whole and in order; for one thread.
class order_check {
public:
    void see(const std::string& m) {
        const auto colon = m.find(':');
        const int t = std::stoi(m.substr(0, colon));
        const int seq = std::stoi(m.substr(colon + 1, m.find(':', colon + 1) - colon - 1));
        if (t < 0 || t >= sender_threads || seq != next_[t] || m != numbered_message(t, seq)) {
            if (problem_.empty()) problem_ = "message " + m.substr(0, 20) + " out of order or damaged";
            return;
        }
        ++next_[t];
        ++count_;
    }
    int count() const { return count_; }
    const std::string& problem() const { return problem_; }

private:
    int next_[sender_threads] = {};
    int count_ = 0;
    std::string problem_;
};

}  // namespace

TEST_CASE("8 threads send, one receives, another pings and a third closes, over one TLS session") {
    // The server checks what arrives and echoes it; the client checks the echoes. Both TLS
    // sessions are read by one thread while others write (and the monitor may answer).
    order_check at_server;
    std::mutex server_mutex;
    syncws::server_options o;
    o.host = "127.0.0.1";
    o.tls.cert_file = certs().server_cert;
    o.tls.key_file = certs().server_key;
    o.compression.enabled = false;
    syncws::server server(o, [&](syncws::server_connection& ws) {
        for (auto& m : ws) {
            {
                std::lock_guard<std::mutex> lk(server_mutex);
                at_server.see(m.data);
            }
            ws.send(m);
        }
    });
    server.start();
    auto ws = syncws::connect("wss://localhost:" + std::to_string(server.port()) + "/", trusting_test_ca());

    order_check at_client;
    std::atomic<int> echoes{0};
    std::string receiver_end;
    std::thread receiver([&] {
        try {
            for (;;) {
                at_client.see(ws.recv().data);
                ++echoes;
            }
        } catch (const syncws::connection_closed_ok&) {
            receiver_end = "clean";
        } catch (const std::exception& e) {
            receiver_end = e.what();
        }
    });
    std::atomic<bool> sending{true};
    std::atomic<int> pongs{0};
    syncws::duration slowest_pong{};
    std::string pinger_problem;
    std::thread pinger([&] {
        try {
            while (sending) {
                // A pong comes behind every echo already on its way: slow under TSan.
                slowest_pong = std::max(slowest_pong, ws.ping().wait(60s));
                ++pongs;
                std::this_thread::sleep_for(1ms);
            }
        } catch (const std::exception& e) {
            pinger_problem = e.what();
        }
    });
    std::vector<std::thread> senders;
    std::vector<std::string> sender_problems(sender_threads);
    for (int t = 0; t < sender_threads; ++t)
        senders.emplace_back([&, t] {
            try {
                for (int seq = 0; seq < messages_per_thread; ++seq) ws.send(numbered_message(t, seq));
            } catch (const std::exception& e) {
                sender_problems[static_cast<std::size_t>(t)] = e.what();
            }
        });
    for (auto& t : senders) t.join();
    sending = false;
    pinger.join();
    // Once every echo is back: a server answers a close at once, and its handler's next
    // send (an echo) would then find the connection closing.
    std::thread closer([&] {
        const auto until = std::chrono::steady_clock::now() + 120s;
        while (echoes < sender_threads * messages_per_thread && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(1ms);
        ws.close();
    });
    closer.join();
    receiver.join();

    for (const auto& p : sender_problems) CHECK(p == "");
    CHECK(pinger_problem == "");
    CHECK(pongs > 0);
    MESSAGE(pongs.load() << " pongs, the slowest after "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(slowest_pong).count() << " ms");
    CHECK(receiver_end == "clean");
    CHECK(at_client.problem() == "");
    CHECK(at_client.count() == sender_threads * messages_per_thread);
    server.shutdown();
    CHECK(at_server.problem() == "");
    CHECK(at_server.count() == sender_threads * messages_per_thread);
}

TEST_CASE("key updates the peer asks for are answered in order while threads send") {
    // The answer is written by whichever thread reads the key update, between records that
    // the senders encrypt: out of order, the peer could not decrypt what follows.
    raw_tls_server server;
    auto [client, peer] = server.connect_client();
    constexpr int per_thread = 250;
    auto echoing = std::async(std::launch::async, [&peer = peer] {
        for (int n = 1;; ++n) {
            const frame f = peer.read_frame();
            if (f.op == opcode::close) {
                peer.send_frame(opcode::close, f.payload);
                peer.send_close_notify();
                return n - 1;
            }
            peer.send_frame(f.op, f.payload);
            if (n % 50 == 0) peer.request_key_update();
        }
    });
    order_check at_client;
    std::atomic<int> echoes{0};
    std::thread receiver([&client = client, &at_client, &echoes] {
        try {
            for (;;) {
                at_client.see(client.recv().data);
                ++echoes;
            }
        } catch (const std::exception&) {
        }
    });
    std::vector<std::thread> senders;
    for (int t = 0; t < sender_threads; ++t)
        senders.emplace_back([&client = client, t] {
            for (int seq = 0; seq < per_thread; ++seq) client.send(numbered_message(t, seq));
        });
    for (auto& t : senders) t.join();
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (echoes < sender_threads * per_thread && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(1ms);
    auto closing = std::async(std::launch::async, [&client = client] { client.close(); });
    CHECK(echoing.get() == sender_threads * per_thread);
    peer.close_tcp();
    closing.get();
    receiver.join();
    CHECK(at_client.problem() == "");
    CHECK(at_client.count() == sender_threads * per_thread);
}

}  // TEST_SUITE

// HTTP CONNECT proxies: choose_proxy with an injected environment (every rule of the
// environment variables and no_proxy), open_tunnel against a hand-written proxy that
// misbehaves on purpose, and syncws::connect through a real proxy (Debian's tinyproxy)
// started by the test on loopback.
#include <doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "../../lib/proxy.hpp"
#include "../../lib/socket_transport.hpp"
#include "syncws/core/base64.hpp"
#include "syncws/syncws.hpp"
#include "temp_dir.hpp"
#include "test_certificates.hpp"

extern char** environ;

using namespace std::chrono_literals;

namespace {

using syncws::core::parse_uri;
using syncws::detail::choose_proxy;
using syncws::detail::clock;
using syncws::detail::io;

// ------------------------------------------------------------------ helpers

/// An environment made of the given variables only.
syncws::detail::environment fake_env(std::map<std::string, std::string> variables) {
    return [variables = std::move(variables)](const char* name) -> std::optional<std::string> {
        const auto found = variables.find(name);
        if (found == variables.end()) return std::nullopt;
        return found->second;
    };
}

/// The proxy URL (without credentials) chosen for target, or "" for none.
std::string chosen(const std::string& target, std::map<std::string, std::string> variables) {
    const auto proxy = choose_proxy(parse_uri(target), std::nullopt, fake_env(std::move(variables)));
    return proxy ? proxy->url : "";
}

/// True when no_proxy sends target around a proxy that is otherwise set.
bool bypassed(const std::string& no_proxy, const std::string& target) {
    return chosen(target, {{"all_proxy", "http://proxy.example:3128"}, {"no_proxy", no_proxy}}).empty();
}

/// The message of the invalid_uri that choosing this configured proxy throws.
std::string bad_proxy(const std::string& configured) {
    try {
        choose_proxy(parse_uri("ws://example.com/"), configured, fake_env({}));
    } catch (const syncws::invalid_uri& e) {
        return e.what();
    }
    FAIL("the proxy URL was accepted");
    return {};
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    FAIL("no exception");
    return {};
}

void echo(syncws::server_connection& ws) {
    for (auto& m : ws) ws.send(m);
}

/// An echo server on 127.0.0.1, OS-chosen port.
struct echo_server {
    syncws::server server{options(), echo};
    echo_server() { server.start(); }
    static syncws::server_options options() {
        syncws::server_options o;
        o.host = "127.0.0.1";
        return o;
    }
    std::uint16_t port() const { return server.port(); }
    std::string uri() const { return "ws://127.0.0.1:" + std::to_string(port()) + "/"; }
};

void check_echo(syncws::client_connection& client, const std::string& text = "through the tunnel") {
    client.send(text);
    CHECK(client.recv().data == text);
}

/// A port on 127.0.0.1 where nothing listens (bound by the OS, then released).
std::uint16_t closed_port() {
    asio::ip::tcp::acceptor acceptor(io(), {asio::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

/// Saves the proxy variables of the process environment, clears them, and restores them.
class clean_proxy_environment {
public:
    clean_proxy_environment() {
        for (const char* name : names) {
            if (const char* value = std::getenv(name)) saved_.emplace(name, value);
            ::unsetenv(name);
        }
    }
    ~clean_proxy_environment() {
        for (const char* name : names) ::unsetenv(name);
        for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
    }
    void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }

private:
    static constexpr const char* names[] = {"ws_proxy",  "WS_PROXY",  "wss_proxy", "WSS_PROXY", "http_proxy",
                                            "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                                            "no_proxy",  "NO_PROXY"};
    std::map<std::string, std::string> saved_;
};

using test::temp_dir;

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

constexpr const char* tinyproxy_path = "/usr/bin/tinyproxy";

/// Debian's tinyproxy, run in the foreground on 127.0.0.1 with a configuration written here.
/// The port is found by binding port 0 and releasing it; if another process takes it before
/// tinyproxy binds it, tinyproxy exits and is started again on a fresh port.
class tinyproxy {
public:
    struct settings {
        std::string user, password;            ///< BasicAuth when user is not empty
        std::vector<std::uint16_t> connect_ports;  ///< CONNECT allowed only to these; empty: any
    };

    explicit tinyproxy(settings s = {}) : settings_(std::move(s)) {
        REQUIRE_MESSAGE(::access(tinyproxy_path, X_OK) == 0,
                        "tinyproxy is not installed (apt-get install tinyproxy)");
        for (int attempt = 0; attempt < 5; ++attempt)
            if (start()) return;
        FAIL("tinyproxy did not start; its output: " << read_file(dir_.path + "/stderr.txt"));
    }
    ~tinyproxy() { stop(); }

    std::string url(const std::string& user_info = "") const {
        return "http://" + (user_info.empty() ? "" : user_info + "@") + "127.0.0.1:" + std::to_string(port_);
    }
    std::uint16_t port() const { return port_; }
    /// True when tinyproxy logged a CONNECT to host:port.
    bool tunneled_to(std::uint16_t port, const std::string& host = "127.0.0.1") const {
        return read_file(log_path()).find("CONNECT " + host + ":" + std::to_string(port) + " ") != std::string::npos;
    }

private:
    std::string log_path() const { return dir_.path + "/tinyproxy.log"; }

    void write_config() const {
        std::ofstream config(dir_.path + "/tinyproxy.conf");
        config << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\n"
               << "LogLevel Info\nLogFile \"" << log_path() << "\"\n";
        if (!settings_.user.empty()) config << "BasicAuth " << settings_.user << " " << settings_.password << "\n";
        for (const auto port : settings_.connect_ports) config << "ConnectPort " << port << "\n";
    }

    // Starts tinyproxy and waits until it listens; false if it exited (its port was taken).
    bool start() {
        port_ = closed_port();
        ::unlink(log_path().c_str());
        write_config();
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        const std::string output = dir_.path + "/stderr.txt";
        posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        const std::string config = dir_.path + "/tinyproxy.conf";
        const char* argv[] = {tinyproxy_path, "-d", "-c", config.c_str(), nullptr};
        const int spawned = ::posix_spawn(&pid_, tinyproxy_path, &actions, nullptr, const_cast<char**>(argv), environ);
        posix_spawn_file_actions_destroy(&actions);
        REQUIRE(spawned == 0);
        const auto until = clock::now() + 10s;
        while (clock::now() < until) {
            if (read_file(log_path()).find("Accepting connections") != std::string::npos) return true;
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            std::this_thread::sleep_for(10ms);
        }
        stop();
        return false;
    }

    // SIGTERM, then SIGKILL if it has not ended within 5 s; always reaped.
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        const auto until = clock::now() + 5s;
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (clock::now() >= until) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        pid_ = -1;
    }

    settings settings_;
    temp_dir dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// A proxy written by hand: accepts one connection, reads the request head, and answers
/// what the test says.
class fake_proxy {
public:
    fake_proxy() : acceptor_(io(), {asio::ip::make_address("127.0.0.1"), 0}) {}

    syncws::detail::proxy_server server(const std::string& user_info = "") const {
        syncws::detail::proxy_server proxy;
        proxy.host = "127.0.0.1";
        proxy.port = acceptor_.local_endpoint().port();
        proxy.user_info = user_info;
        proxy.url = "http://127.0.0.1:" + std::to_string(proxy.port);
        return proxy;
    }

    /// Accepts, reads the head, then writes each of answers in turn (separate writes). Gives
    /// up with an exception after 10 s without a client, and reads time out after 10 s, so
    /// that a test that goes wrong fails instead of hanging.
    std::future<std::string> serve(std::vector<std::string> answers, bool then_close = false) {
        return std::async(std::launch::async, [this, answers = std::move(answers), then_close] {
            pollfd waiting{acceptor_.native_handle(), POLLIN, 0};
            if (::poll(&waiting, 1, 10000) != 1) throw std::runtime_error("fake proxy: no client came");
            socket_ = std::make_unique<asio::ip::tcp::socket>(io());
            acceptor_.accept(*socket_);
            socket_->set_option(asio::ip::tcp::no_delay(true));
            const timeval bound{10, 0};
            ::setsockopt(socket_->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
            std::string head;
            char c;
            while (head.find("\r\n\r\n") == std::string::npos) {
                asio::read(*socket_, asio::buffer(&c, 1));
                head += c;
            }
            for (const auto& answer : answers) {
                asio::write(*socket_, asio::buffer(answer));
                std::this_thread::sleep_for(2ms);
            }
            if (then_close) socket_.reset();
            return head;
        });
    }

    /// Reads n bytes that came through the tunnel.
    std::string read(std::size_t n) {
        std::string data(n, '\0');
        asio::read(*socket_, asio::buffer(data));
        return data;
    }

private:
    asio::ip::tcp::acceptor acceptor_;
    std::unique_ptr<asio::ip::tcp::socket> socket_;
};

std::unique_ptr<syncws::detail::transport> tunnel(const syncws::detail::proxy_server& proxy,
                                                  const std::string& target = "ws://example.com:9000/",
                                                  clock::duration timeout = 10s) {
    return syncws::detail::open_tunnel(proxy, parse_uri(target), clock::now() + timeout);
}

}  // namespace

// ------------------------------------------------------------------ choose_proxy

TEST_SUITE("proxy: choosing one") {

TEST_CASE("a configured proxy is used for every target; \"\" means none; the environment is then ignored") {
    const auto env = fake_env({{"all_proxy", "http://from-env:1"}, {"no_proxy", "*"}});
    const auto proxy = choose_proxy(parse_uri("wss://example.com/"), std::string("http://proxy.example:3128"), env);
    REQUIRE(proxy);
    CHECK(proxy->host == "proxy.example");
    CHECK(proxy->port == 3128);
    CHECK(proxy->user_info.empty());
    CHECK(proxy->url == "http://proxy.example:3128");
    CHECK_FALSE(choose_proxy(parse_uri("wss://example.com/"), std::string(), env));
}

TEST_CASE("proxy URL forms: scheme optional, default port 80, IPv6, credentials kept encoded but never shown") {
    const auto parse = [](const std::string& url) {
        const auto proxy = choose_proxy(parse_uri("ws://example.com/"), url, fake_env({}));
        REQUIRE(proxy);
        return *proxy;
    };
    CHECK(parse("proxy.example:3128").url == "http://proxy.example:3128");
    CHECK(parse("http://proxy.example").port == 80);
    CHECK(parse("proxy.example").port == 80);
    CHECK(parse("HTTP://Proxy.Example:3128/").url == "http://proxy.example:3128");
    const auto v6 = parse("http://[::1]:3128");
    CHECK(v6.host == "::1");
    CHECK(v6.url == "http://[::1]:3128");
    const auto with_credentials = parse("http://us%40er:p%3Ass@proxy.example:3128");
    CHECK(with_credentials.user_info == "us%40er:p%3Ass");
    CHECK(with_credentials.url == "http://proxy.example:3128");
    CHECK(parse("user:pw@proxy.example:8080").user_info == "user:pw");
}

TEST_CASE("unusable proxy URLs are refused with invalid_uri saying why, without the credentials") {
    CHECK(bad_proxy("https://user:pw@proxy:3128").find("https:// proxies") != std::string::npos);
    CHECK(bad_proxy("socks5://proxy:1080").find("only http:// proxies") != std::string::npos);
    CHECK(bad_proxy("http://user:pw@proxy:99999").find("out of range") != std::string::npos);
    CHECK(bad_proxy("http://user:pw@").find("empty host") != std::string::npos);
    CHECK(bad_proxy("http://user:pw@pro xy:1").find("white space") != std::string::npos);
    CHECK(bad_proxy("http://us%3Aer:pw@proxy:1").find("contains ':'") != std::string::npos);
    for (const std::string url : {"https://user:pw@proxy:3128", "http://user:pw@proxy:99999",
                                  "http://user:pw@", "http://us%3Aer:pw@proxy:1"})
        CHECK(bad_proxy(url).find("pw") == std::string::npos);
    CHECK(bad_proxy("user:p://w@proxy").find("p://w") == std::string::npos);  // not a scheme
    try {
        choose_proxy(parse_uri("wss://example.com/"), std::nullopt, fake_env({{"HTTPS_PROXY", "ftp://p"}}));
        FAIL("accepted");
    } catch (const syncws::invalid_uri& e) {
        CHECK(std::string(e.what()).find("from HTTPS_PROXY") != std::string::npos);
    }
}

TEST_CASE("wss:// reads wss_proxy, WSS_PROXY, https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY in this order") {
    std::map<std::string, std::string> env = {{"wss_proxy", "a:1"},   {"WSS_PROXY", "b:1"}, {"https_proxy", "c:1"},
                                              {"HTTPS_PROXY", "d:1"}, {"all_proxy", "e:1"}, {"ALL_PROXY", "f:1"},
                                              {"http_proxy", "x:1"},  {"ws_proxy", "y:1"}};
    for (const std::string expected : {"a", "b", "c", "d", "e", "f"}) {
        CHECK(chosen("wss://example.com/", env) == "http://" + expected + ":1");
        for (auto it = env.begin(); it != env.end(); ++it)
            if (it->second == expected + ":1") {
                env.erase(it);
                break;
            }
    }
    CHECK(chosen("wss://example.com/", env).empty());  // http_proxy and ws_proxy are not for wss://
}

TEST_CASE("ws:// reads ws_proxy, WS_PROXY, http_proxy, all_proxy, ALL_PROXY, never HTTP_PROXY") {
    std::map<std::string, std::string> env = {{"ws_proxy", "a:1"},  {"WS_PROXY", "b:1"},   {"http_proxy", "c:1"},
                                              {"HTTP_PROXY", "x:1"}, {"all_proxy", "e:1"}, {"ALL_PROXY", "f:1"},
                                              {"https_proxy", "y:1"}};
    for (const std::string expected : {"a", "b", "c", "e", "f"}) {
        CHECK(chosen("ws://example.com/", env) == "http://" + expected + ":1");
        for (auto it = env.begin(); it != env.end(); ++it)
            if (it->second == expected + ":1") {
                env.erase(it);
                break;
            }
    }
    CHECK(chosen("ws://example.com/", env).empty());  // HTTP_PROXY (httpoxy) and https_proxy unused
}

TEST_CASE("the first variable set decides, even when it is empty: then there is no proxy") {
    CHECK(chosen("wss://example.com/", {{"https_proxy", ""}, {"HTTPS_PROXY", "b:1"}, {"all_proxy", "c:1"}}).empty());
    CHECK(chosen("ws://example.com/", {{"http_proxy", ""}, {"all_proxy", "c:1"}}).empty());
    CHECK(chosen("ws://example.com/", {}).empty());
}

TEST_CASE("no_proxy is read before NO_PROXY, and the first one set decides") {
    CHECK(chosen("ws://example.com/", {{"all_proxy", "p:1"}, {"NO_PROXY", "example.com"}}).empty());
    CHECK(chosen("ws://example.com/", {{"all_proxy", "p:1"}, {"no_proxy", "example.com"}, {"NO_PROXY", ""}}).empty());
    CHECK(chosen("ws://example.com/", {{"all_proxy", "p:1"}, {"no_proxy", ""}, {"NO_PROXY", "*"}}) == "http://p:1");
    CHECK(chosen("ws://example.com/", {{"all_proxy", "p:1"}, {"no_proxy", "other.com"}}) == "http://p:1");
}

TEST_CASE("no_proxy \"*\" matches every host, and a bypassed target never parses the proxy URL") {
    CHECK(bypassed("*", "ws://example.com/"));
    CHECK(bypassed("*", "ws://10.1.2.3/"));
    CHECK(bypassed("*", "ws://[::1]/"));
    CHECK(bypassed("localhost, *", "ws://example.com/"));
    CHECK_FALSE(choose_proxy(parse_uri("ws://example.com/"), std::nullopt,
                             fake_env({{"all_proxy", "socks5://nope"}, {"no_proxy", "*"}})));
}

TEST_CASE("no_proxy host names match the host and the names under it, case-insensitively") {
    for (const std::string rule : {"example.com", ".example.com", "*.example.com", "EXAMPLE.COM", "example.com."}) {
        CAPTURE(rule);
        CHECK(bypassed(rule, "ws://example.com/"));
        CHECK(bypassed(rule, "ws://a.example.com/"));
        CHECK(bypassed(rule, "wss://a.b.example.com:8443/"));
        CHECK(bypassed(rule, "ws://example.com./"));
        CHECK_FALSE(bypassed(rule, "ws://badexample.com/"));
        CHECK_FALSE(bypassed(rule, "ws://example.com.evil/"));
        CHECK_FALSE(bypassed(rule, "ws://com/"));
    }
}

TEST_CASE("no_proxy entries separated by commas or blanks, with empty and meaningless entries ignored") {
    const std::string list = " a.example , b.example\tc.example,,, [::1, 300.1.1.1, 10.0.0.0/99, :80, d.example:0";
    CHECK(bypassed(list, "ws://a.example/"));
    CHECK(bypassed(list, "ws://b.example/"));
    CHECK(bypassed(list, "ws://c.example/"));
    CHECK_FALSE(bypassed(list, "ws://d.example/"));
    CHECK_FALSE(bypassed(list, "ws://10.1.1.1/"));
    CHECK_FALSE(bypassed(list, "ws://[::1]/"));
    CHECK_FALSE(bypassed(list, "ws://other.example/"));
}

TEST_CASE("no_proxy with a port matches that port only") {
    CHECK(bypassed("example.com:8080", "ws://example.com:8080/"));
    CHECK(bypassed("example.com:8080", "ws://a.example.com:8080/"));
    CHECK_FALSE(bypassed("example.com:8080", "ws://example.com/"));
    CHECK(bypassed("example.com:443", "wss://example.com/"));
    CHECK(bypassed("192.168.1.10:9000", "ws://192.168.1.10:9000/"));
    CHECK_FALSE(bypassed("192.168.1.10:9000", "ws://192.168.1.10:9001/"));
    CHECK(bypassed("[::1]:9000", "ws://[::1]:9000/"));
    CHECK_FALSE(bypassed("[::1]:9000", "ws://[::1]:9001/"));
}

TEST_CASE("no_proxy IP addresses and CIDR ranges match addresses, IPv4 and IPv6") {
    CHECK(bypassed("192.168.1.10", "ws://192.168.1.10/"));
    CHECK_FALSE(bypassed("192.168.1.10", "ws://192.168.1.11/"));
    CHECK(bypassed("192.168.0.0/16", "ws://192.168.44.3/"));
    CHECK_FALSE(bypassed("192.168.0.0/16", "ws://192.169.0.1/"));
    CHECK(bypassed("10.0.0.0/8", "ws://10.255.0.1/"));
    CHECK(bypassed("172.16.0.0/12", "ws://172.31.255.255/"));
    CHECK_FALSE(bypassed("172.16.0.0/12", "ws://172.32.0.0/"));
    CHECK(bypassed("0.0.0.0/0", "ws://8.8.8.8/"));
    CHECK_FALSE(bypassed("0.0.0.0/0", "ws://[2001:db8::1]/"));
    CHECK(bypassed("127.0.0.1/32", "ws://127.0.0.1/"));
    CHECK(bypassed("::1", "ws://[::1]/"));
    CHECK(bypassed("[::1]", "ws://[::1]/"));
    CHECK(bypassed("0:0:0:0:0:0:0:1", "ws://[::1]/"));
    CHECK(bypassed("fd00::/8", "ws://[fd12:3456::1]/"));
    CHECK(bypassed("[fd00::]/8", "ws://[fd12:3456::1]/"));
    CHECK_FALSE(bypassed("fd00::/8", "ws://[fe80::1]/"));
    CHECK(bypassed("2001:db8::/33", "ws://[2001:db8:7fff::1]/"));
    CHECK_FALSE(bypassed("2001:db8::/33", "ws://[2001:db8:8000::1]/"));
    CHECK_FALSE(bypassed("10.0.0.0/8", "ws://[::1]/"));
}

TEST_CASE("names are not resolved, and loopback is not excluded unless no_proxy says so") {
    CHECK_FALSE(bypassed("127.0.0.1", "ws://localhost/"));
    CHECK_FALSE(bypassed("localhost", "ws://127.0.0.1/"));
    CHECK_FALSE(bypassed("1.2.3.4", "ws://4.example/"));
    CHECK(chosen("ws://127.0.0.1:9000/", {{"http_proxy", "p:1"}}) == "http://p:1");
    CHECK(chosen("ws://localhost/", {{"http_proxy", "p:1"}}) == "http://p:1");
    CHECK(chosen("ws://[::1]/", {{"http_proxy", "p:1"}}) == "http://p:1");
}

}  // TEST_SUITE

// ------------------------------------------------------------------ open_tunnel

TEST_SUITE("proxy: the CONNECT exchange") {

TEST_CASE("CONNECT names the target with its port and sends decoded credentials as Basic") {
    fake_proxy proxy;
    auto head = proxy.serve({"HTTP/1.1 200 Connection established\r\n\r\n"});
    auto stream = tunnel(proxy.server("us%40er:p%3Ass"));
    CHECK(head.get() == "CONNECT example.com:9000 HTTP/1.1\r\nHost: example.com:9000\r\n"
                        "Proxy-Authorization: Basic " + syncws::core::base64_encode("us@er:p:ss") + "\r\n\r\n");
    stream->write({"ping"}, clock::now() + 10s);
    CHECK(proxy.read(4) == "ping");
}

TEST_CASE("CONNECT to an IPv6 target brackets it, and a default port is written out") {
    fake_proxy proxy;
    auto head = proxy.serve({"HTTP/1.0 200 OK\r\n\r\n"});
    tunnel(proxy.server(), "wss://[::1]/");
    CHECK(head.get() == "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n");
}

TEST_CASE("an answer split into many writes is read up to its end, and a Content-Length on a 200 is ignored") {
    fake_proxy proxy;
    const std::string answer = "HTTP/1.1 200 Connection established\r\nContent-Length: 5\r\n\r\n";
    std::vector<std::string> pieces;
    for (char c : answer) pieces.emplace_back(1, c);
    auto head = proxy.serve(pieces);
    auto stream = tunnel(proxy.server());
    head.get();
    stream->write({"hello"}, clock::now() + 10s);
    CHECK(proxy.read(5) == "hello");
}

TEST_CASE("bytes after a 200 answer, before we spoke, are a protocol error of the proxy") {
    fake_proxy proxy;
    auto head = proxy.serve({"HTTP/1.1 200 OK\r\n\r\nSURPRISE"});
    const std::string message = error_of([&] { tunnel(proxy.server()); });
    head.get();
    CHECK(message.find("through the proxy http://127.0.0.1:") != std::string::npos);
    CHECK(message.find("unexpected bytes") != std::string::npos);
}

TEST_CASE("a proxy that closes without answering, or answers nonsense, is a clear error") {
    {
        fake_proxy proxy;
        auto head = proxy.serve({}, true);
        const std::string message = error_of([&] { tunnel(proxy.server()); });
        head.get();
        CHECK(message.find("cannot open a tunnel to example.com:9000 through the proxy http://127.0.0.1:") !=
              std::string::npos);
        CHECK(message.find("closed the connection without answering CONNECT") != std::string::npos);
    }
    {
        fake_proxy proxy;
        auto head = proxy.serve({"SSH-2.0-OpenSSH_9.2\r\n\r\n"}, true);
        const std::string message = error_of([&] { tunnel(proxy.server()); });
        head.get();
        CHECK(message.find("not valid HTTP") != std::string::npos);
    }
}

TEST_CASE("a proxy that never answers runs into the deadline: timeout_error naming the proxy") {
    fake_proxy proxy;
    auto head = proxy.serve({});
    try {
        tunnel(proxy.server(), "ws://example.com:9000/", 300ms);
        FAIL("no timeout");
    } catch (const syncws::timeout_error& e) {
        CHECK(std::string(e.what()).find("through the proxy http://127.0.0.1:") != std::string::npos);
        CHECK(std::string(e.what()).find("timed out") != std::string::npos);
    }
    head.get();
}

TEST_CASE("407 says whether credentials were sent and what the proxy asks for, never the password") {
    const std::string answer =
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n"
        "Content-Length: 0\r\n\r\n";
    {
        fake_proxy proxy;
        auto head = proxy.serve({answer});
        const std::string message = error_of([&] { tunnel(proxy.server()); });
        head.get();
        CHECK(message.find("the proxy http://127.0.0.1:") != std::string::npos);
        CHECK(message.find("refused the tunnel to example.com:9000: 407 Proxy Authentication Required") !=
              std::string::npos);
        CHECK(message.find("none were given") != std::string::npos);
        CHECK(message.find("it asks for Basic realm=\"corp\"") != std::string::npos);
    }
    {
        fake_proxy proxy;
        auto head = proxy.serve({answer});
        const std::string message = error_of([&] { tunnel(proxy.server("alice:hunter2")); });
        head.get();
        CHECK(message.find("rejected the credentials") != std::string::npos);
        CHECK(message.find("hunter2") == std::string::npos);
    }
}

}  // TEST_SUITE

// ------------------------------------------------------------------ through tinyproxy

TEST_SUITE("proxy: through tinyproxy") {

TEST_CASE("ws:// through the proxy echoes, and the proxy saw the CONNECT") {
    echo_server server;
    tinyproxy proxy;
    syncws::client_options options;
    options.proxy = proxy.url();
    auto client = syncws::connect(server.uri(), options);
    check_echo(client);
    CHECK(proxy.tunneled_to(server.port()));
}

TEST_CASE("a proxy with Basic auth lets the right credentials through") {
    echo_server server;
    tinyproxy proxy({"alice", "s3cret", {}});
    syncws::client_options options;
    options.proxy = proxy.url("alice:s3cret");
    auto client = syncws::connect(server.uri(), options);
    check_echo(client);
}

TEST_CASE("wrong or missing proxy credentials give a clear 407 (or 401) error") {
    echo_server server;
    tinyproxy proxy({"alice", "s3cret", {}});
    syncws::client_options options;
    options.proxy = proxy.url("alice:wrong-password");
    std::string message = error_of([&] { syncws::connect(server.uri(), options); });
    // tinyproxy 1.11 answers wrong credentials with 401 rather than 407.
    CHECK(message.find("the proxy " + proxy.url() + " refused the tunnel to 127.0.0.1:" +
                       std::to_string(server.port()) + ": 40") != std::string::npos);
    CHECK(message.find("rejected the credentials") != std::string::npos);
    CHECK(message.find("wrong-password") == std::string::npos);

    options.proxy = proxy.url();
    message = error_of([&] { syncws::connect(server.uri(), options); });
    CHECK(message.find("407") != std::string::npos);
    CHECK(message.find("none were given") != std::string::npos);
    CHECK(message.find("Basic realm=") != std::string::npos);
}

TEST_CASE("a proxy that does not allow the port gives a clear 403 error") {
    echo_server server;
    tinyproxy proxy({"", "", {443}});
    syncws::client_options options;
    options.proxy = proxy.url();
    const std::string message = error_of([&] { syncws::connect(server.uri(), options); });
    CHECK(message.find("the proxy " + proxy.url() + " refused the tunnel to 127.0.0.1:" +
                       std::to_string(server.port()) + ": 403") != std::string::npos);
    CHECK(message.find("does not allow") != std::string::npos);
}

TEST_CASE("an unreachable proxy is an error naming the proxy") {
    echo_server server;
    syncws::client_options options;
    const std::string url = "http://127.0.0.1:" + std::to_string(closed_port());
    options.proxy = url;
    const std::string message = error_of([&] { syncws::connect(server.uri(), options); });
    CHECK(message.find("through the proxy " + url + ": cannot connect") != std::string::npos);
}

TEST_CASE("a target the proxy cannot reach is an error naming the proxy, the target and the status") {
    tinyproxy proxy;
    syncws::client_options options;
    options.proxy = proxy.url();
    const std::uint16_t nowhere = closed_port();
    const std::string message =
        error_of([&] { syncws::connect("ws://127.0.0.1:" + std::to_string(nowhere) + "/", options); });
    // tinyproxy answers 500 "Unable to connect"; others say 502 or 503.
    CHECK(message.find("the proxy " + proxy.url() + " could not open a tunnel to 127.0.0.1:" +
                       std::to_string(nowhere) + ": 5") != std::string::npos);
}

TEST_CASE("the proxy is taken from the environment, and no_proxy sends the connection around it") {
    clean_proxy_environment env;
    echo_server server;
    tinyproxy proxy;
    env.set("http_proxy", proxy.url());
    {
        auto client = syncws::connect(server.uri());
        check_echo(client, "via the environment");
    }
    CHECK(proxy.tunneled_to(server.port()));

    echo_server direct;
    env.set("no_proxy", "localhost,127.0.0.0/8");
    {
        auto client = syncws::connect(direct.uri());
        check_echo(client, "around the proxy");
    }
    CHECK_FALSE(proxy.tunneled_to(direct.port()));

    // Proof that the bypass is no accident: the same connection through a proxy that is gone fails.
    env.set("http_proxy", "http://127.0.0.1:" + std::to_string(closed_port()));
    {
        auto client = syncws::connect(direct.uri());
        check_echo(client, "still around");
    }
    ::unsetenv("no_proxy");
    CHECK_THROWS_WITH_AS(syncws::connect(direct.uri()), doctest::Contains("through the proxy"), syncws::error);

    // options.proxy = "" turns the environment off.
    syncws::client_options options;
    options.proxy = "";
    auto client = syncws::connect(direct.uri(), options);
    check_echo(client, "no proxy at all");
}

/// A wss:// echo server on 127.0.0.1 with a certificate signed by the test CA.
syncws::server_options tls_options(const std::string& cert, const std::string& key) {
    syncws::server_options options = echo_server::options();
    options.tls.cert_file = cert;
    options.tls.key_file = key;
    return options;
}

TEST_CASE("wss:// through the proxy: TLS runs end to end inside the tunnel, verified against the test CA") {
    const auto& certificates = test::test_certificates();
    syncws::server server(tls_options(certificates.server_cert, certificates.server_key), echo);
    server.start();
    tinyproxy proxy;
    syncws::client_options options;
    options.proxy = proxy.url();
    options.tls.ca_file = certificates.ca;
    // A host name, resolved by the proxy; SNI and the host-name check use it inside the tunnel.
    auto client = syncws::connect("wss://localhost:" + std::to_string(server.port()) + "/", options);
    check_echo(client, "encrypted through the tunnel");
    CHECK(proxy.tunneled_to(server.port(), "localhost"));
}

TEST_CASE("wss:// takes https_proxy from the environment") {
    clean_proxy_environment env;
    const auto& certificates = test::test_certificates();
    syncws::server server(tls_options(certificates.server_cert, certificates.server_key), echo);
    server.start();
    tinyproxy proxy;
    env.set("http_proxy", "http://127.0.0.1:" + std::to_string(closed_port()));  // not for wss://
    env.set("HTTPS_PROXY", proxy.url());
    syncws::client_options options;
    options.tls.ca_file = certificates.ca;
    auto client = syncws::connect("wss://127.0.0.1:" + std::to_string(server.port()) + "/", options);
    check_echo(client, "via HTTPS_PROXY");
    CHECK(proxy.tunneled_to(server.port()));
}

TEST_CASE("the tunnel does not weaken TLS: a certificate for another host is refused through the proxy") {
    const auto& certificates = test::test_certificates();
    syncws::server server(tls_options(certificates.other_host_cert, certificates.other_host_key), echo);
    server.start();
    tinyproxy proxy;
    syncws::client_options options;
    options.proxy = proxy.url();
    options.tls.ca_file = certificates.ca;
    CHECK_THROWS_AS(syncws::connect("wss://localhost:" + std::to_string(server.port()) + "/", options),
                    syncws::tls_error);
    CHECK(proxy.tunneled_to(server.port(), "localhost"));
}

}  // TEST_SUITE


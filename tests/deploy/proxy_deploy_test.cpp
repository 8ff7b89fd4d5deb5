// Deployment behind real reverse proxies: samples/deploy/nginx.conf and haproxy.cfg, run as
// they are (only their addresses replaced by free ports), in front of two `syncws serve
// --echo` processes. Clients that reconnect with syncws::reconnecting_client go through the
// proxy: the upgrade passes, messages (small and large) come back whole, the proxy spreads
// the connections over both backends, and a backend's restart costs the clients on it one
// reconnection and nothing else.
//
// Meson gives the programs in the environment: SYNCWS_TOOL (the syncws executable),
// SYNCWS_DEPLOY_SAMPLES (samples/deploy), SYNCWS_NGINX and SYNCWS_HAPROXY (empty when not
// installed: the test exits 77, which meson reports as skipped). Not NGINX: nginx reads
// that variable itself, as a list of listening sockets handed over by an upgrade.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>
#include <doctest.h>

#include "../soak/server_process.hpp"
#include "../sync/temp_dir.hpp"
#include "syncws/reconnect.hpp"
#include "syncws/syncws.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

std::string environment(const char* name) {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
}

/// The program named by the environment variable; exits 77 (skipped) if it is not there.
std::string required_program(const char* variable) {
    const std::string path = environment(variable);
    if (path.empty() || ::access(path.c_str(), X_OK) != 0) {
        std::printf("%s is not installed: skipped\n", variable);
        std::exit(77);
    }
    return path;
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = 30s) {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// A port the OS chose and that nobody listens on now. (The proxies cannot be told to take
/// port 0 and say which they got; another process could take it in between, in which case
/// the proxy fails to start and the test says so.)
std::uint16_t free_port() {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    return probe.local_endpoint().port();
}

bool accepts_connections(std::uint16_t port) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    asio::error_code ec;
    socket.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
    return !ec;
}

/// The sample with its three example addresses replaced; each must be in it.
std::string render(const std::string& sample, std::uint16_t listen, std::uint16_t backend_a,
                   std::uint16_t backend_b) {
    std::string text = read_file(sample);
    REQUIRE_MESSAGE(!text.empty(), "cannot read " << sample);
    const auto replace_all = [&](const std::string& from, std::uint16_t port) {
        const std::string to = "127.0.0.1:" + std::to_string(port);
        int found = 0;
        for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
            text.replace(at, from.size(), to);
            ++found;
        }
        REQUIRE_MESSAGE(found > 0, sample << " has no " << from);
    };
    replace_all("127.0.0.1:8080", listen);
    replace_all("127.0.0.1:9001", backend_a);
    replace_all("127.0.0.1:9002", backend_b);
    return text;
}

/// One backend: `syncws serve --echo` on the given port (0: the OS chooses), its stderr in
/// log_path.
std::unique_ptr<soak::server_process> start_backend(const std::string& log_path, std::uint16_t port) {
    auto process = std::make_unique<soak::server_process>(
        required_program("SYNCWS_TOOL"),
        std::vector<std::string>{"serve", "--echo", "--host", "127.0.0.1", "--port", std::to_string(port)},
        std::vector<std::string>{}, log_path, 20s);
    REQUIRE_MESSAGE(process->first_line().rfind("listening on ws://127.0.0.1:", 0) == 0, process->first_line());
    return process;
}

std::uint16_t port_of(const soak::server_process& backend) {
    const std::string& line = backend.first_line();
    return static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
}

/// The WebSocket connections a backend has open: its sockets but the listening one, as the
/// kernel counts them in /proc (the backend's own view, whatever the proxy says).
int connections_of(const soak::server_process& backend) {
    return backend.sample().sockets - 1;
}

/// A proxy in the foreground, stdout and stderr into log_path; stopped with SIGTERM (then
/// SIGKILL after 10 s) when destroyed.
class proxy_process {
public:
    proxy_process(std::vector<std::string> argv, const std::string& log_path, std::uint16_t port)
        : log_path_(log_path) {
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        REQUIRE_MESSAGE(rc == 0, "cannot start " << argv[0] << ": " << std::strerror(rc));
        const bool ready = eventually([&] { return !running() || accepts_connections(port); }, 20s);
        REQUIRE_MESSAGE((ready && running()), argv[0] << " did not start listening on port " << port
                                                      << "; its output:\n" << log());
    }
    ~proxy_process() { stop(); }
    proxy_process(const proxy_process&) = delete;
    proxy_process& operator=(const proxy_process&) = delete;

    bool running() {
        if (pid_ <= 0) return false;
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) pid_ = -1;
        return pid_ > 0;
    }
    void stop() {
        if (!running()) return;
        ::kill(pid_, SIGTERM);
        if (!eventually([&] { return !running(); }, 10s)) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
    }
    std::string log() const { return read_file(log_path_); }

private:
    std::string log_path_;
    pid_t pid_ = -1;
};

/// What one client thread did: it reconnects (reconnecting_client) whenever its connection
/// ends, and on each connection sends a 256 KiB binary message, then a text message every
/// 20 ms, each checked against its echo.
struct client_run {
    std::atomic<int> connections{0};
    std::atomic<int> echoes{0};
    std::mutex mutex;
    std::string failure;  // the first unexpected problem, if any

    void fail(const std::string& why) {
        std::lock_guard<std::mutex> lk(mutex);
        if (failure.empty()) failure = why;
    }
};

void run_client(const std::string& url, syncws::stop_source stop, int index, client_run& run) {
    syncws::client_options options;
    options.settings.open_timeout = 10s;
    syncws::retry_options retry;
    retry.initial_delay = 50ms;
    retry.max_delay = 500ms;
    retry.stop = stop;
    retry.on_retry = [](const std::exception&, int, syncws::duration) {};  // expected: quiet
    const std::string large(256 * 1024, static_cast<char>('a' + index));
    try {
        for (auto& ws : syncws::reconnecting_client(url, options, retry)) {
            ++run.connections;
            try {
                ws.send(syncws::binary(large));
                const auto echoed = ws.recv(20s);
                if (!echoed || echoed->data != large) return run.fail("the large message did not come back whole");
                for (int k = 0; !stop.stop_requested(); ++k) {
                    const std::string text = "client " + std::to_string(index) + " message " + std::to_string(k);
                    ws.send(text);
                    const auto echo = ws.recv(20s);
                    if (!echo) return run.fail("no echo within 20 s");
                    if (echo->data != text) return run.fail("echo '" + echo->data + "' for '" + text + "'");
                    ++run.echoes;
                    std::this_thread::sleep_for(20ms);
                }
            } catch (const syncws::connection_closed&) {
                // The backend went away (1001 from its shutdown) or we are stopping: the
                // range-for connects again, or ends.
            }
        }
    } catch (const std::exception& e) {
        run.fail(std::string("the client gave up: ") + e.what());
    }
}

enum class proxy_kind { nginx, haproxy };

void run_behind_proxy(proxy_kind kind) {
    const std::string program = required_program(kind == proxy_kind::nginx ? "SYNCWS_NGINX" : "SYNCWS_HAPROXY");
    const std::string samples = environment("SYNCWS_DEPLOY_SAMPLES");
    test::temp_dir dir;
    // nginx's temp directories, which temp_dir (files only) does not remove; after the proxy
    // stopped, since this is destroyed after it.
    struct remove_nginx_temp {
        const std::string& dir;
        ~remove_nginx_temp() {
            for (const char* sub : {"client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"})
                std::filesystem::remove_all(dir + "/" + sub);
        }
    } remove_temp{dir.path};

    std::unique_ptr<soak::server_process> a = start_backend(dir.path + "/backend-a.log", 0);
    std::unique_ptr<soak::server_process> b = start_backend(dir.path + "/backend-b.log", 0);
    const std::uint16_t port_a = port_of(*a), port_b = port_of(*b);
    const std::uint16_t listen = free_port();

    std::vector<std::string> argv;
    std::string config;
    if (kind == proxy_kind::nginx) {
        config = dir.path + "/nginx.conf";
        std::ofstream(config) << render(samples + "/nginx.conf", listen, port_a, port_b);
        // Relative paths in the file (pid, logs, temp directories) are under the prefix.
        argv = {program, "-p", dir.path + "/", "-c", config, "-e", "stderr", "-g", "daemon off;"};
    } else {
        config = dir.path + "/haproxy.cfg";
        std::ofstream(config) << render(samples + "/haproxy.cfg", listen, port_a, port_b);
        argv = {program, "-f", config, "-db"};
    }
    std::optional<proxy_process> proxy;
    proxy.emplace(argv, dir.path + "/proxy.log", listen);
    // On failure: what the proxy and the backends said.
    INFO("proxy output:\n" << proxy->log() << "\nnginx error.log:\n" << read_file(dir.path + "/error.log")
                           << "\nbackend a:\n" << read_file(dir.path + "/backend-a.log")
                           << "\nbackend a restarted:\n" << read_file(dir.path + "/backend-a-restarted.log")
                           << "\nbackend b:\n" << read_file(dir.path + "/backend-b.log"));

    const std::string url = "ws://127.0.0.1:" + std::to_string(listen) + "/";
    constexpr int clients = 4;
    syncws::stop_source stop;
    std::vector<client_run> runs(clients);
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i)
        threads.emplace_back(run_client, url, stop, i, std::ref(runs[i]));
    struct joiner {
        syncws::stop_source& stop;
        std::vector<std::thread>& threads;
        ~joiner() {
            stop.request_stop();
            for (auto& t : threads) t.join();
        }
    } join_at_exit{stop, threads};
    const auto failures = [&] {
        std::string all;
        for (auto& run : runs) {
            std::lock_guard<std::mutex> lk(run.mutex);
            if (!run.failure.empty()) all += run.failure + "\n";
        }
        return all;
    };
    const auto every_client = [&](auto condition) {
        for (int i = 0; i < clients; ++i)
            if (!condition(i)) return false;
        return true;
    };

    // Messages flow through the proxy on every connection.
    REQUIRE(eventually([&] { return every_client([&](int i) { return runs[i].echoes >= 3; }); }));
    CHECK(failures() == "");

    // Round robin: both backends serve some of the clients (as each backend counts them).
    int on_a = 0, on_b = 0;
    const bool spread = eventually([&] {
        on_a = connections_of(*a);
        on_b = connections_of(*b);
        return on_a + on_b == clients && on_a >= 1 && on_b >= 1;
    });
    std::cout << "figure: " << clients << " clients through the proxy: " << on_a << " on backend a, " << on_b
              << " on backend b" << std::endl;
    REQUIRE(spread);

    // Backend a restarts on its port: its clients see the connection close (1001), reconnect
    // through the proxy (to b while a is down), and carry on.
    std::vector<int> echoes_before(clients);
    int opened_before = 0;
    for (int i = 0; i < clients; ++i) {
        echoes_before[i] = runs[i].echoes;
        opened_before += runs[i].connections;
    }
    const auto restart_began = std::chrono::steady_clock::now();
    CHECK(a->stop(10s) == "exit status 0");
    a = start_backend(dir.path + "/backend-a-restarted.log", port_a);
    REQUIRE(eventually([&] {
        int opened = 0;
        for (auto& run : runs) opened += run.connections;
        return opened >= opened_before + on_a &&
               every_client([&](int i) { return runs[i].echoes >= echoes_before[i] + 3; });
    }));
    const auto recovered = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - restart_began);
    int opened_after = 0;
    for (auto& run : runs) opened_after += run.connections;
    std::cout << "figure: restart of backend a: " << (opened_after - opened_before)
              << " reconnection(s), every client echoing again after " << recovered.count() << " ms"
              << std::endl;
    CHECK(failures() == "");

    // The restarted backend is back in the rotation: new clients reach it again. nginx
    // leaves out a backend that refused a connection for fail_timeout (2 s in the sample),
    // so new connections (kept open) come one every 250 ms. A count is trusted when it
    // holds twice, 100 ms apart, so that a health check's passing connection does not count.
    const int baseline = connections_of(*a);
    std::vector<syncws::client_connection> probes;
    const bool back = eventually([&] {
        if (connections_of(*a) > baseline) {
            std::this_thread::sleep_for(100ms);
            if (connections_of(*a) > baseline) return true;
        }
        if (probes.size() < 40) {
            probes.push_back(syncws::connect(url));
            probes.back().send("probe");
            REQUIRE(probes.back().recv(20s));
            std::this_thread::sleep_for(250ms);
        }
        return false;
    });
    std::cout << "figure: the restarted backend got a new connection after " << probes.size() << " probe(s)"
              << std::endl;
    CHECK(back);

    stop.request_stop();
    for (auto& t : threads) t.join();
    threads.clear();
    CHECK(failures() == "");
    for (int i = 0; i < clients; ++i)
        std::cout << "figure: client " << i << ": " << runs[i].connections << " connection(s), "
                  << runs[i].echoes << " echoes" << std::endl;
    for (auto& probe : probes) probe.close();
}

}  // namespace

TEST_CASE("nginx passes WebSocket upgrades to both backends round robin and clients survive a backend restart") {
    run_behind_proxy(proxy_kind::nginx);
}

TEST_CASE("haproxy passes WebSocket upgrades to both backends round robin and clients survive a backend restart") {
    run_behind_proxy(proxy_kind::haproxy);
}

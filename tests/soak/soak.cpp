// Soak test: many clients churning against one echo server process for a while, then the
// server must be back where it was before.
//
//   soak --server PATH/soak_echo_server [--config ws|ws+deflate|wss|wss+deflate|all]
//        [--clients N] [--seconds S] [--seed N] [--server-env NAME=VALUE]...
//
// Each configuration gets its own server process (echo_server.cpp: `syncws serve --echo`
// plus a malloc_trim on request), with or without TLS; the clients offer permessage-deflate
// or not. Each goes through:
//   1. startup: the server's threads, descriptors and RSS once it listens;
//   2. warm-up round: every client holds three connections at once, then runs the soak's
//      own load (below) for a quarter of its time, so that the server has been through
//      such a load once: one-time allocations (TLS, zlib, the library's monitor) and the
//      high-water marks (heap, connections open at once) are behind it;
//   3. before: once the server is idle again (every connection closed, every spare worker
//      ended; echo_server.cpp: spare workers end after 3 s idle), and after malloc_trim();
//   4. the soak: every client connects, sends 1 to 4 messages at a time (0 B to 1 MiB,
//      text and binary, whole or fragmented), pings, checks each echo byte for byte and in
//      order, and ends the connection one of five ways (see soak_client.hpp), over and over;
//   5. after: as in 3.
// Before and after are taken in the same state, with no spare worker alive, so that they
// compare the server and not the size of its idle pool. The configurations' loads run one
// after another; only their idle waits overlap (a server that waits for its workers to end
// costs no CPU).
//
// It passes when no message was lost or corrupted and nothing else went wrong, the RSS after
// is within 10% of before, the descriptors are back to before, the threads back to startup,
// the client process has no socket left, and the server exits 0 on SIGTERM. The heap in use
// (glibc's count of allocated bytes) is printed too: it is the figure a leak would move.
// Exit status: 0 when every configuration passed, 1 otherwise, 2 for a usage error.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <syncws/syncws.hpp>

#include "../sync/test_certificates.hpp"
#include "server_process.hpp"
#include "soak_client.hpp"

namespace {

using soak::clock;
using namespace std::chrono_literals;

// Sanitizers change what RSS means: ASan keeps freed memory in quarantine (up to 256 MiB)
// and TSan keeps shadow memory for every byte ever used. Under them the RSS figures are
// printed but not judged; LeakSanitizer, at the server's exit, checks for leaks instead (a
// leak makes the exit status non-zero).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

// Spare workers end after 3 s idle (echo_server.cpp); the monitor thread 1 s after its last
// connection. This bounds the wait for them, with room for a loaded machine.
constexpr auto retire_timeout = 3s + 45s;
// How long the server may take to close every connection after the last client left.
constexpr auto settle_timeout = 60s;
// What the clients may take beyond the end of the run to finish their last connection: an
// echo wait, a close, a cut noticed, each bounded in soak_client.hpp.
constexpr auto finish_grace = 300s;

// glibc settings for the server, so that its RSS shows what it holds rather than what the
// allocator keeps for later:
// - mmap_threshold pinned at its default, 128 KiB. Left alone, glibc raises it to the size
//   of the largest mmapped block freed so far (here a 1 MiB message's buffer) and the trim
//   threshold to twice that, so later large buffers come from the heap and megabytes stay
//   free at the top of each arena. Any explicit value turns that adjustment off.
// - arena_max 1: one heap instead of up to 8 per core. malloc_trim() returns the free top
//   of the main arena only; the other arenas each keep up to trim threshold + top pad
//   (256 KiB) that nothing returns, which varies from one idle moment to the next by more
//   than the 10% this test allows. With glibc's defaults the same server measured anywhere
//   from -29% to +79% between two idle moments while its heap in use moved by 2-6%.
// --server-env replaces this (--server-env GLIBC_TUNABLES= for glibc's own behaviour).
const std::vector<std::string> default_server_environment = {
    "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=1"};

struct configuration {
    std::string name;
    bool tls;
    bool compression;
};

const std::vector<configuration> all_configurations = {
    {"ws", false, false}, {"ws+deflate", false, true}, {"wss", true, false}, {"wss+deflate", true, true}};

struct arguments {
    std::string server;
    std::vector<configuration> configurations;
    int clients = 200;
    int seconds = 60;
    std::uint64_t seed = 1;
    std::vector<std::string> server_environment;
};

[[noreturn]] void usage(const std::string& problem) {
    std::cerr << "soak: " << problem
              << "\nusage: soak --server PATH [--config ws|ws+deflate|wss|wss+deflate|all] [--clients N]\n"
                 "            [--seconds S] [--seed N] [--server-env NAME=VALUE]...\n";
    std::exit(2);
}

arguments parse(int argc, char** argv) {
    arguments args;
    std::string config = "all";
    for (int i = 1; i < argc; ++i) {
        const std::string name = argv[i];
        if (i + 1 >= argc) usage("option " + name + " needs a value");
        const std::string value = argv[++i];
        try {
            if (name == "--server") args.server = value;
            else if (name == "--config") config = value;
            else if (name == "--clients") args.clients = std::stoi(value);
            else if (name == "--seconds") args.seconds = std::stoi(value);
            else if (name == "--seed") args.seed = std::stoull(value);
            else if (name == "--server-env") args.server_environment.push_back(value);
            else usage("unknown option " + name);
        } catch (const std::logic_error&) {
            usage("option " + name + " needs a number, not '" + value + "'");
        }
    }
    if (args.server.empty()) usage("--server is required");
    if (args.server_environment.empty()) args.server_environment = default_server_environment;
    if (args.clients < 1 || args.seconds < 1) usage("--clients and --seconds must be at least 1");
    for (const auto& c : all_configurations)
        if (config == "all" || config == c.name) args.configurations.push_back(c);
    if (args.configurations.empty()) usage("unknown configuration '" + config + "'");
    return args;
}

// Ends the process if a phase overruns its deadline: a soak test must never hang, and a
// hang is a finding, so it says where it was.
class watchdog {
public:
    watchdog(std::chrono::seconds limit, std::string phase)
        : thread_([this, limit, phase = std::move(phase)] {
              std::unique_lock<std::mutex> lk(mutex_);
              if (done_cv_.wait_for(lk, limit, [this] { return done_; })) return;
              std::cerr << "soak: FAILED: " << phase << " did not end within " << limit.count()
                        << " s (a hang); stopping" << std::endl;
              soak::server_process::kill_all();
              std::_Exit(1);
          }) {}
    ~watchdog() {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            done_ = true;
        }
        done_cv_.notify_all();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable done_cv_;
    bool done_ = false;
    std::thread thread_;
};

// The server's state once it has settled after printing where it listens: `syncws serve`
// starts its signal-handling thread just after that line, so a sample taken at once could
// miss it. Waits until the thread count stayed the same for a second (at most 10 s).
soak::process_sample steady_sample(const soak::server_process& server) {
    const auto deadline = clock::now() + 10s;
    soak::process_sample last = server.sample();
    auto stable_since = clock::now();
    while (clock::now() - stable_since < 1s && clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
        const soak::process_sample now = server.sample();
        if (now.threads != last.threads) stable_since = clock::now();
        last = now;
    }
    return last;
}

// Waits until the server holds no more sockets and threads than at startup: every
// connection closed, every spare worker and the monitor thread ended. False at the deadline.
bool wait_until_idle(const soak::server_process& server, const soak::process_sample& startup,
                     clock::duration limit) {
    const auto deadline = clock::now() + limit;
    for (;;) {
        const soak::process_sample now = server.sample();
        if (now.sockets <= startup.sockets && now.threads <= startup.threads) return true;
        if (clock::now() >= deadline) return false;
        std::this_thread::sleep_for(250ms);
    }
}

// Waits until the server has closed every connection (its pool of idle workers may remain).
bool wait_until_connections_closed(const soak::server_process& server, const soak::process_sample& startup) {
    const auto deadline = clock::now() + settle_timeout;
    while (server.sample().sockets > startup.sockets) {
        if (clock::now() >= deadline) return false;
        std::this_thread::sleep_for(100ms);
    }
    return true;
}

// The most connections the server held at once during a phase, sampled from its sockets
// every 200 ms.
class connection_peak {
public:
    connection_peak(const soak::server_process& server, int listening_sockets)
        : thread_([this, &server, listening_sockets] {
              std::unique_lock<std::mutex> lk(mutex_);
              while (!stop_cv_.wait_for(lk, 200ms, [this] { return stopping_; }))
                  peak_ = std::max(peak_, server.sample().sockets - listening_sockets);
          }) {}
    ~connection_peak() { stop(); }
    int stop() {
        {
            std::lock_guard<std::mutex> lk(mutex_);
            stopping_ = true;
        }
        stop_cv_.notify_all();
        if (thread_.joinable()) thread_.join();
        return peak_;
    }

private:
    std::mutex mutex_;
    std::condition_variable stop_cv_;
    bool stopping_ = false;
    int peak_ = 0;
    std::thread thread_;
};

// Log lines of the client library (warnings and errors only), counted; a few kept.
struct client_log {
    std::atomic<std::uint64_t> lines{0};
    std::mutex mutex;
    std::vector<std::string> examples;

    syncws::logger logger() {
        return [this](syncws::log_level level, std::string_view message, std::uint64_t connection) {
            if (level < syncws::log_level::warning) return;
            ++lines;
            std::lock_guard<std::mutex> lk(mutex);
            if (examples.size() < 5)
                examples.push_back(std::string(syncws::to_string(level)) + " c" + std::to_string(connection) + ": " +
                                   std::string(message));
        };
    }
};

void run_clients(int count, const std::function<void(int)>& body) {
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) threads.emplace_back(body, i);
    for (auto& t : threads) t.join();
}

std::string mib(long kib) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(kib) / 1024.0);
    return text;
}

std::string kib(unsigned long bytes) { return std::to_string(bytes / 1024) + " KiB"; }

std::string gib(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
    return text;
}

std::string percent_change(long from, long to) {
    char text[32];
    std::snprintf(text, sizeof text, "%+.1f%%",
                  from > 0 ? 100.0 * static_cast<double>(to - from) / static_cast<double>(from) : 0.0);
    return text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// An idle server: /proc before and after malloc_trim(), and glibc's heap figures.
struct idle_figures {
    soak::process_sample untrimmed;
    unsigned long heap_in_use = 0;   ///< bytes in chunks handed out (mallinfo2 uordblks)
    unsigned long heap_mmapped = 0;  ///< bytes in blocks mmapped on their own (hblkhd)
    soak::process_sample trimmed;
};

// One configuration, from server start to server exit, in phases that main() interleaves
// with the other configurations'. A phase that throws marks the run failed; the later
// phases then do nothing.
class configuration_run {
public:
    configuration_run(configuration config, const arguments& args, std::string log_path)
        : config_(std::move(config)), args_(args), log_path_(std::move(log_path)) {}

    /// Starts the server and runs the warm-up round.
    void start_and_warm_up() {
        guarded([&] {
            std::vector<std::string> server_args;
            plan_.compression = config_.compression;
            plan_.seed = args_.seed;
            plan_.options.proxy = "";  // loopback only, whatever the environment says
            plan_.options.compression.enabled = config_.compression;
            if (config_.tls) {
                const test::certificates& certs = test::test_certificates();
                server_args.insert(server_args.end(), {"--tls-cert", certs.server_cert, "--tls-key", certs.server_key});
                plan_.options.tls.ca_file = certs.ca;
            }
            plan_.options.settings.logger = log_.logger();
            // As the server's (echo_server.cpp): a minute, so that only a stuck connection,
            // not one slowed by two crowded cores, runs out of time.
            plan_.options.settings.open_timeout = 60s;
            plan_.options.settings.close_timeout = 60s;
            plan_.options.settings.send_timeout = 60s;
            plan_.options.settings.ping_timeout = 60s;
            server_ = std::make_unique<soak::server_process>(args_.server, server_args, args_.server_environment,
                                                             log_path_, 30s);
            const std::string& line = server_->first_line();
            if (line.rfind("listening on ", 0) != 0 || line.find("://") == std::string::npos)
                throw std::runtime_error("unexpected first line from the server: " + line);
            plan_.uri = line.substr(13) + "/soak";
            startup_ = steady_sample(*server_);

            // The warm-up round: every client holds three connections at once, then runs the
            // soak's own load for a quarter of its time (3 s at least). "Before" is then a
            // server that has been through such a load once, and through more connections
            // at once than the soak will open: memory sized by that number (Asio's pool of
            // per-descriptor state, which never shrinks) is already there. Without the
            // three at once, the soak's own peak added up to 137 KiB to the heap in use,
            // and, scattered between a compressing server's large buffers, each such small
            // block kept a page resident after malloc_trim: up to +25% RSS.
            const auto warm_up_time = std::chrono::seconds(std::max(3, args_.seconds / 4));
            const watchdog guard(warm_up_time + finish_grace, config_.name + ": the warm-up round");
            plan_.end = clock::now() + warm_up_time;
            connection_peak peak(*server_, startup_.sockets);
            run_clients(args_.clients, [&](int i) {
                soak::client c(i + 2 * args_.clients, plan_, warm_up_counts_);
                c.hold_several(3);
                c.run();
            });
            warm_up_peak_ = peak.stop();
        });
    }

    /// Waits until the server is idle and takes the "before" sample.
    void measure_before() {
        guarded([&] {
            require(wait_until_idle(*server_, startup_, settle_timeout + retire_timeout),
                    "the server did not return to its startup sockets and threads after the warm-up");
            before_ = measure_idle();
        });
    }

    /// The soak itself; then waits until the server has closed every connection.
    void soak() {
        guarded([&] {
            std::cout << config_.name << ": " << args_.clients << " clients for " << args_.seconds << " s"
                      << std::endl;
            const auto started = clock::now();
            {
                const watchdog guard(std::chrono::seconds(args_.seconds) + finish_grace, config_.name + ": the soak");
                connection_peak peak(*server_, startup_.sockets);
                plan_.end = started + std::chrono::seconds(args_.seconds);
                run_clients(args_.clients, [&](int i) { soak::client(i + args_.clients, plan_, counts_).run(); });
                soak_peak_ = peak.stop();
            }
            elapsed_ = std::chrono::duration<double>(clock::now() - started).count();
            require(wait_until_connections_closed(*server_, startup_),
                    "the server still held connection sockets " + std::to_string(settle_timeout.count()) +
                        " s after the last client left");
            just_after_ = server_->sample();
        });
    }

    /// Waits until the server is idle, takes the "after" sample, stops the server, prints
    /// the summary and judges. True if the configuration passed.
    bool finish() {
        guarded([&] {
            const bool idle = wait_until_idle(*server_, startup_, settle_timeout + retire_timeout);
            after_ = measure_idle();
            judge(idle);
        });
        // Whatever happened, the summary and the problems seen so far are printed.
        if (server_) ended_ = server_->stop(30s);
        server_log_ = read_file(log_path_);
        require(ended_ == "exit status 0", "the server did not stop cleanly on SIGTERM: " + ended_);
        print_summary();
        for (const auto& f : failures_) std::cout << "FAILED: " << config_.name << ": " << f << "\n";
        std::cout << config_.name << ": " << (failures_.empty() ? "PASSED" : "FAILED") << "\n" << std::endl;
        return failures_.empty();
    }

private:
    // An idle server's figures, before and after it returned its free heap to the OS.
    idle_figures measure_idle() {
        idle_figures f;
        f.untrimmed = server_->sample();
        const std::string line = server_->ask(SIGUSR1, 30s);
        if (std::sscanf(line.c_str(), "heap in_use=%lu mmapped=%lu", &f.heap_in_use, &f.heap_mmapped) != 2)
            throw std::runtime_error("unexpected answer to SIGUSR1 from the server: " + line);
        f.trimmed = server_->sample();
        return f;
    }

    std::string heap_summary() const {
        if (!rss_is_meaningful) return "n/a (a sanitizer's allocator replaces glibc's)";
        return "in use before " + kib(before_.heap_in_use) + ", after " + kib(after_.heap_in_use) + " (" +
               percent_change(static_cast<long>(before_.heap_in_use), static_cast<long>(after_.heap_in_use)) +
               "); mmapped blocks before " + kib(before_.heap_mmapped) + ", after " + kib(after_.heap_mmapped);
    }

    template <class F>
    void guarded(F phase) {
        if (!failures_.empty()) return;
        try {
            phase();
        } catch (const std::exception& e) {
            failures_.push_back(e.what());
        }
    }

    void require(bool ok, const std::string& what) {
        if (!ok) failures_.push_back(what);
    }

    void print_summary() const {
        const auto& c = counts_;
        const auto& w = warm_up_counts_;
        std::cout << "=== " << config_.name << ": " << args_.clients << " clients for " << args_.seconds << " s\n"
                  << "warm-up            " << w.connections << " connections (at most " << warm_up_peak_
                  << " open at once in the server), " << w.echoes_verified << " echoes verified, " << w.problems
                  << " problems\n"
                  << "connections        " << c.connections << " (" << static_cast<double>(c.connections) / elapsed_
                  << " per second; at most " << soak_peak_ << " open at once in the server)\n"
                  << "messages sent      " << c.messages_sent << " (" << c.text_messages << " text, " << c.binary_messages
                  << " binary, " << c.fragmented << " fragmented), " << gib(c.bytes_sent) << "\n"
                  << "echoes verified    " << c.echoes_verified << ", " << gib(c.bytes_verified) << "\n"
                  << "pings              " << c.pings << " sent, each waited for its pong (and " << c.pongs_sent
                  << " unsolicited pongs sent)\n"
                  << "clean closes       " << c.clean_closes << " after every echo, " << c.closes_in_flight
                  << " with echoes in flight (" << c.unanswered_at_close
                  << " messages of those overtaken by the server's close frame)\n"
                  << "abrupt disconnects " << c.cuts_fin + c.cuts_reset << " (" << c.cuts_fin << " FIN, " << c.cuts_reset
                  << " RST; " << c.echoes_after_cut << " echoes still received intact); " << c.destroyed_mid_message
                  << " connections destroyed mid-message\n"
                  << "messages lost      " << c.lost << "\n"
                  << "messages corrupted " << c.corrupted << " (wrong bytes, type or order)\n"
                  << "problems           " << c.problems << " in all (lost and corrupted included)\n"
                  << "server RSS         startup " << mib(startup_.rss_kib) << ", before " << mib(before_.trimmed.rss_kib)
                  << ", after " << mib(after_.trimmed.rss_kib) << " ("
                  << percent_change(before_.trimmed.rss_kib, after_.trimmed.rss_kib)
                  << "), idle and after malloc_trim; untrimmed: before " << mib(before_.untrimmed.rss_kib)
                  << ", just after the clients left " << mib(just_after_.rss_kib) << ", after "
                  << mib(after_.untrimmed.rss_kib) << "\n"
                  << "server RSS parts   anonymous before " << mib(before_.trimmed.rss_anon_kib) << ", after "
                  << mib(after_.trimmed.rss_anon_kib) << "; file-backed (code) before "
                  << mib(before_.trimmed.rss_file_kib) << ", after " << mib(after_.trimmed.rss_file_kib) << "\n"
                  << "server heap        " << heap_summary() << "\n"
                  << "server threads     startup " << startup_.threads << ", before " << before_.trimmed.threads
                  << ", just after the clients left " << just_after_.threads << ", after " << after_.trimmed.threads
                  << "\n"
                  << "server fds         startup " << startup_.fds << ", before " << before_.trimmed.fds
                  << ", just after the clients left " << just_after_.fds << ", after " << after_.trimmed.fds << "\n"
                  << "client log         " << log_.lines << " warning/error line(s)\n"
                  << "server             " << ended_ << " on SIGTERM; "
                  << std::count(server_log_.begin(), server_log_.end(), '\n') << " line(s) on stderr\n";
        for (const auto& e : log_.examples) std::cout << "  client log: " << e << "\n";
        std::istringstream lines(server_log_);
        std::string l;
        for (int n = 0; n < 5 && std::getline(lines, l); ++n) std::cout << "  server log: " << l << "\n";
        for (const auto& p : w.examples()) std::cout << "  problem in the warm-up: " << p << "\n";
        for (const auto& p : c.examples()) std::cout << "  problem: " << p << "\n";
    }

    void judge(bool idle) {
        const auto& c = counts_;
        require(c.lost == 0, std::to_string(c.lost.load()) + " message(s) lost");
        require(c.corrupted == 0, std::to_string(c.corrupted.load()) + " message(s) corrupted");
        require(c.problems == 0, std::to_string(c.problems.load()) + " problem(s), listed above");
        require(warm_up_counts_.problems == 0,
                std::to_string(warm_up_counts_.problems.load()) + " problem(s) in the warm-up, listed above");
        // The run must have done what it claims, or passing would mean nothing.
        require(c.connections > static_cast<std::uint64_t>(args_.clients) &&
                    c.echoes_verified > 0 && c.clean_closes > 0 && c.closes_in_flight > 0 && c.cuts_fin > 0 &&
                    c.cuts_reset > 0 && c.destroyed_mid_message > 0 && c.pings > 0,
                "the run did not exercise every kind of connection ending");
        if (rss_is_meaningful) {
            const auto& b = before_.trimmed;
            const auto& a = after_.trimmed;
            require(static_cast<double>(a.rss_kib) <= 1.10 * static_cast<double>(b.rss_kib),
                    "the server's RSS grew by more than 10% (" + mib(b.rss_kib) + " -> " + mib(a.rss_kib) + ")");
        } else {
            std::cout << "  (RSS not judged: under a sanitizer, freed memory stays in quarantine or shadow)\n";
        }
        // Compared with before, not startup: the first connection creates the library's
        // monitor (an epoll descriptor), which lives as long as the process.
        require(after_.trimmed.fds == before_.trimmed.fds,
                "the server's descriptors did not return to their level before the run (" +
                    std::to_string(before_.trimmed.fds) + " -> " + std::to_string(after_.trimmed.fds) + ")");
        require(idle && after_.trimmed.threads == startup_.threads,
                "the server's threads did not return to their startup count (" + std::to_string(startup_.threads) +
                    " -> " + std::to_string(after_.trimmed.threads) + ") within " +
                    std::to_string((settle_timeout + retire_timeout).count()) + " s");
    }

    configuration config_;
    const arguments& args_;
    std::string log_path_;
    soak::client_plan plan_;
    soak::tally warm_up_counts_, counts_;
    client_log log_;
    std::unique_ptr<soak::server_process> server_;
    double elapsed_ = 1;
    int warm_up_peak_ = 0, soak_peak_ = 0;
    soak::process_sample startup_, just_after_;
    idle_figures before_, after_;
    std::string ended_, server_log_;
    std::vector<std::string> failures_;
};

}  // namespace

int main(int argc, char** argv) {
    const arguments args = parse(argc, argv);
    char directory[] = "/tmp/syncws-soak-XXXXXX";
    if (::mkdtemp(directory) == nullptr) {
        std::perror("soak: mkdtemp");
        return 1;
    }
    const int own_sockets = soak::sample_process(::getpid()).sockets;
    std::vector<std::unique_ptr<configuration_run>> runs;
    for (const auto& config : args.configurations)
        runs.push_back(std::make_unique<configuration_run>(config, args, std::string(directory) + "/" + config.name + ".log"));

    // Loads one after another; the waits for idle servers overlap.
    for (auto& run : runs) run->start_and_warm_up();
    for (auto& run : runs) run->measure_before();
    for (auto& run : runs) run->soak();
    // Every client connection is over: the client library must close every socket. Its
    // monitor thread may hold a closed connection until its next tick, so this waits a
    // little (at most 10 s) before counting.
    const auto deadline = clock::now() + 10s;
    while (soak::sample_process(::getpid()).sockets > own_sockets && clock::now() < deadline)
        std::this_thread::sleep_for(50ms);
    const int client_sockets = soak::sample_process(::getpid()).sockets - own_sockets;
    std::cout << "client process: " << client_sockets << " socket(s) left open\n" << std::endl;
    int failed = client_sockets == 0 ? 0 : 1;
    for (auto& run : runs)
        if (!run->finish()) ++failed;

    for (const auto& config : args.configurations) ::unlink((std::string(directory) + "/" + config.name + ".log").c_str());
    ::rmdir(directory);
    if (client_sockets != 0) std::cout << "FAILED: " << client_sockets << " client socket(s) left open\n";
    std::cout << args.configurations.size() + (client_sockets != 0) - failed << " passed, " << failed << " failed"
              << std::endl;
    return failed == 0 ? 0 : 1;
}

// load_generator: the client side of the echo benchmarks (bench/run.py drives it).
//
//   load_generator URL [options]       URL: tcp://H:P (raw echo), ws://H:P/, wss://H:P/
//                                      (tls://H:P: raw echo over TLS)
//   --scenario echo|connect|idle  echo (default): messages echoed on each connection;
//                                 connect: connect, handshake, one echo, close, repeat;
//                                 idle: open the connections, print one line, hold them
//                                 until stdin ends
//   --connections N   connections (echo, idle; default 1)
//   --in-flight K     messages outstanding per connection (default 1: strict ping-pong);
//                     over TLS with fewer connections than CPUs, a connection with K > 1
//                     has a writer thread and a reader thread
//   --size BYTES      message size (default 32); --payload binary|utf8|json (default binary)
//   --threads N       connect: threads doing connection cycles (default 4)
//   --seconds S       measured time (default 3); --warmup S (default 0.5)
//   --client lean|syncws   our minimal client (default) or the syncws library's
//   --deflate         offer permessage-deflate
//
// Prints one JSON object: rates over the measured window, round-trip percentiles, the
// client's own CPU use, and the compression ratio seen on the wire. Every echo is checked
// byte for byte; any difference or failure exits with status 1 and the reason on stderr.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "payloads.hpp"
#include "session.hpp"
#include "transport.hpp"

namespace loadgen {
namespace {

struct options {
    target where;
    std::string scenario = "echo";
    std::size_t connections = 1;
    std::size_t in_flight = 1;
    std::size_t size = 32;
    payload_kind payload = payload_kind::binary;
    std::size_t threads = 4;
    double seconds = 3;
    double warmup = 0.5;
    bool syncws_client = false;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr, "load_generator: %s\n(see the comment at the top of main.cpp)\n",
                 problem.c_str());
    std::exit(2);
}

options parse_options(int argc, char** argv) {
    options o;
    std::string url;
    bool deflate = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--scenario") o.scenario = value();
        else if (arg == "--connections") o.connections = std::stoul(value());
        else if (arg == "--in-flight") o.in_flight = std::stoul(value());
        else if (arg == "--size") o.size = std::stoul(value());
        else if (arg == "--payload") o.payload = parse_payload_kind(value());
        else if (arg == "--threads") o.threads = std::stoul(value());
        else if (arg == "--seconds") o.seconds = std::stod(value());
        else if (arg == "--warmup") o.warmup = std::stod(value());
        else if (arg == "--client") o.syncws_client = value() == "syncws";
        else if (arg == "--deflate") deflate = true;
        else if (arg.rfind("--", 0) == 0) usage("unknown option " + arg);
        else url = arg;
    }
    if (url.empty()) usage("missing URL");
    o.where = parse_target(url);
    o.where.deflate = deflate;
    if (o.scenario != "echo" && o.scenario != "connect" && o.scenario != "idle")
        usage("unknown scenario " + o.scenario);
    if (o.connections == 0 || o.in_flight == 0 || o.threads == 0) usage("counts must be positive");
    return o;
}

// The first failure of any thread; the run goes on to its end, then reports it.
class first_error {
public:
    void set(const std::string& what) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (what_.empty()) what_ = what;
    }
    std::string get() {
        std::lock_guard<std::mutex> lock(mutex_);
        return what_;
    }

private:
    std::mutex mutex_;
    std::string what_;
};

double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void sleep_for(double seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

double percentile_us(std::vector<std::uint32_t>& samples, double fraction) {
    if (samples.empty()) return 0;
    const auto k = static_cast<std::size_t>(fraction * static_cast<double>(samples.size() - 1));
    std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(k), samples.end());
    return samples[k] / 1000.0;
}

struct window {
    double seconds = 0;
    double client_cpu = 0;  // CPU seconds of this process while measuring
};

// Waits for every thread to be connected, then warm-up, then the measured window.
window run_phases(const options& o, run_control& run, std::size_t threads, first_error& error) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (run.ready.load() < threads) {
        if (std::chrono::steady_clock::now() > give_up) error.set("connections not ready after 30 s");
        if (!error.get().empty()) break;
        sleep_for(0.001);
    }
    window w;
    if (!error.get().empty()) {
        run.now = phase::stop;
        return w;
    }
    sleep_for(o.warmup);
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    run.now = phase::measure;
    sleep_for(o.seconds);
    run.now = phase::stop;
    w.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    w.client_cpu = cpu_seconds() - cpu0;
    return w;
}

// Runs `work(i, stats)` on `n` threads through the phases; returns the merged counts.
template <class Work>
session_stats run_threads(const options& o, std::size_t n, run_control& run, window& w, Work work) {
    std::vector<session_stats> stats(n);
    first_error error;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            try {
                work(i, stats[i]);
            } catch (const std::exception& e) {
                error.set(e.what());
                ++run.ready;  // so that the main thread does not wait for this one
            }
        });
    }
    w = run_phases(o, run, n, error);
    for (std::thread& t : threads) t.join();
    if (const std::string what = error.get(); !what.empty()) throw bench_error(what);
    session_stats all;
    for (const session_stats& s : stats) all.merge(s);
    return all;
}

session_stats run_echo(const options& o, const payload_set& payloads, run_control& run, window& w) {
    // Fewer connections than CPUs, pipelined, over TLS: one thread per connection would be
    // the limit (it does all the client's cryptography), so a writer and a reader thread
    // share each one (split_tls.hpp).
    const bool duplex = o.in_flight > 1 && o.connections < std::thread::hardware_concurrency();
    tls_client_context tls(duplex);
    return run_threads(o, o.connections, run, w, [&](std::size_t i, session_stats& stats) {
        if (o.syncws_client) return run_syncws_echo(o.where, payloads, o.in_flight, run, stats);
        lean_connection c(o.where, payloads, &tls, 0x1234567 + i);
        ++run.ready;
        c.run_echo(o.in_flight, run, stats);
    });
}

// Each cycle is a new connection: TCP (and TLS) connect, handshake, one echo, close.
session_stats run_connect(const options& o, const payload_set& payloads, run_control& run, window& w) {
    tls_client_context tls;
    return run_threads(o, o.threads, run, w, [&](std::size_t i, session_stats& stats) {
        ++run.ready;
        rtt_clock cycle(1);
        for (std::uint64_t seed = i; run.now.load(std::memory_order_relaxed) != phase::stop; seed += 64) {
            cycle.sent();
            lean_connection c(o.where, payloads, &tls, seed);
            c.echo_once();
            c.close();
            cycle.completed(1, run, stats);
        }
    });
}

void print_result(const options& o, const payload_set& payloads, session_stats& s, const window& w) {
    double mean_size = 0;
    for (const std::string& v : payloads.variants) mean_size += static_cast<double>(v.size());
    mean_size /= static_cast<double>(payloads.variants.size());
    const double rate = static_cast<double>(s.measured) / w.seconds;
    const double p50 = percentile_us(s.rtt_ns, 0.50), p99 = percentile_us(s.rtt_ns, 0.99);
    const double ratio = s.wire_bytes && s.payload_bytes
                             ? static_cast<double>(s.wire_bytes) / static_cast<double>(s.payload_bytes)
                             : 0;
    std::printf("{\"scenario\": \"%s\", \"client\": \"%s\", \"messages\": %llu, \"total\": %llu, "
                "\"seconds\": %.4f, \"rate\": %.1f, \"mb_per_s\": %.2f, \"p50_us\": %.2f, "
                "\"p99_us\": %.2f, \"client_cpu\": %.3f, \"client_cpu_us_per_op\": %.3f, "
                "\"wire_ratio\": %.4f, \"mean_size\": %.0f}\n",
                o.scenario.c_str(), o.syncws_client ? "syncws" : "lean",
                static_cast<unsigned long long>(s.measured), static_cast<unsigned long long>(s.total),
                w.seconds, rate, rate * mean_size / 1e6, p50, p99, w.client_cpu / w.seconds,
                s.measured ? w.client_cpu * 1e6 / static_cast<double>(s.measured) : 0, ratio, mean_size);
}

// Opens the connections one after another, each with one echo so that the server's
// handler is surely running; then holds them while the runner looks at the server.
void run_idle(const options& o, const payload_set& payloads) {
    tls_client_context tls;
    std::vector<std::unique_ptr<lean_connection>> held;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < o.connections; ++i) {
        held.push_back(std::make_unique<lean_connection>(o.where, payloads, &tls, i));
        held.back()->echo_once();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("{\"scenario\": \"idle\", \"ready\": %zu, \"seconds\": %.3f}\n", held.size(), seconds);
    std::fflush(stdout);
    char byte;
    while (::read(STDIN_FILENO, &byte, 1) > 0) {
    }
}

int run(const options& o) {
    // JSON: enough variants that a compressor's window does not see the same message again.
    // Large messages: two, so that the client's copies stay in cache and it stays light.
    const std::size_t variants = o.payload == payload_kind::json ? 64 : o.size > 64 * 1024 ? 2 : 8;
    const payload_set payloads = make_payloads(o.payload, o.size, variants);
    if (o.scenario == "idle") {
        run_idle(o, payloads);
        return 0;
    }
    run_control run;
    window w;
    session_stats stats = o.scenario == "connect" ? run_connect(o, payloads, run, w)
                                                  : run_echo(o, payloads, run, w);
    print_result(o, payloads, stats, w);
    return 0;
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
    const loadgen::options o = loadgen::parse_options(argc, argv);
    try {
        return loadgen::run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "load_generator: %s\n", e.what());
        return 1;
    }
}

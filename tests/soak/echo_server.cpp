// The server the soak test measures: `syncws serve --echo` (the same handler on the same
// syncws::server), plus one thing the command-line tool has no reason to offer. On SIGUSR1
// it returns the allocator's free memory to the OS (malloc_trim) and prints the heap's
// figures, so that the soak test can tell memory the server holds from memory glibc merely
// keeps. Without the trim, glibc keeps the freed chunks that lie between live ones; after a
// soak that is tens of MiB of RSS while the heap in use stays under 1 MiB, which no RSS
// comparison could tell from a leak.
//
//   soak_echo_server [--tls-cert FILE --tls-key FILE]
//
// Listens on 127.0.0.1 with a port the OS chooses and prints "listening on ws://ADDRESS"
// (wss:// with TLS). On SIGUSR1: "heap in_use=BYTES mmapped=BYTES" after the trim. On
// SIGINT or SIGTERM: shuts down (connections closed with 1001) and exits 0. Its deadlines
// are longer than the defaults (see below). It also gets SIGTERM when the soak test that
// started it ends, however that ends.

#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <syncws/syncws.hpp>

namespace {

void print_line(const std::string& line) {
    std::fputs((line + "\n").c_str(), stdout);
    std::fflush(stdout);  // the soak test waits for each line
}

}  // namespace

int main(int argc, char** argv) {
    syncws::server_options options;
    options.host = "127.0.0.1";
    options.port = 0;
    // Hundreds of connections share two cores (with whatever else runs there): deadlines
    // of a minute instead of the defaults' 10-30 s, so that only a stuck connection, not a
    // slow one, runs out of time. Keepalive pings still go out every 20 s.
    options.settings.open_timeout = std::chrono::seconds(60);
    options.settings.close_timeout = std::chrono::seconds(60);
    options.settings.send_timeout = std::chrono::seconds(60);
    options.settings.ping_timeout = std::chrono::seconds(60);
    // The test compares the idle server before and after, with no spare worker left: a
    // short wait for them rather than the default's 30 s twice. Long enough that the
    // workers stay warm while clients churn.
    options.idle_worker_timeout = std::chrono::seconds(3);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--tls-cert") == 0) {
            options.tls.cert_file = argv[i + 1];
        } else if (std::strcmp(argv[i], "--tls-key") == 0) {
            options.tls.key_file = argv[i + 1];
        } else {
            std::fprintf(stderr, "usage: soak_echo_server [--tls-cert FILE --tls-key FILE]\n");
            return 2;
        }
    }

    // Blocked in every thread (the server's threads inherit the mask) and taken by
    // sigwait() below, where calling shutdown() and malloc_trim() is safe.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    // The soak test stops this server from a destructor, which a soak test that dies (a
    // sanitizer's halt_on_error, SIGKILL, a crash) never runs: the server would be left
    // running, holding its port and its threads. The kernel sends SIGTERM instead when the
    // thread that started the server ends: the soak test's main thread, which starts every
    // server and outlives them all.
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
        std::perror("soak_echo_server: prctl(PR_SET_PDEATHSIG)");
        return 1;
    }

    try {
        syncws::server server(options, [](syncws::server_connection& ws) {
            // As `syncws serve --echo`: every message back to its sender, until the peer
            // leaves. A connection_closed ends the handler quietly (server.hpp); anything
            // else is logged by the server, and the soak test reports the server's log.
            for (;;) ws.send(ws.recv());
        });
        print_line(std::string("listening on ") + (options.tls.enabled() ? "wss://" : "ws://") + server.address());
        server.start();
        for (;;) {
            int signal_number = 0;
            sigwait(&signals, &signal_number);
            if (signal_number != SIGUSR1) break;
            malloc_trim(0);
            const struct mallinfo2 heap = mallinfo2();
            print_line("heap in_use=" + std::to_string(heap.uordblks) + " mmapped=" + std::to_string(heap.hblkhd));
        }
        server.shutdown();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "soak_echo_server: %s\n", e.what());
        return 1;
    }
    return 0;
}

// Pushing updates from a worker thread to every connected client, the way a legacy threaded
// application does it: the worker knows nothing about WebSocket, it just produces values.
// usage: ticker_server [PORT] [INTERVAL_MS]
//
// Every client gets the latest value as soon as it connects, then each new one as the worker
// produces it ("tick 1", "tick 2" ...). Stops on Ctrl-C or SIGTERM.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include <syncws/syncws.hpp>

int main(int argc, char** argv) {
    sigset_t stop_signals;  // blocked in every thread; the main thread waits for them below
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::server_options options;
    options.host = "127.0.0.1";
    options.port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8765);
    const std::chrono::milliseconds interval(argc > 2 ? std::atoi(argv[2]) : 1000);
    // broadcast() sends to one client after another, so a client that stops reading delays
    // the others until its send times out (then it is dropped): keep that short for a feed.
    options.settings.send_timeout = std::chrono::seconds(5);

    // The latest value, written by the worker and read by each new client's handler. A
    // client that connects during a broadcast may get one tick twice (from the broadcast and
    // as its first value), but never an older tick after a newer one.
    std::mutex latest_mutex;
    std::string latest = "no tick yet";

    syncws::server server(options, [&](syncws::server_connection& ws) {
        {
            std::lock_guard<std::mutex> lock(latest_mutex);
            ws.send(latest);
        }
        // The handler only has to keep the connection open: broadcast() does the sending.
        // Reading until the client leaves also answers its pings and its close.
        for (auto& message : ws) (void)message;
    });
    server.start();
    std::cout << "listening on ws://" << server.address() << std::endl;

    std::atomic<bool> running{true};
    std::thread worker([&] {
        for (long n = 1; running; ++n) {
            std::this_thread::sleep_for(interval);
            const std::string tick = "tick " + std::to_string(n);
            {
                std::lock_guard<std::mutex> lock(latest_mutex);
                latest = tick;
            }
            server.broadcast(syncws::message{syncws::message_type::text, tick});
        }
    });

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    running = false;
    worker.join();
    server.shutdown();
}

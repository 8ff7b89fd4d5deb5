// A client that stays connected: when the server goes away (restart, crash, network), it
// connects again, waiting a little longer after each failed attempt (exponential backoff
// with jitter). usage: reconnecting_client URI
//
// Each time it connects it sends "hello" and prints what the server sends. Ctrl-C or
// SIGTERM stops it cleanly, also in the middle of a wait.
#include <signal.h>

#include <chrono>
#include <iostream>
#include <thread>

#include <syncws/reconnect.hpp>
#include <syncws/syncws.hpp>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: reconnecting_client URI\n";
        return 2;
    }
    // The stop signals go to one thread that turns them into request_stop(): that wakes a
    // wait between attempts and closes the open connection, which ends the loop below.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    syncws::retry_options retry;
    retry.initial_delay = 100ms;  // a restarted server is usually back within a second
    retry.max_delay = 5s;
    retry.on_retry = [](const std::exception& e, int attempt, syncws::duration delay) {
        std::cout << "attempt " << attempt << " failed (" << e.what() << "); retrying in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(delay).count() << " ms"
                  << std::endl;
    };
    std::thread([stop = retry.stop, stop_signals]() mutable {
        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        stop.request_stop();
    }).detach();

    try {
        for (auto& ws : syncws::reconnecting_client(argv[1], syncws::client_options(), retry)) {
            std::cout << "connected" << std::endl;
            try {
                ws.send("hello");
                for (auto& message : ws) std::cout << "received: " << message.data << std::endl;
                std::cout << "disconnected" << std::endl;  // a clean close, ours or the server's
            } catch (const syncws::connection_closed& e) {
                // The server went away: the loop connects again.
                std::cout << "disconnected: " << e.what() << std::endl;
            }
        }
    } catch (const syncws::error& e) {
        // An error that waiting will not cure: a 403, an untrusted certificate, a bad URI.
        std::cerr << "reconnecting_client: " << e.what() << "\n";
        return 1;
    }
    std::cout << "stopped" << std::endl;
}

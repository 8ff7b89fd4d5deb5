// Memory per connection, with permessage-deflate on and off: what an idle connection costs
// a server and a client, and what one costs once it has exchanged compressed messages (its
// zlib streams are then allocated and, with context takeover, kept).
//
// The server runs in this process; the clients run in a forked child, so that each side's
// resident memory (VmRSS) is measured on its own. Prints one table.
//
//   connection_memory [CONNECTIONS]      (default 200)
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "syncws/syncws.hpp"

namespace {

long resident_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

// JSON-like text, as a chat or API message would be.
std::string json_text(std::size_t size) {
    std::string text;
    for (int i = 0; text.size() < size; ++i)
        text += "{\"id\":" + std::to_string(i) + ",\"user\":\"u" + std::to_string(i % 89) +
                "\",\"ok\":true},";
    text.resize(size);
    return text;
}

// A pipe carrying one number at a time between the two processes.
struct channel {
    int fds[2];
    channel() {
        if (::pipe(fds) != 0) std::exit(2);
    }
    void send(long value) const {
        if (::write(fds[1], &value, sizeof value) != sizeof value) std::exit(2);
    }
    long receive() const {
        long value = 0;
        if (::read(fds[0], &value, sizeof value) != sizeof value) std::exit(2);
        return value;
    }
};

struct figures {
    double server_idle, server_busy, client_idle, client_busy;
};

// The child: opens the connections, reports its memory idle and busy, then closes them.
[[noreturn]] void run_clients(const channel& to_child, const channel& to_parent, int count,
                              bool compression) {
    const long port = to_child.receive();
    syncws::client_options options;
    options.compression.enabled = compression;
    options.settings.ping_interval = syncws::duration::zero();
    const std::string uri = "ws://127.0.0.1:" + std::to_string(port) + "/";
    std::vector<syncws::client_connection> clients;
    clients.reserve(static_cast<std::size_t>(count));
    const long before = resident_kib();
    for (int i = 0; i < count; ++i) clients.push_back(syncws::connect(uri, options));
    to_parent.send(resident_kib() - before);
    to_child.receive();  // the server measured its idle figure
    const std::string text = json_text(16 * 1024);
    for (auto& ws : clients) {
        ws.send(text);
        if (ws.recv().data != text) std::exit(3);
    }
    to_parent.send(resident_kib() - before);
    to_child.receive();
    for (auto& ws : clients) ws.close();
    std::_Exit(0);
}

// The clients of one measurement, forked before this process starts any thread (a forked
// child has only the thread that forked, so it must not inherit the library's threads).
struct client_process {
    channel to_child, to_parent;
    pid_t pid = -1;
    client_process(int count, bool compression) {
        pid = ::fork();
        if (pid < 0) std::exit(2);
        if (pid == 0) run_clients(to_child, to_parent, count, compression);
    }
};

figures measure(const client_process& clients, int count, bool compression) {
    const channel& to_child = clients.to_child;
    const channel& to_parent = clients.to_parent;
    const pid_t child = clients.pid;

    syncws::server_options options;
    options.host = "127.0.0.1";
    options.compression.enabled = compression;
    options.settings.ping_interval = syncws::duration::zero();
    syncws::server server(options, [](syncws::server_connection& ws) {
        for (auto& m : ws) ws.send(m);
    });
    server.start();
    const long before = resident_kib();
    to_child.send(server.port());
    figures f{};
    f.client_idle = static_cast<double>(to_parent.receive()) / count;
    f.server_idle = static_cast<double>(resident_kib() - before) / count;
    to_child.send(0);
    f.client_busy = static_cast<double>(to_parent.receive()) / count;
    f.server_busy = static_cast<double>(resident_kib() - before) / count;
    to_child.send(0);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "the client process failed\n");
        std::exit(1);
    }
    server.shutdown();
    return f;
}

}  // namespace

// Each measurement runs in a fresh process (this program again, with --one), so that memory
// the allocator kept from an earlier run does not hide what the next one costs.
int main(int argc, char** argv) {
    const bool one = argc > 1 && std::string(argv[1]) == "--one";
    const int first_number = one ? 3 : 1;
    const int count = argc > first_number ? std::atoi(argv[first_number]) : 200;
    if (count <= 0 || (one && argc < 3)) {
        std::fprintf(stderr, "usage: connection_memory [CONNECTIONS]\n");
        return 2;
    }
    if (one) {
        const bool compression = std::string(argv[2]) == "on";
        const client_process clients(count, compression);
        const figures f = measure(clients, count, compression);
        std::printf("| %s | %.1f | %.1f | %.1f | %.1f |\n", compression ? "on" : "off",
                    f.server_idle, f.server_busy, f.client_idle, f.client_busy);
        return 0;
    }
    std::printf("Resident memory per connection (KiB), %d connections; busy = after echoing one\n"
                "16 KiB JSON message each (compressed when negotiated).\n\n", count);
    std::printf("| compression | server idle | server busy | client idle | client busy |\n");
    std::printf("|---|---|---|---|---|\n");
    std::fflush(stdout);
    char self[4096] = {};
    if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 2;
    for (const char* mode : {"off", "on"}) {
        const std::string command = "'" + std::string(self) + "' --one " + std::string(mode) +
                                    " " + std::to_string(count);
        if (std::system(command.c_str()) != 0) return 1;
    }
    return 0;
}

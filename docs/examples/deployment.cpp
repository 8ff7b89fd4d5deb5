// The code of docs/deployment.md. docs/meson.build compiles it (C++17) but never runs it,
// and docs/check_snippets.py checks that every block of the guide is taken from here, so the
// guide cannot drift away from the headers. One function per section of the guide.
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include <syncws/syncws.hpp>

std::string client_address(const syncws::server_connection& ws) {
    // Behind nginx or HAProxy, remote_address() is the proxy's; the client's is here.
    if (auto forwarded = ws.request().headers.get("X-Forwarded-For"))
        return std::string(*forwarded);
    return ws.remote_address();
}

void health_and_stats_endpoints() {
    syncws::server* self = nullptr;   // set below, before serve_forever() lets hooks run
    syncws::server_options options;
    options.port = 9001;
    options.process_request = [&self](const syncws::core::http_request& request)
        -> std::optional<syncws::core::http_response> {
        syncws::core::http_response response;
        if (request.target == "/health") {
            response.body = "ok\n";
            return response;
        }
        if (request.target == "/stats") {
            response.headers.add("Content-Type", "application/json");
            response.body = syncws::to_json(self->stats());
            return response;
        }
        return std::nullopt;           // a WebSocket upgrade
    };
    syncws::server server(options, [](syncws::server_connection& ws) {
        for (auto& message : ws) ws.send(message);
    });
    self = &server;
    server.serve_forever();
}

void sharing_a_port(syncws::server_options& options) {
    options.port = 8765;
    options.reuse_port = true;   // every process that sets it may listen on 8765
}

void your_own_log(syncws::server_options& options) {
    static std::mutex log_mutex;   // the logger is called from many threads at once
    options.settings.logger = [](const syncws::log_record& record) {
        if (record.level < syncws::log_level::info) return;
        std::lock_guard<std::mutex> lock(log_mutex);
        // "warning c42 127.0.0.1:51234: ..."; or use record.connection_id,
        // record.remote_address and record.message as fields of a structured log.
        std::fprintf(stdout, "%s\n", syncws::to_string(record).c_str());
    };
}

void reading_the_counters(const syncws::server& server) {
    const syncws::server_stats stats = server.stats();
    std::printf("%llu open, %llu turned away with 503\n",
                static_cast<unsigned long long>(stats.open_connections),
                static_cast<unsigned long long>(stats.handshake_failures.over_limit));
}

int main() {}

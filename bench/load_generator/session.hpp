// One client connection's work: echo loops (ours and the syncws client's), the
// connect-echo-close cycle, and what each records.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec.hpp"
#include "payloads.hpp"
#include "transport.hpp"

namespace loadgen {

/// Where the benchmark is in time. Echoes count only while measuring; warm-up fills the
/// caches and the servers' pools first, and after stop the connections drain.
enum class phase : int { warmup, measure, stop };

/// Shared by the main thread (which moves the phase on) and the connection threads (which
/// say when they are connected: warm-up starts when all are).
struct run_control {
    std::atomic<phase> now{phase::warmup};
    std::atomic<std::size_t> ready{0};
};

/// What to connect to: tcp://, ws:// or wss:// (the scheme picks codec and transport).
struct target {
    std::string host;
    std::uint16_t port = 0;
    std::string path = "/";
    bool websocket = true;
    bool tls = false;
    bool deflate = false;  // offer permessage-deflate
    std::string url;       // as given, for the syncws client
};

target parse_target(const std::string& url);

/// Counts of one connection (or thread), merged at the end.
struct session_stats {
    std::uint64_t measured = 0;      // echoes completed while measuring
    std::uint64_t total = 0;         // all echoes, warm-up and drain included
    std::uint64_t payload_bytes = 0;  // over all echoes: uncompressed payload received...
    std::uint64_t wire_bytes = 0;    // ...and what it took on the wire
    std::vector<std::uint32_t> rtt_ns;  // round trips completed while measuring

    void merge(const session_stats& other);
};

std::uint64_t now_ns();

/// Round-trip times of the messages in flight: they come back in the order they went.
class rtt_clock {
public:
    explicit rtt_clock(std::size_t in_flight) : sent_at_(in_flight) {}
    void sent() { sent_at_[sent_++ % sent_at_.size()] = now_ns(); }
    std::size_t outstanding() const { return static_cast<std::size_t>(sent_ - done_); }
    /// Records `n` echoes that just completed.
    void completed(std::size_t n, const run_control& run, session_stats& stats);

private:
    std::vector<std::uint64_t> sent_at_;
    std::uint64_t sent_ = 0, done_ = 0;
};

/// Our minimal client on one connection: plain socket (or OpenSSL), raw or WebSocket codec.
class lean_connection {
public:
    lean_connection(const target& where, const payload_set& payloads,
                    const tls_client_context* tls, std::uint64_t seed);

    /// Keeps `in_flight` messages outstanding until the run stops, then drains and closes.
    void run_echo(std::size_t in_flight, const run_control& run, session_stats& stats);
    /// One message and its echo, blocking.
    void echo_once();
    /// Closing handshake (WebSocket) or FIN (raw), then waits for the server's EOF.
    void close();
    const echo_codec& codec() const { return *codec_; }

private:
    ssize_t receive(bool block, std::size_t& echoes);
    void flush_blocking();
    void run_echo_duplex(std::size_t in_flight, const run_control& run, session_stats& stats);

    std::unique_ptr<transport> transport_;
    std::unique_ptr<echo_codec> codec_;
    byte_queue out_;
    std::vector<char> in_;
    bool small_messages_;  // strict ping-pong of these may use blocking calls
    bool duplex_;          // a reader thread and a writer thread may share the transport
};

/// The same echo loop driven through the syncws client API (connect/send/recv), for the
/// client-cost comparison.
/// Connects, counts itself ready in `run`, and echoes until the run stops.
void run_syncws_echo(const target& where, const payload_set& payloads, std::size_t in_flight,
                     run_control& run, session_stats& stats);

}  // namespace loadgen

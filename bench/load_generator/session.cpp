#include "session.hpp"

#include <sys/socket.h>
#include <time.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include <syncws/syncws.hpp>

namespace loadgen {

namespace {

// Big enough that a 64 KiB echo usually arrives in one read.
constexpr std::size_t read_buffer_size = 256 * 1024;
// Up to this size a message and its echo fit the socket buffers, so strict ping-pong can
// use blocking calls without risk of both sides blocking in write.
constexpr std::size_t blocking_limit = 16 * 1024;

std::uint16_t parse_port(const std::string& text, const std::string& url) {
    const int port = std::atoi(text.c_str());
    if (port <= 0 || port > 65535) throw bench_error("no port in " + url);
    return static_cast<std::uint16_t>(port);
}

}  // namespace

target parse_target(const std::string& url) {
    target t;
    t.url = url;
    const auto scheme_end = url.find("://");
    const std::string scheme = url.substr(0, scheme_end);
    if (scheme_end == std::string::npos || (scheme != "tcp" && scheme != "tls" && scheme != "ws" &&
                                            scheme != "wss"))
        throw bench_error("URL must be tcp://, tls://, ws:// or wss://: " + url);
    t.websocket = scheme == "ws" || scheme == "wss";
    t.tls = scheme == "wss" || scheme == "tls";
    std::string rest = url.substr(scheme_end + 3);
    if (const auto slash = rest.find('/'); slash != std::string::npos) {
        t.path = rest.substr(slash);
        rest.resize(slash);
    }
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos) throw bench_error("no port in " + url);
    t.host = rest.substr(0, colon);
    if (t.host.size() > 1 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
    t.port = parse_port(rest.substr(colon + 1), url);
    return t;
}

void session_stats::merge(const session_stats& other) {
    measured += other.measured;
    total += other.total;
    payload_bytes += other.payload_bytes;
    wire_bytes += other.wire_bytes;
    rtt_ns.insert(rtt_ns.end(), other.rtt_ns.begin(), other.rtt_ns.end());
}

std::uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

void rtt_clock::completed(std::size_t n, const run_control& run, session_stats& stats) {
    const std::uint64_t now = now_ns();
    const bool measuring = run.now.load(std::memory_order_relaxed) == phase::measure;
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t rtt = now - sent_at_[done_++ % sent_at_.size()];
        if (measuring) {
            ++stats.measured;
            stats.rtt_ns.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(rtt, UINT32_MAX)));
        }
    }
    stats.total += n;
}

// ------------------------------------------------------------------ lean_connection

lean_connection::lean_connection(const target& where, const payload_set& payloads,
                                 const tls_client_context* tls, std::uint64_t seed)
    : transport_(open_transport(where.host, where.port, where.tls ? tls : nullptr)),
      in_(read_buffer_size),
      small_messages_(payloads.largest() <= blocking_limit),
      duplex_(where.tls && tls && tls->duplex()) {
    if (!where.websocket) {
        codec_ = make_raw_codec(payloads);
        return;
    }
    std::string extra;
    const deflate_params deflate = ws_handshake(
        *transport_, where.host + ":" + std::to_string(where.port), where.path, where.deflate, extra);
    codec_ = make_ws_codec(payloads, deflate, seed);
    if (!extra.empty() && codec_->decode(extra.data(), extra.size(), out_) != 0)
        throw bench_error("an echo before any message was sent");
}

ssize_t lean_connection::receive(bool block, std::size_t& echoes) {
    const ssize_t n = transport_->read_some(in_.data(), in_.size(), block);
    echoes = n > 0 ? codec_->decode(in_.data(), static_cast<std::size_t>(n), out_) : 0;
    return n;
}

void lean_connection::flush_blocking() {
    while (!out_.empty()) {
        transport_->write_all(out_.data(), out_.size());
        out_.consume(out_.size());
    }
}

// One loop for both ways of driving the socket: blocking calls for strict ping-pong of
// small messages (a write, then a read: the fewest syscalls), otherwise non-blocking calls
// and poll(), writing and reading as each becomes possible.
void lean_connection::run_echo(std::size_t in_flight, const run_control& run, session_stats& stats) {
    if (duplex_) return run_echo_duplex(in_flight, run, stats);
    const bool block = in_flight == 1 && small_messages_;
    if (!block) transport_->allow_nonblocking();
    rtt_clock rtt(in_flight);
    for (;;) {
        const bool stopping = run.now.load(std::memory_order_relaxed) == phase::stop;
        while (!stopping && rtt.outstanding() < in_flight) {
            rtt.sent();  // the round trip starts before the client's own work (masking)
            codec_->encode_next(out_);
        }
        if (rtt.outstanding() == 0) break;
        bool progress = false;
        if (!out_.empty()) {
            const ssize_t n = transport_->write_some(out_.data(), out_.size(), block);
            if (n > 0) out_.consume(static_cast<std::size_t>(n)), progress = true;
        }
        if (out_.empty() || !block) {
            std::size_t echoes = 0;
            const ssize_t n = receive(block, echoes);
            if (n == end_of_stream || codec_->peer_closed())
                throw bench_error("the server closed the connection during the echo");
            if (echoes > 0) rtt.completed(echoes, run, stats);
            progress |= n > 0;
        }
        if (!progress) transport_->wait(!out_.empty());
    }
    stats.payload_bytes += codec_->payload_bytes_in();
    stats.wire_bytes += codec_->wire_bytes_in();
    close();
}

// The same pipelined echo, with this thread writing and another reading, each blocking on
// its own direction: for a TLS connection whose one thread would be the limit (see
// split_tls.hpp). When the run stops, the writer closes at once (close frame, or TLS
// close_notify and FIN for raw echo) and the reader takes the echoes still due and then the
// server's close, up to the end of the stream. A failure on either side shuts the socket
// down, so that the other side's blocking call returns too.
void lean_connection::run_echo_duplex(std::size_t in_flight, const run_control& run, session_stats& stats) {
    std::mutex lock;
    std::condition_variable changed;  // for the writer: room in the window, answers, the end
    rtt_clock rtt(in_flight);         // guarded by lock
    byte_queue answers;               // pongs the reader's codec queued; guarded by lock
    bool reader_done = false;         // guarded by lock
    std::exception_ptr reader_error;
    std::thread reader([&] {
        byte_queue queued;
        try {
            for (;;) {
                const ssize_t n = transport_->read_some(in_.data(), in_.size(), true);
                if (n == end_of_stream) break;
                const std::size_t echoes = codec_->decode(in_.data(), static_cast<std::size_t>(n), queued);
                std::lock_guard<std::mutex> hold(lock);
                if (echoes > 0) rtt.completed(echoes, run, stats);
                for (; !queued.empty(); queued.consume(queued.size()))
                    answers.append(std::string_view(queued.data(), queued.size()));
                changed.notify_one();
            }
        } catch (...) {
            reader_error = std::current_exception();
            ::shutdown(transport_->fd(), SHUT_RDWR);
        }
        std::lock_guard<std::mutex> hold(lock);
        reader_done = true;
        changed.notify_one();
    });
    bool stopped = false, close_frame_sent = false;
    try {
        std::unique_lock<std::mutex> hold(lock);
        while (!stopped) {
            // The end of the run is seen at the next echo: the writer waits only while all
            // in_flight messages are out.
            changed.wait(hold, [&] {
                return reader_done || !answers.empty() || rtt.outstanding() < in_flight ||
                       run.now.load(std::memory_order_relaxed) == phase::stop;
            });
            if (reader_done) break;
            for (; !answers.empty(); answers.consume(answers.size()))
                out_.append(std::string_view(answers.data(), answers.size()));
            stopped = run.now.load(std::memory_order_relaxed) == phase::stop;
            const bool send = !stopped && rtt.outstanding() < in_flight;
            if (send) rtt.sent();  // the round trip starts before the client's own work
            hold.unlock();
            if (send) codec_->encode_next(out_);
            if (stopped) close_frame_sent = codec_->encode_close(out_);
            flush_blocking();
            if (stopped && !close_frame_sent) transport_->shutdown_write();
            hold.lock();
        }
    } catch (...) {
        ::shutdown(transport_->fd(), SHUT_RDWR);
        reader.join();
        if (reader_error) std::rethrow_exception(reader_error);  // the cause, if the reader's
        throw;
    }
    reader.join();
    if (reader_error) std::rethrow_exception(reader_error);
    if (!stopped) throw bench_error("the server closed the connection during the echo");
    if (rtt.outstanding() != 0) throw bench_error("the server closed before echoing every message");
    if (close_frame_sent && !codec_->peer_closed())
        throw bench_error("the server closed TCP without a close frame");
    stats.payload_bytes += codec_->payload_bytes_in();
    stats.wire_bytes += codec_->wire_bytes_in();
}

void lean_connection::echo_once() {
    codec_->encode_next(out_);
    flush_blocking();
    for (std::size_t echoes = 0; echoes == 0;) {
        if (receive(true, echoes) == end_of_stream)
            throw bench_error("the server closed the connection during the echo");
    }
}

void lean_connection::close() {
    if (codec_->encode_close(out_)) {
        flush_blocking();
        std::size_t echoes = 0;
        while (!codec_->peer_closed()) {
            if (receive(true, echoes) == end_of_stream)
                throw bench_error("the server closed TCP without a close frame");
        }
        flush_blocking();  // a pong the codec may have queued; harmless
    } else {
        transport_->shutdown_write();
    }
    std::size_t echoes = 0;
    while (receive(true, echoes) != end_of_stream) {
    }
}

// ------------------------------------------------------------------ the syncws client

namespace {

void send_message(syncws::connection& ws, const payload_set& payloads, const std::string& data) {
    if (payloads.is_text())
        ws.send(std::string_view(data));
    else
        ws.send(syncws::binary(data));
}

void check_message(const syncws::message& m, const payload_set& payloads, const std::string& expected) {
    if (m.is_text() != payloads.is_text()) throw bench_error("corrupt echo: wrong message type");
    if (m.data != expected)
        throw bench_error("corrupt echo: " + std::to_string(m.data.size()) + " bytes differ from the " +
                          std::to_string(expected.size()) + "-byte message sent");
}

}  // namespace

// As a user would pipeline with a blocking API on one thread: send until `in_flight` are
// out, then receive one and send the next.
void run_syncws_echo(const target& where, const payload_set& payloads, std::size_t in_flight,
                     run_control& run, session_stats& stats) {
    syncws::client_options options;
    options.compression.enabled = where.deflate;
    options.tls.insecure = true;  // the servers' certificate is a throwaway self-signed one
    options.proxy = "";
    syncws::client_connection ws = syncws::connect(where.url, options);
    ++run.ready;
    rtt_clock rtt(in_flight);
    std::uint64_t sent = 0, received = 0;
    syncws::message m;  // its storage is reused from one message to the next
    for (;;) {
        const bool stopping = run.now.load(std::memory_order_relaxed) == phase::stop;
        while (!stopping && rtt.outstanding() < in_flight) {
            rtt.sent();
            send_message(ws, payloads, payloads.at(sent++));
        }
        if (rtt.outstanding() == 0) break;
        ws.recv(m);
        const std::string& expected = payloads.at(received++);
        check_message(m, payloads, expected);
        stats.payload_bytes += expected.size();
        rtt.completed(1, run, stats);
    }
    ws.close();
}

}  // namespace loadgen

// One soak client: connects, talks, ends the connection one of five ways, reconnects, until
// the run's end. It checks every echo against what it sent, in order, and counts what it did
// and what went wrong in a tally shared by all clients.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <syncws/syncws.hpp>

#include "abrupt.hpp"
#include "payload.hpp"

namespace soak {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// How long one echo may take before it counts as lost. Generous: 200 clients share two
/// cores with the server, and a 1 MiB message may wait behind many others. It bounds the
/// wait; it is not a performance assertion.
inline constexpr auto echo_timeout = 60s;
/// How long a connection whose socket was cut may take to notice it.
inline constexpr auto cut_notice_timeout = 30s;

/// Counters for the summary. Thread-safety: every member may be used from any thread.
struct tally {
    std::atomic<std::uint64_t> connections{0}, messages_sent{0}, bytes_sent{0}, echoes_verified{0},
        bytes_verified{0}, fragmented{0}, text_messages{0}, binary_messages{0}, pings{0},
        pongs_sent{0}, clean_closes{0}, closes_in_flight{0}, unanswered_at_close{0}, cuts_fin{0},
        cuts_reset{0}, echoes_after_cut{0}, destroyed_mid_message{0}, lost{0}, corrupted{0},
        problems{0};

    /// Records something that must not happen; the first few are kept for the report.
    void problem(const std::string& what) {
        ++problems;
        std::lock_guard<std::mutex> lk(mutex_);
        if (examples_.size() < 20) examples_.push_back(what);
    }
    std::vector<std::string> examples() const {
        std::lock_guard<std::mutex> lk(mutex_);
        return examples_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> examples_;
};

/// What every client of a run shares.
struct client_plan {
    std::string uri;
    syncws::client_options options;
    bool compression = false;
    std::uint64_t seed = 1;
    clock::time_point end;
};

/// How a connection ends.
enum class ending {
    clean,              ///< every echo received, then close(): a clean close handshake
    clean_in_flight,    ///< close() with echoes still on their way; those that arrive count
    cut_fin,            ///< the socket is shut down under the library: FIN, no close frame
    cut_reset,          ///< the socket is reset: RST, queued bytes thrown away
    destroyed_mid_message,  ///< the connection object is destroyed after half a message
};

inline ending random_ending(rng& r) {
    const auto roll = r.next() % 100;
    if (roll < 50) return ending::clean;
    if (roll < 65) return ending::clean_in_flight;
    if (roll < 77) return ending::cut_fin;
    if (roll < 89) return ending::cut_reset;
    return ending::destroyed_mid_message;
}

/// The echo a message sent should bring back. The whole payload is kept, so that an echo is
/// compared byte for byte; the order is that of the queue.
struct expected_echo {
    syncws::message_type type;
    std::string data;
};

inline const char* type_name(syncws::message_type t) {
    return t == syncws::message_type::text ? "text" : "binary";
}

/// One client: a thread runs run() until the plan's end.
class client {
public:
    client(int index, const client_plan& plan, tally& counts)
        : index_(index), plan_(plan), counts_(counts), random_(plan.seed * 1000003 + index) {}

    /// Connections one after another until the end of the run. Never throws.
    void run() {
        while (clock::now() < plan_.end) run_connection();
    }

    /// Opens count connections at once, checks one echo on each, then closes them all:
    /// structures that grow with the number of connections open together (Asio keeps one
    /// state per socket descriptor it has seen at once, in a pool that never shrinks) then
    /// reach a higher mark than the soak itself reaches. Never throws.
    void hold_several(int count) {
        std::vector<syncws::client_connection> held;
        for (int i = 0; i < count; ++i) {
            auto ws = open();
            if (!ws) return;
            held.push_back(std::move(*ws));
        }
        for (auto& ws : held) {
            try {
                send_whole(ws, syncws::message_type::text, 16);
                if (!receive_echo(ws)) return;
                close_cleanly(ws);
            } catch (const std::exception& e) {
                failed(e);
                return;
            }
        }
    }

private:
    std::optional<syncws::client_connection> open() {
        ++connection_number_;
        waiting_.clear();
        syncws::client_options options = plan_.options;
        if (plan_.compression) {
            // Vary what the server must agree to and keep per connection.
            options.compression.no_context_takeover = random_.percent(25);
            options.compression.peer_no_context_takeover = random_.percent(25);
            if (random_.percent(25)) options.compression.peer_window_bits = static_cast<int>(random_.between(9, 15));
        }
        try {
            auto ws = syncws::connect(plan_.uri, options);
            ++counts_.connections;
            return ws;
        } catch (const std::exception& e) {
            counts_.problem(where() + "cannot connect: " + e.what());
            std::this_thread::sleep_for(200ms);  // do not spin if the server is gone
            return std::nullopt;
        }
    }

    void run_connection() {
        auto ws = open();
        if (!ws) return;
        const ending how = random_ending(random_);
        try {
            const auto rounds = random_.between(1, 10);
            for (std::uint64_t i = 0; i < rounds && clock::now() < plan_.end; ++i)
                if (!round_trip(*ws)) return;
            finish(*ws, how);
        } catch (const std::exception& e) {
            failed(e);
        }
    }

    // Sends 1 to 4 messages, sometimes with a ping, sometimes idles so that the library's
    // monitor rather than recv() reads the echoes, then takes every echo back. False when
    // the connection is of no further use.
    bool round_trip(syncws::client_connection& ws) {
        const auto count = random_.between(1, 4);
        for (std::uint64_t i = 0; i < count; ++i) send_random(ws);
        if (random_.percent(10)) ping(ws);
        if (random_.percent(5)) {
            ws.pong("soak");
            ++counts_.pongs_sent;
        }
        if (random_.percent(10)) std::this_thread::sleep_for(std::chrono::milliseconds(random_.between(1, 60)));
        while (!waiting_.empty())
            if (!receive_echo(ws)) return false;
        return true;
    }

    // A pong that does not come in time throws timeout_error: failed() reports it.
    void ping(syncws::client_connection& ws) {
        const syncws::pong_waiter waiter = ws.ping();
        ++counts_.pings;
        waiter.wait(echo_timeout);
    }

    syncws::message_type random_type() {
        return random_.percent(50) ? syncws::message_type::text : syncws::message_type::binary;
    }

    std::string payload(syncws::message_type type, std::size_t size) {
        return type == syncws::message_type::text ? make_text(random_, size) : make_binary(random_, size);
    }

    void count_sent(syncws::message_type type, std::size_t size) {
        ++counts_.messages_sent;
        counts_.bytes_sent += size;
        ++(type == syncws::message_type::text ? counts_.text_messages : counts_.binary_messages);
    }

    void send_whole(syncws::client_connection& ws, syncws::message_type type, std::size_t size) {
        std::string data = payload(type, size);
        const auto mode = random_.percent(10) ? syncws::compression::never : syncws::compression::automatic;
        if (type == syncws::message_type::text)
            ws.send(std::string_view(data), mode);
        else
            ws.send(syncws::binary(data), mode);
        count_sent(type, size);
        waiting_.push_back({type, std::move(data)});
    }

    // A whole message in one frame, or fragmented with either of the two fragment APIs.
    void send_random(syncws::client_connection& ws) {
        const syncws::message_type type = random_type();
        const std::size_t size = random_size(random_);
        const auto how = random_.next() % 100;
        if (how < 70) {
            send_whole(ws, type, size);
            return;
        }
        std::string data = payload(type, size);
        const std::vector<std::string_view> parts = random_parts(random_, data);
        if (how < 85) {
            ws.send_fragments(parts, type);
        } else {
            for (std::size_t i = 0; i < parts.size(); ++i) ws.send_fragment(parts[i], i + 1 == parts.size(), type);
        }
        ++counts_.fragmented;
        count_sent(type, size);
        waiting_.push_back({type, std::move(data)});
    }

    // The first half of a message, never finished.
    void send_half(syncws::client_connection& ws) {
        const syncws::message_type type = random_type();
        const std::string data = payload(type, random_size(random_));
        ws.send_fragment(std::string_view(data).substr(0, data.size() / 2), false, type);
    }

    // Takes the next message, whole or (sometimes) fragment by fragment, and compares it with
    // the oldest echo awaited. False (with the problem recorded) if none came in time or it
    // differs.
    bool receive_echo(syncws::client_connection& ws, std::chrono::seconds timeout = echo_timeout) {
        std::optional<syncws::message> got;
        if (random_.percent(20)) {
            got = receive_by_fragments(ws, timeout);
        } else {
            got = ws.recv(timeout);
        }
        if (!got) {
            counts_.lost += waiting_.size();
            counts_.problem(where() + std::to_string(waiting_.size()) + " echo(es) did not come within " +
                            std::to_string(timeout.count()) + " s");
            return false;
        }
        return check(*got);
    }

    std::optional<syncws::message> receive_by_fragments(syncws::client_connection& ws, std::chrono::seconds timeout) {
        const auto deadline = clock::now() + timeout;
        syncws::message m;
        for (bool first = true;; first = false) {
            const auto left = deadline - clock::now();
            auto f = ws.recv_fragment(std::max<clock::duration>(left, clock::duration::zero()));
            if (!f) {
                if (!first) counts_.problem(where() + "a message stopped arriving after some of its fragments");
                return std::nullopt;
            }
            m.type = f->type;
            m.data += f->data;
            if (f->fin) return m;
        }
    }

    bool check(const syncws::message& got) {
        if (waiting_.empty()) {
            ++counts_.corrupted;
            counts_.problem(where() + "a message came that was never sent (" + std::to_string(got.data.size()) +
                            " bytes)");
            return false;
        }
        const expected_echo& want = waiting_.front();
        if (got.type != want.type || got.data != want.data) {
            ++counts_.corrupted;
            std::size_t at = 0;
            while (at < got.data.size() && at < want.data.size() && got.data[at] == want.data[at]) ++at;
            counts_.problem(where() + "echo differs from the message sent: expected " + type_name(want.type) + " " +
                            std::to_string(want.data.size()) + " bytes, got " + type_name(got.type) + " " +
                            std::to_string(got.data.size()) + " bytes, first difference at byte " +
                            std::to_string(at));
            return false;
        }
        ++counts_.echoes_verified;
        counts_.bytes_verified += got.data.size();
        waiting_.pop_front();
        return true;
    }

    void close_cleanly(syncws::client_connection& ws) {
        ws.close();
        const auto sent = ws.close_sent();
        const auto received = ws.close_received();
        if (!sent || !received || received->code != syncws::core::close_code::normal) {
            counts_.problem(where() + "close() did not complete a clean closing handshake (peer's code " +
                            std::to_string(ws.close_code()) + ")");
            return;
        }
        ++counts_.clean_closes;
    }

    void finish(syncws::client_connection& ws, ending how) {
        switch (how) {
            case ending::clean:
                close_cleanly(ws);
                return;
            case ending::clean_in_flight: {
                const auto count = random_.between(1, 4);
                for (std::uint64_t i = 0; i < count; ++i) send_random(ws);
                ws.close();
                // Echoes that arrived before the server's close frame are still delivered,
                // and must be intact and in order. The server answers our close at once, so
                // it may never echo the last messages: RFC 6455 allows no data frame after
                // a close frame.
                drain(ws, true);
                return;
            }
            case ending::cut_fin:
            case ending::cut_reset: {
                if (random_.percent(50)) {
                    const auto count = random_.between(1, 4);
                    for (std::uint64_t i = 0; i < count; ++i) send_random(ws);
                }
                if (random_.percent(50)) send_half(ws);
                if (!cut_connection(ws, how == ending::cut_fin ? cut::fin : cut::reset)) {
                    counts_.problem(where() + "cannot find this connection's socket to cut it");
                    return;
                }
                ++(how == ending::cut_fin ? counts_.cuts_fin : counts_.cuts_reset);
                drain(ws, false);
                return;
            }
            case ending::destroyed_mid_message:
                // The destructor closes (1000) in the middle of the message: the server must
                // drop the half message and close cleanly.
                send_half(ws);
                ++counts_.destroyed_mid_message;
                return;
        }
    }

    // Receives until the connection reports its end; every message that still comes is
    // checked. After close() the end must be clean; after a cut it cannot be.
    void drain(syncws::client_connection& ws, bool expect_clean) {
        const auto timeout = expect_clean ? echo_timeout : cut_notice_timeout;
        try {
            for (;;) {
                auto m = ws.recv(timeout);
                if (!m) {
                    counts_.problem(where() + (expect_clean ? "recv() after close() neither returned a message "
                                                              "nor reported the close"
                                                            : "the connection did not notice its socket was cut") +
                                    " within " + std::to_string(std::chrono::seconds(timeout).count()) + " s");
                    return;
                }
                if (!check(*m)) return;
                if (!expect_clean) ++counts_.echoes_after_cut;
            }
        } catch (const syncws::connection_closed& e) {
            if (expect_clean && !e.clean()) {
                counts_.problem(where() + "close() with messages in flight did not end cleanly: " + e.what());
                return;
            }
            if (!expect_clean && e.clean()) {
                counts_.problem(where() + "a cut connection reported a clean close");
                return;
            }
            if (expect_clean) {
                ++counts_.closes_in_flight;
                counts_.unanswered_at_close += waiting_.size();
            }
        }
    }

    // An exception that ended a connection we did not cut: every echo still awaited is lost.
    void failed(const std::exception& e) {
        counts_.lost += waiting_.size();
        counts_.problem(where() + "the connection failed (" + std::to_string(waiting_.size()) +
                        " echo(es) awaited): " + e.what());
        waiting_.clear();
    }

    std::string where() const {
        return "client " + std::to_string(index_) + ", connection " + std::to_string(connection_number_) + ": ";
    }

    int index_;
    const client_plan& plan_;
    tally& counts_;
    rng random_;
    std::deque<expected_echo> waiting_;
    std::uint64_t connection_number_ = 0;
};

}  // namespace soak

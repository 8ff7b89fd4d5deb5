// The machinery behind syncws::connection: one protocol, one transport, the locks, and the
// rules for who reads the socket. Internal.
//
// Who reads: a thread that needs input (recv, close, a pong wait, a handshake) becomes the
// reader if nobody else is; it reads with no lock held and processes what it read under the
// lock, so the message goes back to the receiving thread with no hand-off (the fast path).
// Other waiters sleep on a condition variable. When nobody waits for input, the monitor
// thread watches the socket after a short while, so that pings are answered and a close is
// honoured while the application is busy elsewhere.
//
// Locks: write_mutex_ (one writer at a time, held across a blocking write) is always taken
// before mutex_ (protocol and queue state, never held across a blocking call).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "syncws/connection.hpp"
#include "syncws/core/client_protocol.hpp"
#include "syncws/core/output_queue.hpp"
#include "syncws/core/protocol.hpp"
#include "syncws/core/server_protocol.hpp"
#include "syncws/options.hpp"
#include "deadline_condition.hpp"
#include "deadline_mutex.hpp"
#include "fifo.hpp"
#include "transport.hpp"

namespace syncws::detail {

struct traffic_counters;

/// The state a pong_waiter shares with its connection.
struct pong_state {
    clock::time_point sent;
    std::optional<duration> latency;  // set when the pong arrived
};

class connection_engine : public std::enable_shared_from_this<connection_engine> {
public:
    /// protocol is a client_protocol or server_protocol in the connecting state.
    connection_engine(std::unique_ptr<core::protocol> protocol, std::unique_ptr<transport> stream,
                      connection_settings settings);
    ~connection_engine();

    // ---- opening handshake ----

    /// Client: sends request and waits for the response until deadline. Throws what the
    /// handshake failed with (invalid_status, invalid_handshake, timeout_error, error).
    void run_client_handshake(const core::http_request& request, clock::time_point deadline);
    /// Server: waits for the request until deadline, asks respond for the response, sends
    /// it. Returns true when the connection is open; false when the request was answered
    /// with something else or could not be read (the transport is then closed).
    bool run_server_handshake(
        clock::time_point deadline,
        const std::function<core::http_response(core::server_protocol&, const core::http_request&)>&
            respond);

    // ---- the public API (see syncws::connection) ----

    void send_data(message_type type, std::string_view data, bool fin, bool continuation,
                   core::compression mode = core::compression::automatic);
    /// Starts or continues the fragmented message this thread is sending.
    void send_fragment(message_type type, std::string_view data, bool fin);
    /// reusable: storage for the message (its bytes are dropped), or nullptr.
    std::optional<message> receive_message(clock::time_point deadline, std::string* reusable = nullptr);
    /// As receive_message() without a deadline, but a clean close ends it with nothing
    /// instead of connection_closed_ok: the end of every message loop costs no exception.
    /// reusable: the storage of the caller's previous message, for the next one.
    std::optional<message> receive_until_clean_close(std::string&& reusable);
    std::optional<fragment> receive_fragment(clock::time_point deadline);
    std::shared_ptr<pong_state> ping(std::string_view payload);
    duration wait_pong(const std::shared_ptr<pong_state>& state, clock::time_point deadline);
    bool pong_ready(const std::shared_ptr<pong_state>& state) const;
    void pong(std::string_view payload);
    void close(std::uint16_t code, std::string_view reason);
    /// Closes without waiting for the peer: for shutdown after close_timeout, and for errors.
    void abort() noexcept;

    core::state state() const;
    std::optional<core::close_frame> close_sent() const;
    std::optional<core::close_frame> close_received() const;
    std::optional<std::string> subprotocol() const;
    const core::http_request& request() const { return request_; }
    const core::http_response& response() const { return response_; }
    std::string local_address() const { return stream_->local_address(); }
    std::string remote_address() const { return remote_address_; }
    std::uint64_t id() const noexcept { return id_; }
    const connection_settings& settings() const noexcept { return settings_; }
    void log(log_level level, std::string_view text) const;

    // ---- for the monitor thread ----

    /// Called on every monitor tick: sends keepalive pings, fails a connection whose pong is
    /// late, enforces the close deadline, and starts or stops watching the socket.
    /// Returns false once the connection is finished and can be forgotten.
    bool on_tick(clock::time_point now, int epoll_fd);
    /// The socket is readable and nobody waits for input: read what is there, without
    /// blocking.
    void on_readable();
    /// Starts keepalive and watching, once the handshake is done.
    void start_monitoring();

    // ---- for the server ----

    /// From now on, every data message or fragment sent and received counts in counters.
    void count_traffic_into(std::shared_ptr<traffic_counters> counters);

private:
    using lock = std::unique_lock<deadline_mutex>;
    using write_lock = std::unique_lock<deadline_mutex>;

    bool sleep_until(lock& lk, clock::time_point until);
    void wake_all();
    template <class Done>
    bool wait_for_input(lock& lk, clock::time_point deadline, Done done);
    std::optional<message> receive(clock::time_point deadline, bool clean_close_ends,
                                   std::string* reusable = nullptr);
    void read_once(lock& lk, clock::time_point deadline);
    void after_input(lock& lk);
    void handle_events();
    write_lock lock_writer(lazy_deadline& deadline);
    void write_pending(lock& lk, lazy_deadline& deadline);
    bool write_without_blocking();
    void write_or_fail(lock& lk, lazy_deadline& deadline);
    void read_available(lock& lk);
    void commit_read(std::size_t size);
    bool reading_paused() const;
    void flush(lock& lk, lazy_deadline deadline);
    void try_flush(lock& lk);
    void half_close_if_requested();
    void transport_ended(lock& lk);
    void carry_out_pending_failure(lock& lk);
    void abort_locked(lock& lk) noexcept;
    void rethrow_tls_failure() const;
    bool closed() const;
    void stop_watching();
    void check_can_send(lock& lk);
    [[noreturn]] void raise_closed(lock& lk);
    lazy_deadline send_deadline() const;

    const std::uint64_t id_;
    connection_settings settings_;
    std::unique_ptr<core::protocol> protocol_;
    std::unique_ptr<transport> stream_;
    std::string remote_address_;

    mutable deadline_mutex mutex_;
    deadline_condition changed_;  // notified through wake_all()
    int sleeping_ = 0;            // threads asleep on changed_ (under mutex_)
    deadline_mutex write_mutex_;  // no caller waits for it beyond its deadline

    // writing (under write_mutex_)
    core::output_queue pending_;          // taken from the protocol, not yet written
    std::vector<std::string_view> pieces_;

    // receiving (under mutex_)
    fifo<core::message_event> queue_;        // fragments, in order
    std::size_t queued_bytes_ = 0;
    std::size_t complete_messages_ = 0;      // messages in queue_ whose last fragment is there
    bool reading_ = false;          // a thread is inside stream_->read(), without the lock
    bool receiving_ = false;        // a thread is in recv() / recv_fragment()
    int waiting_ = 0;               // threads waiting for input
    bool partial_message_ = false;  // recv_fragment() handed out part of a message
    bool unwritten_ = false;        // pending_ holds bytes the monitor could not write yet
    bool sending_fragments_ = false;  // a fragmented message is being sent
    std::thread::id fragment_sender_;

    // handshake (under mutex_)
    core::http_request request_;
    core::http_response response_;
    bool handshake_event_ = false;
    std::optional<std::string> subprotocol_;

    // closing (under mutex_)
    bool transport_ended_ = false;  // end of stream read, or aborted
    bool write_shut_ = false;       // shutdown_write() done
    std::optional<clock::time_point> close_deadline_;
    std::optional<clock::time_point> failure_due_;  // when a deferred input failure must act
    std::string failure_;           // why the connection was lost, for logs
    std::exception_ptr transport_error_;  // what the transport's read threw, if it did

    // keepalive and watching (under mutex_)
    clock::time_point last_ping_;
    std::optional<std::uint64_t> keepalive_ping_;
    std::optional<clock::time_point> idle_since_;  // unset: not yet seen idle by the monitor
    int watch_fd_ = -1;             // the monitor's epoll while it watches the socket
    std::shared_ptr<traffic_counters> traffic_;  // null: nobody counts (under mutex_)
    std::vector<std::pair<std::uint64_t, std::shared_ptr<pong_state>>> pongs_;  // oldest first
};

/// The protocol settings every connection of the blocking layer uses.
core::protocol_config protocol_config_for(const connection_settings& settings);

/// The next connection id (1, 2, 3 ...).
std::uint64_t next_connection_id() noexcept;

}  // namespace syncws::detail

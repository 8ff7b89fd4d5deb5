#include "connection_engine.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "monitor.hpp"
#include "syncws/core/random.hpp"
#include "traffic_counters.hpp"

namespace syncws::detail {

namespace {

// How long a connection may go without anybody waiting for input before the monitor starts
// reading its socket. Short enough to answer a ping promptly, long enough that an echo loop
// (recv, send, recv ...) never pays for registering with the monitor.
constexpr clock::duration watch_delay = std::chrono::milliseconds(25);

// How long a failure that the peer's input called for may wait for the application to answer
// the messages received before the bad input (see protocol_config::defer_input_failures).
// It acts sooner as soon as a thread waits for input that will never come.
constexpr clock::duration failure_grace = std::chrono::seconds(1);

// Marks the calling thread as the connection's one receiver for a scope.
class single_receiver {
public:
    explicit single_receiver(bool& receiving) : receiving_(receiving) {
        if (receiving_)
            throw concurrency_error("another thread is already receiving on this connection; "
                                    "only one thread may call recv() at a time");
        receiving_ = true;
    }
    ~single_receiver() { receiving_ = false; }
    single_receiver(const single_receiver&) = delete;
    single_receiver& operator=(const single_receiver&) = delete;

private:
    bool& receiving_;
};

message_type type_of(const core::message_event& e) {
    return e.text ? message_type::text : message_type::binary;
}

}  // namespace

core::protocol_config protocol_config_for(const connection_settings& settings) {
    core::protocol_config config;
    config.max_message_size = settings.max_message_size;
    config.stream_fragments = true;  // the engine assembles messages (see recv_fragment)
    // An echo loop answers the messages that came before a bad frame before the connection
    // fails, as peers expect (Autobahn 3.x, 4.x, 5.15 strict).
    config.defer_input_failures = true;
    return config;
}

std::uint64_t next_connection_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

connection_engine::connection_engine(std::unique_ptr<core::protocol> protocol,
                                     std::unique_ptr<transport> stream,
                                     connection_settings settings)
    : id_(next_connection_id()),
      settings_(std::move(settings)),
      protocol_(std::move(protocol)),
      stream_(std::move(stream)),
      remote_address_(stream_->remote_address()) {}

// A socket the monitor still watches leaves its epoll set when the descriptor closes, with
// the transport; an event it already took names this engine by id and finds it gone.
connection_engine::~connection_engine() { stream_->abort(); }

void connection_engine::log(log_level level, std::string_view text) const {
    if (settings_.logger)
        settings_.logger(level, text, id_);
    else
        log_to_stderr(level, text, id_);
}

lazy_deadline connection_engine::send_deadline() const {
    return lazy_deadline(settings_.send_timeout);
}

bool connection_engine::closed() const { return protocol_->current_state() == core::state::closed; }

// ------------------------------------------------------------------ waking

// Sleeps until woken (or spuriously) or until passes; false once until passed.
bool connection_engine::sleep_until(lock& lk, clock::time_point until) {
    ++sleeping_;
    struct leave {
        int& sleeping;
        ~leave() { --sleeping; }
    } on_exit{sleeping_};
    return changed_.wait_until(lk, until);
}

// Called under mutex_ after every change a sleeper may wait for. On the fast path nobody
// sleeps (the receiving thread reads the socket itself): then it costs nothing.
void connection_engine::wake_all() {
    if (sleeping_ > 0) changed_.notify_all();
}

// ------------------------------------------------------------------ reading

// Waits until done() holds, reading the socket when nobody else is. Returns false at the
// deadline. Also returns once the connection is closed, whatever done() says.
template <class Done>
bool connection_engine::wait_for_input(lock& lk, clock::time_point deadline, Done done) {
    ++waiting_;
    stop_watching();  // the monitor must not compete with a thread that waits
    struct leave {
        connection_engine& self;
        ~leave() {
            // The monitor notes when it first sees the connection idle: no clock read here.
            if (--self.waiting_ == 0) self.idle_since_.reset();
        }
    } on_exit{*this};

    for (;;) {
        if (done() || closed()) return true;
        // Waiting for input means the application answered what came before the bad input.
        if (protocol_->pending_failure()) {
            carry_out_pending_failure(lk);
            continue;
        }
        // Once the transport ended the deadline did its job; the reader is returning.
        const bool close_due = close_deadline_ && !transport_ended_;
        // recv() without a timeout, the common case, never reads the clock.
        const clock::time_point now =
            close_due || deadline != no_deadline ? clock::now() : clock::time_point::min();
        if (close_due && now >= *close_deadline_) {
            failure_ = "the peer did not complete the closing handshake in time";
            abort_locked(lk);
            continue;
        }
        // Backpressure: with whole messages waiting for the application, stop reading so
        // that TCP pushes back on the peer. Without one, keep reading, or a message larger
        // than max_queue could never complete.
        const bool paused = reading_paused();
        if (now >= deadline) {
            // A caller that polls with recv(0ms) must still make progress.
            if (!reading_ && !paused && !transport_ended_) {
                read_available(lk);
                if (done() || closed()) return true;
            }
            return false;
        }
        const clock::time_point until = close_due ? std::min(deadline, *close_deadline_) : deadline;
        if (reading_ || paused || transport_ended_) {
            sleep_until(lk, until);
            continue;
        }
        read_once(lk, until);
    }
}

// One read from the transport, with the lock released during the system call.
void connection_engine::read_once(lock& lk, clock::time_point deadline) {
    reading_ = true;
    core::small_read_buffer small;  // on this thread's stack, not in every idle connection
    const core::receive_buffer region = protocol_->prepare_receive(small);
    lk.unlock();
    read_result result{read_status::timeout};
    std::string error;
    std::exception_ptr thrown;
    try {
        result = stream_->read(region.data, region.size, deadline);
    } catch (const std::exception& e) {
        error = e.what();
        thrown = std::current_exception();
    }
    lk.lock();
    if (thrown) transport_error_ = thrown;
    reading_ = false;
    commit_read(result.status == read_status::data ? result.size : 0);
    // An abort from another thread may land while we read: the bytes read still count, and
    // then the connection ends here, since that thread left the end to us.
    if (!error.empty() || result.status == read_status::eof || transport_ended_) {
        if (!error.empty() && failure_.empty()) failure_ = error;
        transport_ended(lk);
    }
    after_input(lk);
    wake_all();
}

// Reads what the socket has without blocking, for a thread whose deadline has passed
// (recv(0ms) polling) and for the monitor. Answers go out without blocking too.
void connection_engine::read_available(lock& lk) {
    core::small_read_buffer small;
    const core::receive_buffer region = protocol_->prepare_receive(small);
    read_result result{read_status::would_block};
    try {
        result = stream_->try_read(region.data, region.size);
    } catch (const std::exception& e) {
        if (failure_.empty()) failure_ = e.what();
        result.status = read_status::eof;
    }
    commit_read(result.status == read_status::data ? result.size : 0);
    if (result.status == read_status::eof) {
        stop_watching();
        transport_ended_ = true;
        stream_->abort();
        protocol_->receive_eof();
    }
    handle_events();
    if (protocol_->close_expected() && !close_deadline_)
        close_deadline_ = deadline_after(settings_.close_timeout);
    if (!transport_ended_) try_flush(lk);
    if (closed()) {
        stop_watching();
        stream_->abort();
    }
    wake_all();
}

// The protocol takes the bytes read, and the transport learns how many more are certain to
// come (the rest of a large frame): whoever waits for the socket next, a reader or the
// monitor, then wakes once they are there rather than for every piece.
void connection_engine::commit_read(std::size_t size) {
    protocol_->commit_receive(size);
    stream_->expect_input(protocol_->frame_bytes_to_come());
}

bool connection_engine::reading_paused() const {
    // Backpressure while the conversation goes on; once closing, read on so that the close
    // handshake can complete.
    return complete_messages_ > 0 && queued_bytes_ >= settings_.max_queue &&
           protocol_->current_state() == core::state::open;
}

// The stream ended (or was aborted): the protocol learns it, and nothing is read again.
void connection_engine::transport_ended(lock& lk) {
    transport_ended_ = true;
    stream_->abort();  // our direction ends too: the peer sees the end of the stream at once
    if (reading_) return;  // the reader reports the end itself when its read returns
    protocol_->receive_eof();
    after_input(lk);
    wake_all();
}

void connection_engine::carry_out_pending_failure(lock& lk) {
    failure_due_.reset();
    protocol_->fail_pending();
    after_input(lk);
    wake_all();
}

// After the protocol consumed input: hand out events, write its answers (pongs, close
// echoes), and end the transport when it asks.
void connection_engine::after_input(lock& lk) {
    handle_events();
    if (protocol_->close_expected() && !close_deadline_)
        close_deadline_ = deadline_after(settings_.close_timeout);
    // Answers (pongs, the close echo) go out without blocking: a reader must not wait for a
    // sender stuck on a peer that does not read. If another thread holds the write lock, it
    // writes them with its own frames; what the socket cannot take now, the monitor writes.
    // Once the stream has ended there is nothing to write to.
    if (!transport_ended_) try_flush(lk);
}

void connection_engine::handle_events() {
    protocol_->take_events([this](core::event& e) {
        if (auto* m = std::get_if<core::message_event>(&e)) {
            queued_bytes_ += m->data.size();
            if (m->fin) ++complete_messages_;
            queue_.push_back(std::move(*m));
        } else if (auto* pong = std::get_if<core::pong_event>(&e)) {
            if (!pong->acknowledged_ping) return;
            const std::uint64_t acknowledged = *pong->acknowledged_ping;
            const clock::time_point now = clock::now();
            // Every ping up to the acknowledged one counts as answered (RFC 6455 §5.5.3).
            auto answered = pongs_.begin();
            for (; answered != pongs_.end() && answered->first <= acknowledged; ++answered)
                answered->second->latency = now - answered->second->sent;
            pongs_.erase(pongs_.begin(), answered);
            if (keepalive_ping_ && *keepalive_ping_ <= acknowledged) keepalive_ping_.reset();
        } else if (auto* request = std::get_if<core::http_request>(&e)) {
            request_ = std::move(*request);
            handshake_event_ = true;
        } else if (auto* response = std::get_if<core::http_response>(&e)) {
            response_ = std::move(*response);
            handshake_event_ = true;
        }
    });
    if (protocol_->pending_failure() && !failure_due_) failure_due_ = deadline_after(failure_grace);
}

// ------------------------------------------------------------------ writing

// Writes what the protocol queued, in order. Requires write_mutex_ held by the caller and
// mutex_ held through lk; mutex_ is released while the write blocks.
void connection_engine::write_pending(lock& lk, lazy_deadline& deadline) {
    for (;;) {
        if (pending_.empty() && protocol_->output_size() == 0) break;
        unwritten_ = false;
        if (!write_without_blocking()) {
            // The rest waits for the socket with mutex_ released: it is out of the
            // protocol's queue, where other threads may queue frames meanwhile.
            pieces_.clear();
            pending_.gather(pieces_);
            lk.unlock();
            try {
                stream_->write(pieces_, deadline.get());
            } catch (...) {
                pending_.clear();
                lk.lock();
                throw;
            }
            lk.lock();
            pending_.clear();
        }
        // Nothing queued while we wrote (the usual case): done, without another trip.
        if (protocol_->output_size() == 0) break;
    }
    half_close_if_requested();
}

// Writes what the socket takes now, without blocking: bytes left from an earlier attempt
// first, then the protocol's. What is left stays in pending_. True when everything went
// out, including what the transport holds (TLS ciphertext). Requires both locks.
bool connection_engine::write_without_blocking() {
    // Usually nothing is left from before: the protocol's frames are written from where
    // they lie, and most fit in the socket's buffer: one system call, no copy, no swap.
    core::output_queue* queue = &pending_;
    if (pending_.empty()) {
        queue = &protocol_->output();
    } else if (protocol_->output_size() > 0) {
        core::output_queue more;
        protocol_->take_output(more);
        pending_.append_queue(more);
    }
    // With nothing of ours queued, try_write() still pushes on what the transport holds.
    if (!queue->empty() || stream_->has_buffered_output()) {
        pieces_.clear();
        queue->gather(pieces_);
        try {
            queue->consume(stream_->try_write(pieces_));
        } catch (...) {
            queue->clear();
            throw;
        }
    }
    if (queue != &pending_ && !queue->empty()) protocol_->take_output(pending_);
    return pending_.empty() && !stream_->has_buffered_output();
}

// The server ends its direction once the close frames are exchanged (RFC 6455 §7.1.1), then
// waits for the client's end of stream, but only until close_timeout.
void connection_engine::half_close_if_requested() {
    if (!protocol_->transport_close_requested() || write_shut_ || transport_ended_) return;
    write_shut_ = true;
    stream_->shutdown_write();
    if (!close_deadline_) close_deadline_ = deadline_after(settings_.close_timeout);
}

void connection_engine::flush(lock& lk, lazy_deadline deadline) {
    lk.unlock();
    write_lock writing = lock_writer(deadline);
    lk.lock();
    write_pending(lk, deadline);
}

// The write lock, waited for no longer than deadline: a send stuck on a peer that does not
// read must not make every other sender wait past its own deadline.
connection_engine::write_lock connection_engine::lock_writer(lazy_deadline& deadline) {
    write_lock writing(write_mutex_, std::try_to_lock);
    if (writing) return writing;
    const clock::time_point until = deadline.get();
    if (until == no_deadline)
        writing.lock();
    else if (!writing.try_lock_until(until))
        throw timeout_error("timed out waiting to send: another thread's send is stuck on a "
                            "peer that does not read");
    return writing;
}

// write_pending, and a failure fails the connection: after a partial write the stream is
// unusable, and the user learns what happened.
void connection_engine::write_or_fail(lock& lk, lazy_deadline& deadline) {
    try {
        write_pending(lk, deadline);
    } catch (const timeout_error&) {
        failure_ = "timed out sending: the peer did not read for " +
                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      settings_.send_timeout).count()) + " ms";
        protocol_->fail(core::close_code::abnormal_closure, failure_);
        abort_locked(lk);
        throw timeout_error(failure_ + "; the connection was closed");
    } catch (const std::exception& e) {
        if (failure_.empty()) failure_ = e.what();
        abort_locked(lk);
        raise_closed(lk);
    }
}

// The monitor's way to write: never blocks. If another thread holds the write lock, that
// thread writes our bytes too (write_pending takes everything the protocol queued); bytes
// the socket cannot take now stay in pending_ for the next attempt.
void connection_engine::try_flush(lock& lk) {
    // The common case after a read (a data message, nothing to answer) takes no lock.
    if (!unwritten_ && protocol_->output_size() == 0 && !protocol_->transport_close_requested() &&
        !stream_->has_buffered_output())
        return;
    write_lock writing(write_mutex_, std::try_to_lock);
    if (!writing) return;
    try {
        unwritten_ = !write_without_blocking();
    } catch (const std::exception& e) {
        if (failure_.empty()) failure_ = e.what();
        abort_locked(lk);
        return;
    }
    if (!unwritten_) half_close_if_requested();
}

void connection_engine::check_can_send(lock& lk) {
    if (protocol_->current_state() != core::state::open) raise_closed(lk);
}

void connection_engine::send_data(message_type type, std::string_view data, bool fin,
                                  bool continuation, core::compression mode) {
    lazy_deadline deadline = send_deadline();
    write_lock writing = lock_writer(deadline);
    lock lk(mutex_);
    // A fragmented message in progress belongs to the thread that started it; other
    // threads' messages wait until it ends, within their send deadline.
    const auto mine = [&] {
        return !sending_fragments_ || fragment_sender_ == std::this_thread::get_id() || closed();
    };
    while (!mine()) {
        writing.unlock();
        while (!mine())
            if (!sleep_until(lk, deadline.get()) && !mine())
                throw timeout_error("timed out waiting for another thread's fragmented message to end");
        lk.unlock();  // write_mutex_ comes first
        writing = lock_writer(deadline);
        lk.lock();
    }
    check_can_send(lk);
    if (continuation)
        protocol_->send_continuation(data, fin);
    else if (type == message_type::text)
        protocol_->send_text(data, fin, mode);
    else
        protocol_->send_binary(data, fin, mode);
    sending_fragments_ = !fin;
    fragment_sender_ = std::this_thread::get_id();
    write_or_fail(lk, deadline);
    // The payload as the application gave it (before compression, without headers).
    if (traffic_) traffic_->sent(data.size(), fin);
    if (fin) wake_all();
}

void connection_engine::send_fragment(message_type type, std::string_view data, bool fin) {
    bool continuation;
    {
        lock lk(mutex_);
        continuation = sending_fragments_ && fragment_sender_ == std::this_thread::get_id();
    }
    send_data(type, data, fin, continuation);
}

std::shared_ptr<pong_state> connection_engine::ping(std::string_view payload) {
    lazy_deadline deadline = send_deadline();
    write_lock writing = lock_writer(deadline);
    lock lk(mutex_);
    check_can_send(lk);
    std::string random;
    if (payload.empty()) {
        random.resize(4);
        core::random_bytes(random.data(), random.size());
        payload = random;
    }
    const std::uint64_t id = protocol_->send_ping(payload);
    auto state = std::make_shared<pong_state>();
    state->sent = clock::now();
    pongs_.emplace_back(id, state);
    write_or_fail(lk, deadline);
    return state;
}

duration connection_engine::wait_pong(const std::shared_ptr<pong_state>& state,
                                      clock::time_point deadline) {
    lock lk(mutex_);
    wait_for_input(lk, deadline, [&] { return state->latency.has_value(); });
    if (state->latency) return *state->latency;
    if (closed()) raise_closed(lk);
    throw timeout_error("no pong received in time");
}

bool connection_engine::pong_ready(const std::shared_ptr<pong_state>& state) const {
    lock lk(mutex_);
    return state->latency.has_value();
}

void connection_engine::pong(std::string_view payload) {
    lazy_deadline deadline = send_deadline();
    write_lock writing = lock_writer(deadline);
    lock lk(mutex_);
    check_can_send(lk);
    protocol_->send_pong(payload);
    write_or_fail(lk, deadline);
}

// ------------------------------------------------------------------ receiving

std::optional<fragment> connection_engine::receive_fragment(clock::time_point deadline) {
    lock lk(mutex_);
    const single_receiver receiver(receiving_);

    if (!wait_for_input(lk, deadline, [&] { return !queue_.empty(); })) return std::nullopt;
    if (queue_.empty()) raise_closed(lk);
    core::message_event& front = queue_.front();
    fragment f{type_of(front), std::move(front.data), front.fin};
    queued_bytes_ -= f.data.size();
    if (f.fin) --complete_messages_;
    queue_.pop_front();
    partial_message_ = !f.fin;
    if (traffic_) traffic_->received(f.data.size(), f.fin);
    wake_all();
    return f;
}

std::optional<message> connection_engine::receive_message(clock::time_point deadline,
                                                          std::string* reusable) {
    return receive(deadline, false, reusable);
}

std::optional<message> connection_engine::receive_until_clean_close(std::string&& reusable) {
    return receive(no_deadline, true, &reusable);
}

std::optional<message> connection_engine::receive(clock::time_point deadline, bool clean_close_ends,
                                                  std::string* reusable) {
    lock lk(mutex_);
    const single_receiver receiver(receiving_);
    if (partial_message_)
        throw invalid_state("recv_fragment() handed out part of a message; receive the rest "
                            "of it with recv_fragment() before calling recv()");
    // Before the wait, so that the next message is assembled in it.
    if (reusable) protocol_->reuse_buffer(std::move(*reusable));

    if (!wait_for_input(lk, deadline, [&] { return complete_messages_ > 0; })) return std::nullopt;
    if (complete_messages_ == 0) {
        if (clean_close_ends && closed() &&
            connection_closed::is_clean(protocol_->close_sent(), protocol_->close_received()))
            return std::nullopt;
        raise_closed(lk);
    }
    // The first fragment's buffer becomes the message: a single-frame message is not copied.
    message m{type_of(queue_.front()), std::move(queue_.front().data)};
    bool fin = queue_.front().fin;
    queue_.pop_front();
    queued_bytes_ -= m.data.size();
    while (!fin) {
        core::message_event& next = queue_.front();
        m.data += next.data;
        queued_bytes_ -= next.data.size();
        fin = next.fin;
        queue_.pop_front();
    }
    --complete_messages_;
    if (traffic_) traffic_->received(m.data.size(), true);
    wake_all();
    return m;
}

// ------------------------------------------------------------------ closing

void connection_engine::close(std::uint16_t code, std::string_view reason) {
    // Everything close() does fits in close_timeout, even behind a send that is stuck on a
    // peer that does not read: then the connection is aborted, which also frees that send.
    const clock::time_point close_by = deadline_after(settings_.close_timeout);
    {
        write_lock writing(write_mutex_, std::defer_lock);
        const bool can_write =
            close_by == no_deadline ? (writing.lock(), true) : writing.try_lock_until(close_by);
        lock lk(mutex_);
        if (!close_deadline_) close_deadline_ = close_by;
        if (!can_write) {
            if (failure_.empty()) failure_ = "could not send the close frame in time: a send is stuck";
            abort_locked(lk);
        } else if (protocol_->current_state() == core::state::open) {
            protocol_->send_close(code, reason);
            try {
                lazy_deadline deadline(settings_.send_timeout, close_by);
                write_pending(lk, deadline);
            } catch (const std::exception& e) {
                if (failure_.empty()) failure_ = e.what();
                abort_locked(lk);
            }
        } else if (protocol_->current_state() == core::state::connecting) {
            abort_locked(lk);
        }
        wake_all();
    }
    lock lk(mutex_);
    wait_for_input(lk, no_deadline, [&] { return closed(); });
}

void connection_engine::abort() noexcept {
    lock lk(mutex_);
    abort_locked(lk);
}

void connection_engine::abort_locked(lock& lk) noexcept {
    stream_->abort();
    if (!transport_ended_) {
        try {
            transport_ended(lk);
        } catch (...) {
        }
    }
    wake_all();
}

// A TLS failure that ended the opening handshake says more than the end of stream it caused:
// TLS 1.3 servers refuse a client certificate only after the client's side of the TLS
// handshake, with an alert that arrives while we wait for the HTTP response.
void connection_engine::rethrow_tls_failure() const {
    if (!transport_error_) return;
    try {
        std::rethrow_exception(transport_error_);
    } catch (const tls_error&) {
        throw;
    } catch (...) {
    }
}

[[noreturn]] void connection_engine::raise_closed(lock& lk) {
    (void)lk;
    if (closed() || transport_ended_ || protocol_->close_sent() || protocol_->close_received())
        protocol_->raise_closed(failure_);
    throw invalid_state("the connection is " + std::string(core::to_string(protocol_->current_state())));
}

// ------------------------------------------------------------------ state

core::state connection_engine::state() const {
    lock lk(mutex_);
    return protocol_->current_state();
}

std::optional<core::close_frame> connection_engine::close_sent() const {
    lock lk(mutex_);
    return protocol_->close_sent();
}

std::optional<core::close_frame> connection_engine::close_received() const {
    lock lk(mutex_);
    return protocol_->close_received();
}

std::optional<std::string> connection_engine::subprotocol() const {
    lock lk(mutex_);
    return subprotocol_;
}

// ------------------------------------------------------------------ handshake

void connection_engine::run_client_handshake(const core::http_request& request,
                                             clock::time_point deadline) {
    auto& client = static_cast<core::client_protocol&>(*protocol_);
    lock lk(mutex_);
    request_ = request;
    client.send_request(request);
    try {
        flush(lk, lazy_deadline::at(deadline));
    } catch (const timeout_error&) {
        abort_locked(lk);
        throw timeout_error("timed out sending the opening handshake");
    }
    if (!wait_for_input(lk, deadline, [&] { return handshake_event_ || client.handshake_error(); })) {
        abort_locked(lk);
        throw timeout_error("timed out waiting for the server's handshake response");
    }
    if (client.handshake_error()) {
        abort_locked(lk);
        rethrow_tls_failure();
        std::rethrow_exception(client.handshake_error());
    }
    // Open, or already closing: a server may send messages and its close frame right
    // behind the 101, in the same read. Those are delivered by recv().
    if (protocol_->current_state() == core::state::connecting) {
        abort_locked(lk);
        throw invalid_handshake("the connection closed during the opening handshake" +
                                    (failure_.empty() ? std::string() : ": " + failure_),
                                0);
    }
    subprotocol_ = client.handshake_result().subprotocol;
    lk.unlock();
    start_monitoring();
}

bool connection_engine::run_server_handshake(
    clock::time_point deadline,
    const std::function<core::http_response(core::server_protocol&, const core::http_request&)>&
        respond) {
    auto& server = static_cast<core::server_protocol&>(*protocol_);
    lock lk(mutex_);
    const bool in_time =
        wait_for_input(lk, deadline, [&] { return handshake_event_ || server.handshake_error(); });
    if (!in_time || !handshake_event_) {
        if (!in_time) log(log_level::info, "opening handshake timed out");
        else if (server.handshake_error()) {
            try {
                std::rethrow_exception(server.handshake_error());
            } catch (const std::exception& e) {
                log(log_level::info, std::string("invalid opening request: ") + e.what());
            }
        }
        abort_locked(lk);
        return false;
    }
    // The user's hooks run without the lock: they may take their time.
    lk.unlock();
    core::http_response response = respond(server, request_);
    lk.lock();
    // Moved, not copied: the copy's temporaries would stay cached by this thread's malloc
    // for as long as the connection is idle.
    response_ = std::move(response);
    server.send_response(response_);
    try {
        flush(lk, send_deadline());
    } catch (const std::exception& e) {
        log(log_level::info, std::string("cannot send the handshake response: ") + e.what());
        abort_locked(lk);
        return false;
    }
    if (protocol_->current_state() != core::state::open) {
        // Let the client read the response before the connection goes: wait briefly for
        // its end of stream instead of resetting the connection under it.
        close_deadline_ = deadline_after(std::min<duration>(settings_.close_timeout, std::chrono::seconds(1)));
        wait_for_input(lk, no_deadline, [&] { return transport_ended_; });
        abort_locked(lk);
        return false;
    }
    subprotocol_ = server.subprotocol();
    lk.unlock();
    start_monitoring();
    return true;
}

// ------------------------------------------------------------------ monitor

void connection_engine::start_monitoring() {
    {
        lock lk(mutex_);
        last_ping_ = clock::now();
        idle_since_ = last_ping_;
    }
    monitor_connection(shared_from_this());
}

void connection_engine::count_traffic_into(std::shared_ptr<traffic_counters> counters) {
    lock lk(mutex_);
    traffic_ = std::move(counters);
}

void connection_engine::stop_watching() {
    if (watch_fd_ < 0) return;
    ::epoll_ctl(watch_fd_, EPOLL_CTL_DEL, stream_->native_handle(), nullptr);
    watch_fd_ = -1;
}

bool connection_engine::on_tick(clock::time_point now, int epoll_fd) {
    // One monitor thread ticks every connection: it must not wait behind one that is busy
    // (compressing a large message under its lock), or every other connection's keepalive,
    // deadlines and release wait too. A busy connection is ticked next time.
    lock lk(mutex_, std::try_to_lock);
    if (!lk) return true;
    if (closed()) {
        stop_watching();
        return false;
    }
    if (close_deadline_ && now >= *close_deadline_ && waiting_ == 0) {
        failure_ = "the peer did not complete the closing handshake in time";
        abort_locked(lk);
        stop_watching();
        return false;
    }
    if (failure_due_ && now >= *failure_due_) carry_out_pending_failure(lk);
    if (settings_.ping_interval > duration::zero() &&
        protocol_->current_state() == core::state::open) {
        if (keepalive_ping_ && settings_.ping_timeout > duration::zero() &&
            now - last_ping_ >= settings_.ping_timeout) {
            failure_ = "keepalive ping timeout: no pong within " +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          settings_.ping_timeout).count()) + " ms";
            protocol_->fail(core::close_code::internal_error, "keepalive ping timeout");
            try_flush(lk);
            abort_locked(lk);
            stop_watching();
            const std::string warning = failure_;
            lk.unlock();  // the user's logger runs without our lock
            log(log_level::warning, warning);
            return false;
        }
        if (!keepalive_ping_ && now - last_ping_ >= settings_.ping_interval) {
            char payload[4];
            core::random_bytes(payload, sizeof payload);
            keepalive_ping_ = protocol_->send_ping(std::string_view(payload, sizeof payload));
            last_ping_ = now;
            try_flush(lk);
        }
    }
    try_flush(lk);
    // Nobody has waited for input for a while: watch the socket so that pings are answered
    // and a close completes while the application is busy.
    const bool paused = reading_paused();
    if (waiting_ == 0 && !idle_since_) idle_since_ = now;
    if (waiting_ == 0 && watch_fd_ < 0 && !paused && !transport_ended_ &&
        now - *idle_since_ >= watch_delay) {
        epoll_event event{};
        event.events = EPOLLIN | EPOLLRDHUP;
        event.data.u64 = id_;  // not `this`: the monitor does not keep the engine alive
        if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, stream_->native_handle(), &event) == 0)
            watch_fd_ = epoll_fd;
    } else if (paused) {
        stop_watching();
    }
    // TLS may hold input that came with earlier bytes (a close frame in the record after a
    // message): the socket is then not readable, yet there is something to read.
    if (watch_fd_ >= 0 && stream_->has_buffered_input()) read_available(lk);
    return true;
}

void connection_engine::on_readable() {
    lock lk(mutex_);
    if (watch_fd_ < 0 || waiting_ > 0 || reading_ || transport_ended_) return;
    if (reading_paused()) {
        stop_watching();  // backpressure: the application must take messages first
        return;
    }
    read_available(lk);
}

}  // namespace syncws::detail

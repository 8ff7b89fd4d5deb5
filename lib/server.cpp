#include "syncws/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio.hpp>

#include "connection_engine.hpp"
#include "peer_logger.hpp"
#include "socket_transport.hpp"
#include "syncws/core/handshake.hpp"
#include "syncws/core/server_protocol.hpp"
#include "tls_context.hpp"
#include "tls_transport.hpp"
#include "traffic_counters.hpp"

namespace syncws {

namespace detail {

namespace {

// Idle workers beyond this many end as soon as their connection does; the others stay warm
// for server_options::idle_worker_timeout, so that a steady stream of connections never
// pays for a thread.
constexpr std::size_t max_idle_workers = 64;
// How long the accept loop stops accepting after running out of descriptors or memory:
// long enough not to spin, short enough that clients barely notice.
constexpr clock::duration accept_backoff = std::chrono::milliseconds(100);
// A client turned away with 503 is kept this long so that its request can be read and
// dropped: closing a socket with unread input sends a reset, which may destroy our
// response before the client reads it.
constexpr clock::duration linger_time = std::chrono::seconds(1);
constexpr std::size_t max_lingering = 64;
// Accept-loop warnings (limit reached, out of descriptors) at most this often, because they
// come in storms.
constexpr clock::duration warning_interval = std::chrono::seconds(10);
// Connections closed in parallel at shutdown: each close waits for its peer, and a few dead
// peers must not hold up the others.
constexpr std::size_t max_closers = 64;

// Closing reports nothing: what went wrong was logged by the engine, and the caller goes on.
void close_quietly(connection_engine& engine, std::uint16_t code, std::string_view reason) noexcept {
    try {
        engine.close(code, reason);
    } catch (...) {
    }
}

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

// Errors after which the next address of a name (or IPv4 after dual-stack IPv6) may work;
// anything else (in use, permission denied) would fail the same way, or bind a different
// address than the one the user meant.
bool try_next_address(const asio::error_code& ec) {
    return ec == asio::error::address_family_not_supported ||
           ec == asio::error::operation_not_supported || ec.value() == EADDRNOTAVAIL ||
           ec.value() == EPROTONOSUPPORT;
}

// Lets a warning through at most once per warning_interval.
class throttle {
public:
    bool allow(clock::time_point now) {
        if (last_ && now - *last_ < warning_interval) return false;
        last_ = now;
        return true;
    }

private:
    std::optional<clock::time_point> last_;
};

// The thread running a handler of this server, if any: shutdown() from inside a handler
// must neither wait for that handler nor join its own thread.
thread_local const void* handler_thread_of = nullptr;

}  // namespace

class server_engine {
public:
    server_engine(server_options options, handler on_connection);
    ~server_engine();

    void serve_forever();
    void start();
    void shutdown(duration timeout);
    std::uint16_t port() const noexcept { return port_; }
    const std::string& address() const noexcept { return address_; }
    std::size_t connection_count() const;
    void broadcast(const message& m);
    server_stats stats() const;

private:
    using lock = std::unique_lock<std::mutex>;
    using engine_ptr = std::shared_ptr<connection_engine>;

    struct job {
        unique_fd socket;
        std::optional<std::string> peer;  // describe()d
        clock::time_point handshake_deadline;
    };
    struct lingering_socket {
        unique_fd socket;
        clock::time_point until;
    };
    struct tracked {
        engine_ptr engine;
        bool open = false;  // the handshake succeeded: counted in open_
    };
    // What became of an accepted connection, for stats(): decided along the way, counted
    // once at its end.
    enum class outcome {
        other, upgraded, no_request, invalid_request, forbidden_origin, process_request, tls, timeout
    };
    // stats()' counters: relaxed atomics, each touched once per connection.
    struct counters {
        std::atomic<std::uint64_t> accepted{0}, opened{0}, invalid_request{0}, forbidden_origin{0},
            process_request{0}, tls{0}, timeout{0}, over_limit{0}, other{0};
    };

    void listen_tcp();
    void listen_unix();
    void begin_serving();
    void accept_loop();
    void accept_ready(std::deque<lingering_socket>& lingering, clock::time_point& resume_accepting);
    void admit(unique_fd socket, const peer_address& peer, std::deque<lingering_socket>& lingering);
    void turn_away(unique_fd socket, std::deque<lingering_socket>& lingering);
    void spawn_worker(lock& lk);
    void join_exited_workers();
    void wake_accept_loop() noexcept;
    void worker(std::list<std::thread>::iterator self);
    void serve_connection(job j);
    std::unique_ptr<transport> wrap(unique_fd socket, std::optional<std::string> peer) const;
    std::unique_ptr<transport> secure(std::unique_ptr<transport> stream, clock::time_point deadline,
                                      outcome& result);
    std::unique_ptr<core::server_protocol> make_protocol() const;
    core::http_response respond(connection_engine& engine, core::server_protocol& protocol,
                                const core::http_request& request, outcome& result) const;
    void count(outcome result, clock::time_point handshake_deadline) noexcept;
    core::http_response internal_error(core::server_protocol& protocol) const;
    void run_handler(const engine_ptr& engine);
    void stop(duration timeout, bool inside_handler);
    void close_listener() noexcept;
    void join_threads();
    std::vector<engine_ptr> snapshot(bool open_only) const;
    void log(log_level level, const std::string& text, std::string_view remote_address = {}) const;

    const server_options options_;
    const handler handler_;

    // Listening: set up by the constructor, then only read (closed after the accept loop ended).
    std::optional<asio::ip::tcp::acceptor> tcp_listener_;
    std::optional<asio::local::stream_protocol::acceptor> unix_listener_;
    const bool is_unix_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::string address_;
    struct stat unix_file_ {};  // the socket file we created, so we never unlink another's
    unique_fd wake_fd_;         // wakes the accept loop: shutdown, or a worker to join
    std::string busy_response_;  // the 503, serialized once
    std::shared_ptr<ssl_ctx_st> tls_context_;  // wss:// only, when set
    throttle limit_warning_;    // accept thread only
    throttle accept_warning_;   // accept thread only
    counters counts_;
    // Each connection handed to a handler counts into counters of its own (which may
    // outlive the server); stats() adds them up.
    mutable traffic_ledger traffic_;

    mutable std::mutex mutex_;
    std::condition_variable work_ready_;  // workers: a job came, or stopping
    std::condition_variable changed_;     // a connection ended, or the accept loop did
    std::atomic<bool> stopping_{false};   // written under mutex_, read anywhere
    bool serving_ = false;                // serve_forever() or start() was called
    bool accepting_ = false;              // the accept loop runs
    std::thread accept_thread_;           // start()'s
    std::list<std::thread> workers_;
    std::list<std::thread> exited_;       // workers that ended, not joined yet
    std::deque<job> jobs_;
    std::size_t idle_ = 0;                // workers waiting for a job
    std::size_t active_ = 0;              // connections from accept until they end
    std::size_t open_ = 0;                // connections past their handshake (handler, close)
    std::unordered_map<std::uint64_t, tracked> connections_;
    // Sockets in their TLS handshake, which has no engine yet that shutdown() could abort:
    // duplicates of their descriptors, so that cutting a handshake short never races with
    // the socket's close (a closed descriptor number may already belong to another socket).
    std::set<int> tls_handshakes_;

    std::mutex shutdown_mutex_;  // one shutdown() at a time
    bool stopped_ = false;       // under shutdown_mutex_
};

// ------------------------------------------------------------------ listening

server_engine::server_engine(server_options options, handler on_connection)
    : options_(std::move(options)),
      handler_(std::move(on_connection)),
      is_unix_(!options_.unix_socket.empty()) {
    if (!handler_) throw error("syncws::server needs a handler");
    // Refuse headers that could not be written now, rather than fail every handshake later.
    core::http_headers fixed = options_.extra_response_headers;
    if (!options_.server_header.empty()) fixed.add("Server", options_.server_header);
    try {
        core::http_response check;
        check.headers = fixed;
        check.serialize();
    } catch (const std::invalid_argument& e) {
        throw error(std::string("invalid extra_response_headers or server_header: ") + e.what());
    }
    core::http_headers busy;
    busy.add("Retry-After", "1");
    if (!options_.server_header.empty()) busy.add("Server", options_.server_header);
    busy_response_ = core::build_reject_response(
                         503, std::move(busy),
                         "The server is at its limit of " + std::to_string(options_.max_connections) +
                             " connections; try again shortly.\n")
                         .serialize();

    // Bad certificate files fail here, before anything listens; built once for every client.
    const tls_server_options& tls = options_.tls;
    if (tls.enabled() || !tls.key_file.empty() || !tls.client_ca_file.empty())
        tls_context_ = server_context(tls);

    wake_fd_ = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (wake_fd_.get() < 0) throw error(std::string("cannot create an eventfd: ") + std::strerror(errno));

    if (is_unix_)
        listen_unix();
    else
        listen_tcp();
    set_close_on_exec(listen_fd_);
    // poll() says when to accept; a non-blocking listener makes a client that resets before
    // accept() harmless.
    const int flags = ::fcntl(listen_fd_, F_GETFL);
    ::fcntl(listen_fd_, F_SETFL, flags | O_NONBLOCK);
    log(log_level::info, "listening on " + address_);
}

server_engine::~server_engine() { close_listener(); }

void server_engine::listen_tcp() {
    const std::string where =
        (options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host) +
        ":" + std::to_string(options_.port);
    std::vector<asio::ip::tcp::endpoint> candidates;
    bool named = false;  // errors then say which address of the name was tried
    asio::error_code ec;
    if (options_.host.empty()) {
        // Every interface: one dual-stack IPv6 socket takes IPv4 too; plain IPv4 where the
        // host has no IPv6.
        candidates.emplace_back(asio::ip::address_v6::any(), options_.port);
        candidates.emplace_back(asio::ip::address_v4::any(), options_.port);
    } else if (const asio::ip::address literal = asio::ip::make_address(options_.host, ec); !ec) {
        candidates.emplace_back(literal, options_.port);
    } else {
        named = true;
        asio::ip::tcp::resolver resolver(io());
        const auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                              asio::ip::resolver_base::passive, ec);
        if (ec) throw error("cannot listen on " + where + ": cannot resolve " + options_.host + ": " + ec.message());
        for (const auto& entry : results) candidates.push_back(entry.endpoint());
        // One server has one socket, so a name with several addresses is bound to one of
        // them: IPv4 first, as the address most clients try (ours tries every address).
        std::stable_partition(candidates.begin(), candidates.end(),
                              [](const auto& e) { return e.address().is_v4(); });
        if (candidates.empty()) throw error("cannot listen on " + where + ": " + options_.host + " has no address");
    }

    std::string failure;
    for (const auto& endpoint : candidates) {
        asio::ip::tcp::acceptor acceptor(io());
        ec.clear();
        acceptor.open(endpoint.protocol(), ec);
        if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec && options_.reuse_port) {
            // SO_REUSEPORT: every process (or server) that sets it may bind the same port,
            // and the kernel spreads new connections among them.
            const int on = 1;
            if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
                ec.assign(errno, asio::error::get_system_category());
        }
        if (!ec && endpoint.address().is_v6() && endpoint.address().is_unspecified())
            acceptor.set_option(asio::ip::v6_only(false), ec);
        if (!ec) acceptor.bind(endpoint, ec);
        if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (!ec) {
            const asio::ip::tcp::endpoint bound = acceptor.local_endpoint(ec);
            if (!ec) {
                port_ = bound.port();
                address_ = describe(bound);
                listen_fd_ = acceptor.native_handle();
                tcp_listener_.emplace(std::move(acceptor));
                return;
            }
        }
        if (failure.empty())
            failure = (named ? where + " (" + describe(endpoint) + ")" : describe(endpoint)) + ": " +
                      ec.message();
        if (!try_next_address(ec)) break;
    }
    throw error("cannot listen on " + failure);
}

void server_engine::listen_unix() {
    const std::string& path = options_.unix_socket;
    const std::string cannot = "cannot listen on " + path + ": ";
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
        throw error(cannot + "the path is longer than a Unix socket address allows (" +
                    std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    const asio::local::stream_protocol::endpoint endpoint(path);

    // A socket file left by a server that died is removed; a live server's is not taken
    // over, and a file that is not a socket is never deleted.
    struct stat existing {};
    if (::lstat(path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode)) throw error(cannot + "a file that is not a socket is in the way");
        // Non-blocking, so that a live server with a full backlog does not stall us.
        asio::local::stream_protocol::socket probe(io());
        asio::error_code ec;
        probe.open(asio::local::stream_protocol(), ec);
        if (!ec) probe.non_blocking(true, ec);
        if (!ec) probe.connect(endpoint, ec);
        if (!ec || ec == asio::error::would_block || ec == asio::error::try_again)
            throw error(cannot + "another server is listening there");
        if (ec != asio::error::connection_refused) throw error(cannot + ec.message());
        ::unlink(path.c_str());
    }

    asio::local::stream_protocol::acceptor acceptor(io());
    asio::error_code ec;
    acceptor.open(asio::local::stream_protocol(), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw error(cannot + ec.message());
    ::lstat(path.c_str(), &unix_file_);
    address_ = path;
    listen_fd_ = acceptor.native_handle();
    unix_listener_.emplace(std::move(acceptor));
}

void server_engine::close_listener() noexcept {
    asio::error_code ignored;
    if (tcp_listener_) tcp_listener_->close(ignored);
    tcp_listener_.reset();
    if (unix_listener_) {
        unix_listener_->close(ignored);
        unix_listener_.reset();
        // Only our own socket file: another server may have replaced it since.
        struct stat now {};
        if (::lstat(options_.unix_socket.c_str(), &now) == 0 && now.st_dev == unix_file_.st_dev &&
            now.st_ino == unix_file_.st_ino)
            ::unlink(options_.unix_socket.c_str());
    }
    listen_fd_ = -1;
}

void server_engine::log(log_level level, const std::string& text, std::string_view remote_address) const {
    options_.settings.logger(log_record{level, text, 0, remote_address});  // empty: log_to_stderr
}

// ------------------------------------------------------------------ accepting

void server_engine::begin_serving() {
    if (serving_)
        throw invalid_state("the server is already accepting connections: call serve_forever() "
                            "or start() once");
    serving_ = true;
    accepting_ = true;
}

void server_engine::serve_forever() {
    {
        lock lk(mutex_);
        if (stopping_) return;
        begin_serving();
    }
    accept_loop();
}

void server_engine::start() {
    lock lk(mutex_);
    if (stopping_) throw invalid_state("the server was shut down");
    begin_serving();
    try {
        accept_thread_ = std::thread([this] { accept_loop(); });
    } catch (...) {
        serving_ = accepting_ = false;
        throw;
    }
}

// Waits with poll() for clients, for the wake-up that ends the loop, and for the request of
// clients turned away, so that nothing here ever blocks for long.
void server_engine::accept_loop() {
    // However the loop ends, shutdown() must learn it, or it would wait forever.
    struct on_exit {
        server_engine& self;
        ~on_exit() {
            lock lk(self.mutex_);
            self.accepting_ = false;
            self.changed_.notify_all();
        }
    } ended{*this};
    std::vector<pollfd> fds;
    std::deque<lingering_socket> lingering;
    clock::time_point resume_accepting{};
    while (!stopping_) {
        clock::time_point now = clock::now();
        const bool backing_off = now < resume_accepting;
        fds.clear();
        fds.push_back({wake_fd_.get(), POLLIN, 0});
        fds.push_back({backing_off ? -1 : listen_fd_, POLLIN, 0});  // poll() skips fd -1
        for (const auto& l : lingering) fds.push_back({l.socket.get(), POLLIN, 0});
        clock::time_point wake_at = backing_off ? resume_accepting : clock::time_point::max();
        if (!lingering.empty()) wake_at = std::min(wake_at, lingering.front().until);  // in order
        int timeout_ms = -1;
        if (wake_at != clock::time_point::max())
            timeout_ms = static_cast<int>(std::max<clock::rep>(
                0, std::chrono::ceil<std::chrono::milliseconds>(wake_at - now).count()));

        if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
            if (errno == EINTR) continue;
            const int problem = errno;
            if (accept_warning_.allow(clock::now()))
                log(log_level::error, std::string("poll() failed in the accept loop: ") + std::strerror(problem));
            resume_accepting = clock::now() + accept_backoff;
            std::this_thread::sleep_for(accept_backoff);
            continue;
        }
        if (stopping_) break;
        if (fds[0].revents != 0) {
            std::uint64_t count;
            (void)!::read(wake_fd_.get(), &count, sizeof count);  // a worker ended: joined below
        }

        // Clients turned away: drop what they send until they close, or until their time is up.
        now = clock::now();
        std::size_t kept = 0;
        for (std::size_t i = 0; i < lingering.size(); ++i) {
            bool done = now >= lingering[i].until;
            if (!done && fds[2 + i].revents != 0) {
                char scratch[4096];
                for (;;) {
                    const ssize_t n = ::recv(lingering[i].socket.get(), scratch, sizeof scratch, MSG_DONTWAIT);
                    if (n > 0) continue;
                    done = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
                    break;
                }
            }
            if (!done) {
                if (kept != i) lingering[kept] = std::move(lingering[i]);
                ++kept;
            }
        }
        lingering.resize(kept);

        if (fds[1].revents != 0) {
            try {
                accept_ready(lingering, resume_accepting);
            } catch (const std::exception& e) {
                // Out of memory or threads: keep serving the connections we have.
                if (accept_warning_.allow(clock::now()))
                    log(log_level::error, std::string("cannot accept a connection: ") + e.what());
                resume_accepting = clock::now() + accept_backoff;
            }
        }
        join_exited_workers();
    }
}

void server_engine::accept_ready(std::deque<lingering_socket>& lingering,
                                 clock::time_point& resume_accepting) {
    // A few at a time, so that a burst costs fewer poll() calls.
    for (int i = 0; i < 32 && !stopping_; ++i) {
        peer_address peer;
        peer.size = sizeof peer.storage;
        unique_fd socket(::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer.storage), &peer.size, SOCK_CLOEXEC));
        if (socket.get() >= 0) {
            counts_.accepted.fetch_add(1, std::memory_order_relaxed);
            admit(std::move(socket), peer, lingering);
            continue;
        }
        switch (errno) {
            case EAGAIN:
#if EAGAIN != EWOULDBLOCK
            case EWOULDBLOCK:
#endif
                return;
            // The client gave up before we accepted, or (Linux) a network error on the new
            // connection: nothing to do with us, try the next one.
            case EINTR: case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
            case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
            case EPERM:
                continue;
            default: {
                // Out of descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM): keep serving
                // the open connections and try again shortly, the pending clients wait in
                // the backlog.
                const int problem = errno;
                if (accept_warning_.allow(clock::now()))
                    log(log_level::warning, std::string("cannot accept connections: ") +
                                                std::strerror(problem) + "; retrying every " +
                                                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(accept_backoff).count()) +
                                                " ms");
                resume_accepting = clock::now() + accept_backoff;
                return;
            }
        }
    }
}

void server_engine::admit(unique_fd socket, const peer_address& peer, std::deque<lingering_socket>& lingering) {
    // Named here rather than on the worker: inet_ntop() formats with sprintf(), whose frame
    // was the deepest a worker ever reached, and a worker's stack stays resident for as long
    // as its thread lives (one more page per idle connection). Never throws: a worker asks
    // the socket when this could not.
    std::optional<std::string> peer_text = describe(peer, is_unix_);
    std::string problem;  // logged after the lock is released: the logger is user code
    {
        lock lk(mutex_);
        if (active_ < options_.max_connections) {
            jobs_.push_back({std::move(socket), std::move(peer_text), deadline_after(options_.settings.open_timeout)});
            ++active_;  // after the push, which may throw
            // Each idle worker takes one job; more jobs than idle workers need a new worker.
            if (idle_ >= jobs_.size()) {
                lk.unlock();  // the woken worker does not wake into a held mutex
                work_ready_.notify_one();
                return;
            }
            try {
                spawn_worker(lk);
                return;
            } catch (const std::exception& e) {
                socket = std::move(jobs_.back().socket);
                jobs_.pop_back();
                --active_;
                problem = std::string("cannot start a worker thread: ") + e.what();
            }
        }
    }
    const clock::time_point now = clock::now();
    if (!problem.empty()) {
        if (accept_warning_.allow(now)) log(log_level::error, problem + "; answering 503");
    } else if (limit_warning_.allow(now)) {
        log(log_level::warning, "connection limit reached (" + std::to_string(options_.max_connections) +
                                    " connections): answering new clients with 503");
    }
    turn_away(std::move(socket), lingering);
}

// Answers 503 without blocking: a fresh socket's buffer always has room for these few bytes.
// Over TLS the answer would need a handshake, which must not run on this thread: plain
// bytes would only garble the client's handshake, so it just sees the connection close.
void server_engine::turn_away(unique_fd socket, std::deque<lingering_socket>& lingering) {
    counts_.over_limit.fetch_add(1, std::memory_order_relaxed);
    if (!tls_context_)
        (void)::send(socket.get(), busy_response_.data(), busy_response_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(socket.get(), SHUT_WR);
    if (lingering.size() >= max_lingering) lingering.pop_front();
    lingering.push_back({std::move(socket), clock::now() + linger_time});
}

// ------------------------------------------------------------------ workers

void server_engine::spawn_worker(lock& lk) {
    (void)lk;  // mutex_ is held: the worker finds its own list entry under it
    workers_.emplace_back();
    const auto self = std::prev(workers_.end());
    try {
        *self = std::thread([this, self] { worker(self); });
    } catch (...) {
        workers_.erase(self);
        throw;
    }
}

void server_engine::join_exited_workers() {
    std::list<std::thread> done;
    {
        lock lk(mutex_);
        done.swap(exited_);
    }
    for (auto& t : done) t.join();
}

void server_engine::worker(std::list<std::thread>::iterator self) {
    handler_thread_of = this;
    lock lk(mutex_);
    for (;;) {
        ++idle_;
        const bool got_job = work_ready_.wait_until(lk, deadline_after(options_.idle_worker_timeout),
                                                    [&] { return !jobs_.empty() || stopping_; });
        --idle_;
        if (stopping_ || !got_job) break;
        job j = std::move(jobs_.front());
        jobs_.pop_front();
        lk.unlock();
        serve_connection(std::move(j));
        lk.lock();
        if (idle_ >= max_idle_workers) break;
    }
    // A thread cannot join itself: an ending worker queues itself and wakes the accept loop,
    // which joins it. Once stopping, shutdown() joins workers_ directly.
    if (!stopping_) {
        exited_.splice(exited_.end(), workers_, self);
        wake_accept_loop();
    }
}

void server_engine::wake_accept_loop() noexcept {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof one);
}

// The accept thread named the peer from accept()'s address: asking the socket again would
// cost a system call.
std::unique_ptr<transport> server_engine::wrap(unique_fd socket, std::optional<std::string> peer) const {
    return make_socket_transport(socket.release(), std::move(peer), is_unix_);
}

std::unique_ptr<core::server_protocol> server_engine::make_protocol() const {
    core::server_handshake_config handshake;
    handshake.subprotocols = options_.subprotocols;
    handshake.allowed_origins = options_.allowed_origins;
    if (options_.compression.enabled) handshake.deflate = options_.compression;
    auto protocol = std::make_unique<core::server_protocol>(
        std::move(handshake), protocol_config_for(options_.settings));
    // Called during the handshake only, while the server exists.
    if (options_.select_subprotocol)
        protocol->set_subprotocol_selector(
            [this](const std::vector<std::string>& offered) { return options_.select_subprotocol(offered); });
    return protocol;
}

// The TLS handshake, on the worker under the handshake deadline, so that a slow or silent
// client holds up nobody else. Failures are the client's doing (or a scanner's): logged as
// info, not as errors. Returns nothing when the handshake failed.
std::unique_ptr<transport> server_engine::secure(std::unique_ptr<transport> stream,
                                                 clock::time_point deadline, outcome& result) {
    const std::string client = stream->remote_address();
    unique_fd handle(::fcntl(stream->native_handle(), F_DUPFD_CLOEXEC, 0));
    {
        lock lk(mutex_);
        if (stopping_) return nullptr;
        if (handle.get() >= 0) tls_handshakes_.insert(handle.get());
    }
    struct forget {
        server_engine& self;
        int fd;
        ~forget() {
            lock lk(self.mutex_);
            self.tls_handshakes_.erase(fd);
        }
    } registered{*this, handle.get()};
    try {
        return tls_accept(std::move(stream), tls_context_, deadline);
    } catch (const std::exception& e) {
        if (!stopping_) {
            result = dynamic_cast<const timeout_error*>(&e) ? outcome::timeout : outcome::tls;
            // Every such line starts alike, to be counted and searched; most causes say it.
            const std::string what = e.what();
            const char* const prefix = "TLS handshake failed";
            log(log_level::info, what.rfind(prefix, 0) == 0 ? what : prefix + (": " + what), client);
        }
    }
    return nullptr;
}

void server_engine::serve_connection(job j) {
    engine_ptr engine;
    outcome result = outcome::other;
    try {
        std::unique_ptr<transport> stream = wrap(std::move(j.socket), std::move(j.peer));
        if (tls_context_) stream = secure(std::move(stream), j.handshake_deadline, result);
        if (stream) {
            // The engine names its connection in log lines; this names the peer too.
            connection_settings settings = options_.settings;
            settings.logger = for_peer(settings.logger, stream->remote_address());
            engine = std::make_shared<connection_engine>(make_protocol(), std::move(stream), std::move(settings));
        }
    } catch (const std::exception& e) {
        log(log_level::error, std::string("cannot set up an accepted connection: ") + e.what());
    }
    bool open = false;
    if (!engine) count(result, j.handshake_deadline);  // no socket, or no TLS session
    if (engine) {
        bool go;
        {
            lock lk(mutex_);
            go = !stopping_;
            if (go) connections_.emplace(engine->id(), tracked{engine, false});
        }
        if (go) {
            result = outcome::no_request;  // until respond() sees one
            try {
                open = engine->run_server_handshake(
                    j.handshake_deadline,
                    [this, &e = *engine, &result](core::server_protocol& protocol, const core::http_request& request) {
                        return respond(e, protocol, request, result);
                    });
            } catch (const std::exception& e) {
                engine->log(log_level::error, std::string("the opening handshake failed: ") + e.what());
                engine->abort();
            }
            if (open) result = outcome::upgraded;
        }
        count(result, j.handshake_deadline);
        if (open) {
            // Before the connection is marked open, so that a broadcast counts on it too.
            engine->count_traffic_into(traffic_.open());
            {
                lock lk(mutex_);
                // A shutdown that began during the handshake did not see this connection open.
                open = !stopping_;
                if (open) {
                    connections_.at(engine->id()).open = true;
                    ++open_;
                }
            }
            if (open)
                run_handler(engine);
            else
                close_quietly(*engine, core::close_code::going_away, "server shutting down");
        }
    }
    lock lk(mutex_);
    if (engine) {
        const auto it = connections_.find(engine->id());
        if (it != connections_.end()) {
            if (it->second.open) --open_;
            connections_.erase(it);
        }
    }
    --active_;
    changed_.notify_all();
}

void server_engine::count(outcome result, clock::time_point handshake_deadline) noexcept {
    if (result == outcome::no_request) {
        // The handshake ended before a request was complete: the deadline, shutdown(), or a
        // request that could not be parsed (or never came before the client closed).
        if (clock::now() >= handshake_deadline)
            result = outcome::timeout;
        else if (stopping_)
            result = outcome::other;
        else
            result = outcome::invalid_request;
    }
    std::atomic<std::uint64_t>* counter = &counts_.other;
    switch (result) {
        case outcome::upgraded: counter = &counts_.opened; break;
        case outcome::invalid_request: counter = &counts_.invalid_request; break;
        case outcome::forbidden_origin: counter = &counts_.forbidden_origin; break;
        case outcome::process_request: counter = &counts_.process_request; break;
        case outcome::tls: counter = &counts_.tls; break;
        case outcome::timeout: counter = &counts_.timeout; break;
        case outcome::no_request: case outcome::other: break;
    }
    counter->fetch_add(1, std::memory_order_relaxed);
}

// The hooks, in order: process_request may answer plain HTTP; otherwise the protocol checks
// the request (origin, version, key) and picks a subprotocol.
core::http_response server_engine::respond(connection_engine& engine, core::server_protocol& protocol,
                                           const core::http_request& request, outcome& result) const {
    result = outcome::other;  // until the response is known; a 101 not sent stays "other"
    if (options_.process_request) {
        std::optional<core::http_response> answer;
        try {
            answer = options_.process_request(request);
            if (answer) {
                if (answer->status == 101)
                    throw error("it returned a 101 response; return nothing to go on with the handshake");
                answer->serialize();  // a response that cannot be written becomes a 500 here
            }
        } catch (const std::exception& e) {
            engine.log(log_level::error, std::string("process_request failed: ") + e.what());
            return internal_error(protocol);
        }
        if (answer) {
            engine.log(log_level::debug, request.method + " " + request.target + " answered with " +
                                             std::to_string(answer->status) + " by process_request");
            result = outcome::process_request;
            return std::move(*answer);
        }
    }
    core::http_response response = protocol.accept(request);
    if (const std::exception_ptr& problem = protocol.handshake_error()) {
        try {
            std::rethrow_exception(problem);
        } catch (const invalid_handshake& e) {
            // The core answers 403 for one reason only: an Origin not allowed.
            result = response.status == 403 ? outcome::forbidden_origin : outcome::invalid_request;
            engine.log(log_level::info, "rejected the opening request with " +
                                            std::to_string(response.status) + ": " + e.what());
        } catch (const std::exception& e) {
            engine.log(log_level::error, std::string("cannot accept the opening request: ") + e.what());
        } catch (...) {
            engine.log(log_level::error, "cannot accept the opening request");
        }
    }
    for (const auto& [name, value] : options_.extra_response_headers) response.headers.add(name, value);
    if (!options_.server_header.empty() && !response.headers.contains("Server"))
        response.headers.add("Server", options_.server_header);
    return response;
}

core::http_response server_engine::internal_error(core::server_protocol& protocol) const {
    core::http_headers headers;
    if (!options_.server_header.empty()) headers.add("Server", options_.server_header);
    return protocol.reject(500, std::move(headers), "Internal server error.\n");
}

void server_engine::run_handler(const engine_ptr& engine) {
    server_connection connection(engine);
    std::uint16_t code = core::close_code::normal;
    try {
        handler_(connection);
    } catch (const connection_closed& e) {
        // recv() throwing because the peer left is how many handlers end: not a failure.
        engine->log(log_level::debug, std::string("the handler ended with its connection: ") + e.what());
    } catch (const std::exception& e) {
        engine->log(log_level::error, std::string("connection handler failed: ") + e.what());
        code = core::close_code::internal_error;
    } catch (...) {
        engine->log(log_level::error, "connection handler failed with an exception that is not a std::exception");
        code = core::close_code::internal_error;
    }
    close_quietly(*engine, code, code == core::close_code::normal ? "" : "internal error");
}

// ------------------------------------------------------------------ shutdown

void server_engine::shutdown(duration timeout) {
    const bool inside_handler = handler_thread_of == this;
    lock guard(shutdown_mutex_, std::defer_lock);
    if (inside_handler) {
        // Another thread is shutting down and waits for this handler: do not wait for it.
        if (!guard.try_lock()) return;
    } else {
        guard.lock();
    }
    if (!stopped_) {
        stop(timeout, inside_handler);
        stopped_ = true;
    }
    // A handler's own thread is joined later, by a shutdown() from outside (the destructor).
    if (!inside_handler) join_threads();
}

void server_engine::stop(duration timeout, bool inside_handler) {
    const clock::time_point deadline = after_waiting(timeout);
    std::deque<job> never_started;
    {
        lock lk(mutex_);
        stopping_ = true;
        never_started.swap(jobs_);
        active_ -= never_started.size();
        counts_.other.fetch_add(never_started.size(), std::memory_order_relaxed);
    }
    work_ready_.notify_all();
    never_started.clear();  // closes their sockets
    {
        lock lk(mutex_);
        for (const int fd : tls_handshakes_) ::shutdown(fd, SHUT_RDWR);  // no engine to abort yet
    }
    wake_accept_loop();
    {
        lock lk(mutex_);
        changed_.wait(lk, [&] { return !accepting_; });
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    close_listener();

    // Connections past their handshake get a close frame, even if their handler has not
    // started yet (the client already has its 101); those still in the handshake are dropped.
    std::vector<engine_ptr> to_close;
    for (auto& engine : snapshot(false)) {
        if (engine->state() == core::state::connecting)
            engine->abort();
        else
            to_close.push_back(std::move(engine));
    }

    // Each close waits for its peer, so they run in parallel; the deadline below bounds them.
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> closers;
    const auto close_some = [&] {
        for (std::size_t i = next++; i < to_close.size(); i = next++)
            close_quietly(*to_close[i], core::close_code::going_away, "server shutting down");
    };
    for (std::size_t i = 0; i < std::min(to_close.size(), max_closers); ++i) {
        try {
            closers.emplace_back(close_some);
        } catch (const std::system_error&) {
            break;  // out of threads: those left are aborted at the deadline
        }
    }

    const std::size_t own = inside_handler ? 1 : 0;  // the calling handler's connection
    bool ended;
    {
        lock lk(mutex_);
        ended = changed_.wait_until(lk, deadline, [&] { return active_ <= own; });
    }
    if (!ended) {
        const std::vector<engine_ptr> left = snapshot(false);
        for (const auto& engine : left) engine->abort();
        log(log_level::warning, "shutdown deadline reached: aborted " + std::to_string(left.size()) +
                                    " connection(s) whose handler had not returned");
    }
    for (auto& t : closers) t.join();
}

void server_engine::join_threads() {
    std::list<std::thread> threads;
    {
        lock lk(mutex_);
        threads.splice(threads.end(), workers_);
        threads.splice(threads.end(), exited_);
    }
    for (auto& t : threads) t.join();
}

std::vector<server_engine::engine_ptr> server_engine::snapshot(bool open_only) const {
    std::vector<engine_ptr> engines;
    lock lk(mutex_);
    engines.reserve(connections_.size());
    for (const auto& entry : connections_)
        if (entry.second.open || !open_only) engines.push_back(entry.second.engine);
    return engines;
}

std::size_t server_engine::connection_count() const {
    lock lk(mutex_);
    return open_;
}

server_stats server_engine::stats() const {
    const auto get = [](const std::atomic<std::uint64_t>& counter) {
        return counter.load(std::memory_order_relaxed);
    };
    server_stats s;
    s.accepted = get(counts_.accepted);
    s.opened = get(counts_.opened);
    s.open_connections = connection_count();
    const traffic_totals traffic = traffic_.totals();
    s.messages_received = traffic.messages_received;
    s.bytes_received = traffic.bytes_received;
    s.messages_sent = traffic.messages_sent;
    s.bytes_sent = traffic.bytes_sent;
    server_stats::failures& f = s.handshake_failures;
    f.invalid_request = get(counts_.invalid_request);
    f.forbidden_origin = get(counts_.forbidden_origin);
    f.process_request = get(counts_.process_request);
    f.tls = get(counts_.tls);
    f.timeout = get(counts_.timeout);
    f.over_limit = get(counts_.over_limit);
    f.other = get(counts_.other);
    return s;
}

void server_engine::broadcast(const message& m) {
    for (const auto& engine : snapshot(true)) {
        try {
            engine->send_data(m.type, m.data, true, false);
        } catch (const std::exception& e) {
            engine->log(log_level::debug, std::string("broadcast skipped this connection: ") + e.what());
        }
    }
}

}  // namespace detail

// ------------------------------------------------------------------ server

server::server(server_options options, handler on_connection)
    : engine_(std::make_unique<detail::server_engine>(std::move(options), std::move(on_connection))) {}

server::~server() {
    try {
        shutdown();
    } catch (...) {
        // Out of memory while shutting down: nothing better to do in a destructor.
    }
}

void server::serve_forever() { engine_->serve_forever(); }
void server::start() { engine_->start(); }
void server::shutdown(duration timeout) { engine_->shutdown(timeout); }
std::uint16_t server::port() const { return engine_->port(); }
std::string server::address() const { return engine_->address(); }
std::size_t server::connection_count() const { return engine_->connection_count(); }
server_stats server::stats() const { return engine_->stats(); }

std::string to_json(const server_stats& s) {
    const auto field = [](std::string& out, const char* name, std::uint64_t value) {
        if (out.back() != '{') out += ',';
        out += '"';
        out += name;
        out += "\":";
        out += std::to_string(value);
    };
    const server_stats::failures& f = s.handshake_failures;
    std::string failures = "{";
    field(failures, "invalid_request", f.invalid_request);
    field(failures, "forbidden_origin", f.forbidden_origin);
    field(failures, "process_request", f.process_request);
    field(failures, "tls", f.tls);
    field(failures, "timeout", f.timeout);
    field(failures, "over_limit", f.over_limit);
    field(failures, "other", f.other);
    failures += '}';
    std::string out = "{";
    field(out, "accepted", s.accepted);
    field(out, "opened", s.opened);
    field(out, "open_connections", s.open_connections);
    field(out, "messages_received", s.messages_received);
    field(out, "bytes_received", s.bytes_received);
    field(out, "messages_sent", s.messages_sent);
    field(out, "bytes_sent", s.bytes_sent);
    out += ",\"handshake_failures\":" + failures + '}';
    return out;
}
void server::broadcast(const message& m) { engine_->broadcast(m); }

void serve(server_options options, handler on_connection) {
    server s(std::move(options), std::move(on_connection));
    s.serve_forever();
}

}  // namespace syncws

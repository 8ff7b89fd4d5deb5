#include "syncws/reconnect.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <vector>

#include "syncws/core/handshake.hpp"
#include "syncws/core/random.hpp"
#include "syncws/tls.hpp"

namespace syncws {

namespace detail {

// The shared flag of a stop_source, and the connections a request_stop() must close.
struct stop_state {
    std::mutex mutex;
    std::condition_variable stopped_changed;
    // Written under mutex (so that a waiter cannot miss the change), read without it.
    std::atomic<bool> stopped{false};
    // Held only under mutex: a reconnecting_client removes its connection, under the same
    // mutex, before it closes or destroys it, so request_stop() never sees a dead one.
    std::vector<connection*> active;

    // Waits up to d; true if stop was requested meanwhile (or before).
    bool wait_for(duration d) {
        std::unique_lock<std::mutex> lk(mutex);
        // In steps of a day at most, so that a huge max_delay cannot overflow a time_point.
        constexpr duration step = std::chrono::hours(24);
        for (; d > step; d -= step)
            if (stopped_changed.wait_for(lk, step, [this] { return stopped.load(); })) return true;
        return stopped_changed.wait_for(lk, d, [this] { return stopped.load(); });
    }
};

struct stop_access {
    static stop_state& of(const stop_source& source) { return *source.state_; }
};

}  // namespace detail

namespace {

using detail::stop_access;
using detail::stop_state;

void check(bool ok, const char* what) {
    if (!ok) throw invalid_argument(std::string("retry_options: ") + what);
}

void validate(const retry_options& retry) {
    check(retry.initial_delay > duration::zero(), "initial_delay must be greater than zero");
    check(retry.max_delay >= retry.initial_delay, "max_delay must not be less than initial_delay");
    // Written so that NaN fails too.
    check(retry.factor >= 1.0, "factor must be at least 1");
    check(retry.jitter >= 0.0 && retry.jitter <= 1.0, "jitter must be between 0 and 1");
    check(retry.max_attempts >= 0, "max_attempts must not be negative (0 tries forever)");
}

// A Retry-After of delta-seconds (RFC 9110 §10.2.3); the HTTP-date form is ignored, as it
// depends on the server's clock agreeing with ours.
std::optional<duration> retry_after(const std::exception& e) {
    const auto* status = dynamic_cast<const invalid_status*>(&e);
    if (status == nullptr) return std::nullopt;
    const auto value = status->response().headers.get("Retry-After");
    if (!value || value->empty() || value->size() > 9) return std::nullopt;
    long seconds = 0;
    for (const char c : *value) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
        seconds = seconds * 10 + (c - '0');
    }
    return std::chrono::seconds(seconds);
}

duration with_jitter(duration delay, double jitter) {
    if (jitter == 0.0) return delay;
    // The CSPRNG rather than a thread_local engine: std::mt19937_64 is 2.5 KiB, and a
    // thread_local in this library is part of every thread of the process, each server
    // worker's included. Delays are drawn seldom, so the call into OpenSSL costs nothing.
    std::uint64_t bits = 0;
    core::random_bytes(&bits, sizeof bits);
    const double cut = jitter * static_cast<double>(bits >> 11) * 0x1.0p-53;  // [0, jitter)
    return std::chrono::duration_cast<duration>(delay * (1.0 - cut));
}

std::string describe_delay(duration d) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f s", std::chrono::duration<double>(d).count());
    return text;
}

}  // namespace

// ------------------------------------------------------------------ stop_source

stop_source::stop_source() : state_(std::make_shared<detail::stop_state>()) {}

void stop_source::request_stop() {
    std::lock_guard<std::mutex> lk(state_->mutex);
    if (state_->stopped) return;
    state_->stopped = true;
    state_->stopped_changed.notify_all();
    // Under the mutex, so that the owner cannot destroy the connection meanwhile; close() is
    // safe from any thread and bounded by close_timeout.
    for (connection* c : state_->active) {
        try {
            c->close(core::close_code::going_away, "client stopping");
        } catch (const std::exception&) {
            // Already failed or closing: the owner finds out from its own calls.
        }
    }
}

bool stop_source::stop_requested() const noexcept { return state_->stopped; }

// ------------------------------------------------------------------ errors and delays

bool is_transient_error(const std::exception& e) noexcept {
    if (const auto* status = dynamic_cast<const invalid_status*>(&e)) {
        switch (status->response().status) {
            case 408: case 429: case 500: case 502: case 503: case 504: return true;
            default: return false;
        }
    }
    if (const auto* tls = dynamic_cast<const tls_error*>(&e)) {
        // A handshake cut short by a restarting server is handshake_failed too; a certificate
        // that fails verification stays as it is until someone changes it.
        return tls->why() == tls_error::reason::handshake_failed || tls->why() == tls_error::reason::io;
    }
    if (dynamic_cast<const invalid_uri*>(&e) || dynamic_cast<const invalid_argument*>(&e) ||
        dynamic_cast<const invalid_state*>(&e) || dynamic_cast<const concurrency_error*>(&e) ||
        dynamic_cast<const protocol_error*>(&e) || dynamic_cast<const payload_too_big*>(&e))
        return false;
    // Network errors, timeouts, a handshake answer cut short (invalid_handshake), a
    // connection closed during the handshake.
    return dynamic_cast<const error*>(&e) != nullptr;
}

duration backoff_delay(const retry_options& retry, int failed_attempts) {
    validate(retry);
    if (failed_attempts < 1) throw invalid_argument("backoff_delay: failed_attempts must be at least 1");
    // In floating point: factor^n overflows any integer count long before it reaches infinity.
    const double initial = std::chrono::duration<double>(retry.initial_delay).count();
    const double longest = std::chrono::duration<double>(retry.max_delay).count();
    const double seconds = initial * std::pow(retry.factor, failed_attempts - 1);
    if (!(seconds < longest)) return retry.max_delay;
    return std::chrono::duration_cast<duration>(std::chrono::duration<double>(seconds));
}

// ------------------------------------------------------------------ connect_with_retry

std::optional<client_connection> connect_with_retry(std::string_view uri) {
    return connect_with_retry(uri, client_options(), retry_options());
}

std::optional<client_connection> connect_with_retry(std::string_view uri, const client_options& options) {
    return connect_with_retry(uri, options, retry_options());
}

std::optional<client_connection> connect_with_retry(std::string_view uri, const client_options& options,
                                                    const retry_options& retry) {
    validate(retry);
    stop_state& stop = stop_access::of(retry.stop);
    for (int failed = 0;;) {
        if (retry.stop.stop_requested()) return std::nullopt;
        try {
            return connect(uri, options);
        } catch (const std::exception& e) {
            ++failed;
            const bool transient = retry.retry_if ? retry.retry_if(e) : is_transient_error(e);
            if (!transient || (retry.max_attempts > 0 && failed >= retry.max_attempts)) throw;
            duration delay = with_jitter(backoff_delay(retry, failed), retry.jitter);
            // The server knows best when it will have room again, but not past max_delay.
            if (const auto asked = retry_after(e)) delay = std::min(std::max(delay, *asked), retry.max_delay);
            if (retry.on_retry) {
                retry.on_retry(e, failed, delay);
            } else {
                // Not a warning: a server being away is what this function is for.
                const std::string line = "connecting to " + core::parse_uri(uri).to_display_string() +
                                         " failed (attempt " + std::to_string(failed) + "): " + e.what() +
                                         "; retrying in " + describe_delay(delay);
                if (options.settings.logger)
                    options.settings.logger(log_level::info, line, 0);
                else
                    log_to_stderr(log_level::info, line, 0);
            }
            if (stop.wait_for(delay)) return std::nullopt;
        }
    }
}

// ------------------------------------------------------------------ reconnecting_client

reconnecting_client::reconnecting_client(std::string uri, client_options options, retry_options retry)
    : uri_(std::move(uri)), options_(std::move(options)), retry_(std::move(retry)) {
    validate(retry_);
    core::parse_uri(uri_);  // a bad URI fails here, not at the first step of the loop
}

reconnecting_client::reconnecting_client(std::string uri, client_options options)
    : reconnecting_client(std::move(uri), std::move(options), retry_options()) {}

reconnecting_client::reconnecting_client(std::string uri)
    : reconnecting_client(std::move(uri), client_options(), retry_options()) {}

reconnecting_client::~reconnecting_client() { release(); }

void reconnecting_client::release() {
    if (!current_) return;
    stop_state& stop = stop_access::of(retry_.stop);
    {
        std::lock_guard<std::mutex> lk(stop.mutex);
        stop.active.erase(std::remove(stop.active.begin(), stop.active.end(), &*current_), stop.active.end());
    }
    // The destructor closes an open connection (1000) and waits up to close_timeout; a
    // client told to stop says so (1001), as request_stop() does.
    if (retry_.stop.stop_requested()) {
        try {
            current_->close(core::close_code::going_away, "client stopping");
        } catch (const std::exception&) {
            // Already failed: nothing left to close.
        }
    }
    current_.reset();
}

bool reconnecting_client::advance() {
    release();
    std::optional<client_connection> next = connect_with_retry(uri_, options_, retry_);
    if (!next) return false;
    current_.emplace(std::move(*next));
    ++opened_;
    stop_state& stop = stop_access::of(retry_.stop);
    {
        std::lock_guard<std::mutex> lk(stop.mutex);
        if (!stop.stopped) {
            stop.active.push_back(&*current_);
            return true;
        }
    }
    // Stopped while this connection was opening: the caller sees end(), not a fresh
    // connection it was told to leave.
    current_.reset();
    return false;
}

reconnecting_client::iterator reconnecting_client::begin() {
    return advance() ? iterator(this) : end();
}

client_connection& reconnecting_client::iterator::operator*() const { return *owner_->current_; }

client_connection* reconnecting_client::iterator::operator->() const { return &*owner_->current_; }

reconnecting_client::iterator& reconnecting_client::iterator::operator++() {
    if (!owner_->advance()) owner_ = nullptr;
    return *this;
}

}  // namespace syncws

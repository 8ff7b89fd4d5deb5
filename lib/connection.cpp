#include "syncws/connection.hpp"

#include <algorithm>

#include "connection_engine.hpp"

namespace syncws {

// ------------------------------------------------------------------ pong_waiter

pong_waiter::pong_waiter(std::shared_ptr<detail::connection_engine> engine,
                         std::shared_ptr<detail::pong_state> state)
    : engine_(std::move(engine)), state_(std::move(state)) {}

duration pong_waiter::wait(duration timeout) const {
    if (timeout <= duration::zero()) timeout = engine_->settings().ping_timeout;
    return engine_->wait_pong(state_, detail::deadline_after(timeout));
}

bool pong_waiter::ready() const {
    return engine_->pong_ready(state_);
}

// ------------------------------------------------------------------ connection

connection::connection(std::shared_ptr<detail::connection_engine> engine)
    : engine_(std::move(engine)) {}

connection::connection(connection&&) noexcept = default;
// The connection a handle drops is closed, as the destructor does (ws = connect(...) to
// reconnect must not leave the old connection open).
connection& connection::operator=(connection&& other) noexcept {
    if (this != &other) {
        close_if_open();
        engine_ = std::move(other.engine_);
    }
    return *this;
}

connection::~connection() { close_if_open(); }

void connection::close_if_open() noexcept {
    if (!engine_) return;
    try {
        if (engine_->state() != core::state::closed) engine_->close(core::close_code::normal, {});
    } catch (...) {
        // Nobody to report to; the engine logged what matters.
    }
}

void connection::send(std::string_view text, compression mode) {
    engine_->send_data(message_type::text, text, true, false, mode);
}

void connection::send(binary data, compression mode) {
    engine_->send_data(message_type::binary, data.data, true, false, mode);
}

void connection::send(const message& m, compression mode) {
    engine_->send_data(m.type, m.data, true, false, mode);
}

void connection::send_fragments(const std::vector<std::string_view>& parts, message_type type) {
    if (parts.empty()) {
        engine_->send_data(type, {}, true, false);
        return;
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const bool fin = i + 1 == parts.size();
        engine_->send_data(type, parts[i], fin, i > 0);
    }
}

void connection::send_fragment(std::string_view data, bool fin, message_type type) {
    engine_->send_fragment(type, data, fin);
}

message connection::recv() { return *engine_->receive_message(detail::no_deadline); }

void connection::recv(message& into) {
    into = *engine_->receive_message(detail::no_deadline, &into.data);
}

// A zero timeout given to recv() means "don't wait", not "no deadline".
std::optional<message> connection::recv(duration timeout) {
    return engine_->receive_message(detail::after_waiting(timeout));
}

fragment connection::recv_fragment() { return *engine_->receive_fragment(detail::no_deadline); }

std::optional<fragment> connection::recv_fragment(duration timeout) {
    return engine_->receive_fragment(detail::after_waiting(timeout));
}

connection::iterator::iterator(connection* owner) : owner_(owner) { ++*this; }

connection::iterator& connection::iterator::operator++() {
    // The message before is done with: its storage takes the next one, without allocating.
    std::optional<message> next = owner_->engine_->receive_until_clean_close(std::move(current_.data));
    if (!next) {
        owner_ = nullptr;  // a clean close ends the iteration
        return *this;
    }
    current_ = std::move(*next);
    return *this;
}

pong_waiter connection::ping(std::string_view payload) {
    return pong_waiter(engine_, engine_->ping(payload));
}

void connection::pong(std::string_view payload) { engine_->pong(payload); }

void connection::close(std::uint16_t code, std::string_view reason) { engine_->close(code, reason); }

core::state connection::state() const { return engine_->state(); }
std::optional<core::close_frame> connection::close_sent() const { return engine_->close_sent(); }
std::optional<core::close_frame> connection::close_received() const { return engine_->close_received(); }

std::uint16_t connection::close_code() const {
    const auto received = engine_->close_received();
    return received ? received->code : core::close_code::abnormal_closure;
}

std::string connection::close_reason() const {
    const auto received = engine_->close_received();
    return received ? received->reason : std::string();
}

std::optional<std::string> connection::subprotocol() const { return engine_->subprotocol(); }
const core::http_request& connection::request() const { return engine_->request(); }
const core::http_response& connection::response() const { return engine_->response(); }
std::string connection::local_address() const { return engine_->local_address(); }
std::string connection::remote_address() const { return engine_->remote_address(); }
std::uint64_t connection::id() const { return engine_->id(); }

}  // namespace syncws

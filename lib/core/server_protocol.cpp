#include "syncws/core/server_protocol.hpp"

#include <utility>

#include "syncws/core/error.hpp"

namespace syncws::core {

namespace {

// True when the response's Sec-WebSocket-Extensions holds element (the caller may have
// replaced the response accept() built).
bool response_accepts(const http_response& response, std::string_view element) {
    for (const auto accepted : response.headers.list("Sec-WebSocket-Extensions"))
        if (accepted == element) return true;
    return false;
}

}  // namespace

server_protocol::server_protocol(server_handshake_config handshake, protocol_config config)
    : protocol(role::server, std::move(config), state::connecting),
      handshake_(std::move(handshake)),
      parser_(config_.http) {
    if (handshake_.deflate) handshake_.deflate->validate();
}

std::size_t server_protocol::receive_handshake(std::string_view data) {
    if (request_received_) {
        keep_early_data(data);
        return data.size();
    }
    std::size_t used = 0;
    switch (parser_.feed(data, &used)) {
        case parse_status::need_more:
            return used;
        case parse_status::failed: {
            // Answer what we can (400, 414, 431, 505) so the client learns why.
            const invalid_handshake problem(parser_.error(), parser_.error_status());
            handshake_error_ = std::make_exception_ptr(problem);
            queue_bytes(build_error_response(problem).serialize());
            abandon_connection();
            return data.size();
        }
        case parse_status::done:
            request_received_ = true;
            push_event(std::move(parser_.request()));
            keep_early_data(data.substr(used));
            return data.size();
    }
    return used;
}

// A client should wait for our answer before sending frames, but bytes that do arrive
// early are kept and parsed once the connection is open, within the head's size limit.
void server_protocol::keep_early_data(std::string_view data) {
    if (data.empty() || handshake_error_) return;
    if (early_data_.size() + data.size() > config_.http.max_head_bytes) {
        handshake_error_ = std::make_exception_ptr(invalid_handshake(
            "the client sent too much data before the handshake completed", 400));
        abandon_connection();
        return;
    }
    early_data_.append(data);
}

void server_protocol::receive_handshake_eof() {
    if (!handshake_error_)
        handshake_error_ = std::make_exception_ptr(invalid_handshake(
            request_received_ ? "the client closed the connection during the handshake"
                              : "the client closed the connection before sending a complete "
                                "opening request",
            400));
    abandon_connection();
}

http_response server_protocol::accept(const http_request& request) {
    // The client already broke the handshake (too much data glued to its request): the
    // answer is the error, not a 101 for a connection that is being abandoned.
    if (handshake_error_) {
        try {
            std::rethrow_exception(handshake_error_);
        } catch (const invalid_handshake& problem) {
            return build_error_response(problem);
        } catch (...) {
            return build_reject_response(500, {}, "internal server error during the handshake\n");
        }
    }
    try {
        const server_handshake_request offer = check_client_request(request, handshake_);
        const std::optional<std::string> chosen =
            selector_ ? selector_(offer.subprotocols)
                      : select_subprotocol(offer.subprotocols, handshake_.subprotocols);
        std::vector<std::string> extensions;
        deflate_agreement_.reset();
        if (handshake_.deflate) {
            deflate_agreement_ = negotiate_deflate(offer.extension_offers, *handshake_.deflate);
            if (deflate_agreement_) extensions.push_back(deflate_agreement_->response);
        }
        return build_accept_response(offer.key, chosen, extensions);
    } catch (const invalid_handshake& problem) {
        handshake_error_ = std::current_exception();
        return build_error_response(problem);
    } catch (const std::exception& problem) {
        // A failing user hook (the selector) is our fault, not the client's: 500, and the
        // details stay in handshake_error() rather than going to the client.
        handshake_error_ = std::current_exception();
        return build_reject_response(500, {}, "internal server error during the handshake\n");
    }
}

http_response server_protocol::reject(int status, http_headers headers, std::string body) const {
    return build_reject_response(status, std::move(headers), std::move(body));
}

void server_protocol::send_response(const http_response& response) {
    if (current_state() != state::connecting)
        throw invalid_state("send_response() after the handshake");
    queue_bytes(response.serialize());
    if (response.status == 101) {
        if (auto chosen = response.headers.get("Sec-WebSocket-Protocol"))
            subprotocol_ = std::string(*chosen);
        if (deflate_agreement_ && response_accepts(response, deflate_agreement_->response))
            enable_deflate(deflate_agreement_->parameters, *handshake_.deflate);
        set_state(state::open);
        if (!early_data_.empty()) {
            std::string early;
            early.swap(early_data_);
            receive_frames(early);
        }
    } else {
        abandon_connection();
    }
}

}  // namespace syncws::core

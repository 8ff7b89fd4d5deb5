#include "syncws/core/client_protocol.hpp"

#include <utility>

#include "syncws/core/error.hpp"

namespace syncws::core {

client_protocol::client_protocol(uri target, client_handshake_config handshake,
                                 protocol_config config, std::string key)
    : protocol(role::client, std::move(config), state::connecting),
      target_(std::move(target)),
      handshake_(std::move(handshake)),
      key_(key.empty() ? generate_key() : std::move(key)),
      parser_(config_.http) {
    if (handshake_.deflate && handshake_.deflate->enabled) {
        handshake_.deflate->validate();
        handshake_.extension_offers.push_back(make_deflate_offer(*handshake_.deflate));
    }
}

http_request client_protocol::connect() const {
    return build_client_request(target_, handshake_, key_);
}

void client_protocol::send_request(const http_request& request) {
    queue_bytes(request.serialize());
}

std::size_t client_protocol::receive_handshake(std::string_view data) {
    std::size_t used = 0;
    switch (parser_.feed(data, &used)) {
        case parse_status::need_more:
            return used;
        case parse_status::failed:
            fail_handshake(std::make_exception_ptr(
                invalid_handshake("invalid HTTP response from the server: " + parser_.error(), 0)));
            return data.size();
        case parse_status::done:
            finish_handshake();
            return used;
    }
    return used;
}

void client_protocol::receive_handshake_eof() {
    if (handshake_error_) return;
    if (parser_.feed_eof() == parse_status::done) return finish_handshake();
    fail_handshake(std::make_exception_ptr(invalid_handshake(
        "the server closed the connection before completing its handshake response" +
            (parser_.error().empty() ? std::string() : ": " + parser_.error()),
        0)));
}

void client_protocol::finish_handshake() {
    http_response& response = parser_.response();
    try {
        result_ = check_server_response(response, key_, handshake_);
        accept_extensions();
        set_state(state::open);
    } catch (const error&) {
        fail_handshake(std::current_exception());
    }
    push_event(std::move(response));
}

// The extensions the server accepted were all offered; the ones we implement are set up here.
void client_protocol::accept_extensions() {
    bool deflate_accepted = false;
    for (const std::string& element : result_.extensions) {
        if (!handshake_.deflate || !handshake_.deflate->enabled ||
            parse_extension_element(element).name != deflate_extension_name)
            continue;
        if (deflate_accepted)
            throw invalid_handshake("the server accepted permessage-deflate twice", 0);
        deflate_accepted = true;
        enable_deflate(accept_deflate_response(element, *handshake_.deflate), *handshake_.deflate);
    }
}

void client_protocol::fail_handshake(std::exception_ptr error) {
    handshake_error_ = std::move(error);
    abandon_connection();
}

}  // namespace syncws::core

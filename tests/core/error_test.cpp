#include <doctest.h>

#include <string>

#include "syncws/core/error.hpp"

using namespace syncws;
using core::close_frame;

TEST_SUITE("connection_closed") {

TEST_CASE("a clean close handshake raises connection_closed_ok") {
    CHECK_THROWS_AS(connection_closed::raise(close_frame{1000, ""}, close_frame{1000, ""}, false),
                    connection_closed_ok);
    CHECK_THROWS_AS(connection_closed::raise(close_frame{1001, ""}, close_frame{1005, ""}, true),
                    connection_closed_ok);
}

TEST_CASE("an error code on either side raises connection_closed_error") {
    CHECK_THROWS_AS(connection_closed::raise(close_frame{1002, "bad"}, close_frame{1002, "bad"}, false),
                    connection_closed_error);
    CHECK_THROWS_AS(connection_closed::raise(close_frame{1000, ""}, close_frame{1011, ""}, false),
                    connection_closed_error);
}

TEST_CASE("a lost connection is 1006 and explained in words") {
    const connection_closed closed(std::nullopt, std::nullopt, false);
    CHECK(closed.code() == 1006);
    CHECK(closed.reason().empty());
    CHECK_FALSE(closed.clean());
    CHECK(std::string(closed.what()).find("lost") != std::string::npos);
    CHECK_THROWS_AS(connection_closed::raise(std::nullopt, std::nullopt, false), connection_closed_error);
}

TEST_CASE("the message says what each side sent, in order") {
    const connection_closed peer_first(close_frame{1000, ""}, close_frame{1001, "restart"}, true);
    CHECK(std::string(peer_first.what()) ==
          "received 1001 (going away) restart; then sent 1000 (normal closure)");
    const connection_closed we_first(close_frame{1000, ""}, close_frame{1000, ""}, false);
    CHECK(std::string(we_first.what()) ==
          "sent 1000 (normal closure); then received 1000 (normal closure)");
}

TEST_CASE("a detail saying why the connection ended is added to the message") {
    const connection_closed closed(std::nullopt, std::nullopt, false, "connection reset by peer");
    CHECK(std::string(closed.what()).find("[connection reset by peer]") != std::string::npos);
}

TEST_CASE("the peer's code and reason are the ones reported") {
    const connection_closed closed(close_frame{1000, ""}, close_frame{4001, "kicked"}, true);
    CHECK(closed.code() == 4001);
    CHECK(closed.reason() == "kicked");
}

TEST_CASE("every error derives from syncws::error") {
    CHECK_THROWS_AS(throw invalid_uri("x"), error);
    CHECK_THROWS_AS(throw invalid_argument("x"), error);
    CHECK_THROWS_AS(throw invalid_handshake("x", 426), error);
    CHECK_THROWS_AS(throw timeout_error("x"), error);
    CHECK_THROWS_AS(throw protocol_error("x"), error);
    CHECK_THROWS_AS(throw payload_too_big("x"), error);
    CHECK_THROWS_AS(throw invalid_state("x"), error);
    CHECK_THROWS_AS(throw concurrency_error("x"), error);
    CHECK(invalid_handshake("x", 426).status() == 426);
}

}  // TEST_SUITE

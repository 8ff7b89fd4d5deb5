// server_options::reuse_port (SO_REUSEPORT): several servers listen on one port and the
// kernel hands each new connection to one of them. Two servers in one process stand for the
// two processes of a real deployment (samples/reuse_port.cpp shows those).
#include <doctest.h>

#include <set>
#include <string>

#include "syncws/syncws.hpp"

namespace {

syncws::server_options local_options(std::uint16_t port, bool reuse_port) {
    syncws::server_options options;
    options.host = "127.0.0.1";
    options.port = port;
    options.reuse_port = reuse_port;
    return options;
}

/// A server whose handler tells the client which server it reached.
syncws::handler says(const std::string& name) {
    return [name](syncws::server_connection& ws) { ws.send(name); };
}

}  // namespace

TEST_CASE("two servers with reuse_port listen on one port and both get clients") {
    syncws::server first(local_options(0, true), says("first"));
    syncws::server second(local_options(first.port(), true), says("second"));
    CHECK(second.port() == first.port());
    first.start();
    second.start();

    // Linux picks the listener by a hash of the client's address and port, and each client
    // gets a new ephemeral port: a handful of clients reach both; the bound only stops a
    // broken build from looping for ever.
    std::set<std::string> reached;
    int clients = 0;
    for (; clients < 500 && reached.size() < 2; ++clients) {
        auto ws = syncws::connect("ws://127.0.0.1:" + std::to_string(first.port()) + "/");
        reached.insert(ws.recv().data);
    }
    CHECK(reached == std::set<std::string>{"first", "second"});
    MESSAGE("clients until both servers had one: " << clients);
}

TEST_CASE("a server without reuse_port cannot join a port shared with reuse_port") {
    syncws::server first(local_options(0, true), says("first"));
    CHECK_THROWS_AS(syncws::server(local_options(first.port(), false), says("second")), syncws::error);
}

TEST_CASE("after one of two sharing servers shuts down, the other takes every client") {
    syncws::server first(local_options(0, true), says("first"));
    syncws::server second(local_options(first.port(), true), says("second"));
    first.start();
    second.start();
    first.shutdown();
    for (int i = 0; i < 20; ++i) {
        auto ws = syncws::connect("ws://127.0.0.1:" + std::to_string(second.port()) + "/");
        CHECK(ws.recv().data == "second");
    }
}

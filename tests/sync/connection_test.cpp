#include <doctest.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <future>
#include <thread>
#include <vector>

#include "loopback.hpp"

using namespace std::chrono_literals;
using syncws::message_type;
using test::connect_pair;

namespace {

// The sockets this process has open, by descriptor.
std::set<int> open_sockets() {
    std::set<int> found;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (!ec && target.string().rfind("socket:", 0) == 0)
            found.insert(std::stoi(entry.path().filename().string()));
    }
    return found;
}

}  // namespace

TEST_SUITE("blocking connection: messages") {

TEST_CASE("text and binary messages of every size cross in both directions with their type") {
    auto [client, server] = connect_pair();
    for (std::size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
        CAPTURE(size);
        std::string payload(size, '\0');
        for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
        client.send(payload);
        syncws::message m = server.recv();
        CHECK(m.is_text());
        CHECK(m.data == payload);
        server.send(syncws::binary(payload));
        m = client.recv();
        CHECK(m.is_binary());
        CHECK(m.data == payload);
    }
}

TEST_CASE("recv with a timeout returns nothing when nothing came and the connection stays usable") {
    auto [client, server] = connect_pair();
    CHECK_FALSE(client.recv(50ms).has_value());
    server.send("later");
    const auto m = client.recv(10s);
    REQUIRE(m);
    CHECK(m->data == "later");
}

TEST_CASE("sending text that is not UTF-8 throws protocol_error and the connection stays open") {
    auto [client, server] = connect_pair();
    CHECK_THROWS_AS(client.send(std::string("\xff")), syncws::protocol_error);
    client.send("fine");
    CHECK(server.recv().data == "fine");
}

TEST_CASE("a message sent as parts or fragment by fragment arrives whole") {
    auto [client, server] = connect_pair();
    client.send_fragments({"Hel", "lo", ""}, message_type::text);
    CHECK(server.recv().data == "Hello");
    client.send_fragment("a", false, message_type::binary);
    client.send_fragment("b", false);
    client.send_fragment("c", true);
    const auto m = server.recv();
    CHECK(m.is_binary());
    CHECK(m.data == "abc");
}

TEST_CASE("recv_fragment hands out each fragment as it arrives") {
    auto [client, server] = connect_pair();
    client.send_fragment("first", false);
    auto f = server.recv_fragment();
    CHECK(f.data == "first");
    CHECK_FALSE(f.fin);
    CHECK_THROWS_AS(server.recv(), syncws::invalid_state);  // half a message was handed out
    client.send_fragment("last", true);
    f = server.recv_fragment();
    CHECK(f.data == "last");
    CHECK(f.fin);
    client.send("next");
    CHECK(server.recv().data == "next");
}

TEST_CASE("iterating over a connection yields messages until a clean close") {
    auto [client, server] = connect_pair();
    std::thread peer([&client = client] {
        client.send("one");
        client.send("two");
        client.close();
    });
    std::vector<std::string> seen;
    for (auto& m : server) seen.push_back(m.data);
    peer.join();
    CHECK(seen == std::vector<std::string>{"one", "two"});
}

TEST_CASE("recv into a kept message replaces its bytes and reuses its storage") {
    auto [client, server] = connect_pair();
    client.send(std::string(300, 'a'));
    syncws::message m;
    server.recv(m);
    CHECK(m.is_text());
    CHECK(m.data == std::string(300, 'a'));
    const char* const storage = m.data.data();
    // Sent only now: a message that arrived with the first was assembled before its storage
    // came back.
    client.send(syncws::binary(std::string(100, 'b')));
    server.recv(m);
    CHECK(m.is_binary());
    CHECK(m.data == std::string(100, 'b'));
    CHECK(m.data.data() == storage);
}

TEST_CASE("iterating reuses each message's storage for the next one") {
    auto [client, server] = connect_pair();
    const std::string first(300, 'a'), second(200, 'b');
    // The second message goes once the first was received: arriving with the first, it
    // would be assembled before the first one's storage came back.
    std::promise<void> first_received;
    std::thread peer([&client = client, &first, &second, done = first_received.get_future()] {
        client.send(first);
        done.wait();
        client.send(second);
        client.close();
    });
    std::vector<const char*> storage;
    std::vector<std::string> seen;
    for (auto& m : server) {
        storage.push_back(m.data.data());
        seen.push_back(m.data);
        if (seen.size() == 1) first_received.set_value();
    }
    peer.join();
    CHECK(seen == std::vector<std::string>{first, second});
    REQUIRE(storage.size() == 2);
    CHECK(storage[0] == storage[1]);
}

TEST_CASE("iterating over a connection throws connection_closed_error when it closes with an error") {
    auto [client, server] = connect_pair();
    std::thread peer([&client = client] {
        client.send("one");
        client.close(syncws::core::close_code::internal_error, "broken");
    });
    std::vector<std::string> seen;
    const auto receive_all = [&seen, &server = server] {
        for (auto& m : server) seen.push_back(m.data);
    };
    CHECK_THROWS_AS(receive_all(), syncws::connection_closed_error);
    peer.join();
    CHECK(seen == std::vector<std::string>{"one"});
}

TEST_CASE("the connection reports its handshake, addresses, state and id") {
    auto [client, server] = connect_pair();
    CHECK(client.state() == syncws::core::state::open);
    CHECK(client.request().target == "/test");
    CHECK(client.response().status == 101);
    CHECK(server.request().headers.get("User-Agent") == "syncws/" SYNCWS_VERSION);
    CHECK(client.remote_address() == server.local_address());
    CHECK(client.local_address() == server.remote_address());
    CHECK(client.id() != server.id());
    CHECK_FALSE(client.subprotocol());
}

TEST_CASE("IPv6 loopback works") {
    auto [client, server] = connect_pair(syncws::connection_settings(), syncws::client_options(), "::1");
    client.send("over v6");
    CHECK(server.recv().data == "over v6");
    CHECK(client.remote_address().front() == '[');
}

}  // TEST_SUITE

TEST_SUITE("blocking connection: closing") {

TEST_CASE("a close started by the client is clean on both sides") {
    auto [client, server] = connect_pair();
    auto server_side = std::async(std::launch::async, [&server = server] {
        try {
            server.recv();
        } catch (const syncws::connection_closed_ok& e) {
            return e.code();
        }
        return std::uint16_t{0};
    });
    client.close(1000, "bye");
    CHECK(client.state() == syncws::core::state::closed);
    CHECK(client.close_code() == 1000);
    CHECK(client.close_reason() == "bye");  // echoed
    CHECK(server_side.get() == 1000);
    CHECK(server.close_received()->reason == "bye");
}

TEST_CASE("a close started by the server is clean on both sides") {
    auto [client, server] = connect_pair();
    auto client_side = std::async(std::launch::async, [&client = client] {
        try {
            client.recv();
        } catch (const syncws::connection_closed_ok& e) {
            return std::string(e.what());
        }
        return std::string();
    });
    server.close(1001, "restart");
    CHECK(client_side.get() == "received 1001 (going away) restart; then sent 1001 (going away) restart");
    CHECK(server.state() == syncws::core::state::closed);
}

TEST_CASE("close from another thread wakes a blocked recv promptly") {
    auto [client, server] = connect_pair();
    auto receiver = std::async(std::launch::async, [&client = client] {
        try {
            client.recv();
        } catch (const syncws::connection_closed&) {
            return true;
        }
        return false;
    });
    std::this_thread::sleep_for(50ms);  // let recv block first (not required for correctness)
    test::bounded([&client = client] { client.close(); });
    REQUIRE(receiver.wait_for(10s) == std::future_status::ready);
    CHECK(receiver.get());
}

TEST_CASE("a peer that never answers the close is given up at close_timeout") {
    test::raw_server peer;
    syncws::client_options options;
    options.settings.close_timeout = 200ms;
    auto client = peer.connect_client(options);
    test::bounded([&] { client.close(); });
    CHECK(client.state() == syncws::core::state::closed);
    CHECK(client.close_code() == 1006);
}

TEST_CASE("a peer that vanishes mid-message gives 1006 to the thread in recv") {
    test::raw_server peer;
    auto client = peer.connect_client(syncws::client_options());
    peer.write(test::server_frame(syncws::core::opcode::binary, std::string(1000, 'x')).substr(0, 500));
    peer.vanish();
    try {
        test::bounded([&] { return client.recv(); });
        FAIL("recv returned a message");
    } catch (const syncws::connection_closed_error& e) {
        CHECK(e.code() == 1006);
        CHECK(std::string(e.what()).find("lost") != std::string::npos);
        CHECK(std::string(e.what()).find("in the middle of a frame") != std::string::npos);
    }
}

TEST_CASE("bad input after a message fails the connection only once the application answered it") {
    using syncws::core::opcode;
    test::raw_server peer;
    auto client = peer.connect_client(syncws::client_options());
    // Autobahn 3.3: a message, a frame with a reserved bit set, then a ping, in one write.
    peer.write(test::server_frame(opcode::text, "Hello") +
               test::server_frame(opcode::text, "x", true, true) + test::server_frame(opcode::ping, "p"));
    // The peer reads two frames, then closes the TCP connection as a server does.
    auto peer_saw = std::async(std::launch::async, [&] {
        auto first = peer.read_frame();
        auto second = peer.read_frame();
        peer.vanish();
        return std::make_pair(first, second);
    });
    CHECK(client.recv().data == "Hello");
    client.send("Hello");  // the answer still goes out
    try {
        test::bounded([&] { return client.recv(); });
        FAIL("recv returned a message");
    } catch (const syncws::connection_closed_error& e) {
        REQUIRE(e.sent());
        CHECK(e.sent()->code == 1002);
    }
    // The echo came first, then the close frame; the ping after the bad frame was never read.
    REQUIRE(peer_saw.wait_for(20s) == std::future_status::ready);
    const auto [echo, close] = peer_saw.get();
    CHECK(echo.first == opcode::text);
    CHECK(echo.second == "Hello");
    REQUIRE(close.first == opcode::close);
    CHECK(syncws::core::parse_close_payload(close.second).frame->code == 1002);
}

TEST_CASE("bad input fails the connection even when the application never calls recv again") {
    using syncws::core::opcode;
    test::raw_server peer;
    auto client = peer.connect_client(syncws::client_options());
    peer.write(test::server_frame(opcode::text, "Hello") + test::server_frame(opcode::text, "\xff"));
    CHECK(client.recv().data == "Hello");
    const auto close = test::bounded([&] { return peer.read_frame(); });
    REQUIRE(close.first == opcode::close);
    CHECK(syncws::core::parse_close_payload(close.second).frame->code == 1007);
    CHECK_THROWS_AS(client.send("too late"), syncws::connection_closed_error);
}

TEST_CASE("a client's socket is not inherited by child processes") {
    test::raw_server peer;
    const std::set<int> before = open_sockets();
    auto client = peer.connect_client(syncws::client_options());
    int checked = 0;
    for (int fd : open_sockets()) {
        if (before.count(fd) || fd == peer.fd()) continue;
        CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        ++checked;
    }
    CHECK(checked == 1);
}

TEST_CASE("destroying an open connection closes it cleanly") {
    auto pair = connect_pair();
    auto server_side = std::async(std::launch::async, [&server = pair.server] {
        try {
            server.recv();
        } catch (const syncws::connection_closed_ok& e) {
            return e.code();
        }
        return std::uint16_t{0};
    });
    { syncws::client_connection gone = std::move(pair.client); }
    CHECK(server_side.get() == 1000);
}

TEST_CASE("destroying a connection releases its socket before the destructor returns") {
    // Not later on the monitor thread, which watches every open connection: a busy server
    // would otherwise see its finished connections closed there in bursts.
    auto pair = connect_pair();
    auto server_side = std::async(std::launch::async, [&server = pair.server] {
        try {
            server.recv();
        } catch (const syncws::connection_closed_ok&) {
        }
    });
    const std::set<int> with_client = open_sockets();
    { syncws::client_connection gone = std::move(pair.client); }
    const std::set<int> after = open_sockets();
    CHECK(after.size() + 1 == with_client.size());
    CHECK(std::includes(with_client.begin(), with_client.end(), after.begin(), after.end()));
    server_side.get();
}

}  // TEST_SUITE

TEST_SUITE("blocking connection: threads") {

TEST_CASE("a second concurrent recv throws concurrency_error") {
    auto [client, server] = connect_pair();
    auto first = std::async(std::launch::async, [&client = client] { return client.recv(); });
    std::this_thread::sleep_for(50ms);
    bool refused = false;
    for (int i = 0; i < 200 && !refused; ++i) {
        try {
            client.recv(1ms);
        } catch (const syncws::concurrency_error&) {
            refused = true;
        }
        std::this_thread::sleep_for(5ms);
    }
    CHECK(refused);
    server.send("for the first");
    CHECK(first.get().data == "for the first");
}

TEST_CASE("8 sender threads and 1 receiver deliver every message intact and in per-thread order") {
    auto [client, server] = connect_pair();
    constexpr int threads = 8, per_thread = 500;
    std::thread echo([&server = server] {
        try {
            for (auto& m : server) server.send(m);
        } catch (const syncws::connection_closed&) {
        }
    });
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t)
        senders.emplace_back([&client = client, t] {
            std::mt19937 random(static_cast<unsigned>(t));
            for (int i = 0; i < per_thread; ++i) {
                std::string m = std::to_string(t) + ":" + std::to_string(i) + ":";
                m.append(random() % 3000, static_cast<char>('a' + t));
                if (i % 50 == 0) client.ping();
                client.send(m);
            }
        });
    std::map<int, int> next;
    for (int received = 0; received < threads * per_thread; ++received) {
        const std::string m = client.recv().data;
        const int t = std::stoi(m);
        const int i = std::stoi(m.substr(m.find(':') + 1));
        CHECK(next[t] == i);
        next[t] = i + 1;
        CHECK(m.find_first_not_of(static_cast<char>('a' + t), m.rfind(':') + 1) == std::string::npos);
    }
    for (auto& s : senders) s.join();
    client.close();
    echo.join();
}

TEST_CASE("random closes while threads send and receive end every thread without a crash") {
    for (int round = 0; round < 10; ++round) {
        auto [client, server] = connect_pair();
        std::atomic<bool> stop{false};
        std::thread echo([&server = server] {
            try {
                for (auto& m : server) server.send(m);
            } catch (const syncws::error&) {
            }
        });
        std::vector<std::thread> senders;
        for (int t = 0; t < 8; ++t)
            senders.emplace_back([&client = client, &stop] {
                try {
                    while (!stop) client.send("payload");
                } catch (const syncws::error&) {
                }
            });
        std::thread receiver([&client = client] {
            try {
                for (;;) client.recv();
            } catch (const syncws::error&) {
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(5 * round));
        if (round % 2) client.close(); else server.close(1001);
        stop = true;
        for (auto& s : senders) s.join();
        receiver.join();
        client.close();
        echo.join();
        CHECK(client.state() == syncws::core::state::closed);
    }
}

}  // TEST_SUITE

TEST_SUITE("blocking connection: ping, keepalive, responsiveness") {

TEST_CASE("ping reports the round-trip time once the pong arrives") {
    auto [client, server] = connect_pair();
    std::thread reader([&server = server] {
        try {
            server.recv();
        } catch (const syncws::error&) {
        }
    });
    auto waiter = client.ping("hello?");
    const auto latency = waiter.wait(10s);
    CHECK(waiter.ready());
    CHECK(latency > syncws::duration::zero());
    client.close();
    reader.join();
}

TEST_CASE("a connection whose application never calls recv still answers a ping") {
    auto [client, server] = connect_pair();
    std::this_thread::sleep_for(100ms);  // the server side has been idle: the monitor watches it
    auto waiter = client.ping();
    CHECK(waiter.wait(10s) > syncws::duration::zero());
}

TEST_CASE("a close from the peer completes while the application is busy elsewhere") {
    auto [client, server] = connect_pair();
    test::bounded([&client = client] { client.close(1000, "done"); });
    CHECK(client.close_code() == 1000);
    // The server side ends once its monitor reads the client's end of stream, which may come
    // just after close() returned on the client.
    test::bounded([&server = server] {
        while (server.state() != syncws::core::state::closed) std::this_thread::sleep_for(1ms);
    });
}

TEST_CASE("keepalive fails the connection with 1011 when the peer stops answering pings") {
    test::raw_server peer;
    syncws::client_options options;
    options.settings.ping_interval = 100ms;
    options.settings.ping_timeout = 100ms;
    auto client = peer.connect_client(options);
    try {
        test::bounded([&] { return client.recv(); });
        FAIL("recv returned");
    } catch (const syncws::connection_closed_error& e) {
        REQUIRE(e.sent());
        CHECK(e.sent()->code == 1011);
        CHECK(e.sent()->reason == "keepalive ping timeout");
    }
}

TEST_CASE("keepalive keeps a healthy idle connection open") {
    syncws::client_options options;
    options.settings.ping_interval = 50ms;
    options.settings.ping_timeout = 1s;
    auto [client, server] = connect_pair(syncws::connection_settings(), options);
    std::this_thread::sleep_for(400ms);
    CHECK(client.state() == syncws::core::state::open);
    client.send("still here");
    CHECK(server.recv().data == "still here");
}

}  // TEST_SUITE

TEST_SUITE("blocking connection: deadlines and backpressure") {

TEST_CASE("a peer that never reads makes send fail at send_timeout and fails the connection") {
    test::raw_server peer;
    syncws::client_options options;
    options.settings.send_timeout = 300ms;
    auto client = peer.connect_client(options);
    const std::string chunk(1 << 20, 'x');
    bool timed_out = false;
    test::bounded([&] {
        try {
            for (int i = 0; i < 1000; ++i) client.send(syncws::binary(chunk));
        } catch (const syncws::timeout_error&) {
            timed_out = true;
        }
    });
    CHECK(timed_out);
    try {
        client.send("after");
        FAIL("send after a send timeout succeeded");
    } catch (const syncws::connection_closed& e) {
        CHECK(std::string(e.what()).find("timed out sending") != std::string::npos);
    }
}

TEST_CASE("a fast sender and a slow receiver keep the receiver's buffer bounded") {
    syncws::client_options options;
    options.settings.max_queue = 1 << 20;
    options.settings.send_timeout = 60s;
    auto [client, server] = connect_pair(syncws::connection_settings(), options);
    const std::string chunk(64 * 1024, 'q');
    constexpr int total = 4096;  // 256 MiB if nothing pushed back
    std::atomic<int> sent{0};
    std::thread sender([&server = server, &chunk, &sent] {
        for (int i = 0; i < total; ++i) {
            server.send(syncws::binary(chunk));
            ++sent;
        }
    });
    std::this_thread::sleep_for(1s);  // the client takes nothing meanwhile
    // max_queue plus what the kernel buffers on both ends; far below 256 MiB.
    CHECK(sent.load() * chunk.size() < 64u * 1024 * 1024);
    for (int i = 0; i < total; ++i) REQUIRE(client.recv(30s)->data.size() == chunk.size());
    sender.join();
}

TEST_CASE("connect to a port where nobody listens fails with a clear error") {
    asio::ip::tcp::acceptor probe(test::io(), {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = probe.local_endpoint().port();
    probe.close();
    try {
        syncws::connect("ws://127.0.0.1:" + std::to_string(port) + "/");
        FAIL("connect succeeded");
    } catch (const syncws::error& e) {
        CHECK(std::string(e.what()).find("cannot connect to 127.0.0.1:" + std::to_string(port)) != std::string::npos);
        CHECK(std::string(e.what()).find("refused") != std::string::npos);
    }
}

TEST_CASE("a server that accepts but never answers the handshake makes connect time out") {
    asio::ip::tcp::acceptor silent(test::io(), {asio::ip::make_address("127.0.0.1"), 0});
    syncws::client_options options;
    options.settings.open_timeout = 200ms;
    const std::string uri = "ws://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/";
    CHECK_THROWS_AS(test::bounded([&] { return syncws::connect(uri, options); }), syncws::timeout_error);
}

TEST_CASE("a ping whose pong never comes times out and the connection stays usable") {
    test::raw_server peer;
    auto client = peer.connect_client(syncws::client_options());
    auto waiter = client.ping();
    CHECK_THROWS_AS(waiter.wait(100ms), syncws::timeout_error);
    CHECK(client.state() == syncws::core::state::open);
    peer.write(test::server_frame(syncws::core::opcode::text, "still works"));
    CHECK(client.recv(10s)->data == "still works");
}

}  // TEST_SUITE

TEST_SUITE("blocking connection: races found in review") {

// A peer that completes the handshake, then streams frames and never reads.
struct streaming_peer {
    test::raw_server peer;
    std::atomic<bool> stop{false};
    std::thread streamer;

    syncws::client_connection connect(const syncws::client_options& options) {
        return peer.connect_client(options);
    }
    void start_streaming() {
        std::string burst;
        for (int i = 0; i < 8; ++i)
            burst += test::server_frame(syncws::core::opcode::binary, std::string(8000, 'z'));
        streamer = std::thread([this, burst, fd = peer.fd()] {
            while (!stop && ::send(fd, burst.data(), burst.size(), MSG_NOSIGNAL) >= 0) {
            }
        });
    }
    ~streaming_peer() {
        stop = true;
        if (streamer.joinable()) streamer.join();
    }
};

void send_until_it_fails(syncws::connection& c) {
    const std::string chunk(1 << 20, 'x');
    try {
        for (int i = 0; i < 1000; ++i) c.send(syncws::binary(chunk));
    } catch (const syncws::error&) {
    }
}

TEST_CASE("a connection aborted while another thread reads ends that thread's recv") {
    for (int round = 0; round < 5; ++round) {
        streaming_peer p;
        syncws::client_options options;
        options.settings.send_timeout = 300ms;
        options.settings.ping_interval = 0s;
        auto client = p.connect(options);
        p.start_streaming();
        auto reader = std::async(std::launch::async, [&client] {
            try {
                for (;;) client.recv();
            } catch (const syncws::connection_closed&) {
                return true;
            }
        });
        send_until_it_fails(client);  // the send timeout aborts while the reader reads
        REQUIRE(reader.wait_for(20s) == std::future_status::ready);
        CHECK(reader.get());
        // What a later sender sees is a closed connection, not "the connection is open".
        CHECK_THROWS_AS(client.send("after"), syncws::connection_closed);
    }
}

TEST_CASE("recv with a short timeout is not held by a send stuck on a peer that does not read") {
    test::raw_server peer;
    syncws::client_options options;
    options.settings.send_timeout = 60s;
    options.settings.ping_interval = 0s;
    auto client = peer.connect_client(options);
    std::thread sender([&client] { send_until_it_fails(client); });
    std::this_thread::sleep_for(300ms);  // the sender is stuck in a write, holding the write lock
    peer.write(test::server_frame(syncws::core::opcode::ping, "p") +
               test::server_frame(syncws::core::opcode::text, "msg"));
    // The ping's pong cannot be written now; recv must still return within its own deadline
    // rather than the sender's 60 s.
    const auto m = test::bounded([&client] { return client.recv(2s); }, 20s);
    REQUIRE(m);
    CHECK(m->data == "msg");
    client.close();  // bounded by close_timeout, and it frees the stuck sender
    sender.join();
}

TEST_CASE("close from another thread is bounded by close_timeout while a send is stuck") {
    test::raw_server peer;
    syncws::client_options options;
    options.settings.send_timeout = 60s;
    options.settings.close_timeout = 500ms;
    options.settings.ping_interval = 0s;
    auto client = peer.connect_client(options);
    std::thread sender([&client] { send_until_it_fails(client); });
    std::this_thread::sleep_for(300ms);
    test::bounded([&client] { client.close(); }, 20s);  // not the sender's 60 s
    CHECK(client.state() == syncws::core::state::closed);
    sender.join();
}

TEST_CASE("close completes cleanly while the incoming queue is full") {
    syncws::client_options options;
    options.settings.max_queue = 64 * 1024;
    options.settings.close_timeout = 10s;
    auto [client, server] = connect_pair(syncws::connection_settings(), options);
    std::thread sender([&server = server] {
        const std::string chunk(64 * 1024, 'q');
        try {
            for (int i = 0; i < 8; ++i) server.send(syncws::binary(chunk));
            for (;;) server.recv();
        } catch (const syncws::error&) {
        }
    });
    std::this_thread::sleep_for(300ms);  // the queue fills and reading pauses
    test::bounded([&client = client] { client.close(); });
    CHECK(client.close_received().has_value());  // the handshake completed: not a 1006
    sender.join();
}

TEST_CASE("assigning a new connection to a handle closes the old one") {
    auto first = connect_pair();
    auto second = connect_pair();
    first.client = std::move(second.client);
    try {
        test::bounded([&server = first.server] { return server.recv(10s); });
        FAIL("the old connection stayed open");
    } catch (const syncws::connection_closed_ok& e) {
        CHECK(e.code() == 1000);
    }
}

TEST_CASE("polling with recv(0ms) receives what arrived") {
    auto [client, server] = connect_pair();
    server.send("hello");
    std::optional<syncws::message> m;
    for (int i = 0; i < 2000 && !m; ++i) {
        m = client.recv(0ms);
        std::this_thread::sleep_for(1ms);  // other work, shorter than the monitor's delay
    }
    REQUIRE(m);
    CHECK(m->data == "hello");
}

TEST_CASE("recv with duration::max() waits instead of overflowing") {
    auto [client, server] = connect_pair();
    std::thread later([&server = server] {
        std::this_thread::sleep_for(50ms);
        server.send("eventually");
    });
    CHECK(client.recv(syncws::duration::max())->data == "eventually");
    later.join();
}

}  // TEST_SUITE

// While the rest of a large frame is certain to come, a reader sleeps until much of it is
// there (SO_RCVLOWAT) instead of waking for every segment; it must never wait for bytes the
// peer is not going to send.
TEST_SUITE("blocking connection: large frames arriving in pieces") {

using test::patterned;

TEST_CASE("recv without a timeout gets a large frame whose pieces arrive while it waits, alone or before the next message") {
    const std::string payload = patterned(300 * 1024);
    const std::string frame = test::server_frame(syncws::core::opcode::binary, payload);
    const std::string next = test::server_frame(syncws::core::opcode::text, "after");
    // Alone, the frame's last piece is the last the peer sends: nothing after it could wake a
    // reader that waits for a byte more than the frame owes.
    for (const bool alone : {true, false}) {
        for (const auto& cuts : test::large_frame_cuts()) {
            CAPTURE(alone);
            CAPTURE(cuts.front());
            test::raw_server peer;
            auto client = peer.connect_client(syncws::client_options());
            const auto received = test::receive_written_in_pieces(
                client, peer.fd(), alone ? frame : frame + next, cuts, alone ? 1 : 2,
                [&peer](const std::string& piece) { peer.write(piece); });
            CHECK(received[0] == payload);
            if (!alone) CHECK(received[1] == "after");
            peer.vanish();  // no close handshake to wait for
        }
    }
}

TEST_CASE("recv with a timeout gets a large frame whose pieces arrive while it waits") {
    const std::string payload = patterned(300 * 1024);
    const std::string wire = test::server_frame(syncws::core::opcode::binary, payload);
    for (const auto& cuts : test::large_frame_cuts()) {
        CAPTURE(cuts.front());
        test::raw_server peer;
        auto client = peer.connect_client(syncws::client_options());
        std::thread writer([&] { test::write_in_pieces(wire, cuts, [&](const std::string& b) { peer.write(b); }); });
        const auto received = client.recv(20s);
        writer.join();
        REQUIRE(received);
        CHECK(received->data == payload);
        peer.vanish();
    }
}

TEST_CASE("while nobody calls recv, the rest of a large frame is read and a ping after it answered") {
    const std::string payload = patterned(600 * 1024);
    const std::string wire = test::server_frame(syncws::core::opcode::binary, payload) +
                             test::server_frame(syncws::core::opcode::ping, "after");
    test::raw_server peer;
    auto client = peer.connect_client(syncws::client_options());
    const int peer_fd = peer.fd();
    peer.write(wire.substr(0, 200 * 1024));
    CHECK_FALSE(client.recv(200ms));  // reads what came, and gives up in the middle of the frame
    // From here only the connection's monitor reads: it waits for a large piece, then for a
    // last one smaller than that.
    peer.write(wire.substr(200 * 1024, 300 * 1024));
    std::this_thread::sleep_for(100ms);
    peer.write(wire.substr(500 * 1024));
    const auto pong = test::bounded_on_socket(peer_fd, [&] { return peer.read_frame(); });
    CHECK(pong.first == syncws::core::opcode::pong);
    CHECK(pong.second == "after");
    const auto received = client.recv(10s);
    REQUIRE(received);
    CHECK(received->data == payload);
    peer.vanish();
}

}  // TEST_SUITE

// A server's traffic figures (lib/traffic_counters.hpp): every connection counts into its own
// counters, and the ledger's totals add up the connections alive and gone.
#include <doctest.h>

#include <memory>
#include <thread>
#include <vector>

#include "traffic_counters.hpp"

using syncws::detail::traffic_counters;
using syncws::detail::traffic_ledger;

TEST_CASE("the totals add up live connections and finished ones") {
    traffic_ledger ledger;
    auto a = ledger.open();
    auto b = ledger.open();
    a->received(10, true);
    a->sent(20, true);
    b->received(5, false);
    b->received(7, true);
    b->sent(3, true);
    b.reset();  // a connection that is gone still counts
    const auto t = ledger.totals();
    CHECK(t.messages_received == 2);
    CHECK(t.bytes_received == 22);
    CHECK(t.messages_sent == 2);
    CHECK(t.bytes_sent == 23);
}

TEST_CASE("thousands of short connections are folded into the totals, none lost") {
    traffic_ledger ledger;
    auto keeper = ledger.open();  // alive throughout
    keeper->received(1, true);
    for (int i = 0; i < 5000; ++i) {
        auto c = ledger.open();
        c->received(2, true);
        c->sent(3, true);
    }
    const auto t = ledger.totals();
    CHECK(t.messages_received == 5001);
    CHECK(t.bytes_received == 10001);
    CHECK(t.messages_sent == 5000);
    CHECK(t.bytes_sent == 15000);
}

TEST_CASE("connections counting on their threads while the totals are read lose no count") {
    traffic_ledger ledger;
    constexpr int threads = 4, messages = 20000;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&ledger] {
            for (int round = 0; round < 4; ++round) {  // a connection ends, the next starts
                auto c = ledger.open();
                for (int i = 0; i < messages / 4; ++i) c->received(1, true);
            }
        });
    std::uint64_t seen = 0;
    for (int i = 0; i < 100; ++i) {
        const auto t = ledger.totals();
        CHECK(t.messages_received >= seen);  // never goes back
        seen = t.messages_received;
    }
    for (auto& w : workers) w.join();
    CHECK(ledger.totals().messages_received == std::uint64_t(threads) * messages);
}

// The condition the engine's threads sleep on (lib/deadline_condition.hpp): waking, waiting
// until a deadline, and no lost wake-up between a change made under the mutex and a sleeper.
#include <doctest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "deadline_condition.hpp"
#include "deadline_mutex.hpp"

using syncws::detail::deadline_condition;
using syncws::detail::deadline_mutex;
using namespace std::chrono_literals;
using lock = std::unique_lock<deadline_mutex>;

TEST_CASE("wait_until returns false at its deadline when nobody notifies, holding the mutex again") {
    deadline_mutex m;
    deadline_condition c;
    lock lk(m);
    CHECK_FALSE(c.wait_until(lk, std::chrono::steady_clock::now() + 20ms));
    CHECK(lk.owns_lock());
    CHECK_FALSE(m.try_lock());  // still ours
}

TEST_CASE("wait_until with a deadline already passed returns false at once") {
    deadline_mutex m;
    deadline_condition c;
    lock lk(m);
    CHECK_FALSE(c.wait_until(lk, std::chrono::steady_clock::now() - 1s));
    CHECK(lk.owns_lock());
}

TEST_CASE("notify_all wakes every thread asleep without a deadline") {
    deadline_mutex m;
    deadline_condition c;
    bool go = false;  // under m
    int awake = 0;    // under m
    std::vector<std::thread> sleepers;
    for (int i = 0; i < 4; ++i)
        sleepers.emplace_back([&] {
            lock lk(m);
            while (!go) c.wait_until(lk, std::chrono::steady_clock::time_point::max());
            ++awake;
        });
    std::this_thread::sleep_for(20ms);  // most likely all asleep by now; correct either way
    {
        lock lk(m);
        go = true;
        c.notify_all();
    }
    for (auto& t : sleepers) t.join();  // hangs (and the test times out) if one were not woken
    CHECK(awake == 4);
}

TEST_CASE("two threads taking turns through the condition never lose a wake-up") {
    deadline_mutex m;
    deadline_condition c;
    int turn = 0;  // under m: whose turn, 0 or 1
    constexpr int rounds = 20000;
    const auto play = [&](int me) {
        for (int i = 0; i < rounds; ++i) {
            lock lk(m);
            while (turn != me) c.wait_until(lk, std::chrono::steady_clock::time_point::max());
            turn = 1 - me;
            c.notify_all();
        }
    };
    std::thread other(play, 1);
    play(0);
    other.join();  // a lost wake-up leaves both asleep: the test times out
    CHECK(turn == 0);
}

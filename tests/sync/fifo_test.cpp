// The engine's queue of received messages (lib/fifo.hpp).

#include <doctest/doctest.h>

#include <string>

#include "fifo.hpp"

using syncws::detail::fifo;

TEST_CASE("a fifo allocates nothing until the first push") {
    fifo<std::string> queue;
    CHECK(queue.empty());
    CHECK(queue.capacity() == 0);
}

TEST_CASE("a fifo hands items out in the order they were pushed, across interleaved pushes and pops") {
    fifo<std::string> queue;
    int pushed = 0, popped = 0;
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < round % 7 + 1; ++i) queue.push_back(std::to_string(pushed++));
        for (int i = 0; i < round % 5 + 1 && !queue.empty(); ++i) {
            CHECK(queue.front() == std::to_string(popped++));
            queue.pop_front();
        }
        CHECK(queue.size() == static_cast<std::size_t>(pushed - popped));
    }
    while (!queue.empty()) {
        CHECK(queue.front() == std::to_string(popped++));
        queue.pop_front();
    }
    CHECK(popped == pushed);
}

TEST_CASE("a fifo that never empties keeps memory in proportion to what it holds") {
    fifo<std::string> queue;
    queue.push_back("first");
    queue.push_back("second");
    for (int i = 0; i < 100000; ++i) {
        queue.push_back(std::to_string(i));
        queue.pop_front();
    }
    CHECK(queue.size() == 2);
    CHECK(queue.capacity() <= 8);
    CHECK(queue.front() == "99998");
}

TEST_CASE("a fifo reuses its buffer once it empties") {
    fifo<std::string> queue;
    queue.push_back("a");
    const std::size_t capacity = queue.capacity();
    for (int i = 0; i < 1000; ++i) {
        queue.pop_front();
        CHECK(queue.empty());
        queue.push_back("b");
    }
    CHECK(queue.capacity() == capacity);
}

TEST_CASE("a fifo lets a burst's buffer go once it empties") {
    fifo<std::string> queue;
    for (int i = 0; i < 1000; ++i) queue.push_back(std::to_string(i));
    CHECK(queue.capacity() >= 1000);
    while (!queue.empty()) queue.pop_front();
    CHECK(queue.capacity() == 0);
}

TEST_CASE("a popped item's memory is released at once") {
    fifo<std::string> queue;
    queue.push_back(std::string(1000, 'x'));
    queue.push_back("keeps the queue from emptying");
    std::string& first = queue.front();
    queue.pop_front();
    CHECK(first.capacity() < 1000);  // the slot stays in the vector until the next compaction
}

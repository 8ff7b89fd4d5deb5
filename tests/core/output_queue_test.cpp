#include <doctest.h>

#include <string>
#include <vector>

#include "syncws/core/output_queue.hpp"

using syncws::core::output_queue;

TEST_SUITE("output_queue") {

TEST_CASE("owned and borrowed bytes come out in the order they were queued") {
    const std::string payload(2000, 'p');
    output_queue q;
    q.append("head");
    q.append_borrowed(payload);
    q.append("tail");
    CHECK(q.size() == 8 + payload.size());
    CHECK(q.flatten() == "head" + payload + "tail");
}

TEST_CASE("consecutive owned bytes form one gather entry and borrowed bytes are not copied") {
    const std::string payload(2000, 'p');
    output_queue q;
    q.append("a");
    q.append("b");
    q.append_borrowed(payload);
    std::vector<std::string_view> pieces;
    q.gather(pieces);
    REQUIRE(pieces.size() == 2);
    CHECK(pieces[0] == "ab");
    CHECK(pieces[1].data() == payload.data());
}

TEST_CASE("append_uninitialized hands out space that is written in place") {
    output_queue q;
    char* p = q.append_uninitialized(3);
    p[0] = 'x';
    p[1] = 'y';
    p[2] = 'z';
    CHECK(q.flatten() == "xyz");
}

TEST_CASE("clear empties the queue and swap exchanges contents") {
    output_queue a, b;
    a.append("one");
    a.swap(b);
    CHECK(a.empty());
    CHECK(b.flatten() == "one");
    b.clear();
    CHECK(b.empty());
    CHECK(b.size() == 0);
    CHECK(b.flatten().empty());
}

TEST_CASE("consuming part of the queue leaves exactly the unwritten bytes, in order") {
    const std::string payload(2000, 'p');
    for (std::size_t n = 0; n <= 2008; n += 7) {
        CAPTURE(n);
        output_queue q;
        q.append("head");
        q.append_borrowed(payload);
        q.append("tail");
        const std::string all = q.flatten();
        q.consume(n);
        CHECK(q.size() == all.size() - n);
        CHECK(q.flatten() == all.substr(n));
        q.append("more");  // appending after a partial consume keeps the order
        CHECK(q.flatten() == all.substr(n) + "more");
    }
}

TEST_CASE("append_queue copies owned bytes and keeps borrowed ones borrowed") {
    const std::string payload(2000, 'p');
    output_queue a, b;
    a.append("x");
    b.append("head");
    b.append_borrowed(payload);
    a.append_queue(b);
    b.clear();
    CHECK(a.flatten() == "xhead" + payload);
    std::vector<std::string_view> pieces;
    a.gather(pieces);
    REQUIRE(pieces.size() == 2);
    CHECK(pieces[1].data() == payload.data());
}

TEST_CASE("empty appends queue nothing") {
    output_queue q;
    q.append("");
    q.append_borrowed("");
    std::vector<std::string_view> pieces;
    q.gather(pieces);
    CHECK(pieces.empty());
}

}  // TEST_SUITE

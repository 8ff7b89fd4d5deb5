// Deadlines from timeouts (lib/transport.hpp): what a zero, a negative and an enormous
// timeout mean, so that no setting overflows the clock into a deadline already past.
#include <doctest.h>

#include <chrono>

#include "transport.hpp"

using syncws::detail::after_waiting;
using steady = syncws::detail::clock;
using syncws::detail::deadline_after;
using syncws::detail::lazy_deadline;
using syncws::detail::no_deadline;
using namespace std::chrono_literals;

TEST_CASE("deadline_after: a zero or negative timeout is no deadline") {
    CHECK(deadline_after(steady::duration::zero()) == no_deadline);
    CHECK(deadline_after(-5s) == no_deadline);
}

TEST_CASE("deadline_after: a timeout too long to add to the clock is no deadline, not one in the past") {
    CHECK(deadline_after(steady::duration::max()) == no_deadline);
    CHECK(deadline_after(steady::duration::max() - 1s) == no_deadline);
}

TEST_CASE("deadline_after: an ordinary timeout is that long after now") {
    const steady::time_point before = steady::now();
    const steady::time_point deadline = deadline_after(90s);
    const steady::time_point after = steady::now();
    CHECK(deadline >= before + 90s);
    CHECK(deadline <= after + 90s);
}

TEST_CASE("after_waiting: now for a zero or negative wait, no deadline for one too long to add") {
    const steady::time_point before = steady::now();
    const steady::time_point now = after_waiting(-1s);
    CHECK(now >= before);
    CHECK(now <= steady::now());
    CHECK(after_waiting(steady::duration::max()) == no_deadline);
    CHECK(after_waiting(90s) >= before + 90s);
}

TEST_CASE("lazy_deadline: the cap when the timeout is zero or too long to add; never later than the cap") {
    const steady::time_point cap = steady::now() + 1h;
    CHECK(lazy_deadline(steady::duration::zero(), cap).get() == cap);
    CHECK(lazy_deadline(steady::duration::max(), cap).get() == cap);
    CHECK(lazy_deadline(steady::duration::max()).get() == no_deadline);
    CHECK(lazy_deadline(2h, cap).get() == cap);
    const steady::time_point soon = lazy_deadline(1s, cap).get();
    CHECK(soon < cap);
    CHECK(soon > cap - 1h);
}

// A buffer placed against inaccessible pages, for the SIMD tests of mask and utf8.
#pragma once

#if __has_include(<sys/mman.h>) && __has_include(<unistd.h>)
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>

#include <doctest.h>

#define SYNCWS_TEST_GUARD_PAGES 1

namespace test {

// Three pages of which the first and the last are inaccessible: a kernel that touches one
// byte before or after a buffer placed against either of them crashes the test. (The
// sanitizers do not see loads made with SIMD intrinsics; this does.)
class guarded_page {
public:
    guarded_page() : page_(static_cast<std::size_t>(sysconf(_SC_PAGESIZE))) {
        void* p = mmap(nullptr, 3 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        REQUIRE(p != MAP_FAILED);
        base_ = static_cast<char*>(p);
        REQUIRE(mprotect(base_, page_, PROT_NONE) == 0);
        REQUIRE(mprotect(base_ + 2 * page_, page_, PROT_NONE) == 0);
    }
    ~guarded_page() { munmap(base_, 3 * page_); }
    guarded_page(const guarded_page&) = delete;
    guarded_page& operator=(const guarded_page&) = delete;

    char* begin() { return base_ + page_; }
    char* end() { return base_ + 2 * page_; }
    std::size_t size() const { return page_; }

private:
    std::size_t page_;
    char* base_ = nullptr;
};

}  // namespace test
#else
#define SYNCWS_TEST_GUARD_PAGES 0
#endif

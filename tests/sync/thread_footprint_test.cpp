// What every thread of a process pays for linking syncws: the library's thread_local
// variables live in the static TLS block that glibc copies into each new thread's stack,
// so a server with a thousand workers pays for them a thousand times. A 2.5 KiB random
// engine there once cost each idle connection a whole extra page of stack.

#include <doctest/doctest.h>
#include <link.h>

#include <cstdint>

#include "syncws/core/random.hpp"

namespace {

struct search {
    std::uintptr_t address;    // an address inside the library
    bool found = false;
    std::size_t tls_size = 0;  // its PT_TLS segment's size in memory
};

int visit(dl_phdr_info* info, std::size_t, void* data) {
    auto& s = *static_cast<search*>(data);
    bool contains = false;
    std::size_t tls = 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& segment = info->dlpi_phdr[i];
        const std::uintptr_t start = info->dlpi_addr + segment.p_vaddr;
        if (segment.p_type == PT_LOAD && s.address >= start && s.address < start + segment.p_memsz)
            contains = true;
        if (segment.p_type == PT_TLS) tls = segment.p_memsz;
    }
    if (!contains) return 0;
    s.found = true;
    s.tls_size = tls;
    return 1;
}

}  // namespace

TEST_CASE("the library adds less than 256 bytes of thread-local storage to every thread") {
    search s{reinterpret_cast<std::uintptr_t>(&syncws::core::random_bytes)};
    dl_iterate_phdr(visit, &s);
    REQUIRE(s.found);
    CHECK(s.tls_size < 256);
}

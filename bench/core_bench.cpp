// Throughput of the core's hot loops, masking and UTF-8 validation, next to memcpy and the
// bytewise references, at the sizes the design's targets name (design.md §4).
//
// usage: core_bench [--quick]
//   --quick  about 10 ms per cell instead of 0.2 s: a smoke pass for CI.
//
// Each cell is the median of ~10 timed batches after a warm-up, in GB/s (10^9 bytes of
// input per second). The same buffer is processed again and again, so the 64 KiB cells run
// from L2 cache and the 1 MiB ones from L2/L3, as a message just read from a socket does.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "syncws/core/mask.hpp"
#include "syncws/core/utf8.hpp"

#include "../lib/core/simd_dispatch.hpp"

namespace core = syncws::core;
namespace detail = syncws::core::detail;

namespace {

// Makes the compiler assume that memory changed and that `value` is used, so that neither
// the work nor its result can be optimised away or hoisted out of the timing loop.
template <class T>
void keep(const T& value) {
    asm volatile("" : : "g"(&value) : "memory");
}

double cell_seconds = 0.2;

template <class Op>
double gb_per_s(std::size_t bytes, Op op) {
    using clock = std::chrono::steady_clock;
    auto seconds_for = [&](std::size_t iterations) {
        const auto start = clock::now();
        for (std::size_t i = 0; i < iterations; ++i) op();
        return std::chrono::duration<double>(clock::now() - start).count();
    };
    // Warm up and size a batch to a tenth of the cell.
    std::size_t iterations = 1;
    while (seconds_for(iterations) < cell_seconds / 40) iterations *= 2;
    iterations = std::max<std::size_t>(1, iterations * 4);
    std::vector<double> rates;
    for (double spent = 0; spent < cell_seconds || rates.size() < 3;) {
        const double s = seconds_for(iterations);
        spent += s;
        rates.push_back(static_cast<double>(bytes) * static_cast<double>(iterations) / s / 1e9);
    }
    std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
    return rates[rates.size() / 2];
}

// 64-byte aligned, as a receive buffer from the allocator is.
class buffer {
public:
    explicit buffer(std::size_t size) : storage_(size + 64) {
        const auto misalignment = reinterpret_cast<std::uintptr_t>(storage_.data()) % 64;
        data_ = storage_.data() + (64 - misalignment) % 64;
        size_ = size;
    }
    char* data() { return data_; }
    std::string_view view() const { return {data_, size_}; }

private:
    std::vector<char> storage_;
    char* data_;
    std::size_t size_;
};

// Greek, CJK and emoji (2-, 3- and 4-byte sequences) with some ASCII punctuation: the
// "mixed text" of the design's targets. Cut on a code point boundary and padded with
// spaces to exactly `size` bytes.
void fill_mixed(char* out, std::size_t size) {
    const std::string_view sample =
        "\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1 "  // Καλημέρα
        "\xce\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5, "                          // κόσμε,
        "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82"        // 你好世界。
        "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf "       // こんにちは
        "\xf0\x9f\x98\x80\xf0\x9f\x9a\x80\xf0\x9f\x8e\x89 ";                  // 😀🚀🎉
    std::size_t n = 0;
    for (std::size_t i = 0; n < size; i = (i + 1) % sample.size()) {
        const auto lead = static_cast<unsigned char>(sample[i]);
        if (lead >= 0x80 && lead < 0xC0) continue;  // copied with its lead byte
        const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        if (n + length > size) break;
        std::memcpy(out + n, sample.data() + i, length);
        n += length;
    }
    std::memset(out + n, ' ', size - n);
}

struct size_column {
    std::size_t bytes;
    const char* label;
};
const size_column sizes[] = {{16, "16 B"}, {1024, "1 KiB"}, {65536, "64 KiB"}, {1 << 20, "1 MiB"}};

void print_header(const char* title, const std::vector<std::string>& columns) {
    std::printf("\n%-8s", title);
    for (const auto& c : columns) std::printf(" %12s", c.c_str());
    std::printf("\n");
}

void print_row(const char* label, const std::vector<double>& values) {
    std::printf("%-8s", label);
    for (const double v : values) std::printf(" %12.2f", v);
    std::printf("\n");
}

void bench_masking(const std::vector<detail::simd_level>& levels) {
    const core::mask_key key = {0x37, 0xfa, 0x21, 0x3d};
    std::vector<std::string> columns = {"apply_mask", "mask_copy", "memcpy", "mask/memcpy",
                                        "bytewise"};
    for (const auto level : levels) columns.push_back(std::string("[") + detail::to_string(level) + "]");
    print_header("masking", columns);

    const detail::simd_level chosen = detail::mask_level();
    for (const auto& size : sizes) {
        buffer data(size.bytes), copy(size.bytes);
        std::memset(data.data(), 'x', size.bytes);
        char* p = data.data();
        char* q = copy.data();
        const std::size_t n = size.bytes;

        const double mask = gb_per_s(n, [&] {
            core::apply_mask(p, n, key);
            keep(p);
        });
        const double mask_copy = gb_per_s(n, [&] {
            core::mask_copy(q, p, n, key);
            keep(q);
        });
        const double memcpy = gb_per_s(n, [&] {
            std::memcpy(q, p, n);
            keep(q);
        });
        const double bytewise = gb_per_s(n, [&] {
            core::apply_mask_bytewise(p, n, key);
            keep(p);
        });
        std::vector<double> row = {mask, mask_copy, memcpy, mask / memcpy, bytewise};
        for (const auto level : levels) {
            detail::force_mask_level(level);
            row.push_back(gb_per_s(n, [&] {
                core::apply_mask(p, n, key);
                keep(p);
            }));
        }
        detail::force_mask_level(chosen);
        print_row(size.label, row);
    }
}

void bench_utf8(const std::vector<detail::simd_level>& levels) {
    std::vector<std::string> columns = {"ASCII", "bytewise", "mixed", "bytewise", "validator"};
    for (const auto level : levels) {
        columns.push_back(std::string("ASCII[") + detail::to_string(level) + "]");
        columns.push_back(std::string("mixed[") + detail::to_string(level) + "]");
    }
    print_header("UTF-8", columns);

    const detail::simd_level chosen = detail::utf8_level();
    for (const auto& size : sizes) {
        buffer ascii(size.bytes), mixed(size.bytes);
        std::memset(ascii.data(), 'a', size.bytes);
        fill_mixed(mixed.data(), size.bytes);
        const std::string_view a = ascii.view(), m = mixed.view();
        if (!core::is_valid_utf8(a) || !core::is_valid_utf8(m)) {
            std::fprintf(stderr, "benchmark input is not valid UTF-8\n");
            std::exit(1);
        }
        auto validate = [](std::string_view text) {
            return [text] {
                const bool valid = core::is_valid_utf8(text);
                keep(valid);
            };
        };
        auto bytewise = [](std::string_view text) {
            return [text] {
                const bool valid = core::is_valid_utf8_bytewise(text);
                keep(valid);
            };
        };
        // As the protocol uses it: a new message each time, fed in one piece.
        const double validator = gb_per_s(m.size(), [m] {
            core::utf8_validator v;
            const bool valid = v.feed(m) && v.complete();
            keep(valid);
        });
        std::vector<double> row = {gb_per_s(a.size(), validate(a)), gb_per_s(a.size(), bytewise(a)),
                                   gb_per_s(m.size(), validate(m)), gb_per_s(m.size(), bytewise(m)),
                                   validator};
        for (const auto level : levels) {
            detail::force_utf8_level(level);
            row.push_back(gb_per_s(a.size(), validate(a)));
            row.push_back(gb_per_s(m.size(), validate(m)));
        }
        detail::force_utf8_level(chosen);
        print_row(size.label, row);
    }
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) == "--quick") {
            cell_seconds = 0.01;
        } else {
            std::fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
            return 2;
        }
    }
    const auto levels = detail::supported_simd_levels();
    std::printf("syncws core_bench: GB/s, median of batches, %.2f s per cell\n", cell_seconds);
    std::printf("kernels this CPU runs:");
    for (const auto level : levels) std::printf(" %s", detail::to_string(level));
    std::printf("\nchosen at run time: masking %s, UTF-8 %s\n",
                detail::to_string(detail::mask_level()), detail::to_string(detail::utf8_level()));
    std::printf("[level] columns force one kernel; mask/memcpy is apply_mask over memcpy\n");
    bench_masking(levels);
    bench_utf8(levels);
    return 0;
}

// Throughput of the core's hot loops, masking and UTF-8 validation, next to memcpy and the
// bytewise references, at the sizes the design's targets name (design.md §4).
//
// usage: core_bench [--quick]
//   --quick  about 10 ms per cell instead of 0.2 s: a smoke pass for CI.
//
// Each cell is the median of ~10 timed batches after a warm-up, in GB/s (10^9 bytes of
// input per second). Buffers are 64-byte aligned and stay in cache between calls (16 KiB
// at most of them for the small sizes, in L1; one buffer of 64 KiB in L2; 1 MiB in L2, but
// 2 MiB for memcpy and mask_copy), as a message just read from a socket is. The "by kernel"
// tables force each kernel this CPU runs; the first tables use the one chosen at run time.

#include <algorithm>
#include <chrono>
#include <cstdint>
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

// GB/s of op(i) (i counts calls) on `bytes` bytes per call: the median of timed batches of
// about a tenth of a cell each, after a warm-up that also sizes the batches.
template <class Op>
double gb_per_s(std::size_t bytes, Op op) {
    using clock = std::chrono::steady_clock;
    auto seconds_for = [&](std::size_t iterations) {
        const auto start = clock::now();
        for (std::size_t i = 0; i < iterations; ++i) op(i);
        return std::chrono::duration<double>(clock::now() - start).count();
    };
    std::size_t iterations = 1;
    while (seconds_for(iterations) < cell_seconds / 40) iterations *= 2;
    iterations *= 4;
    std::vector<double> rates;
    for (double spent = 0; spent < cell_seconds || rates.size() < 3;) {
        const double s = seconds_for(iterations);
        spent += s;
        rates.push_back(static_cast<double>(bytes) * static_cast<double>(iterations) / s / 1e9);
    }
    std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
    return rates[rates.size() / 2];
}

// `count` 64-byte aligned slots of `size` bytes. Masking in place reads what the call
// before wrote, so on one small buffer every call would wait for the last one's stores
// (a masked store cannot even be forwarded to a load); a received frame was written long
// before. Calls on small sizes therefore take turns over 16 slots (16 KiB at most, in L1
// cache), and memcpy gets the same treatment.
class slots {
public:
    explicit slots(std::size_t size)
        : count_(size <= 1024 ? 16 : 1), stride_((size + 63) / 64 * 64),
          storage_(count_ * stride_ + 64) {
        const auto misalignment = reinterpret_cast<std::uintptr_t>(storage_.data()) % 64;
        base_ = storage_.data() + (64 - misalignment) % 64;
    }
    char* operator[](std::size_t i) { return base_ + (i & (count_ - 1)) * stride_; }

private:
    std::size_t count_, stride_;
    std::vector<char> storage_;
    char* base_;
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

struct size_row {
    std::size_t bytes;
    const char* label;
};
const size_row sizes[] = {{16, "16 B"}, {1024, "1 KiB"}, {65536, "64 KiB"}, {1 << 20, "1 MiB"}};

// Columns as wide as the widest heading, at least 10.
int column_width = 10;

void print_header(const char* title, const std::vector<std::string>& columns) {
    column_width = 10;
    for (const auto& c : columns) column_width = std::max(column_width, static_cast<int>(c.size()));
    std::printf("\n%-24s", title);
    for (const auto& c : columns) std::printf(" %*s", column_width, c.c_str());
    std::printf("\n");
}

void print_row(const char* label, const std::vector<double>& values) {
    std::printf("%-24s", label);
    for (const double v : values) std::printf(" %*.2f", column_width, v);
    std::printf("\n");
}

std::vector<std::string> level_names(const std::vector<detail::simd_level>& levels) {
    std::vector<std::string> names;
    for (const auto level : levels) names.push_back(detail::to_string(level));
    return names;
}

void bench_masking(const std::vector<detail::simd_level>& levels) {
    const core::mask_key key = {0x37, 0xfa, 0x21, 0x3d};
    std::vector<std::vector<double>> per_kernel;
    print_header("masking, GB/s",
                 {"apply_mask", "mask_copy", "memcpy", "mask/memcpy", "bytewise"});
    for (const auto& size : sizes) {
        const std::size_t n = size.bytes;
        slots data(n), copy(n);
        auto mask = [&](std::size_t i) {
            char* p = data[i];
            core::apply_mask(p, n, key);
            keep(p);
        };
        const double masked = gb_per_s(n, mask);
        const double masked_copy = gb_per_s(n, [&](std::size_t i) {
            char* q = copy[i];
            core::mask_copy(q, data[i], n, key);
            keep(q);
        });
        const double copied = gb_per_s(n, [&](std::size_t i) {
            char* q = copy[i];
            std::memcpy(q, data[i], n);
            keep(q);
        });
        const double bytewise = gb_per_s(n, [&](std::size_t i) {
            char* p = data[i];
            core::apply_mask_bytewise(p, n, key);
            keep(p);
        });
        print_row(size.label, {masked, masked_copy, copied, masked / copied, bytewise});

        const detail::simd_level chosen = detail::mask_level();
        per_kernel.emplace_back();
        for (const auto level : levels) {
            detail::force_mask_level(level);
            per_kernel.back().push_back(gb_per_s(n, mask));
        }
        detail::force_mask_level(chosen);
    }
    print_header("apply_mask by kernel", level_names(levels));
    for (std::size_t i = 0; i < per_kernel.size(); ++i) print_row(sizes[i].label, per_kernel[i]);
}

void bench_utf8(const std::vector<detail::simd_level>& levels) {
    std::vector<std::vector<double>> per_kernel;
    print_header("UTF-8, GB/s", {"ASCII", "bytewise", "mixed", "bytewise", "validator"});
    for (const auto& size : sizes) {
        slots ascii(size.bytes), mixed(size.bytes);
        std::memset(ascii[0], 'a', size.bytes);
        fill_mixed(mixed[0], size.bytes);
        const std::string_view a(ascii[0], size.bytes), m(mixed[0], size.bytes);
        if (!core::is_valid_utf8(a) || !core::is_valid_utf8(m)) {
            std::fprintf(stderr, "benchmark input is not valid UTF-8\n");
            std::exit(1);
        }
        auto validate = [](std::string_view text) {
            return [text](std::size_t) {
                const bool valid = core::is_valid_utf8(text);
                keep(valid);
            };
        };
        auto bytewise = [](std::string_view text) {
            return [text](std::size_t) {
                const bool valid = core::is_valid_utf8_bytewise(text);
                keep(valid);
            };
        };
        // As the protocol uses it: a new message each time, fed in one piece.
        const double validator = gb_per_s(m.size(), [m](std::size_t) {
            core::utf8_validator v;
            const bool valid = v.feed(m) && v.complete();
            keep(valid);
        });
        print_row(size.label, {gb_per_s(a.size(), validate(a)), gb_per_s(a.size(), bytewise(a)),
                               gb_per_s(m.size(), validate(m)), gb_per_s(m.size(), bytewise(m)),
                               validator});

        const detail::simd_level chosen = detail::utf8_level();
        per_kernel.emplace_back();
        for (const auto level : levels) {
            detail::force_utf8_level(level);
            per_kernel.back().push_back(gb_per_s(a.size(), validate(a)));
        }
        for (const auto level : levels) {
            detail::force_utf8_level(level);
            per_kernel.back().push_back(gb_per_s(m.size(), validate(m)));
        }
        detail::force_utf8_level(chosen);
    }
    std::vector<std::string> columns;
    for (const char* text : {"ASCII ", "mixed "})
        for (const auto& name : level_names(levels)) columns.push_back(text + name);
    print_header("is_valid_utf8 by kernel", columns);
    for (std::size_t i = 0; i < per_kernel.size(); ++i) print_row(sizes[i].label, per_kernel[i]);
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
    std::printf("mixed: Greek, CJK and emoji with spaces; "
                "validator: utf8_validator::feed, one piece\n");
    bench_masking(levels);
    bench_utf8(levels);
    return 0;
}

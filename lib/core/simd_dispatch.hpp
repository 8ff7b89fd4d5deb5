// Internal (not installed): the run-time choice among the SIMD kernels of mask.cpp and
// utf8.cpp, and the hooks that let tests and benchmarks run every kernel this CPU supports.
//
// The library is built for the x86-64 baseline (SSE2, no -march), so wider kernels are
// compiled with per-function target attributes and picked once, on first use, from what
// the CPU reports.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SYNCWS_X86_64_KERNELS 1
#else
#define SYNCWS_X86_64_KERNELS 0
#endif

namespace syncws::core::detail {

/// Instruction-set levels, narrowest first. `portable` is plain C++ on 64-bit words and is
/// compiled everywhere (so x86 test runs cover the code that ARM and others use).
enum class simd_level : unsigned char { portable, sse2, avx2, avx512 };
inline constexpr std::size_t simd_level_count = 4;

inline const char* to_string(simd_level level) noexcept {
    switch (level) {
    case simd_level::portable: return "portable";
    case simd_level::sse2: return "sse2";
    case simd_level::avx2: return "avx2";
    case simd_level::avx512: return "avx512";
    }
    return "?";
}

/// True when this build has kernels for `level` and this CPU (and OS) can run them.
inline bool cpu_supports(simd_level level) noexcept {
#if SYNCWS_X86_64_KERNELS
    // Cheap and idempotent; needed when this runs before libgcc's own constructor has.
    __builtin_cpu_init();
    switch (level) {
    case simd_level::portable:
    case simd_level::sse2: return true;
    case simd_level::avx2: return __builtin_cpu_supports("avx2");
    // libgcc reports these only when the OS saves the ZMM registers (XCR0), not just CPUID.
    case simd_level::avx512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    }
    return false;
#else
    return level == simd_level::portable;
#endif
}

/// The levels cpu_supports(), narrowest first: what tests and benchmarks iterate over.
inline std::vector<simd_level> supported_simd_levels() {
    std::vector<simd_level> levels;
    for (std::size_t i = 0; i < simd_level_count; ++i) {
        const auto level = static_cast<simd_level>(i);
        if (cpu_supports(level)) levels.push_back(level);
    }
    return levels;
}

/// One operation's kernels, one per level (null where this build has none), and the one in
/// use. The first call picks the widest supported level up to `widest_worthwhile` (a wider
/// kernel only where the benchmark showed it pays). A relaxed atomic is enough: every thread
/// that races on the first call stores the same pointer, and a pointer to code publishes
/// no data. Constant-initialised, so it is usable from other translation units' static
/// initialisers.
template <class Fn>
class kernel_dispatch {
public:
    constexpr kernel_dispatch(std::array<Fn, simd_level_count> kernels,
                              simd_level widest_worthwhile) noexcept
        : kernels_(kernels), widest_worthwhile_(widest_worthwhile) {}

    Fn get() noexcept {
        const Fn fn = active_.load(std::memory_order_relaxed);
        return fn ? fn : choose();
    }

    simd_level level() noexcept {
        const Fn fn = get();
        for (std::size_t i = 0; i < simd_level_count; ++i)
            if (kernels_[i] == fn) return static_cast<simd_level>(i);
        return simd_level::portable;
    }

    /// For tests and benchmarks. Returns false (and changes nothing) when `level` has no
    /// kernel here or the CPU cannot run it.
    bool force(simd_level level) noexcept {
        const Fn fn = kernels_[static_cast<std::size_t>(level)];
        if (!fn || !cpu_supports(level)) return false;
        active_.store(fn, std::memory_order_relaxed);
        return true;
    }

private:
    Fn choose() noexcept {
        Fn best = kernels_[0];
        for (std::size_t i = 1; i <= static_cast<std::size_t>(widest_worthwhile_); ++i)
            if (kernels_[i] && cpu_supports(static_cast<simd_level>(i))) best = kernels_[i];
        active_.store(best, std::memory_order_relaxed);
        return best;
    }

    std::array<Fn, simd_level_count> kernels_;
    simd_level widest_worthwhile_;
    std::atomic<Fn> active_{nullptr};
};

/// The level apply_mask and mask_copy use (chosen on first use).
simd_level mask_level() noexcept;
/// Test and benchmark hook: makes apply_mask and mask_copy use `level` from now on.
/// Returns false when the CPU cannot run it. Affects every thread.
bool force_mask_level(simd_level level) noexcept;

/// The level is_valid_utf8 and utf8_validator use (chosen on first use).
simd_level utf8_level() noexcept;
/// Test and benchmark hook, as force_mask_level.
bool force_utf8_level(simd_level level) noexcept;

}  // namespace syncws::core::detail

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
// What a kernel of each level may use; cpu_supports() checks the same features.
#define SYNCWS_TARGET_AVX2 __attribute__((target("avx2")))
#define SYNCWS_TARGET_AVX512 __attribute__((target("avx512f,avx512bw")))
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
    // The kernels need F and BW; VBMI2 is asked for as a mark of Ice Lake and later (and
    // AMD Zen 4), where 512-bit instructions no longer lower the clock of the whole core
    // for milliseconds, as they do on Skylake-SP: there a burst of masking would slow
    // everything else the core runs, so those CPUs get the AVX2 kernels.
    case simd_level::avx512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vbmi2");
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
/// use. Until the first call picks one, the one in use is `first_call`, a function with the
/// kernels' signature that calls choose() and then the kernel chosen; after that a call is
/// one relaxed load and an indirect jump, with no branch. choose() takes the widest level
/// the CPU supports up to `widest_worthwhile` (a wider kernel only where the benchmark
/// showed it pays). Relaxed is enough: threads that race on the first call store the same
/// pointer, and a pointer to code publishes no data. Constant-initialised, so usable from
/// other translation units' static initialisers.
template <class Fn>
class kernel_dispatch {
public:
    constexpr kernel_dispatch(std::array<Fn, simd_level_count> kernels,
                              simd_level widest_worthwhile, Fn first_call) noexcept
        : kernels_(kernels), widest_worthwhile_(widest_worthwhile), first_call_(first_call),
          active_(first_call) {}

    Fn get() noexcept { return active_.load(std::memory_order_relaxed); }

    Fn choose() noexcept {
        Fn best = kernels_[0];
        for (std::size_t i = 1; i <= static_cast<std::size_t>(widest_worthwhile_); ++i)
            if (kernels_[i] && cpu_supports(static_cast<simd_level>(i))) best = kernels_[i];
        active_.store(best, std::memory_order_relaxed);
        return best;
    }

    simd_level level() noexcept {
        Fn fn = get();
        if (fn == first_call_) fn = choose();
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
    std::array<Fn, simd_level_count> kernels_;
    simd_level widest_worthwhile_;
    Fn first_call_;
    std::atomic<Fn> active_;
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

// What /proc says about a process (this one or a child): resident memory and its peak,
// threads, open descriptors. The reliability tests record these figures and bound them.
#pragma once

#include <dirent.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <fstream>
#include <string>
#include <thread>

namespace reliability {

using namespace std::chrono_literals;

inline std::string proc_path(pid_t pid, const std::string& entry) {
    return "/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/" + entry;
}

/// A field of /proc/PID/status in its unit (kB for memory); -1 if absent. pid 0 is this
/// process.
inline long status_field(pid_t pid, const std::string& field) {
    std::ifstream status(proc_path(pid, "status"));
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    return -1;
}

inline long resident_kib(pid_t pid = 0) { return status_field(pid, "VmRSS"); }
/// Peak resident memory since the last reset_peak_memory().
inline long peak_kib(pid_t pid = 0) { return status_field(pid, "VmHWM"); }
inline long thread_count(pid_t pid = 0) { return status_field(pid, "Threads"); }

/// Sets the peak (VmHWM) back to the current resident size (proc(5), clear_refs "5").
inline void reset_peak_memory(pid_t pid = 0) { std::ofstream(proc_path(pid, "clear_refs")) << "5"; }

/// Descriptors open in the process now.
inline std::size_t descriptor_count(pid_t pid = 0) {
    std::size_t n = 0;
    if (DIR* dir = ::opendir(proc_path(pid, "fd").c_str())) {
        while (const dirent* entry = ::readdir(dir))
            if (entry->d_name[0] != '.') ++n;
        ::closedir(dir);
    }
    return pid == 0 ? n - 1 : n;  // our own listing holds one descriptor on the directory
}

/// Polls until condition holds or bound passes; true if it held.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = 20s) {
    const auto until = std::chrono::steady_clock::now() + bound;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= until) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// Seconds since start, for the figures the tests print.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Sanitizers keep shadow memory and a quarantine of freed blocks: memory bounds are wider
/// there, still far below what an unbounded buffer would take.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr long sanitizer_factor = 8;
#else
inline constexpr long sanitizer_factor = 1;
#endif

}  // namespace reliability

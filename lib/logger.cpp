#include "syncws/logger.hpp"

#include <cstdio>
#include <string>

namespace syncws {

std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::debug: return "debug";
        case log_level::info: return "info";
        case log_level::warning: return "warning";
        case log_level::error: return "error";
    }
    return "unknown";
}

void log_to_stderr(log_level level, std::string_view message, std::uint64_t connection_id) {
    if (level < log_level::warning) return;
    std::string line = "syncws ";
    line += to_string(level);
    if (connection_id != 0) line += " [connection " + std::to_string(connection_id) + "]";
    line += ": ";
    line += message;
    line += '\n';
    // One fwrite per line, so that lines from several threads do not interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace syncws

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

std::string connection_name(std::uint64_t connection_id) {
    if (connection_id == 0) return {};
    return "c" + std::to_string(connection_id);
}

std::string to_string(const log_record& record) {
    std::string line(to_string(record.level));
    if (record.connection_id != 0) {
        line += ' ';
        line += connection_name(record.connection_id);
    }
    if (!record.remote_address.empty()) {
        line += ' ';
        line += record.remote_address;
    }
    line += ": ";
    line += record.message;
    return line;
}

void stderr_logger::operator()(const log_record& record) const {
    if (record.level < log_level::warning) return;
    std::string line = "syncws " + to_string(record) + '\n';
    // One fwrite per line, so that lines from several threads do not interleave.
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace syncws

// The logger hook: where syncws reports what users may want to know.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace syncws {

enum class log_level { debug, info, warning, error };

/// "debug", "info", "warning", "error".
std::string_view to_string(log_level level) noexcept;

/// Receives every log line: its level, the text, and the id of the connection it is about
/// (0 for the server itself). Called from the thread where the event happened, so it must be
/// safe to call from several threads at once.
using logger = std::function<void(log_level level, std::string_view message,
                                  std::uint64_t connection_id)>;

/// The default logger: warnings and errors go to stderr, one line each, nothing else.
/// Thread-safety: safe from any thread (lines are written whole).
void log_to_stderr(log_level level, std::string_view message, std::uint64_t connection_id);

}  // namespace syncws

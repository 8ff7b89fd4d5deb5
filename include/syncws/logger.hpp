// The logger hook: where syncws reports what users may want to know.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace syncws {

enum class log_level { debug, info, warning, error };

/// "debug", "info", "warning", "error".
std::string_view to_string(log_level level) noexcept;

/// One log line and what it is about. The views are valid only during the logger's call:
/// copy what you keep.
struct log_record {
    log_level level = log_level::info;
    /// What happened, without the connection's name: "rejected the opening request with 403 ...".
    std::string_view message;
    /// The connection it is about (connection::id(): 1, 2, 3 ... unique in the process), or
    /// 0 for the server itself and for a client that never became a connection (one whose
    /// TLS handshake failed).
    std::uint64_t connection_id = 0;
    /// The peer's address, as connection::remote_address() gives it ("127.0.0.1:51234",
    /// "[::1]:8765"); empty for the server itself and for a Unix socket's unnamed peer.
    std::string_view remote_address;
};

/// How log lines name a connection: "c42" for id 42; "" for 0.
/// Thread-safety: safe from any thread.
std::string connection_name(std::uint64_t connection_id);

/// The record as one line, without a line end: "warning c42 127.0.0.1:51234: text", the
/// name and the address left out when unknown ("info: listening on 127.0.0.1:8765").
/// Thread-safety: safe from any thread.
std::string to_string(const log_record& record);

/// The default logger: warnings and errors go to stderr as to_string() writes them, after
/// "syncws ", one line each, nothing else. Callable with a record or, as before log_record
/// existed, with (level, message, connection_id); settings.logger = syncws::log_to_stderr.
/// Thread-safety: safe from any thread (lines are written whole).
struct stderr_logger {
    void operator()(const log_record& record) const;
    void operator()(log_level level, std::string_view message, std::uint64_t connection_id) const {
        (*this)(log_record{level, message, connection_id, {}});
    }
};
inline constexpr stderr_logger log_to_stderr{};

/// Receives every log line. Made from a function of the record,
///     settings.logger = [](const syncws::log_record& r) { ... };
/// or, as before log_record existed, from a function of (level, message, connection_id),
/// whose message then starts with the peer's address when there is one
/// ("127.0.0.1:51234: text"). An empty logger means the default
/// (log_to_stderr). It is called from the thread where the event happened, so the function
/// must be safe to call from several threads at once.
class logger {
public:
    logger() noexcept = default;
    logger(std::nullptr_t) noexcept {}
    /// From any callable taking const log_record&.
    template <class F, std::enable_if_t<!std::is_same_v<std::decay_t<F>, logger> &&
                                            std::is_invocable_v<std::decay_t<F>&, const log_record&>,
                                        int> = 0>
    logger(F&& function) {
        if (!is_empty(function)) function_ = std::forward<F>(function);
    }
    /// From any callable taking (log_level, std::string_view message, std::uint64_t id).
    /// The message starts with the peer's address, when the record has one.
    template <class F,
              std::enable_if_t<!std::is_same_v<std::decay_t<F>, logger> &&
                                   !std::is_invocable_v<std::decay_t<F>&, const log_record&> &&
                                   std::is_invocable_v<std::decay_t<F>&, log_level,
                                                       std::string_view, std::uint64_t>,
                               int> = 0>
    logger(F&& function) {
        if (!is_empty(function))
            function_ = [f = std::decay_t<F>(std::forward<F>(function))](const log_record& r) mutable {
                if (r.remote_address.empty()) return f(r.level, r.message, r.connection_id);
                std::string text(r.remote_address);
                text += ": ";
                text += r.message;
                f(r.level, std::string_view(text), r.connection_id);
            };
    }

    /// False for the default logger.
    explicit operator bool() const noexcept { return static_cast<bool>(function_); }
    /// Logs the record; the default logger writes it with log_to_stderr.
    void operator()(const log_record& record) const {
        if (function_)
            function_(record);
        else
            log_to_stderr(record);
    }
    /// Logs a line given in parts, with no remote address.
    void operator()(log_level level, std::string_view message, std::uint64_t connection_id) const {
        (*this)(log_record{level, message, connection_id, {}});
    }

private:
    // An empty std::function or a null pointer stands for "no logger", as it did when
    // logger was a std::function.
    template <class T>
    struct is_std_function : std::false_type {};
    template <class S>
    struct is_std_function<std::function<S>> : std::true_type {};
    template <class F>
    static bool is_empty(const F& function) noexcept {
        if constexpr (std::is_pointer_v<F> || is_std_function<F>::value)
            return !function;
        else
            return false;
    }

    std::function<void(const log_record&)> function_;
};

}  // namespace syncws

// Messages as the blocking API hands them out and takes them in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace syncws {

/// The two kinds of WebSocket data messages.
enum class message_type { text, binary };

/// A whole received message. Text is valid UTF-8 (checked as it arrived).
struct message {
    message_type type = message_type::text;
    std::string data;

    bool is_text() const noexcept { return type == message_type::text; }
    bool is_binary() const noexcept { return type == message_type::binary; }
};

/// One fragment of a message, for streaming receive (connection::recv_fragment).
struct fragment {
    message_type type = message_type::text;  ///< the type of the message it belongs to
    std::string data;
    bool fin = true;                         ///< true for the last fragment of its message
};

/// Marks bytes to send as a binary message: ws.send(syncws::binary(bytes)).
struct binary {
    explicit binary(std::string_view bytes) noexcept : data(bytes) {}
    binary(const void* bytes, std::size_t size) noexcept
        : data(static_cast<const char*>(bytes), size) {}
    std::string_view data;
};

}  // namespace syncws

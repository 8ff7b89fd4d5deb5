// Helpers shared by the libFuzzer targets: reading settings from the front of the input,
// cutting the rest into chunks, and failing loudly when an invariant breaks.
//
// Every target asserts with check(), which prints what broke and aborts, so that libFuzzer
// records the input as a crash. An exception that is not one the API documents escapes the
// entry point and aborts the same way (libFuzzer treats an uncaught exception as a crash).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace fuzz {

/// Aborts with a message when an invariant does not hold.
inline void check(bool condition, const char* what) {
    if (condition) return;
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
}

/// As check(), with a detail such as the offending value.
inline void check(bool condition, const char* what, const std::string& detail) {
    if (condition) return;
    std::fprintf(stderr, "invariant violated: %s: %s\n", what, detail.c_str());
    std::abort();
}

/// Aborts: an exception the API does not document escaped.
[[noreturn]] inline void unexpected_exception(const char* where, const char* what) {
    std::fprintf(stderr, "undocumented exception from %s: %s\n", where, what);
    std::abort();
}

/// The fuzz input, read front to back: settings bytes first, then the payload. Reading past
/// the end gives zeros, so that every input, however short, is a valid run.
class input {
public:
    input(const std::uint8_t* data, std::size_t size)
        : data_(reinterpret_cast<const char*>(data), size) {}

    std::uint8_t byte() {
        if (pos_ >= data_.size()) return 0;
        return static_cast<std::uint8_t>(data_[pos_++]);
    }
    /// Little-endian 16-bit value.
    std::uint16_t u16() {
        const std::uint16_t low = byte();
        return static_cast<std::uint16_t>(low | (byte() << 8));
    }
    /// The next n bytes, or fewer at the end.
    std::string_view take(std::size_t n) {
        const std::string_view part = data_.substr(std::min(pos_, data_.size()), n);
        pos_ += part.size();
        return part;
    }
    /// Everything not read yet.
    std::string_view rest() {
        const std::string_view part = data_.substr(std::min(pos_, data_.size()));
        pos_ = data_.size();
        return part;
    }
    bool empty() const { return pos_ >= data_.size(); }

private:
    std::string_view data_;
    std::size_t pos_ = 0;
};

/// Chunk sizes taken in turn from a small table read from the input, so that the fuzzer
/// controls where the stream is cut: 1..240 bytes, or for the table values 241..255 a
/// large piece (1..15 KiB) so that long payloads can arrive in few reads.
class chunker {
public:
    static constexpr std::size_t table_size = 4;

    explicit chunker(input& in) {
        for (auto& entry : table_) entry = in.byte();
    }
    /// The next chunk size (at least 1).
    std::size_t next() {
        const std::uint8_t entry = table_[turn_++ % table_size];
        return entry <= 240 ? std::size_t(entry) + 1 : std::size_t(entry - 240) * 1024;
    }
    /// Cuts data with next() and calls feed(piece) for each piece, in order.
    template <class Feed>
    void each(std::string_view data, Feed&& feed) {
        while (!data.empty()) {
            const std::size_t n = std::min(next(), data.size());
            feed(data.substr(0, n));
            data.remove_prefix(n);
        }
    }

private:
    std::uint8_t table_[table_size] = {};
    std::size_t turn_ = 0;
};

/// A target's whole entry point: run(input) on the fuzz input, and an exception that the
/// API under test does not document aborts the run, naming where it came from.
template <class Run>
int run_input(const std::uint8_t* data, std::size_t size, const char* where, Run run) {
    input in(data, size);
    try {
        run(in);
    } catch (const std::exception& e) {
        unexpected_exception(where, e.what());
    }
    return 0;
}

}  // namespace fuzz

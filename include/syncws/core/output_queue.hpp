// The bytes a protocol wants written, as a gather list, so that a frame header and a large
// payload go out in one vectored write without copying the payload.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace syncws::core {

/// An ordered list of byte ranges: some owned by the queue (headers, masked or generated
/// payloads), some borrowed from the caller (a server's unmasked payload). Borrowed ranges
/// must stay valid until the queue is cleared, which the protocol's sending functions state.
/// Thread-safety: one instance per thread.
class output_queue {
public:
    output_queue() = default;
    output_queue(output_queue&& other) noexcept { swap(other); }
    output_queue& operator=(output_queue&& other) noexcept {
        output_queue(std::move(other)).swap(*this);
        return *this;
    }

    /// Appends a copy of bytes.
    void append(std::string_view bytes);
    /// Appends n owned bytes left for the caller to fill through the returned pointer, which
    /// stays valid until the next append.
    char* append_uninitialized(std::size_t n);
    /// Appends a reference to bytes that the caller keeps alive until clear().
    void append_borrowed(std::string_view bytes);

    bool empty() const noexcept { return size_ == 0; }
    /// Total bytes queued.
    std::size_t size() const noexcept { return size_; }
    /// Appends the ranges, in order, to out (for writev / asio buffer sequences).
    void gather(std::vector<std::string_view>& out) const;
    /// Every byte in one string (for tests, and for transports without vectored writes).
    std::string flatten() const;
    /// Drops the first n bytes (they were written); a partial write leaves the rest queued.
    void consume(std::size_t n) noexcept;
    /// Appends every byte of other (owned copies; borrowed ranges stay borrowed).
    void append_queue(const output_queue& other);
    /// Forgets every range; owned storage is kept for reuse.
    void clear() noexcept;
    void swap(output_queue& other) noexcept;

private:
    struct range {
        const char* borrowed;  // nullptr: owned bytes at owned_[offset, offset + size)
        std::size_t offset;
        std::size_t size;
    };
    void grow(std::size_t n);

    // Owned bytes, grown without zero-filling: every byte appended is written over at once.
    std::unique_ptr<char[]> owned_;
    std::size_t owned_size_ = 0;
    std::size_t owned_capacity_ = 0;
    std::vector<range> ranges_;
    std::size_t first_ = 0;  // ranges before this one were consumed
    std::size_t size_ = 0;
};

}  // namespace syncws::core

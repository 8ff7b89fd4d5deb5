// A first-in first-out queue on one vector, for the messages a connection has received and
// not yet handed out.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace syncws::detail {

/// std::deque allocates over half a KiB as soon as it is built (its map and a first block),
/// which every idle connection of a server would carry. This allocates on the first push
/// and reuses one buffer; the usual one-message-at-a-time traffic never moves an element.
/// Thread-safety: none; the engine uses it under its mutex.
template <typename T>
class fifo {
public:
    bool empty() const noexcept { return head_ == items_.size(); }
    std::size_t size() const noexcept { return items_.size() - head_; }
    std::size_t capacity() const noexcept { return items_.capacity(); }

    T& front() noexcept { return items_[head_]; }

    void push_back(T&& item) {
        drop_taken();
        items_.push_back(std::move(item));
    }

    void pop_front() noexcept {
        // What it still owns goes now, not at the next compaction. Move-constructed, not
        // assigned: assigning an empty string keeps the old one's buffer.
        { const T taken = std::move(items_[head_]); }
        if (++head_ == items_.size()) {
            // Empty: the buffer is kept for the next message, unless a burst grew it.
            if (items_.capacity() > kept_capacity)
                std::vector<T>().swap(items_);
            else
                items_.clear();
            head_ = 0;
        }
    }

private:
    // Taken elements are dropped once they are half of the vector, so that a queue that
    // never empties holds memory in proportion to what it holds, and each element moves
    // at most once per time it is pushed, amortized.
    void drop_taken() {
        if (head_ > 0 && head_ * 2 >= items_.size()) {
            items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }

    static constexpr std::size_t kept_capacity = 16;

    std::vector<T> items_;
    std::size_t head_ = 0;  // the first element not taken yet
};

}  // namespace syncws::detail

#include "syncws/core/output_queue.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace syncws::core {

char* output_queue::append_uninitialized(std::size_t n) {
    const std::size_t offset = owned_size_;
    if (n > owned_capacity_ - owned_size_) grow(n);
    owned_size_ += n;
    // Owned bytes that follow owned bytes extend the same range: fewer pieces to write.
    if (ranges_.size() > first_ && ranges_.back().borrowed == nullptr &&
        ranges_.back().offset + ranges_.back().size == offset)
        ranges_.back().size += n;
    else
        ranges_.push_back({nullptr, offset, n});
    size_ += n;
    return owned_.get() + offset;
}

void output_queue::grow(std::size_t n) {
    constexpr std::size_t smallest = 256;
    const std::size_t capacity = std::max({owned_size_ + n, 2 * owned_capacity_, smallest});
    std::unique_ptr<char[]> bigger(new char[capacity]);
    if (owned_size_ > 0) std::memcpy(bigger.get(), owned_.get(), owned_size_);
    owned_ = std::move(bigger);
    owned_capacity_ = capacity;
}

void output_queue::append(std::string_view bytes) {
    if (bytes.empty()) return;
    std::memcpy(append_uninitialized(bytes.size()), bytes.data(), bytes.size());
}

void output_queue::append_borrowed(std::string_view bytes) {
    if (bytes.empty()) return;
    ranges_.push_back({bytes.data(), 0, bytes.size()});
    size_ += bytes.size();
}

void output_queue::gather(std::vector<std::string_view>& out) const {
    for (std::size_t i = first_; i < ranges_.size(); ++i) {
        const range& r = ranges_[i];
        out.emplace_back(r.borrowed ? r.borrowed : owned_.get() + r.offset, r.size);
    }
}

std::string output_queue::flatten() const {
    std::string all;
    all.reserve(size_);
    std::vector<std::string_view> pieces;
    gather(pieces);
    for (std::string_view piece : pieces) all.append(piece);
    return all;
}

void output_queue::consume(std::size_t n) noexcept {
    n = std::min(n, size_);
    size_ -= n;
    while (n > 0) {
        range& r = ranges_[first_];
        const std::size_t take = std::min(n, r.size);
        if (r.borrowed)
            r.borrowed += take;
        else
            r.offset += take;
        r.size -= take;
        n -= take;
        if (r.size == 0) ++first_;
    }
    if (size_ == 0) clear();
}

void output_queue::append_queue(const output_queue& other) {
    for (std::size_t i = other.first_; i < other.ranges_.size(); ++i) {
        const range& r = other.ranges_[i];
        if (r.borrowed)
            append_borrowed(std::string_view(r.borrowed, r.size));
        else
            append(std::string_view(other.owned_.get() + r.offset, r.size));
    }
}

void output_queue::clear() noexcept {
    owned_size_ = 0;
    ranges_.clear();
    first_ = 0;
    size_ = 0;
}

void output_queue::swap(output_queue& other) noexcept {
    owned_.swap(other.owned_);
    std::swap(owned_size_, other.owned_size_);
    std::swap(owned_capacity_, other.owned_capacity_);
    ranges_.swap(other.ranges_);
    std::swap(first_, other.first_);
    std::swap(size_, other.size_);
}

}  // namespace syncws::core

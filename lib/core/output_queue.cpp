#include "syncws/core/output_queue.hpp"

#include <cstring>
#include <utility>

namespace syncws::core {

char* output_queue::append_uninitialized(std::size_t n) {
    const std::size_t offset = owned_.size();
    owned_.resize(offset + n);
    // Owned bytes that follow owned bytes extend the same range: fewer pieces to write.
    if (!ranges_.empty() && ranges_.back().borrowed == nullptr &&
        ranges_.back().offset + ranges_.back().size == offset)
        ranges_.back().size += n;
    else
        ranges_.push_back({nullptr, offset, n});
    size_ += n;
    return owned_.data() + offset;
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
    for (const range& r : ranges_)
        out.emplace_back(r.borrowed ? r.borrowed : owned_.data() + r.offset, r.size);
}

std::string output_queue::flatten() const {
    std::string all;
    all.reserve(size_);
    for (const range& r : ranges_)
        all.append(r.borrowed ? r.borrowed : owned_.data() + r.offset, r.size);
    return all;
}

void output_queue::clear() noexcept {
    owned_.clear();
    ranges_.clear();
    size_ = 0;
}

void output_queue::swap(output_queue& other) noexcept {
    owned_.swap(other.owned_);
    ranges_.swap(other.ranges_);
    std::swap(size_, other.size_);
}

}  // namespace syncws::core

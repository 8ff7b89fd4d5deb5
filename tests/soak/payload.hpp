// What the soak clients send: message sizes skewed toward small ones, text that is valid
// UTF-8 with multi-byte characters, binary that is partly compressible, and random cut points
// for fragmented messages. Everything comes from one seeded generator per client, so that a
// failing run can be repeated with the same --seed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace soak {

/// splitmix64: fast, and good enough to pick sizes and fill payloads.
/// Thread-safety: one per thread.
class rng {
public:
    explicit rng(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    /// A number in [low, high].
    std::uint64_t between(std::uint64_t low, std::uint64_t high) {
        return low + next() % (high - low + 1);
    }
    /// True with the given probability in percent.
    bool percent(unsigned chance) { return next() % 100 < chance; }

private:
    std::uint64_t state_;
};

inline constexpr std::size_t max_message_size = 1024 * 1024;

/// 0 B to 1 MiB, mostly small: a run made only of large messages would measure bandwidth,
/// and most connections in the wild carry small messages. Mean about 35 KiB.
inline std::size_t random_size(rng& r) {
    const auto roll = r.next() % 100;
    if (roll < 55) return r.between(0, 256);
    if (roll < 80) return r.between(257, 16 * 1024);
    if (roll < 95) return r.between(16 * 1024 + 1, 256 * 1024);
    return r.between(256 * 1024 + 1, max_message_size);
}

/// Exactly size bytes of valid UTF-8: words, 2-, 3- and 4-byte characters (so that fragment
/// cuts fall inside characters), and runs of random letters (which compress poorly).
inline std::string make_text(rng& r, std::size_t size) {
    static constexpr std::string_view tokens[] = {
        "soak ",  "message ",        "échange ",  "€ ",       "данные ", "数据 ",
        "\xf0\x9d\x84\x9e ",          "ping ",     "Grüße ",   "λ ",      "the quick brown fox ",
        "\xf0\x9f\x98\x80",           "\n",        "\t",        "é",       "0123456789 ",
    };
    std::string text;
    text.reserve(size);
    while (text.size() < size) {
        const std::size_t left = size - text.size();
        if (r.percent(30)) {
            const std::size_t run = std::min<std::size_t>(left, r.between(1, 64));
            for (std::size_t i = 0; i < run; ++i) text += static_cast<char>('a' + r.next() % 26);
            continue;
        }
        const std::string_view token = tokens[r.next() % std::size(tokens)];
        if (token.size() <= left)
            text += token;
        else
            text.append(left, 'z');  // no room for a multi-byte character: stay valid
    }
    return text;
}

/// Exactly size bytes: stretches of random bytes and of one repeated byte, so that
/// compression has work to do but cannot make every message tiny.
inline std::string make_binary(rng& r, std::size_t size) {
    std::string bytes(size, '\0');
    std::size_t at = 0;
    while (at < size) {
        const std::size_t run = std::min<std::size_t>(size - at, r.between(1, 4096));
        if (r.percent(50)) {
            for (std::size_t i = 0; i < run; i += 8) {
                const std::uint64_t word = r.next();
                for (std::size_t j = 0; j < 8 && i + j < run; ++j)
                    bytes[at + i + j] = static_cast<char>(word >> (8 * j));
            }
        } else {
            bytes.replace(at, run, run, static_cast<char>(r.next()));
        }
        at += run;
    }
    return bytes;
}

/// Splits data into 2 to 8 parts at random places; parts may be empty, and a cut may fall
/// inside a UTF-8 character (RFC 6455 validates text across fragments, not per fragment).
inline std::vector<std::string_view> random_parts(rng& r, std::string_view data) {
    const std::size_t count = r.between(2, 8);
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < count; ++i) cuts.push_back(r.between(0, data.size()));
    std::sort(cuts.begin(), cuts.end());
    std::vector<std::string_view> parts;
    std::size_t from = 0;
    for (const std::size_t cut : cuts) {
        parts.push_back(data.substr(from, cut - from));
        from = cut;
    }
    parts.push_back(data.substr(from));
    return parts;
}

}  // namespace soak

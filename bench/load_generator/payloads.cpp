#include "payloads.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace loadgen {

namespace {

std::string random_bytes(std::size_t size, xorshift& rng) {
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
        const std::uint64_t word = rng.next();
        std::memcpy(bytes.data() + i, &word, std::min<std::size_t>(8, size - i));
    }
    return bytes;
}

// Words in three scripts, so that the validator meets 2-, 3- and 4-byte sequences in an
// irregular order (a fixed pattern would let a branch predictor learn it).
constexpr std::string_view greek[] = {
    "\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1",  // Καλημέρα
    "\xce\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5",                          // κόσμε
    "\xce\xb1\xce\xbb\xcf\x86\xce\xac\xce\xb2\xce\xb7\xcf\x84\xce\xbf",  // αλφάβητο
    "\xce\xb8\xce\xac\xce\xbb\xce\xb1\xcf\x83\xcf\x83\xce\xb1",          // θάλασσα
};
constexpr std::string_view cjk[] = {
    "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c",                  // 你好世界
    "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf",      // こんにちは
    "\xe6\xbc\xa2\xe5\xad\x97",                                          // 漢字
    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",                              // 한국어
};
constexpr std::string_view emoji[] = {
    "\xf0\x9f\x98\x80", "\xf0\x9f\x9a\x80", "\xf0\x9f\x8e\x89", "\xf0\x9f\x8c\x8d",  // 😀🚀🎉🌍
};

std::string_view pick_word(xorshift& rng) {
    const std::size_t script = rng.below(5);  // Greek 2/5, CJK 2/5, emoji 1/5
    if (script < 2) return greek[rng.below(4)];
    if (script < 4) return cjk[rng.below(4)];
    return emoji[rng.below(4)];
}

// Whole words only, then spaces up to the exact size, so the text is valid UTF-8.
std::string mixed_utf8(std::size_t size, xorshift& rng) {
    std::string text;
    text.reserve(size);
    for (;;) {
        const std::string_view word = pick_word(rng);
        if (text.size() + word.size() + 1 > size) break;
        text += word;
        text += ' ';
    }
    text.resize(size, ' ');
    return text;
}

constexpr std::string_view first_names[] = {"Ada", "Grace", "Linus", "Ken", "Barbara",
                                              "Dennis", "Margaret", "Edsger", "Frances", "Niklaus"};
constexpr std::string_view cities[] = {"Lisbon", "Oslo", "Kyoto", "Austin", "Nairobi",
                                       "Lima", "Tallinn", "Perth"};
constexpr std::string_view words[] = {"order", "shipped", "pending", "refund", "invoice",
                                      "customer", "priority", "warehouse", "delayed", "express",
                                      "review", "account", "premium", "trial", "renewal"};

std::string number(double value, const char* format) {
    char text[32];
    std::snprintf(text, sizeof text, format, value);
    return text;
}

// One record of the kind an API returns: numbers, names, nested objects, arrays, free text.
std::string json_record(std::uint64_t id, xorshift& rng) {
    const std::string_view name = first_names[rng.below(std::size(first_names))];
    std::string r = "{\"id\":" + std::to_string(id) + ",\"user\":{\"name\":\"" +
                    std::string(name) + "\",\"email\":\"" + std::string(name) +
                    std::to_string(rng.below(1000)) + "@example.com\",\"verified\":" +
                    (rng.below(2) ? "true" : "false") + "},\"city\":\"" +
                    std::string(cities[rng.below(std::size(cities))]) +
                    "\",\"location\":{\"lat\":" + number(rng.below(180000) / 1000.0 - 90, "%.4f") +
                    ",\"lon\":" + number(rng.below(360000) / 1000.0 - 180, "%.4f") +
                    "},\"amount\":" + number(rng.below(1000000) / 100.0, "%.2f") +
                    ",\"created\":\"2024-" + number(1 + rng.below(12), "%02.0f") + "-" +
                    number(1 + rng.below(28), "%02.0f") + "T" + number(rng.below(24), "%02.0f") +
                    ":" + number(rng.below(60), "%02.0f") + ":00Z\",\"tags\":[";
    const std::size_t tags = 1 + rng.below(4);
    for (std::size_t t = 0; t < tags; ++t)
        r += (t ? ",\"" : "\"") + std::string(words[rng.below(std::size(words))]) + "\"";
    r += "],\"note\":\"";
    const std::size_t note_words = 3 + rng.below(10);
    for (std::size_t w = 0; w < note_words; ++w)
        r += (w ? " " : "") + std::string(words[rng.below(std::size(words))]);
    return r + "\"}";
}

// A JSON array of records, ending with the first record that brings it to `size` or more.
std::string json_array(std::size_t size, std::uint64_t& next_id, xorshift& rng) {
    std::string text = "[";
    while (text.size() + 1 < size) {
        if (text.size() > 1) text += ',';
        text += json_record(next_id++, rng);
    }
    return text + "]";
}

}  // namespace

payload_kind parse_payload_kind(std::string_view name) {
    if (name == "binary") return payload_kind::binary;
    if (name == "utf8") return payload_kind::mixed_utf8;
    if (name == "json") return payload_kind::json;
    throw std::invalid_argument("unknown payload '" + std::string(name) +
                                "' (binary, utf8, json)");
}

std::size_t payload_set::largest() const {
    std::size_t size = 0;
    for (const std::string& v : variants) size = std::max(size, v.size());
    return size;
}

payload_set make_payloads(payload_kind kind, std::size_t size, std::size_t count,
                          std::uint64_t seed) {
    payload_set set{kind, {}};
    xorshift rng(seed);
    std::uint64_t next_id = 1000;
    for (std::size_t i = 0; i < count; ++i) {
        switch (kind) {
            case payload_kind::binary: set.variants.push_back(random_bytes(size, rng)); break;
            case payload_kind::mixed_utf8: set.variants.push_back(mixed_utf8(size, rng)); break;
            case payload_kind::json: set.variants.push_back(json_array(size, next_id, rng)); break;
        }
    }
    return set;
}

}  // namespace loadgen

#include "split_tls.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

namespace loadgen {

namespace {

// RFC 8446 §5.1-§5.2.
constexpr unsigned char application_data = 23, handshake = 22, alert = 21;
constexpr std::size_t header_size = 5, tag_size = 16, nonce_size = 12;
constexpr std::size_t max_plaintext = 16384;
constexpr std::size_t max_ciphertext = max_plaintext + 256;
constexpr std::size_t handshake_header_size = 4;  // type, 24-bit length
constexpr unsigned char new_session_ticket = 4;
constexpr unsigned char close_notify = 0;

// Plaintext sealed per write_some(): a handful of full records in one send().
constexpr std::size_t plaintext_per_write = 16 * max_plaintext;
// Ciphertext fetched per recv(): several records, so that a large echo takes few calls.
constexpr std::size_t ciphertext_buffer_size = 256 * 1024;

[[noreturn]] void fail(const std::string& what) {
    char text[256] = "";
    if (const unsigned long code = ERR_get_error()) ERR_error_string_n(code, text, sizeof text);
    ERR_clear_error();
    throw bench_error("split TLS: " + what + (*text ? std::string(": ") + text : ""));
}

std::string from_hex(const char* hex, std::size_t length) {
    std::string bytes(length / 2, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        unsigned value = 0;
        if (std::sscanf(hex + 2 * i, "%2x", &value) != 1) throw bench_error("split TLS: bad key log line");
        bytes[i] = static_cast<char>(value);
    }
    return bytes;
}

// HKDF-Expand-Label(secret, label, "", length) (RFC 8446 §7.1), by OpenSSL's TLS 1.3 KDF.
std::string expand_label(const std::string& secret, const char* digest, const char* label,
                         std::size_t length) {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_TLS1_3_KDF, nullptr);
    EVP_KDF_CTX* context = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
    EVP_KDF_free(kdf);
    if (!context) fail("no TLS 1.3 KDF");
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    static char prefix[] = "tls13 ";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()),
                                          secret.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, prefix, sizeof prefix - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, const_cast<char*>(label),
                                          std::strlen(label)),
        OSSL_PARAM_construct_end()};
    std::string out(length, '\0');
    const int ok = EVP_KDF_derive(context, reinterpret_cast<unsigned char*>(out.data()), length, params);
    EVP_KDF_CTX_free(context);
    if (ok != 1) fail("key derivation");
    return out;
}

// One direction's record protection: the AEAD keyed for it and the record sequence number.
class record_cipher {
public:
    record_cipher(const EVP_CIPHER* cipher, const char* digest, const std::string& secret, bool sealing)
        : iv_(expand_label(secret, digest, "iv", nonce_size)) {
        const std::string key =
            expand_label(secret, digest, "key", static_cast<std::size_t>(EVP_CIPHER_get_key_length(cipher)));
        context_ = EVP_CIPHER_CTX_new();
        if (!context_ ||
            EVP_CipherInit_ex(context_, cipher, nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                              nullptr, sealing ? 1 : 0) != 1) {
            EVP_CIPHER_CTX_free(context_);
            fail("cipher setup");
        }
    }
    ~record_cipher() { EVP_CIPHER_CTX_free(context_); }
    record_cipher(const record_cipher&) = delete;
    record_cipher& operator=(const record_cipher&) = delete;

    // Writes one record holding `size` <= max_plaintext bytes of `type` at `record`;
    // returns its size.
    std::size_t seal(unsigned char type, const char* data, std::size_t size, unsigned char* record) {
        const std::size_t length = size + 1 + tag_size;
        write_header(record, length);
        unsigned char* body = record + header_size;
        int n = 0;
        if (EVP_EncryptInit_ex(context_, nullptr, nullptr, nullptr, next_nonce().data()) != 1 ||
            EVP_EncryptUpdate(context_, nullptr, &n, record, header_size) != 1 ||
            EVP_EncryptUpdate(context_, body, &n, reinterpret_cast<const unsigned char*>(data),
                              static_cast<int>(size)) != 1 ||
            EVP_EncryptUpdate(context_, body + size, &n, &type, 1) != 1 ||
            EVP_EncryptFinal_ex(context_, body + size + 1, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(context_, EVP_CTRL_AEAD_GET_TAG, tag_size, body + size + 1) != 1)
            fail("encryption");
        return header_size + length;
    }

    // Decrypts a record's body (ciphertext and tag, `length` bytes) into `into`; returns
    // the inner plaintext's size (content, content type, padding).
    std::size_t open(const unsigned char* record, std::size_t length, unsigned char* into) {
        const unsigned char* body = record + header_size;
        const std::size_t inner = length - tag_size;
        int n = 0;
        if (EVP_DecryptInit_ex(context_, nullptr, nullptr, nullptr, next_nonce().data()) != 1 ||
            EVP_CIPHER_CTX_ctrl(context_, EVP_CTRL_AEAD_SET_TAG, tag_size,
                                const_cast<unsigned char*>(body + inner)) != 1 ||
            EVP_DecryptUpdate(context_, nullptr, &n, record, header_size) != 1 ||
            EVP_DecryptUpdate(context_, into, &n, body, static_cast<int>(inner)) != 1 ||
            EVP_DecryptFinal_ex(context_, into + inner, &n) != 1)
            fail("a record that does not authenticate");
        return inner;
    }

    static void write_header(unsigned char* record, std::size_t length) {
        record[0] = application_data;  // the outer type of every protected record
        record[1] = 3, record[2] = 3;
        record[3] = static_cast<unsigned char>(length >> 8);
        record[4] = static_cast<unsigned char>(length);
    }

private:
    // The IV with the sequence number, big-endian, XORed into its last 8 bytes (§5.3).
    std::array<unsigned char, nonce_size> next_nonce() {
        std::array<unsigned char, nonce_size> nonce;
        std::memcpy(nonce.data(), iv_.data(), nonce_size);
        for (std::size_t i = 0; i < 8; ++i)
            nonce[nonce_size - 1 - i] = static_cast<unsigned char>(nonce[nonce_size - 1 - i] ^ (sequence_ >> (8 * i)));
        ++sequence_;
        return nonce;
    }

    const std::string iv_;
    EVP_CIPHER_CTX* context_ = nullptr;
    std::uint64_t sequence_ = 0;
};

class split_tls : public transport {
public:
    split_tls(int fd, ssl_st* ssl, const traffic_secrets& secrets) : transport(fd) {
        struct ssl_owner {
            ssl_st* ssl;
            ~ssl_owner() { SSL_free(ssl); }  // the socket is ours: SSL_set_fd does not close it
        } owner{ssl};
        if (SSL_version(ssl) != TLS1_3_VERSION) throw bench_error("split TLS needs TLS 1.3");
        if (SSL_has_pending(ssl)) throw bench_error("split TLS: records left in OpenSSL's buffer");
        if (secrets.client.empty() || secrets.server.empty())
            throw bench_error("split TLS: the key log gave no traffic secrets");
        const SSL_CIPHER* suite = SSL_get_current_cipher(ssl);
        const int nid = SSL_CIPHER_get_cipher_nid(suite);
        const EVP_CIPHER* cipher = EVP_get_cipherbynid(nid);
        const EVP_MD* md = SSL_CIPHER_get_handshake_digest(suite);
        // The AEADs whose record protection is the one here (16-byte tag, 12-byte nonce).
        if (!cipher || !md ||
            (nid != NID_aes_128_gcm && nid != NID_aes_256_gcm && nid != NID_chacha20_poly1305))
            throw bench_error(std::string("split TLS: unsupported suite ") + SSL_CIPHER_get_name(suite));
        const char* digest = EVP_MD_get0_name(md);
        sealer_ = std::make_unique<record_cipher>(cipher, digest, secrets.client, true);
        opener_ = std::make_unique<record_cipher>(cipher, digest, secrets.server, false);
        sealed_.resize(plaintext_per_write / max_plaintext * (header_size + max_ciphertext));
        fetched_.resize(ciphertext_buffer_size);
    }

    // ---- the writer's side

    ssize_t write_some(const char* data, std::size_t size, bool) override {
        size = std::min(size, plaintext_per_write);
        std::size_t sealed = 0;
        for (std::size_t at = 0; at < size; at += max_plaintext)
            sealed += sealer_->seal(application_data, data + at, std::min(max_plaintext, size - at),
                                    sealed_.data() + sealed);
        send_all(sealed);
        return static_cast<ssize_t>(size);
    }

    void shutdown_write() override {
        const char close_notify_alert[2] = {1, close_notify};  // warning level
        send_all(sealer_->seal(alert, close_notify_alert, sizeof close_notify_alert, sealed_.data()));
        transport::shutdown_write();
    }

    // ---- the reader's side

    ssize_t read_some(char* data, std::size_t size, bool) override {
        for (;;) {
            if (left_size_ > 0) return hand_out_left(data, size);
            const std::size_t produced = open_records(reinterpret_cast<unsigned char*>(data), size);
            if (produced > 0) return static_cast<ssize_t>(produced);
            if (left_size_ > 0) continue;
            if (closed_) return end_of_stream;
            if (!fetch()) return end_of_stream;
        }
    }

private:
    // Sends sealed_[0, size).
    void send_all(std::size_t size) {
        const unsigned char* at = sealed_.data();
        while (size > 0) {
            const ssize_t n = ::send(fd_, at, size, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw bench_error(std::string("send: ") + std::strerror(errno));
            }
            at += n;
            size -= static_cast<std::size_t>(n);
        }
    }

    // Opens the complete records fetched, application data straight into data[0, size):
    // returns the bytes put there. A record too large for what is left of it is opened
    // into left_ instead, and handed out by the next calls.
    std::size_t open_records(unsigned char* data, std::size_t size) {
        std::size_t produced = 0;
        while (!closed_ && end_ - begin_ >= header_size) {
            unsigned char* record = fetched_.data() + begin_;
            const std::size_t length = (std::size_t{record[3]} << 8) | record[4];
            if (record[0] != application_data || length < tag_size + 1 || length > max_ciphertext)
                throw bench_error("split TLS: not a TLS 1.3 protected record");
            if (end_ - begin_ < header_size + length) break;
            const std::size_t inner = length - tag_size;
            const bool fits = inner <= size - produced;
            if (!fits && produced > 0) break;  // hand out what is there first
            if (!fits) left_.resize(max_ciphertext);
            unsigned char* into = fits ? data + produced : left_.data();
            std::size_t content = opener_->open(record, length, into);
            begin_ += header_size + length;
            while (content > 0 && into[content - 1] == 0) --content;  // padding
            if (content == 0) throw bench_error("split TLS: a record without a content type");
            const unsigned char type = into[--content];
            if (content > max_plaintext) throw bench_error("split TLS: a record over 2^14 bytes");
            if (type != application_data) {
                take_control(type, into, content);
            } else if (fits) {
                produced += content;
            } else if (content > 0) {  // (a record of padding alone carries nothing)
                left_begin_ = 0, left_size_ = content;
                break;
            }
        }
        return produced;
    }

    // A record that is not application data: session tickets are ignored, close_notify
    // ends the stream, anything else is not expected of a server here.
    void take_control(unsigned char type, const unsigned char* content, std::size_t size) {
        if (type == alert) {
            if (size != 2) throw bench_error("split TLS: a malformed alert");
            if (content[1] != close_notify)
                throw bench_error("split TLS: the server sent alert " + std::to_string(content[1]));
            closed_ = true;
            return;
        }
        if (type != handshake) throw bench_error("split TLS: a record of unknown type");
        // Handshake messages (type, 24-bit length, body) may share a record or span several.
        for (std::size_t at = 0; at < size;) {
            if (ticket_owed_ > 0) {
                const std::size_t n = std::min<std::size_t>(ticket_owed_, size - at);
                ticket_owed_ -= n;
                at += n;
                continue;
            }
            while (ticket_header_size_ < handshake_header_size && at < size)
                ticket_header_[ticket_header_size_++] = content[at++];
            if (ticket_header_size_ < handshake_header_size) break;
            if (ticket_header_[0] != new_session_ticket)
                throw bench_error("split TLS: a handshake message other than a session ticket");
            ticket_owed_ = (std::size_t{ticket_header_[1]} << 16) | (std::size_t{ticket_header_[2]} << 8) |
                           ticket_header_[3];
            ticket_header_size_ = 0;
        }
    }

    ssize_t hand_out_left(char* data, std::size_t size) {
        const std::size_t n = std::min(size, left_size_);
        std::memcpy(data, left_.data() + left_begin_, n);
        left_begin_ += n;
        left_size_ -= n;
        return static_cast<ssize_t>(n);
    }

    // Reads more ciphertext behind what is fetched; false at the end of the stream.
    bool fetch() {
        if (begin_ > 0) {  // keep the partial record, at the front
            std::memmove(fetched_.data(), fetched_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        for (;;) {
            const ssize_t n = ::recv(fd_, fetched_.data() + end_, fetched_.size() - end_, 0);
            if (n > 0) {
                end_ += static_cast<std::size_t>(n);
                return true;
            }
            if (n == 0) {
                // Like SSL_OP_IGNORE_UNEXPECTED_EOF: a server may close without close_notify,
                // but not in the middle of a record.
                if (end_ > 0) throw bench_error("split TLS: the stream ended inside a record");
                return false;
            }
            if (errno != EINTR) throw bench_error(std::string("recv: ") + std::strerror(errno));
        }
    }

    std::unique_ptr<record_cipher> sealer_, opener_;
    std::vector<unsigned char> sealed_;              // the writer's records
    std::vector<unsigned char> fetched_;             // the reader's ciphertext
    std::size_t begin_ = 0, end_ = 0;
    std::vector<unsigned char> left_;                // a record opened but not yet handed out
    std::size_t left_begin_ = 0, left_size_ = 0;
    bool closed_ = false;                            // close_notify received
    unsigned char ticket_header_[handshake_header_size] = {};  // a session ticket's head...
    std::size_t ticket_header_size_ = 0;
    std::size_t ticket_owed_ = 0;                    // ...and the rest of its body to skip
};

}  // namespace

void traffic_secrets::take(const char* keylog_line) {
    // "<label> <client random, hex> <secret, hex>"
    const char* label_end = std::strchr(keylog_line, ' ');
    const char* random_end = label_end ? std::strchr(label_end + 1, ' ') : nullptr;
    if (!random_end) return;
    const std::string label(keylog_line, label_end);
    const char* secret = random_end + 1;
    if (label == "CLIENT_TRAFFIC_SECRET_0") client = from_hex(secret, std::strlen(secret));
    if (label == "SERVER_TRAFFIC_SECRET_0") server = from_hex(secret, std::strlen(secret));
}

std::unique_ptr<transport> split_tls_transport(int fd, ssl_st* ssl, const traffic_secrets& secrets) {
    return std::make_unique<split_tls>(fd, ssl, secrets);
}

}  // namespace loadgen

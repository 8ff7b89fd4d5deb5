// TLS over another transport, OpenSSL driven through a BIO of our own (see tls_transport.hpp).
//
// Locking and ownership, the heart of this file:
// - mutex_ guards the SSL object, its BIO and the fields marked "under mutex_".
//   It is held only while OpenSSL works on memory: never across a call to the inner
//   transport that can block, never while waiting. So no two threads are ever inside
//   OpenSSL for this session at once, and nobody waits for a thread that waits.
// - Reading: one reader at a time (the transport contract). SSL_read under the lock; when
//   OpenSSL wants ciphertext, the reader fetches it from the inner transport without the
//   lock into a buffer on its stack, then lets OpenSSL read it from there under the lock
//   and tries again; what OpenSSL has not read when the reader returns is kept (held_).
// - The BIO copies nothing it need not: OpenSSL reads the fetched ciphertext in place and
//   writes its records straight into outgoing_. Memory BIOs would copy every byte once more
//   each way (about 120 us per 1 MiB echo).
// - Writing: every piece of ciphertext OpenSSL produces (SSL_write, but also SSL_read
//   answering a key update or sending an alert, and SSL_shutdown's close_notify) is appended
//   to outgoing_ under the lock, so the queue holds it in the order OpenSSL produced it. The
//   inner transport allows one writer at a time, so one thread at a time is the writer
//   (writer_): it takes outgoing_ and writes it without the lock, and before it gives up the
//   role it looks at outgoing_ again under the lock, so bytes appended meanwhile are never
//   stranded. A thread that produces ciphertext while another is the writer leaves it to
//   that writer. write() waits (without the lock) for the role; the reader and try_write()
//   take the role only when it is free and never block while they hold it, so that wait is
//   short. What a non-blocking writer could not send stays in outgoing_, reported by
//   has_buffered_output(), and goes out with the next write() or try_write().

#include "tls_transport.hpp"

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>

#include "syncws/core/error.hpp"
#include "syncws/tls.hpp"
#include "tls_context.hpp"

namespace syncws::detail {

namespace {

using reason = tls_error::reason;
using lock = std::unique_lock<std::mutex>;

// Ciphertext taken from the inner transport per read: a whole record (16 KiB of plaintext
// plus its overhead) and then some. On the stack of the reading thread, so an idle
// connection costs nothing for it.
constexpr std::size_t fetch_size = 32 * 1024;
// The largest TLS record's plaintext: small pieces (a frame header, a short payload) are
// gathered into records of this size rather than sent as one record each.
constexpr std::size_t record_size = 16 * 1024;
// Plaintext encrypted per step of a write: bounds the ciphertext held in memory, and lets
// a reader in between.
constexpr std::size_t write_chunk = 4 * record_size;
// Names listed in a host-name mismatch message.
constexpr int max_names_shown = 6;

enum class role { client, server };

// ------------------------------------------------------------------ words for OpenSSL's findings

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data != nullptr ? data : "", size > 0 ? static_cast<std::size_t>(size) : 0);
    BIO_free(bio);
    return text;
}

// "CN=syncws test CA,O=syncws"
std::string name_text(const X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) return "?";
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
    return bio_text(bio);
}

// "2020-02-01 00:00:00Z"
std::string time_text(const ASN1_TIME* time) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) return "?";
    ASN1_TIME_print_ex(bio, time, ASN1_DTFLGS_ISO8601);
    return bio_text(bio);
}

std::string ip_text(const ASN1_OCTET_STRING* ip) {
    char text[INET6_ADDRSTRLEN] = "?";
    const int family = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
    if (family != 0) inet_ntop(family, ip->data, text, sizeof text);
    return text;
}

// The names a certificate is for: its DNS and IP subject alternative names, or its subject
// when it has none. "DNS:other.example, IP:127.0.0.1"
std::string names_text(X509* certificate) {
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
    std::string text;
    int shown = 0;
    const int count = names != nullptr ? sk_GENERAL_NAME_num(names) : 0;
    for (int i = 0; i < count; ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
        std::string one;
        if (name->type == GEN_DNS)
            one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                                       static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
        else if (name->type == GEN_IPADD)
            one = "IP:" + ip_text(name->d.iPAddress);
        if (one.empty()) continue;
        if (shown++ == max_names_shown) {
            text += ", ...";
            break;
        }
        text += (text.empty() ? "" : ", ") + one;
    }
    GENERAL_NAMES_free(names);
    return text.empty() ? name_text(X509_get_subject_name(certificate)) : text;
}

std::string version_text(int version) {
    switch (version) {
        case SSL3_VERSION: return "SSL 3.0";
        case TLS1_VERSION: return "TLS 1.0";
        case TLS1_1_VERSION: return "TLS 1.1";
        case TLS1_2_VERSION: return "TLS 1.2";
        case TLS1_3_VERSION: return "TLS 1.3";
        default: return {};
    }
}

bool is_ip_literal(const std::string& host) {
    unsigned char address[16];
    return inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1;
}

// What the first failing check of a certificate chain found, kept for the error message.
struct verify_failure {
    long code = X509_V_OK;
    int depth = 0;
    std::string subject, issuer, not_before, not_after, names;
};

// "certificate verify failed for localhost: the certificate has expired (notAfter ...)"
tls_error describe(const verify_failure& f, const std::string& prefix) {
    const std::string certificate =
        f.depth == 0 ? "the certificate" : "the CA certificate " + f.subject + " in its chain";
    switch (f.code) {
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return tls_error(reason::hostname_mismatch,
                             prefix + "the certificate is for another host (it names " + f.names + ")");
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return tls_error(reason::expired, prefix + certificate + " has expired (notAfter " + f.not_after + ")");
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return tls_error(reason::not_yet_valid,
                             prefix + certificate + " is not valid yet (notBefore " + f.not_before + ")");
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            return tls_error(reason::untrusted_issuer,
                             prefix + "the certificate is self-signed (" + f.subject + ") and not trusted");
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return tls_error(reason::untrusted_issuer,
                             prefix + "the certificate is issued by an untrusted CA (" + f.subject + ")");
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_UNTRUSTED:
            return tls_error(reason::untrusted_issuer,
                             prefix + "the certificate is issued by an untrusted CA (" + f.issuer + ")");
        default:
            return tls_error(reason::handshake_failed,
                             prefix + X509_verify_cert_error_string(f.code) + " (" + f.subject + ")");
    }
}

int transport_index();

// ------------------------------------------------------------------ the pieces of a write

// Walks the plaintext of a write, piece by piece, skipping empty pieces.
class plaintext_cursor {
public:
    explicit plaintext_cursor(const std::vector<std::string_view>& pieces) : pieces_(pieces) { skip_empty(); }

    bool done() const { return index_ == pieces_.size(); }
    /// The next contiguous bytes, at most max of them.
    std::string_view next(std::size_t max) const { return pieces_[index_].substr(offset_, max); }
    void advance(std::size_t n) {
        offset_ += n;
        consumed_ += n;
        skip_empty();
    }
    std::size_t consumed() const { return consumed_; }

private:
    void skip_empty() {
        while (index_ < pieces_.size() && offset_ == pieces_[index_].size()) {
            ++index_;
            offset_ = 0;
        }
    }

    const std::vector<std::string_view>& pieces_;
    std::size_t index_ = 0;
    std::size_t offset_ = 0;
    std::size_t consumed_ = 0;
};

// ------------------------------------------------------------------ the transport

class tls_transport final : public transport {
public:
    tls_transport(std::unique_ptr<transport> inner, std::shared_ptr<SSL_CTX> context, role side)
        : inner_(std::move(inner)), context_(std::move(context)), side_(side) {
        ssl_ = SSL_new(context_.get());
        const BIO_METHOD* method = bio_method();
        BIO* bio = ssl_ != nullptr && method != nullptr ? BIO_new(method) : nullptr;
        if (bio == nullptr) {
            SSL_free(ssl_);
            throw tls_error(reason::handshake_failed, "cannot start TLS: " + take_openssl_error());
        }
        BIO_set_data(bio, this);
        BIO_set_init(bio, 1);
        SSL_set_bio(ssl_, bio, bio);  // one BIO both ways; the SSL object owns it now
        // A renegotiation would make SSL_write wait for the peer; TLS 1.3 has none anyway.
        SSL_set_options(ssl_, SSL_OP_NO_RENEGOTIATION);
        SSL_set_ex_data(ssl_, transport_index(), this);
        SSL_set_msg_callback(ssl_, &tls_transport::note_hello);
        if (side_ == role::client)
            SSL_set_connect_state(ssl_);
        else
            SSL_set_accept_state(ssl_);
    }

    ~tls_transport() override { SSL_free(ssl_); }

    tls_transport(const tls_transport&) = delete;
    tls_transport& operator=(const tls_transport&) = delete;

    // ---- setup (one thread, before the transport is shared)

    /// SNI and what the certificate must name; verification off when verify is false.
    void expect_server(const std::string& host, bool verify) {
        host_ = host;
        // "example.com." is example.com to certificates and SNI alike.
        const std::string name = !host.empty() && host.back() == '.' ? host.substr(0, host.size() - 1) : host;
        const bool ip = is_ip_literal(name);
        if (!ip && !name.empty()) SSL_set_tlsext_host_name(ssl_, name.c_str());  // SNI has no IPs
        if (!verify) {
            SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
            return;
        }
        // A caller's context keeps its verify mode (and its callback, which ours calls).
        SSL_set_verify(ssl_, SSL_CTX_get_verify_mode(context_.get()), &tls_transport::on_verify);
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
        if (ip) {
            X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
        } else {
            // RFC 6125 §6.4.3: a wildcard is a whole left-most label ("*.example.com"), never
            // part of one ("f*.example.com"); OpenSSL never lets it span two labels.
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        }
    }

    /// Server side: client certificates are checked when the context asks for them.
    void expect_client() {
        const int mode = SSL_CTX_get_verify_mode(context_.get());
        if (mode != SSL_VERIFY_NONE) SSL_set_verify(ssl_, mode, &tls_transport::on_verify);
    }

    /// Runs the handshake to its end. Throws tls_error naming the cause, timeout_error.
    void handshake(clock::time_point deadline) {
        lock lk(mutex_);
        fetch_buffer fetched(*this);
        for (;;) {
            ERR_clear_error();
            const int result = SSL_do_handshake(ssl_);
            const int status = result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, result);
            if (status != SSL_ERROR_NONE && status != SSL_ERROR_WANT_READ) {
                const tls_error failure = describe_failure(true);
                send_queued_quietly(lk);
                throw failure;
            }
            send_queued(lk, deadline);
            if (status == SSL_ERROR_NONE) break;
            fetch_for_handshake(lk, fetched, deadline);
        }
        SSL_set_msg_callback(ssl_, nullptr);  // only the hellos were of interest
    }

    // ---- transport

    read_result read(char* buffer, std::size_t size, clock::time_point deadline) override {
        return receive(buffer, size, deadline, true);
    }

    read_result try_read(char* buffer, std::size_t size) override {
        return receive(buffer, size, no_deadline, false);
    }

    void write(const std::vector<std::string_view>& pieces, clock::time_point deadline) override {
        lock lk(mutex_);
        wait_for_writer_role(lk, deadline);
        const writer_role role(*this);
        plaintext_cursor plaintext(pieces);
        do {
            encrypt(plaintext, write_chunk);
            drain(lk, deadline, true);
        } while (!plaintext.done());
    }

    std::size_t try_write(const std::vector<std::string_view>& pieces) override {
        lock lk(mutex_);
        if (writer_ || aborted_) return 0;
        const writer_role role(*this);
        // While earlier ciphertext waits, take no more: memory stays bounded and the caller
        // keeps what the socket cannot take.
        if (!drain(lk, no_deadline, false)) return 0;
        plaintext_cursor plaintext(pieces);
        encrypt(plaintext, write_chunk);
        drain(lk, no_deadline, false);
        return plaintext.consumed();
    }

    // Plaintext to come. The socket is waited on only once OpenSSL is starved: arm it now if
    // it is, else fetch() does when it becomes so.
    void expect_input(std::uint64_t plaintext) override {
        lock lk(mutex_);
        expected_ = plaintext;
        if (starved_) expect_ciphertext();
    }

    void shutdown_write() noexcept override {
        try {
            lock lk(mutex_);
            if (write_shut_) return;
            write_shut_ = true;
            send_close_notify();
            fin_pending_ = true;  // after the close_notify, by whoever sends it
            send_queued_if_free(lk);
        } catch (...) {
            // The connection broke: there is nobody left to tell.
        }
    }

    void abort() noexcept override {
        inner_->abort();
        try {
            lock lk(mutex_);
            aborted_ = true;
        } catch (...) {
        }
        writer_free_.notify_all();
    }

    int native_handle() const noexcept override { return inner_->native_handle(); }
    std::string local_address() const override { return inner_->local_address(); }
    std::string remote_address() const override { return inner_->remote_address(); }

    bool has_buffered_input() const override {
        lock lk(mutex_);
        if (aborted_ || peer_closed_) return false;
        // Decrypted bytes, or whole records not yet looked at (a partial one needs more
        // from the socket first, and the socket says when that comes).
        return SSL_pending(ssl_) > 0 ||
               (!starved_ && (ciphertext_in_hand() > 0 || SSL_has_pending(ssl_)));
    }

    bool has_buffered_output() const override {
        lock lk(mutex_);
        return !aborted_ && (!outgoing_.empty() || fin_pending_);
    }

private:
    // The writer role for a scope; taken and given back under mutex_.
    class writer_role {
    public:
        explicit writer_role(tls_transport& self) : self_(self) { self_.writer_ = true; }
        ~writer_role() {
            self_.writer_ = false;
            self_.writer_free_.notify_all();
        }
        writer_role(const writer_role&) = delete;
        writer_role& operator=(const writer_role&) = delete;

    private:
        tls_transport& self_;
    };

    // Ciphertext a reader fetched and OpenSSL has not read yet: first held_ (from earlier
    // reads), then fetched_, which points into this buffer on the reader's stack. What is
    // left when the reader returns moves to held_: seldom much, since a reader fetches only
    // when OpenSSL has read everything, and returns early only when its caller's buffer is
    // full (a frame header read alone, say).
    struct fetch_buffer {
        explicit fetch_buffer(tls_transport& owner) : owner_(owner) {}
        ~fetch_buffer() {
            try {
                owner_.held_.append(owner_.fetched_);
            } catch (...) {
                owner_.fail_quietly("TLS error: out of memory for received data");
            }
            owner_.fetched_ = {};
        }
        fetch_buffer(const fetch_buffer&) = delete;
        fetch_buffer& operator=(const fetch_buffer&) = delete;

        char bytes[fetch_size];

    private:
        tls_transport& owner_;
    };

    // Releases mutex_ for a scope (the inner transport's I/O) and takes it back, also when
    // that I/O throws.
    class unlocked {
    public:
        explicit unlocked(lock& lk) : lk_(lk) { lk_.unlock(); }
        ~unlocked() { lk_.lock(); }
        unlocked(const unlocked&) = delete;
        unlocked& operator=(const unlocked&) = delete;

    private:
        lock& lk_;
    };

    // ---- reading

    read_result receive(char* buffer, std::size_t size, clock::time_point deadline, bool blocking) {
        lock lk(mutex_);
        fetch_buffer fetched(*this);
        for (;;) {
            // Starved, OpenSSL can only ask for more ciphertext: the socket first.
            if (!starved_ || failure_ || peer_closed_) {
                const std::optional<read_result> result = decrypt(lk, buffer, size);
                if (result) return *result;
            }
            const read_status status = fetch(lk, fetched, deadline, blocking);
            if (status != read_status::data) return {status};
        }
    }

    // The plaintext OpenSSL can make of the ciphertext it has, up to size bytes; nothing
    // when it needs more ciphertext.
    std::optional<read_result> decrypt(lock& lk, char* buffer, std::size_t size) {
        if (failure_) throw *failure_;
        std::size_t got = 0;
        while (got < size && !peer_closed_) {
            clear_errors();
            std::size_t n = 0;
            const int result = SSL_read_ex(ssl_, buffer + got, size - got, &n);
            if (result == 1) {
                got += n;
                // Nothing buffered in OpenSSL (decrypted or not: a caller's SSL_CTX may read
                // ahead) and no ciphertext in the BIO: another SSL_read would only ask for
                // more, so the next read goes to the socket first.
                if (!SSL_has_pending(ssl_) && ciphertext_in_hand() == 0) {
                    starved_ = true;
                    break;
                }
                continue;
            }
            const int status = SSL_get_error(ssl_, result);
            if (status == SSL_ERROR_WANT_READ) {
                starved_ = true;
                break;
            }
            if (status == SSL_ERROR_ZERO_RETURN) {
                peer_closed_ = true;  // close_notify: the end of the stream
                break;
            }
            failure_ = describe_failure(false);
            send_queued_quietly(lk);
            if (got > 0) break;  // the data first; the failure on the next call
            throw *failure_;
        }
        // Answering close_notify is polite and cheap, but only once the end is reported:
        // the caller may still answer the data before it (a close frame) until then.
        if (got == 0 && peer_closed_) send_close_notify();
        // SSL_read may have written too: key update answers, alerts.
        send_queued_quietly(lk);
        if (got > 0) return read_result{read_status::data, got};
        if (peer_closed_) return read_result{read_status::eof};
        return std::nullopt;
    }

    // Reads ciphertext from the inner transport into the reader's buffer, for OpenSSL. Only
    // when OpenSSL is starved, so it has read all it was given before.
    read_status fetch(lock& lk, fetch_buffer& into, clock::time_point deadline, bool blocking) {
        read_result result{read_status::eof};
        {
            expect_ciphertext();
            unlocked outside(lk);
            result = blocking ? inner_->read(into.bytes, sizeof into.bytes, deadline)
                              : inner_->try_read(into.bytes, sizeof into.bytes);
        }
        if (result.status == read_status::data) {
            fetched_ = std::string_view(into.bytes, result.size);
            starved_ = false;
        }
        return result.status;
    }

    // Starved, under mutex_: tells the socket how much ciphertext is certain to come of the
    // plaintext expected. OpenSSL holds at most part of one record, with up to a record's
    // plaintext; the rest comes as at least as many bytes of ciphertext. Unless TLS 1.2
    // compression (which a caller's SSL_CTX can enable) shrinks it: then no promise.
    void expect_ciphertext() {
        const bool compressed = SSL_get_current_compression(ssl_) != nullptr;
        inner_->expect_input(!compressed && expected_ > record_size ? expected_ - record_size : 0);
    }

    void fetch_for_handshake(lock& lk, fetch_buffer& into, clock::time_point deadline) {
        const std::string peer = side_ == role::client ? "the server" : "the client";
        read_status status;
        try {
            status = fetch(lk, into, deadline, true);
        } catch (const timeout_error&) {
            throw;
        } catch (const tls_error&) {
            throw;  // already says what failed
        } catch (const error& e) {
            throw tls_error(reason::handshake_failed, std::string("TLS handshake failed: ") + e.what());
        }
        if (status == read_status::timeout) throw timeout_error("timed out in the TLS handshake with " + peer);
        if (status != read_status::data)
            throw tls_error(reason::handshake_failed, "TLS handshake failed: " + peer +
                                                          " closed the connection");
    }

    // ---- writing

    void wait_for_writer_role(lock& lk, clock::time_point deadline) {
        const auto free = [this] { return !writer_ || aborted_; };
        if (deadline == no_deadline)
            writer_free_.wait(lk, free);
        else if (!writer_free_.wait_until(lk, deadline, free))
            throw timeout_error("timed out sending: the peer is not reading");
        if (aborted_) throw error("cannot write to the connection: it was closed");
    }

    // Encrypts up to limit bytes of plaintext into outgoing_. Small pieces share a record.
    void encrypt(plaintext_cursor& plaintext, std::size_t limit) {
        std::size_t budget = limit;
        while (!plaintext.done() && budget > 0) {
            const std::string_view span = plaintext.next(budget);
            std::size_t used;
            if (staging_.empty() && span.size() >= record_size) {
                used = span.size() - span.size() % record_size;  // whole records, no copy
                ssl_write(span.substr(0, used));
            } else {
                used = std::min(span.size(), record_size - staging_.size());
                staging_.append(span.data(), used);
                if (staging_.size() == record_size) flush_staging();
            }
            plaintext.advance(used);
            budget -= used;
        }
        flush_staging();
    }

    void flush_staging() {
        if (staging_.empty()) return;
        ssl_write(staging_);
        staging_.clear();
    }

    void ssl_write(std::string_view plaintext) {
        while (!plaintext.empty()) {
            clear_errors();
            std::size_t n = 0;
            const int result = SSL_write_ex(ssl_, plaintext.data(), plaintext.size(), &n);
            if (result != 1) {
                staging_.clear();
                throw describe_failure(false);
            }
            plaintext.remove_prefix(n);
        }
    }

    // SSL_get_error() needs the thread's error queue empty before each call into OpenSSL.
    // ERR_clear_error() wipes all of its slots, some 800 instructions on OpenSSL 3, while
    // looking costs a tenth of that, and the queue is nearly always empty.
    static void clear_errors() noexcept {
        if (ERR_peek_error() != 0) ERR_clear_error();
    }

    void send_close_notify() {
        if (close_notify_sent_) return;
        close_notify_sent_ = true;
        ERR_clear_error();
        SSL_shutdown(ssl_);  // fails harmlessly after a fatal error
        ERR_clear_error();
    }

    // As the writer: moves outgoing_ to the inner transport, then the FIN if one is due.
    // Non-blocking, it returns false when the socket took only part (the rest stays first in
    // outgoing_). Blocking, it throws what the inner write throws.
    bool drain(lock& lk, clock::time_point deadline, bool blocking) {
        while (!outgoing_.empty()) {
            sending_.swap(outgoing_);  // outgoing_ is now empty: others may append
            std::size_t sent = sending_.size();
            try {
                unlocked outside(lk);
                const std::vector<std::string_view> pieces{sending_};
                if (blocking)
                    inner_->write(pieces, deadline);
                else
                    sent = inner_->try_write(pieces);
            } catch (...) {
                sending_.clear();
                throw;
            }
            if (sent < sending_.size()) {
                // What is left goes in front of whatever was appended meanwhile.
                sending_.erase(0, sent);
                sending_ += outgoing_;
                outgoing_.swap(sending_);
                sending_.clear();
                return false;
            }
            sending_.clear();
        }
        if (fin_pending_) {
            fin_pending_ = false;
            unlocked outside(lk);
            inner_->shutdown_write();
        }
        return true;
    }

    // Blocking, as the writer: waits for the role.
    void send_queued(lock& lk, clock::time_point deadline) {
        wait_for_writer_role(lk, deadline);
        const writer_role role(*this);
        drain(lk, deadline, true);
    }

    // Non-blocking, and only if nobody else is the writer (who then sends it).
    void send_queued_if_free(lock& lk) {
        if (writer_ || aborted_ || (outgoing_.empty() && !fin_pending_)) return;
        const writer_role role(*this);
        drain(lk, no_deadline, false);
    }

    // Best effort, for what OpenSSL wrote while reading or failing (an alert, so that the
    // peer learns why too): the caller reports its own outcome, and a broken connection
    // shows on the next write anyway.
    void send_queued_quietly(lock& lk) noexcept {
        try {
            send_queued_if_free(lk);
        } catch (...) {
        }
    }

    // ---- the BIO: OpenSSL's view of the ciphertext, under mutex_ (OpenSSL runs under it)

    std::size_t ciphertext_in_hand() const noexcept {
        return held_.size() - held_read_ + fetched_.size();
    }

    std::size_t take_ciphertext(char* out, std::size_t size) noexcept {
        if (held_read_ < held_.size()) {
            const std::size_t n = std::min(size, held_.size() - held_read_);
            std::memcpy(out, held_.data() + held_read_, n);
            held_read_ += n;
            if (held_read_ == held_.size()) {
                std::string().swap(held_);  // an idle connection keeps no buffer
                held_read_ = 0;
            }
            return n;
        }
        const std::size_t n = std::min(size, fetched_.size());
        if (n == 0) return 0;  // fetched_ may be empty with no data pointer: no memcpy then
        std::memcpy(out, fetched_.data(), n);
        fetched_.remove_prefix(n);
        return n;
    }

    static const BIO_METHOD* bio_method() {
        static BIO_METHOD* const method = [] {
            BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "syncws transport");
            if (m != nullptr) {
                BIO_meth_set_read_ex(m, &tls_transport::bio_read);
                BIO_meth_set_write_ex(m, &tls_transport::bio_write);
                BIO_meth_set_ctrl(m, &tls_transport::bio_ctrl);
            }
            return m;
        }();
        return method;
    }

    // Nothing in hand means "wait for more", never the end of the stream: that is the inner
    // transport's to report.
    static int bio_read(BIO* bio, char* out, std::size_t size, std::size_t* done) {
        BIO_clear_retry_flags(bio);
        *done = static_cast<tls_transport*>(BIO_get_data(bio))->take_ciphertext(out, size);
        if (*done > 0) return 1;
        BIO_set_retry_read(bio);
        return 0;
    }

    static int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* done) {
        BIO_clear_retry_flags(bio);
        try {
            static_cast<tls_transport*>(BIO_get_data(bio))->outgoing_.append(data, size);
        } catch (...) {
            return 0;  // out of memory: OpenSSL fails the write
        }
        *done = size;
        return 1;
    }

    static long bio_ctrl(BIO* bio, int command, long, void*) {
        switch (command) {
            case BIO_CTRL_FLUSH:
                return 1;  // outgoing_ is sent by whoever is the writer
            case BIO_CTRL_PENDING:
                return static_cast<long>(static_cast<tls_transport*>(BIO_get_data(bio))->ciphertext_in_hand());
            default:
                return 0;  // as a memory BIO: nothing else applies
        }
    }

    // ---- failures

    // For where nothing can be thrown: every later read throws this.
    void fail_quietly(const char* what) noexcept {
        try {
            failure_ = tls_error(reason::io, what);
        } catch (...) {
            // Then the ciphertext lost fails the next record's integrity check instead.
        }
    }

    // The error OpenSSL just reported, in words (empties the error queue).
    tls_error describe_failure(bool in_handshake) {
        const std::string peer = side_ == role::client ? "the server" : "the client";
        if (verify_failure_) {
            ERR_clear_error();
            return describe(*verify_failure_, side_ == role::client
                                                  ? "certificate verify failed for " + host_ + ": "
                                                  : "client certificate verify failed: ");
        }
        const unsigned long code = ERR_peek_error();
        const int why = ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;
        std::string text = take_openssl_error();
        bool about_handshake = in_handshake;
        if (why >= SSL_AD_REASON_OFFSET) {
            about_handshake = true;  // TLS 1.3 rejects a client certificate after the handshake
            text = describe_alert(why - SSL_AD_REASON_OFFSET, peer);
        } else if (why == SSL_R_UNSUPPORTED_PROTOCOL || why == SSL_R_VERSION_TOO_LOW) {
            const std::string offered = version_text(peer_hello_version_);
            text = offered.empty() ? peer + " supports only TLS versions older than 1.2"
                                   : peer + " offered only " + offered;
            text += " (TLS 1.2 or later is required)";
        } else if (why == SSL_R_HTTP_REQUEST || why == SSL_R_HTTPS_PROXY_REQUEST) {
            text = "the client sent plain HTTP, not TLS (a ws:// client on a wss:// port?)";
        } else if (in_handshake && (why == SSL_R_WRONG_VERSION_NUMBER || why == SSL_R_UNKNOWN_PROTOCOL ||
                                    why == SSL_R_PACKET_LENGTH_TOO_LONG)) {
            text = peer + " does not speak TLS" +
                   (side_ == role::client ? " (is it a ws:// server?)" : "");
        } else if (why == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            text = "the client sent no certificate, and this server requires one";
        } else if (why == SSL_R_NO_SHARED_CIPHER) {
            text = "no cipher in common with the client";
        } else if (why == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            text = std::string("certificate verify failed: ") +
                   X509_verify_cert_error_string(SSL_get_verify_result(ssl_));
        }
        if (about_handshake) return tls_error(reason::handshake_failed, "TLS handshake failed: " + text);
        return tls_error(reason::io, "TLS error: " + text);
    }

    std::string describe_alert(int alert, const std::string& peer) const {
        const std::string name = SSL_alert_desc_string_long(alert);
        switch (alert) {
            case TLS13_AD_CERTIFICATE_REQUIRED:
                return "the server requires a client certificate (tls.cert_file and tls.key_file)";
            case SSL_AD_BAD_CERTIFICATE:
            case SSL_AD_UNSUPPORTED_CERTIFICATE:
            case SSL_AD_CERTIFICATE_REVOKED:
            case SSL_AD_CERTIFICATE_EXPIRED:
            case SSL_AD_CERTIFICATE_UNKNOWN:
            case SSL_AD_UNKNOWN_CA:
                return peer + " rejected " +
                       (side_ == role::client ? "the client certificate" : "the server's certificate") +
                       " (alert: " + name + ")";
            case SSL_AD_PROTOCOL_VERSION:
                return peer + " does not support TLS 1.2 or later (alert: " + name + ")";
            case SSL_AD_HANDSHAKE_FAILURE:
                return "no TLS version, cipher or signature algorithm in common with " + peer +
                       " (alert: " + name + ")";
            case SSL_AD_UNRECOGNIZED_NAME:
                return "the server does not know the host name " + host_ + " (alert: " + name + ")";
            default:
                return peer + " sent the alert '" + name + "'";
        }
    }

    // ---- OpenSSL callbacks (inside SSL_do_handshake, so under mutex_)

    static int on_verify(int ok, X509_STORE_CTX* store) {
        auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
        if (SSL_verify_cb theirs = SSL_CTX_get_verify_callback(SSL_get_SSL_CTX(ssl))) ok = theirs(ok, store);
        auto* self = static_cast<tls_transport*>(SSL_get_ex_data(ssl, transport_index()));
        if (ok == 0 && self != nullptr && !self->verify_failure_) {
            verify_failure f;
            f.code = X509_STORE_CTX_get_error(store);
            f.depth = X509_STORE_CTX_get_error_depth(store);
            if (X509* certificate = X509_STORE_CTX_get_current_cert(store)) {
                f.subject = name_text(X509_get_subject_name(certificate));
                f.issuer = name_text(X509_get_issuer_name(certificate));
                f.not_before = time_text(X509_get0_notBefore(certificate));
                f.not_after = time_text(X509_get0_notAfter(certificate));
                f.names = names_text(certificate);
            }
            self->verify_failure_ = std::move(f);
        }
        return ok;
    }

    // Keeps the version in the peer's hello, to name it when it is too old.
    static void note_hello(int write, int, int content_type, const void* data, std::size_t size,
                           SSL* ssl, void*) {
        const auto* bytes = static_cast<const unsigned char*>(data);
        if (write != 0 || content_type != SSL3_RT_HANDSHAKE || size < 6) return;
        if (bytes[0] != SSL3_MT_CLIENT_HELLO && bytes[0] != SSL3_MT_SERVER_HELLO) return;
        if (auto* self = static_cast<tls_transport*>(SSL_get_ex_data(ssl, transport_index())))
            self->peer_hello_version_ = bytes[4] << 8 | bytes[5];
    }

    const std::unique_ptr<transport> inner_;
    const std::shared_ptr<SSL_CTX> context_;
    const role side_;
    std::string host_;  // client: the name the certificate must have

    mutable std::mutex mutex_;
    std::condition_variable writer_free_;
    // under mutex_
    SSL* ssl_ = nullptr;
    std::string held_;      // ciphertext from the peer that OpenSSL has not read (see fetch_buffer)
    std::size_t held_read_ = 0;  // of held_, what OpenSSL has read
    std::string_view fetched_;   // in the reader's fetch_buffer, what OpenSSL has not read
    std::string outgoing_;  // ciphertext from OpenSSL not yet taken by a writer, in order
    bool writer_ = false;   // a thread is the writer
    bool starved_ = false;  // OpenSSL needs more ciphertext: at most part of a record is buffered
    bool peer_closed_ = false;  // close_notify received
    bool close_notify_sent_ = false;
    bool write_shut_ = false;   // shutdown_write() was called
    bool fin_pending_ = false;  // the inner shutdown_write() is due once outgoing_ is sent
    bool aborted_ = false;
    std::optional<verify_failure> verify_failure_;
    std::optional<tls_error> failure_;  // a record could not be read: every read fails so
    int peer_hello_version_ = 0;
    std::uint64_t expected_ = 0;  // plaintext certain to come (expect_input())
    // the writer's own, used without mutex_
    std::string sending_;
    std::string staging_;
};

// The ex_data slot where an SSL object keeps its tls_transport, for the callbacks.
int transport_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

}  // namespace

std::unique_ptr<transport> tls_connect(std::unique_ptr<transport> stream,
                                       std::shared_ptr<ssl_ctx_st> context,
                                       const std::string& host, bool verify,
                                       clock::time_point deadline) {
    auto tls = std::make_unique<tls_transport>(std::move(stream), std::move(context), role::client);
    tls->expect_server(host, verify);
    tls->handshake(deadline);
    return tls;
}

std::unique_ptr<transport> tls_accept(std::unique_ptr<transport> stream,
                                      std::shared_ptr<ssl_ctx_st> context,
                                      clock::time_point deadline) {
    auto tls = std::make_unique<tls_transport>(std::move(stream), std::move(context), role::server);
    tls->expect_client();
    tls->handshake(deadline);
    return tls;
}

}  // namespace syncws::detail

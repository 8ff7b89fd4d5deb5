#include "tls_context.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

namespace syncws::detail {

namespace {

using context_ptr = std::shared_ptr<SSL_CTX>;
using reason = tls_error::reason;

// Client contexts kept for reuse: a handful of distinct option sets per process at most.
constexpr std::size_t max_cached_contexts = 32;

context_ptr new_context(const SSL_METHOD* method) {
    context_ptr context(SSL_CTX_new(method), SSL_CTX_free);
    if (!context)
        throw tls_error(reason::handshake_failed, "cannot create a TLS context: " + take_openssl_error());
    // TLS 1.0 and 1.1 are deprecated (RFC 8996).
    SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
    return context;
}

[[noreturn]] void cannot_load(const std::string& what, const std::string& path, const std::string& why) {
    throw tls_error(reason::certificate_file, "cannot load the " + what + " " + path + ": " + why);
}

// OpenSSL reports a missing file as "system lib"; the C library says it in words.
void check_readable(const std::string& what, const std::string& path) {
    if (::access(path.c_str(), R_OK) != 0) cannot_load(what, path, std::strerror(errno));
}

// The certificate chain and the private key that goes with it (in key_file, or in cert_file
// itself when key_file is empty).
void load_identity(SSL_CTX* context, const std::string& cert_file, const std::string& key_file) {
    const std::string& key = key_file.empty() ? cert_file : key_file;
    check_readable("certificate chain", cert_file);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(context, cert_file.c_str()) != 1)
        cannot_load("certificate chain", cert_file, take_openssl_error());
    check_readable("private key", key);
    // OpenSSL checks a key against a certificate of the same type as it loads it, and
    // SSL_CTX_check_private_key() catches a key of another type.
    const bool loaded = SSL_CTX_use_PrivateKey_file(context, key.c_str(), SSL_FILETYPE_PEM) == 1;
    if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        cannot_load("private key", key, take_openssl_error());
    if (!loaded || SSL_CTX_check_private_key(context) != 1) {
        ERR_clear_error();
        throw tls_error(reason::certificate_file, "the private key in " + key +
                                                      " does not match the certificate in " + cert_file);
    }
}

void load_trusted(SSL_CTX* context, const std::string& ca_file, const std::string& ca_path) {
    if (!ca_file.empty()) check_readable("CA file", ca_file);
    if (!ca_path.empty()) check_readable("CA directory", ca_path);
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(context, ca_file.empty() ? nullptr : ca_file.c_str(),
                                      ca_path.empty() ? nullptr : ca_path.c_str()) != 1)
        cannot_load(ca_file.empty() ? "CA directory" : "CA file", ca_file.empty() ? ca_path : ca_file,
                    take_openssl_error());
}

context_ptr new_client_context(const tls_client_options& options) {
    if (options.cert_file.empty() && !options.key_file.empty())
        throw tls_error(reason::certificate_file, "tls.key_file " + options.key_file +
                                                      " is set without tls.cert_file");
    context_ptr context = new_context(TLS_client_method());
    SSL_CTX* ctx = context.get();
    if (options.insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        if (!options.ca_file.empty() || !options.ca_path.empty())
            load_trusted(ctx, options.ca_file, options.ca_path);
        else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
            ERR_clear_error();  // no system store: every verification then names the untrusted CA
    }
    if (!options.cert_file.empty()) load_identity(ctx, options.cert_file, options.key_file);
    return context;
}

// A file as the cache sees it: a certificate renewed on disk makes a new context.
std::string stamp(const std::string& path) {
    std::string text = path;
    struct stat status {};
    if (!path.empty() && ::stat(path.c_str(), &status) == 0)
        text += '\n' + std::to_string(status.st_mtim.tv_sec) + '.' +
                std::to_string(status.st_mtim.tv_nsec) + '/' + std::to_string(status.st_size);
    return text + '\0';
}

std::string cache_key(const tls_client_options& options) {
    return stamp(options.ca_file) + stamp(options.ca_path) + stamp(options.cert_file) +
           stamp(options.key_file) + (options.insecure ? "insecure" : "verify");
}

}  // namespace

std::string take_openssl_error() {
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    const char* text = code != 0 ? ERR_reason_error_string(code) : nullptr;
    return text != nullptr ? text : "unknown error";
}

std::shared_ptr<ssl_ctx_st> client_context(const tls_client_options& options) {
    if (options.context) return options.context;
    // Never destroyed: contexts must not be freed after OpenSSL's own cleanup at exit.
    static std::mutex* const mutex = new std::mutex;
    static auto* const cache = new std::map<std::string, context_ptr>;
    const std::string key = cache_key(options);
    // Loading under the lock: threads connecting with the same options wait for one load.
    std::lock_guard<std::mutex> lk(*mutex);
    if (const auto found = cache->find(key); found != cache->end()) return found->second;
    context_ptr context = new_client_context(options);
    if (cache->size() >= max_cached_contexts) cache->clear();  // connections keep theirs
    cache->emplace(key, context);
    return context;
}

std::shared_ptr<ssl_ctx_st> server_context(const tls_server_options& options) {
    if (options.context) return options.context;
    if (options.cert_file.empty())
        throw tls_error(reason::certificate_file,
                        "a TLS server needs tls.cert_file (the certificate chain) and its key");
    context_ptr context = new_context(TLS_server_method());
    SSL_CTX* ctx = context.get();
    load_identity(ctx, options.cert_file, options.key_file);
    if (!options.client_ca_file.empty()) {
        load_trusted(ctx, options.client_ca_file, {});
        // The CertificateRequest names these CAs, so that a client picks the right certificate.
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
        if (names == nullptr) cannot_load("client CA file", options.client_ca_file, take_openssl_error());
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    // OpenSSL refuses to resume a session without an id context when it verifies clients.
    static const unsigned char id_context[] = "syncws";
    SSL_CTX_set_session_id_context(ctx, id_context, sizeof id_context - 1);
    return context;
}

}  // namespace syncws::detail

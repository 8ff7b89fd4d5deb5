// TLS settings for wss:// clients and servers, and the error TLS failures raise.
// OpenSSL does the work; its types appear here only as opaque pointers.
#pragma once

#include <memory>
#include <string>

#include "syncws/core/error.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace syncws {

/// A TLS failure, with the cause named: "certificate verify failed for localhost: the
/// certificate is for another host (it names DNS:example.com)", "... has expired (notAfter
/// 2020-02-01 00:00:00Z)", "... is issued by an untrusted CA (CN=...)", "TLS handshake
/// failed: the server requires a client certificate ...".
/// Thread-safety: an immutable value.
class tls_error : public error {
public:
    /// What went wrong, for programs that react to it.
    enum class reason {
        untrusted_issuer,   ///< the chain does not lead to a trusted CA (or is self-signed)
        hostname_mismatch,  ///< the certificate names another host or IP address
        expired,            ///< the certificate (or one in its chain) has expired
        not_yet_valid,      ///< the certificate's validity starts in the future
        handshake_failed,   ///< any other handshake failure (protocol version, cipher, alert)
        certificate_file,   ///< a certificate, key or CA file could not be loaded
        io,                 ///< a TLS record layer error after the handshake
    };
    tls_error(reason why, const std::string& what) : error(what), reason_(why) {}
    reason why() const noexcept { return reason_; }

private:
    reason reason_;
};

/// TLS settings of a client (used for wss:// URIs). Plain values: use one from any thread
/// that does not change it meanwhile. The defaults verify the server's
/// certificate against the system's trust store and check that it names the host of the
/// URI (DNS names with RFC 6125 wildcards, IP addresses against IP SANs), with SNI, TLS 1.2
/// or later.
struct tls_client_options {
    /// PEM file of CA certificates to trust instead of the system's store.
    std::string ca_file;
    /// Directory of hashed CA certificates (c_rehash) to trust instead of the system's store.
    std::string ca_path;
    /// Client certificate (PEM, may hold the chain) and its private key, for mutual TLS.
    std::string cert_file;
    std::string key_file;
    /// Skips certificate and host-name verification. Encrypts but does not authenticate the
    /// server: anyone on the path can read and change the traffic. For tests only.
    bool insecure = false;
    /// An OpenSSL context prepared by the caller (replaces every field above). Its
    /// verification settings are used as they are; SNI and the host-name check are still
    /// applied to each connection.
    std::shared_ptr<ssl_ctx_st> context;
};

/// TLS settings of a server. Setting cert_file (or context) turns TLS on: the server then
/// speaks wss:// only. Plain values, as tls_client_options.
struct tls_server_options {
    /// Certificate chain (PEM: the server certificate first, then intermediates) and key.
    std::string cert_file;
    std::string key_file;
    /// Mutual TLS: clients must present a certificate issued by a CA in this PEM file.
    std::string client_ca_file;
    /// An OpenSSL context prepared by the caller (replaces every field above).
    std::shared_ptr<ssl_ctx_st> context;

    bool enabled() const noexcept { return !cert_file.empty() || context != nullptr; }
};

}  // namespace syncws

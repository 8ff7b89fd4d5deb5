// OpenSSL contexts built from tls_client_options / tls_server_options. Internal.
#pragma once

#include <memory>
#include <string>

#include "syncws/tls.hpp"

namespace syncws::detail {

/// The context for a client: TLS 1.2 or later, verification against the system store (or
/// the given CA file / directory) unless insecure, the client certificate if any. Contexts
/// for equal options (and unchanged files) are shared, so the trust store is loaded once
/// per process. A context given in options is returned as it is.
/// Throws tls_error(certificate_file) when a file cannot be loaded.
/// Thread-safety: safe from any thread.
std::shared_ptr<ssl_ctx_st> client_context(const tls_client_options& options);

/// The context for a server: the certificate chain and key (checked to match), TLS 1.2 or
/// later, client-certificate verification when client_ca_file is set. A context given in
/// options is returned as it is.
/// Throws tls_error(certificate_file) when a file cannot be loaded or the key does not match.
/// Thread-safety: safe from any thread.
std::shared_ptr<ssl_ctx_st> server_context(const tls_server_options& options);

/// The reason of the oldest error in this thread's OpenSSL error queue, in OpenSSL's words
/// ("no start line"), or "unknown error"; empties the queue.
std::string take_openssl_error();

}  // namespace syncws::detail

// TLS over another transport, with OpenSSL driven through a BIO over memory. Internal.
//
// Why a BIO over memory: an SSL object must never be entered by two threads at once, yet
// one thread may block in read() while others write. Here OpenSSL only ever touches memory
// (the reader's fetch buffer, the outgoing queue), under a mutex that is never held across
// a socket call; the ciphertext is moved to and from the inner transport outside the lock
// (design.md §2).
#pragma once

#include <memory>
#include <string>

#include "transport.hpp"

struct ssl_ctx_st;

namespace syncws::detail {

/// Client side: runs the TLS handshake over stream before deadline, with SNI and (when
/// verify is true) certificate and host-name verification against host (a DNS name or an
/// IP literal). Throws syncws::tls_error naming the cause, timeout_error, syncws::error.
/// The transport returned keeps the transport contract (one reader and one writer at a
/// time, abort() and the has_buffered_*() hooks from any thread); inside, no two threads
/// are ever in OpenSSL for it at once.
/// Thread-safety: the call itself is safe from any thread; stream is the caller's alone.
std::unique_ptr<transport> tls_connect(std::unique_ptr<transport> stream,
                                       std::shared_ptr<ssl_ctx_st> context,
                                       const std::string& host, bool verify,
                                       clock::time_point deadline);

/// Server side: runs the TLS handshake over an accepted stream before deadline, checking
/// the client's certificate when the context asks for one. Throws as tls_connect(); the
/// transport returned is as tls_connect()'s.
/// Thread-safety: as tls_connect().
std::unique_ptr<transport> tls_accept(std::unique_ptr<transport> stream,
                                      std::shared_ptr<ssl_ctx_st> context,
                                      clock::time_point deadline);

}  // namespace syncws::detail

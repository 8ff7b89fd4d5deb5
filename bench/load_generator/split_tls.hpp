// A TLS connection that a reader thread and a writer thread use at the same time.
//
// One client thread cannot keep a pipelined TLS echo of large messages busy: it encrypts,
// decrypts, masks and compares every byte while the server only decrypts and encrypts, so
// a single-connection row measured the load generator, not the servers (docs/performance.md,
// (h-d)). An OpenSSL SSL object serves one thread at a time; kernel TLS would let two
// threads share the connection, and this machine's kernel has no `tls` module. So, once
// OpenSSL's handshake is done, the records are sealed and opened here: OpenSSL derives the
// keys (its TLS 1.3 KDF, from the traffic secrets its key-log callback reports) and does
// all the cryptography (its AEAD ciphers); what is left here is the TLS 1.3 record framing
// of RFC 8446 §5.2 (header, nonce, inner content type), the part kernel TLS does.
#pragma once

#include <string>

#include "transport.hpp"

namespace loadgen {

/// The client's and the server's application traffic secrets (raw bytes), as OpenSSL's
/// key-log callback reports them during the handshake.
struct traffic_secrets {
    std::string client, server;
    /// Takes what it needs from one key-log line (NSS key log format).
    void take(const char* keylog_line);
};

/// The transport for a connection whose TLS 1.3 handshake `ssl` (on `fd`) just finished:
/// from here on, records are sealed and opened with `secrets`. Frees `ssl` and owns `fd`
/// (closes it even when this throws). Blocking calls only; write_some() and
/// shutdown_write() may run in one thread while read_some() runs in another. The server's
/// session tickets are read and ignored; a key update is reported as an error (no server
/// here sends one).
std::unique_ptr<transport> split_tls_transport(int fd, ssl_st* ssl, const traffic_secrets& secrets);

}  // namespace loadgen

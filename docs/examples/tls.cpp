// The code of docs/tls.md. docs/meson.build compiles it (C++17) but never runs it, and
// docs/check_snippets.py checks that every block of the guide is taken from here, so the
// guide cannot drift away from the headers. One function per section of the guide.
#include <openssl/ssl.h>

#include <iostream>
#include <memory>

#include <syncws/syncws.hpp>

void verified_by_default() {
    // The system's trust store, SNI, and a certificate that must name example.com.
    auto ws = syncws::connect("wss://example.com/feed");
}

void a_private_ca() {
    syncws::client_options options;
    options.tls.ca_file = "/etc/myapp/ca.pem";          // instead of the system's store
    auto ws = syncws::connect("wss://internal.example:8443/", options);
}

void a_client_certificate() {
    syncws::client_options options;
    options.tls.ca_file = "/etc/myapp/ca.pem";
    options.tls.cert_file = "/etc/myapp/client.pem";    // may hold the chain
    options.tls.key_file = "/etc/myapp/client-key.pem";
    auto ws = syncws::connect("wss://internal.example:8443/", options);
}

void what_went_wrong() {
    try {
        auto ws = syncws::connect("wss://localhost:8443/");
    } catch (const syncws::tls_error& e) {
        std::cerr << e.what() << "\n";   // names the cause and the host
        switch (e.why()) {
            case syncws::tls_error::reason::untrusted_issuer:
                std::cerr << "set tls.ca_file to the CA that issued it\n";
                break;
            case syncws::tls_error::reason::hostname_mismatch:
                std::cerr << "connect with a name the certificate has\n";
                break;
            case syncws::tls_error::reason::expired:
            case syncws::tls_error::reason::not_yet_valid:
                std::cerr << "check the certificate's dates and this machine's clock\n";
                break;
            default:
                break;
        }
    }
}

void a_wss_server() {
    syncws::server_options options;
    options.port = 8443;
    options.tls.cert_file = "/etc/myapp/fullchain.pem";   // certificate, then intermediates
    options.tls.key_file = "/etc/myapp/privkey.pem";
    syncws::serve(options, [](syncws::server_connection& ws) {
        for (auto& message : ws) ws.send(message);
    });
}

void mutual_tls(syncws::server_options& options) {
    options.tls.cert_file = "/etc/myapp/fullchain.pem";
    options.tls.key_file = "/etc/myapp/privkey.pem";
    options.tls.client_ca_file = "/etc/myapp/clients-ca.pem";  // clients must present one
}

void your_own_openssl_context() {
    std::shared_ptr<SSL_CTX> context(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    SSL_CTX_set_min_proto_version(context.get(), TLS1_3_VERSION);
    SSL_CTX_set_default_verify_paths(context.get());
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);

    syncws::client_options options;
    options.tls.context = context;          // SNI and the host-name check still apply
    auto ws = syncws::connect("wss://example.com/", options);
}

int main() {}

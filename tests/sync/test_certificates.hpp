// Certificates for TLS tests, made at test time with the `openssl` command (OpenSSL 3.0 is
// enough): a test CA and what it signed, plus certificates that must fail verification in
// each of the ways a client can tell apart. Header-only and self-contained, so that any test
// program can include it: test::test_certificates() makes them once per process, in a fresh
// directory that is removed at exit.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace test {

/// Paths of PEM files. Keys are unencrypted EC P-256 keys. Every server certificate
/// except other_host and the wildcard ones is for localhost, 127.0.0.1 and ::1.
struct certificates {
    std::string directory;
    /// The test CA: trust it with tls_client_options::ca_file (or as client_ca_file).
    std::string ca;
    /// Signed by ca: localhost, 127.0.0.1, ::1 (subject alternative names).
    std::string server_cert, server_key;
    /// Signed by ca, same names, valid only in January 2020.
    std::string expired_cert, expired_key;
    /// Signed by ca, for other.example only.
    std::string other_host_cert, other_host_key;
    /// Signed by ca, for *.example.test (matches a.example.test, not example.test or
    /// a.b.example.test).
    std::string wildcard_cert, wildcard_key;
    /// Signed by ca, for f*.example.test: a partial-label wildcard, which must match nothing.
    std::string partial_wildcard_cert, partial_wildcard_key;
    /// Signed by ca, for localhost and 127.0.0.1 only (not ::1).
    std::string ipv4_only_cert, ipv4_only_key;
    /// Self-signed, for localhost, 127.0.0.1 and ::1: trusted by nobody.
    std::string self_signed_cert, self_signed_key;
    /// A second CA that nobody trusts, and a server certificate it signed (usual names).
    std::string other_ca;
    std::string untrusted_server_cert, untrusted_server_key;
    /// Client certificates (extendedKeyUsage clientAuth): one signed by ca, one by other_ca.
    std::string client_cert, client_key;
    std::string other_client_cert, other_client_key;
};

namespace detail {

inline std::string shell_quoted(const std::string& text) { return "'" + text + "'"; }

// Runs one openssl command; its output goes to a log that a failure shows.
inline void run_openssl(const std::string& directory, const std::string& arguments) {
    const std::string log = directory + "/openssl.log";
    const std::string command = "openssl " + arguments + " >" + shell_quoted(log) + " 2>&1";
    if (std::system(command.c_str()) != 0) {
        std::ifstream in(log);
        const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        throw std::runtime_error("test certificates: `" + command + "` failed: " + output);
    }
}

inline void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("test certificates: cannot write " + path);
}

// `openssl ca` (the one way to choose both validity dates with OpenSSL 3.0) needs a
// database; `openssl req` needs a distinguished-name section even when -subj gives it.
inline std::string write_config(const std::string& dir) {
    const std::string config = dir + "/openssl.cnf";
    write_file(dir + "/index.txt", "");
    write_file(dir + "/serial", "1000\n");
    write_file(config,
               "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
               "[ca]\ndefault_ca = test_ca\n"
               "[test_ca]\ndatabase = " + dir + "/index.txt\nnew_certs_dir = " + dir +
               "\nserial = " + dir + "/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n"
               "[any]\ncommonName = supplied\n"
               "[expired]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
               "subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1\n");
    return config;
}

class maker {
public:
    explicit maker(std::string directory)
        : dir_(std::move(directory)), config_(write_config(dir_)) {}

    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    /// A self-signed CA certificate; its key is name.key.
    std::string ca(const std::string& name, const std::string& common_name) {
        run(new_key(name) + " -x509 -days 3650 -subj " + shell_quoted("/CN=" + common_name) +
            " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
        return path(name + ".pem");
    }

    /// A leaf certificate, signed by issuer (a name given to ca()) or self-signed ("").
    void leaf(const std::string& name, const std::string& common_name, const std::string& alt_names,
              const std::string& usage, const std::string& issuer, std::string& cert, std::string& key) {
        std::string arguments = new_key(name) + " -x509 -days 3650 -subj " + shell_quoted("/CN=" + common_name) +
                                " -addext basicConstraints=CA:FALSE -addext extendedKeyUsage=" + usage;
        if (!alt_names.empty()) arguments += " -addext " + shell_quoted("subjectAltName=" + alt_names);
        if (!issuer.empty())
            arguments += " -CA " + shell_quoted(path(issuer + ".pem")) + " -CAkey " +
                         shell_quoted(path(issuer + ".key"));
        run(arguments);
        cert = path(name + ".pem");
        key = path(name + ".key");
    }

    /// A server certificate for the usual names, signed by ca, valid only in January 2020.
    void expired(const std::string& name, std::string& cert, std::string& key) {
        run(new_key(name, ".csr") + " -subj /CN=localhost");
        run_openssl(dir_, "ca -config " + shell_quoted(config_) + " -batch -notext -extensions expired -cert " +
                              shell_quoted(path("ca.pem")) + " -keyfile " + shell_quoted(path("ca.key")) + " -in " +
                              shell_quoted(path(name + ".csr")) + " -out " + shell_quoted(path(name + ".pem")) +
                              " -startdate 20200101000000Z -enddate 20200201000000Z");
        cert = path(name + ".pem");
        key = path(name + ".key");
    }

private:
    std::string new_key(const std::string& name, const std::string& output = ".pem") const {
        return "req -config " + shell_quoted(config_) +
               " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + shell_quoted(path(name + ".key")) +
               (output == ".csr" ? " -new" : "") + " -out " + shell_quoted(path(name + output));
    }

    void run(const std::string& arguments) { run_openssl(dir_, arguments); }

    std::string dir_;
    std::string config_;
};

inline std::string make_directory() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/syncws-certs-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr)
        throw std::runtime_error("test certificates: cannot create a directory from " + pattern);
    return pattern;
}

inline certificates make_certificates(const std::string& directory) {
    certificates c;
    c.directory = directory;
    maker m(c.directory);
    const std::string usual = "DNS:localhost,IP:127.0.0.1,IP:::1";
    c.ca = m.ca("ca", "syncws test CA");
    c.other_ca = m.ca("other_ca", "syncws untrusted test CA");
    m.leaf("server", "localhost", usual, "serverAuth", "ca", c.server_cert, c.server_key);
    m.expired("expired", c.expired_cert, c.expired_key);
    m.leaf("other_host", "other.example", "DNS:other.example", "serverAuth", "ca", c.other_host_cert,
           c.other_host_key);
    m.leaf("wildcard", "*.example.test", "DNS:*.example.test", "serverAuth", "ca", c.wildcard_cert,
           c.wildcard_key);
    m.leaf("partial_wildcard", "f*.example.test", "DNS:f*.example.test", "serverAuth", "ca",
           c.partial_wildcard_cert, c.partial_wildcard_key);
    m.leaf("ipv4_only", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth", "ca", c.ipv4_only_cert,
           c.ipv4_only_key);
    m.leaf("self_signed", "localhost", usual, "serverAuth", "", c.self_signed_cert, c.self_signed_key);
    m.leaf("untrusted_server", "localhost", usual, "serverAuth", "other_ca", c.untrusted_server_cert,
           c.untrusted_server_key);
    m.leaf("client", "syncws test client", "", "clientAuth", "ca", c.client_cert, c.client_key);
    m.leaf("other_client", "syncws other client", "", "clientAuth", "other_ca", c.other_client_cert,
           c.other_client_key);
    return c;
}

}  // namespace detail

/// The certificates, made on the first call. Throws std::runtime_error when the openssl
/// command fails (its output is in the message).
/// Thread-safety: safe from any thread.
inline const certificates& test_certificates() {
    static const certificates made = [] {
        static const std::string directory = detail::make_directory();
        std::atexit([] {
            std::error_code ignored;
            std::filesystem::remove_all(directory, ignored);
        });
        return detail::make_certificates(directory);
    }();
    return made;
}

}  // namespace test

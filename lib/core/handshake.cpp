#include "syncws/core/handshake.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <utility>

#include "syncws/core/base64.hpp"
#include "syncws/core/random.hpp"

namespace syncws {

namespace {

// Error messages quote what the peer sent; a hostile peer can send a megabyte, so quotes are
// cut short (at a UTF-8 character boundary, the body is text/plain; charset=utf-8).
constexpr std::size_t max_quoted = 100;

std::string shorten(std::string_view text, std::size_t max) {
    if (text.size() <= max) return std::string(text);
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(text.substr(0, cut)) + "...";
}

// A body squeezed onto one line: servers often answer with an HTML page or a multi-line
// text, and only its start helps in an exception message.
std::string one_line(std::string_view body, std::size_t max) {
    std::string line;
    bool space = false;
    for (const char c : body) {
        if (line.size() > max) break;
        if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') {
            space = !line.empty();
            continue;
        }
        if (space) line += ' ';
        space = false;
        line += c;
    }
    return shorten(line, max);
}

std::string describe_status(const core::http_response& response) {
    std::string what = "the server rejected the WebSocket handshake with HTTP " +
                       std::to_string(response.status);
    const std::string_view reason =
        response.reason.empty() ? core::reason_phrase(response.status) : response.reason;
    if (!reason.empty()) what += " " + shorten(reason, max_quoted);
    if (response.status >= 300 && response.status < 400) {
        if (const auto location = response.headers.get("Location"))
            what += " (Location: " + shorten(*location, max_quoted) + ")";
    }
    const std::string body = one_line(response.body, 200);
    if (!body.empty()) what += ": " + body;
    return what;
}

}  // namespace

invalid_status::invalid_status(core::http_response response)
    : invalid_handshake(describe_status(response), response.status),
      response_(std::move(response)) {}

}  // namespace syncws

namespace syncws::core {

namespace {

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::size_t key_bytes = 16;

// --- Small lexical helpers (RFC 9110 §5.6) --------------------------------------------------

bool is_tchar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string quoted(std::string_view text) {
    return "\"" + shorten(text, max_quoted) + "\"";
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += separator;
        out += item;
    }
    return out;
}

// Every field with this name, as a peer would read them combined: "Name: a, b".
std::string show_field(const http_headers& headers, std::string_view name) {
    std::string value;
    for (const auto v : headers.get_all(name)) {
        if (!value.empty()) value += ", ";
        value += v;
        if (value.size() > max_quoted) break;
    }
    return std::string(name) + ": " + shorten(value, max_quoted);
}

// --- Sec-WebSocket-Extensions (RFC 6455 §9.1) -----------------------------------------------
//
//   extension = token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] )
//
// http_headers::list() splits a field into elements at the commas outside quoted strings;
// this checks one element's syntax in one pass, so a megabyte of hostile input costs linear
// time. Elements are kept as written: the extension itself reads its parameters, through
// parse_extension_element, which runs this same checker so that both accept one language.
class extension_element_checker {
public:
    // parsed, when given, receives the name and the parameters as they are read.
    explicit extension_element_checker(std::string_view element,
                                       extension_element* parsed = nullptr)
        : s_(element), parsed_(parsed) {}

    // What is wrong with the element, or "" when it is well formed.
    std::string check() {
        const std::string_view name = token();
        if (name.empty()) return unexpected("an extension name");
        if (parsed_) parsed_->name = std::string(name);
        skip_ows();
        while (!at_end() && peek() == ';') {
            ++pos_;
            skip_ows();
            const std::string_view parameter = token();
            if (parameter.empty()) return unexpected("a parameter name after ';'");
            skip_ows();
            if (at_end() || peek() != '=') {
                record(parameter, std::nullopt);
                continue;
            }
            ++pos_;
            skip_ows();
            const std::size_t value_start = pos_;
            if (!at_end() && peek() == '"') {
                if (!quoted_string()) return "unterminated quoted string in " + quoted(s_);
            } else if (token().empty()) {
                return unexpected("a parameter value after '='");
            }
            record(parameter, s_.substr(value_start, pos_ - value_start));
            skip_ows();
        }
        return at_end() ? std::string() : unexpected("';' or the end of the element");
    }

private:
    bool at_end() const { return pos_ == s_.size(); }
    char peek() const { return s_[pos_]; }

    void skip_ows() {
        while (!at_end() && is_ows(peek())) ++pos_;
    }

    std::string_view token() {
        const std::size_t start = pos_;
        while (!at_end() && is_tchar(peek())) ++pos_;
        return s_.substr(start, pos_ - start);
    }

    // At the opening quote; leaves pos_ after the closing one. RFC 9110 §5.6.4: a backslash
    // escapes the next character, so \" does not close the string.
    bool quoted_string() {
        ++pos_;
        while (!at_end()) {
            const char c = s_[pos_++];
            if (c == '"') return true;
            if (c == '\\') {
                if (at_end()) return false;
                ++pos_;
            }
        }
        return false;
    }

    // When parsing: a parameter and its value as written, a token or a well-formed quoted
    // string (stored without its quotes and escapes). Checking alone copies nothing.
    void record(std::string_view name, std::optional<std::string_view> written) {
        if (!parsed_) return;
        std::optional<std::string> value;
        if (written) value = written->front() == '"' ? unquote(*written) : std::string(*written);
        parsed_->parameters.emplace_back(std::string(name), std::move(value));
    }

    static std::string unquote(std::string_view written) {
        std::string text;
        for (std::size_t i = 1; i + 1 < written.size(); ++i) {
            if (written[i] == '\\') ++i;
            text += written[i];
        }
        return text;
    }

    std::string unexpected(std::string_view expected) const {
        const std::string found = at_end() ? "the end" : quoted(s_.substr(pos_, 1));
        return "expected " + std::string(expected) + " but found " + found + " at offset " +
               std::to_string(pos_) + " of " + quoted(s_);
    }

    std::string_view s_;
    std::size_t pos_ = 0;
    extension_element* parsed_;
};

std::string check_extension_element(std::string_view element) {
    return extension_element_checker(element).check();
}

// The extension name of a well-formed element: the token it starts with.
std::string_view extension_name(std::string_view element) {
    std::size_t n = 0;
    while (n < element.size() && is_tchar(element[n])) ++n;
    return element.substr(0, n);
}

// Every element of every Sec-WebSocket-Extensions field, or what is wrong with them.
std::string split_extension_fields(const http_headers& headers,
                                   std::vector<std::string_view>& out) {
    for (const auto element : headers.list("Sec-WebSocket-Extensions")) {
        const std::string problem = check_extension_element(element);
        if (!problem.empty()) return "malformed Sec-WebSocket-Extensions header: " + problem;
        out.push_back(element);
    }
    return {};
}

// Client-side failures have no status to answer with (invalid_handshake's convention).
[[noreturn]] void fail_client(const std::string& what) { throw invalid_handshake(what, 0); }

[[noreturn]] void fail_server(const std::string& what, int status) {
    throw invalid_handshake(what, status);
}

// "HTTP/1.1" and later. The request parser already refused anything but "HTTP/" DIGIT "."
// DIGIT, but a request may also be built by hand.
bool is_http_1_1_or_later(std::string_view version) {
    const auto digit = [&](std::size_t i) { return version[i] >= '0' && version[i] <= '9'; };
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !digit(5) || version[6] != '.' ||
        !digit(7))
        return false;
    return version[5] > '1' || (version[5] == '1' && version[7] >= '1');
}

void check_client_config(const client_handshake_config& config) {
    const auto& protocols = config.subprotocols;
    for (auto it = protocols.begin(); it != protocols.end(); ++it) {
        // RFC 6455 §4.1: tokens, and all unique.
        if (!is_token(*it))
            fail_client("cannot offer subprotocol " + quoted(*it) +
                        ": a subprotocol must be a non-empty token (no spaces, commas, quotes); "
                        "list several subprotocols as separate entries");
        if (std::find(protocols.begin(), it, *it) != it)
            fail_client("cannot offer subprotocol " + quoted(*it) + " twice");
    }
    for (const auto& offer : config.extension_offers) {
        const std::string problem = check_extension_element(offer);
        if (!problem.empty())
            fail_client("cannot offer extension " + quoted(offer) + ": " + problem +
                        " (list several offers as separate entries)");
    }
}

void add_basic_authorization(const uri& target, http_headers& headers) {
    if (target.user_info.empty()) return;
    const std::string username = target.username();
    // RFC 7617 §2: the user-id ends at the first colon, so it cannot contain one.
    if (username.find(':') != std::string::npos)
        throw invalid_uri("the user name " + quoted(username) +
                          " in the URI contains ':', which HTTP Basic authentication cannot "
                          "carry");
    headers.add("Authorization", "Basic " + base64_encode(username + ":" + target.password()));
}

void check_upgrade_response(const http_headers& headers) {
    const auto upgrade = headers.list("Upgrade");
    if (upgrade.empty())
        fail_client("the server's 101 response has no Upgrade header; expected Upgrade: websocket");
    // The server names the one protocol it switched to (RFC 9110 §7.8).
    if (upgrade.size() != 1 || !iequals(upgrade.front(), "websocket"))
        fail_client("the server's 101 response switches to " + show_field(headers, "Upgrade") +
                    ", expected Upgrade: websocket");
    if (!headers.contains("Connection"))
        fail_client("the server's 101 response has no Connection header; expected "
                    "Connection: Upgrade");
    if (!headers.has_token("Connection", "upgrade"))
        fail_client("the server's 101 response has " + show_field(headers, "Connection") +
                    " without the upgrade token; expected Connection: Upgrade");
}

void check_accept(const http_headers& headers, std::string_view key) {
    const auto values = headers.get_all("Sec-WebSocket-Accept");
    if (values.empty())
        fail_client("the server's 101 response has no Sec-WebSocket-Accept header; it may not "
                    "be a WebSocket server");
    if (values.size() > 1)
        fail_client("the server's 101 response has " + std::to_string(values.size()) +
                    " Sec-WebSocket-Accept headers; expected one");
    const std::string expected = accept_key(key);
    if (values.front() != expected)
        fail_client("the server's Sec-WebSocket-Accept is " + quoted(values.front()) +
                    " but the key " + quoted(key) + " calls for " + quoted(expected) +
                    "; the server, or a proxy in between, got the handshake wrong");
}

std::optional<std::string> check_subprotocol(const http_headers& headers,
                                             const std::vector<std::string>& offered) {
    const auto chosen = headers.list("Sec-WebSocket-Protocol");
    if (chosen.empty()) return std::nullopt;
    if (chosen.size() > 1)
        fail_client("the server selected several subprotocols (" +
                    show_field(headers, "Sec-WebSocket-Protocol") + "); it may select one");
    const std::string_view name = chosen.front();
    if (offered.empty())
        fail_client("the server selected subprotocol " + quoted(name) +
                    " but the client offered none");
    if (std::find(offered.begin(), offered.end(), name) == offered.end())
        fail_client("the server selected subprotocol " + quoted(name) +
                    ", which the client did not offer (offered: " + join(offered, ", ") + ")");
    return std::string(name);
}

std::vector<std::string> check_extensions(const http_headers& headers,
                                          const std::vector<std::string>& offers) {
    std::vector<std::string_view> elements;
    const std::string problem = split_extension_fields(headers, elements);
    if (!problem.empty()) fail_client("the server's 101 response has a " + problem);

    std::vector<std::string_view> offered_names;
    for (const auto& offer : offers) offered_names.push_back(extension_name(offer));

    std::vector<std::string> accepted;
    accepted.reserve(elements.size());
    for (const auto element : elements) {
        const std::string_view name = extension_name(element);
        if (offered_names.empty())
            fail_client("the server accepted extension " + quoted(name) +
                        " but the client offered none");
        if (std::find(offered_names.begin(), offered_names.end(), name) == offered_names.end())
            fail_client("the server accepted extension " + quoted(name) +
                        ", which the client did not offer (offered: " + join(offers, ", ") + ")");
        accepted.emplace_back(element);
    }
    return accepted;
}

void check_key(const http_headers& headers) {
    const auto keys = headers.get_all("Sec-WebSocket-Key");
    if (keys.empty()) fail_server("the request has no Sec-WebSocket-Key header", 400);
    if (keys.size() > 1)
        fail_server("the request has " + std::to_string(keys.size()) +
                        " Sec-WebSocket-Key headers; expected exactly one",
                    400);
    const std::string_view key = keys.front();
    if (key.find(',') != std::string_view::npos)
        fail_server("the Sec-WebSocket-Key header holds several values: " + quoted(key) +
                        "; expected exactly one key",
                    400);
    const auto decoded = base64_decode(key);
    if (!decoded)
        fail_server("the Sec-WebSocket-Key " + quoted(key) +
                        " is not base64; it must be 16 random bytes, base64-encoded",
                    400);
    if (decoded->size() != key_bytes)
        fail_server("the Sec-WebSocket-Key " + quoted(key) + " decodes to " +
                        std::to_string(decoded->size()) +
                        " bytes; it must be 16 random bytes, base64-encoded",
                    400);
}

void check_no_body(const http_headers& headers) {
    // Content-Length is 1*DIGIT, so "00" is a zero length too.
    for (const auto length : headers.get_all("Content-Length"))
        if (length.empty() || length.find_first_not_of('0') != std::string_view::npos)
            fail_server("a WebSocket handshake request has no body, but this one has " +
                            show_field(headers, "Content-Length"),
                        400);
    if (headers.contains("Transfer-Encoding"))
        fail_server("a WebSocket handshake request has no body, but this one has " +
                        show_field(headers, "Transfer-Encoding"),
                    400);
}

std::optional<std::string> check_origin(const http_headers& headers,
                                        const std::vector<std::string>& allowed) {
    const std::size_t count = headers.count("Origin");
    if (count > 1)
        fail_server("the request has " + std::to_string(count) + " Origin headers; expected one",
                    400);
    std::optional<std::string> origin;
    if (count == 1) origin = std::string(*headers.get("Origin"));
    if (allowed.empty()) return origin;
    // Origins are compared exactly: browsers send them serialized in lower case.
    // The entry "" stands for a request without Origin.
    if (std::find(allowed.begin(), allowed.end(), origin.value_or("")) == allowed.end()) {
        if (!origin)
            fail_server("requests without an Origin header are not allowed here; add \"\" to "
                        "the allowed origins to accept non-browser clients",
                        403);
        fail_server("Origin " + quoted(*origin) + " is not allowed", 403);
    }
    return origin;
}

bool is_bodyless_status(int status) { return status < 200 || status == 204 || status == 304; }

}  // namespace

std::string generate_key() {
    std::array<unsigned char, key_bytes> bytes{};
    random_bytes(bytes.data(), bytes.size());
    return base64_encode(
        std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string accept_key(std::string_view key) {
    // Fetched once, and one context per thread reused: EVP_Digest() with EVP_sha1() would
    // make OpenSSL 3 look the algorithm up under its locks, and allocate and free a
    // context, for every handshake.
    static EVP_MD* const sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context(EVP_MD_CTX_new(),
                                                                              &EVP_MD_CTX_free);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (!sha1 || !context || EVP_DigestInit_ex2(context.get(), sha1, nullptr) != 1 ||
        EVP_DigestUpdate(context.get(), key.data(), key.size()) != 1 ||
        EVP_DigestUpdate(context.get(), websocket_guid.data(), websocket_guid.size()) != 1 ||
        EVP_DigestFinal_ex(context.get(), digest.data(), &size) != 1)
        throw error("OpenSSL cannot compute SHA-1 (EVP_Digest failed); is the default "
                    "provider available?");
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), size));
}

extension_element parse_extension_element(std::string_view element) {
    extension_element parsed;
    const std::string problem = extension_element_checker(element, &parsed).check();
    if (!problem.empty())
        fail_server("malformed Sec-WebSocket-Extensions element: " + problem, 400);
    return parsed;
}

http_request build_client_request(const uri& target, const client_handshake_config& config,
                                  std::string_view key) {
    check_client_config(config);

    http_request request;
    request.method = "GET";
    request.target = target.resource;
    request.version = "HTTP/1.1";
    auto& headers = request.headers;
    headers.add("Host", target.host_header());
    headers.add("Upgrade", "websocket");
    headers.add("Connection", "Upgrade");
    headers.add("Sec-WebSocket-Key", std::string(key));
    headers.add("Sec-WebSocket-Version", "13");
    if (config.origin) headers.add("Origin", *config.origin);
    if (!config.subprotocols.empty())
        headers.add("Sec-WebSocket-Protocol", join(config.subprotocols, ", "));
    if (!config.extension_offers.empty())
        headers.add("Sec-WebSocket-Extensions", join(config.extension_offers, ", "));
    add_basic_authorization(target, headers);

    // An extra field replaces a generated one of the same name (a bearer token instead of
    // Basic credentials, another Origin), but extra fields repeated among themselves stay.
    for (const auto& [name, value] : config.extra_headers) headers.remove(name);
    for (const auto& [name, value] : config.extra_headers) headers.add(name, value);
    return request;
}

client_handshake_result check_server_response(const http_response& response,
                                              std::string_view key,
                                              const client_handshake_config& config) {
    if (response.status != 101) throw invalid_status(response);
    // In the order of RFC 6455 §4.1, so the first problem is the one reported.
    check_upgrade_response(response.headers);
    check_accept(response.headers, key);
    client_handshake_result result;
    result.extensions = check_extensions(response.headers, config.extension_offers);
    result.subprotocol = check_subprotocol(response.headers, config.subprotocols);
    return result;
}

server_handshake_request check_client_request(const http_request& request,
                                              const server_handshake_config& config) {
    const auto& headers = request.headers;
    if (request.method != "GET")
        fail_server("a WebSocket handshake uses GET, not " + quoted(request.method), 405);
    if (!is_http_1_1_or_later(request.version))
        fail_server("a WebSocket handshake needs HTTP/1.1 or later, not " +
                        quoted(request.version),
                    505);

    const std::size_t hosts = headers.count("Host");
    if (hosts == 0) fail_server("the request has no Host header, which HTTP/1.1 requires", 400);
    if (hosts > 1)
        fail_server("the request has " + std::to_string(hosts) +
                        " Host headers; HTTP/1.1 requires exactly one",
                    400);

    if (!headers.contains("Upgrade"))
        fail_server("this endpoint expects a WebSocket upgrade (Upgrade: websocket) but the "
                    "request has no Upgrade header. Connect with a WebSocket client; a browser "
                    "cannot open ws:// URLs as pages. If a reverse proxy forwards this request, "
                    "configure it to pass the Upgrade and Connection headers.",
                    426);
    if (!headers.has_token("Upgrade", "websocket"))
        fail_server("this endpoint expects a WebSocket upgrade (Upgrade: websocket), not " +
                        show_field(headers, "Upgrade"),
                    426);
    if (!headers.has_token("Connection", "upgrade"))
        fail_server("the request asks for Upgrade: websocket but " +
                        (headers.contains("Connection")
                             ? "its " + show_field(headers, "Connection") +
                                   " lacks the upgrade token"
                             : std::string("has no Connection header")) +
                        "; send Connection: Upgrade. If a reverse proxy forwards this request, "
                        "configure it to pass the Connection header.",
                    426);

    const auto versions = headers.get_all("Sec-WebSocket-Version");
    if (versions.empty())
        fail_server("the request has no Sec-WebSocket-Version header; this server speaks "
                    "WebSocket version 13 (RFC 6455)",
                    426);
    if (versions.size() != 1 || versions.front() != "13")
        fail_server(show_field(headers, "Sec-WebSocket-Version") +
                        " is not supported; this server speaks WebSocket version 13 (RFC 6455)",
                    426);

    check_key(headers);
    check_no_body(headers);

    server_handshake_request result;
    result.origin = check_origin(headers, config.allowed_origins);
    result.key = std::string(*headers.get("Sec-WebSocket-Key"));
    for (const auto protocol : headers.list("Sec-WebSocket-Protocol"))
        result.subprotocols.emplace_back(protocol);

    std::vector<std::string_view> offers;
    const std::string problem = split_extension_fields(headers, offers);
    if (!problem.empty()) fail_server("the request has a " + problem, 400);
    result.extension_offers.assign(offers.begin(), offers.end());
    return result;
}

std::optional<std::string> select_subprotocol(const std::vector<std::string>& offered,
                                              const std::vector<std::string>& supported) {
    for (const auto& protocol : supported)
        if (std::find(offered.begin(), offered.end(), protocol) != offered.end()) return protocol;
    return std::nullopt;
}

http_response build_accept_response(std::string_view key,
                                    const std::optional<std::string>& subprotocol,
                                    const std::vector<std::string>& extensions) {
    http_response response;
    response.status = 101;
    response.reason = std::string(reason_phrase(101));
    auto& headers = response.headers;
    // Room for exactly these fields and a Server field, which servers add: the connection
    // keeps this response.
    headers.reserve(4 + (subprotocol ? 1 : 0) + (extensions.empty() ? 0 : 1));
    headers.add("Upgrade", "websocket");
    headers.add("Connection", "Upgrade");
    headers.add("Sec-WebSocket-Accept", accept_key(key));
    if (subprotocol) headers.add("Sec-WebSocket-Protocol", *subprotocol);
    if (!extensions.empty()) headers.add("Sec-WebSocket-Extensions", join(extensions, ", "));
    return response;
}

http_response build_reject_response(int status, http_headers headers, std::string body) {
    // RFC 9110 §6.4.1, §8.6: these responses end at the head; a Content-Length would describe
    // a body that never comes.
    const bool bodyless = is_bodyless_status(status);
    if (bodyless && !body.empty())
        throw error("an HTTP " + std::to_string(status) + " response cannot carry a body");

    // The server closes the connection after a rejection rather than reading another
    // request, and says so; any options given (Connection: Upgrade for a 426) are kept.
    std::vector<std::string> options;
    for (const auto option : headers.list("Connection")) options.emplace_back(option);
    if (!headers.has_token("Connection", "close")) options.emplace_back("close");
    headers.remove("Connection");
    headers.add("Connection", join(options, ", "));

    if (!body.empty() && !headers.contains("Content-Type"))
        headers.add("Content-Type", "text/plain; charset=utf-8");
    if (!bodyless) {
        // The body is sent whole, so its length is known and no other framing may be claimed.
        headers.remove("Transfer-Encoding");
        headers.remove("Content-Length");
        headers.add("Content-Length", std::to_string(body.size()));
    }

    http_response response;
    response.status = status;
    response.reason = std::string(reason_phrase(status));
    response.headers = std::move(headers);
    response.body = std::move(body);
    return response;
}

http_response build_error_response(const invalid_handshake& error) {
    // A client-side error (status 0) passed here by mistake must still yield valid HTTP.
    const int status =
        error.status() >= 400 && error.status() <= 599 ? error.status() : 500;
    http_headers headers;
    if (status == 426) {
        // RFC 9110 §15.5.22 and RFC 6455 §4.4: name the protocol and version to upgrade to.
        headers.add("Upgrade", "websocket");
        headers.add("Sec-WebSocket-Version", "13");
        headers.add("Connection", "Upgrade");
    } else if (status == 405) {
        headers.add("Allow", "GET");
    }
    return build_reject_response(status, std::move(headers), std::string(error.what()) + "\n");
}

}  // namespace syncws::core

#include "syncws/core/http.hpp"

#include "syncws/core/error.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace syncws::core {

using syncws::invalid_argument;

namespace {

using line_kind = detail::http_head_reader::line_kind;
using step = detail::http_head_reader::step;

constexpr char hex_upper[] = "0123456789ABCDEF";

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

char to_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// Control characters other than HTAB, and DEL: never valid in a field value, a reason
// phrase or a request target (RFC 9110 §5.5; RFC 9112 §4).
bool is_ctl(char c) noexcept {
    const auto b = static_cast<unsigned char>(c);
    return (b < 0x20 && c != '\t') || b == 0x7F;
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

std::string byte_name(char c) {
    const auto b = static_cast<unsigned char>(c);
    if (b == 0) return "NUL";
    return std::string("control character 0x") + hex_upper[b >> 4] + hex_upper[b & 0xF];
}

// Peer bytes in an error message: bounded, so that an 8 KiB name does not make an 8 KiB
// message, and with control bytes escaped, so that the message is safe to log.
std::string quoted(std::string_view s) {
    constexpr std::size_t max_shown = 40;
    std::string out = "'";
    for (std::size_t i = 0; i < s.size() && i < max_shown; ++i) {
        const auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x20 || b >= 0x7F) {
            out += "\\x";
            out += hex_upper[b >> 4];
            out += hex_upper[b & 0xF];
        } else {
            out += s[i];
        }
    }
    if (s.size() > max_shown) out += "...";
    return out + "'";
}

const char* line_name(line_kind kind) noexcept {
    switch (kind) {
    case line_kind::request_line: return "request line";
    case line_kind::status_line: return "status line";
    case line_kind::field_line: return "header field line";
    case line_kind::chunk_size: return "chunk size line";
    case line_kind::chunk_end: return "chunk end";
    }
    return "line";
}

std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
    return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max()
                                                           : a + b;
}

// Checks "HTTP/d.d" and then that it is 1.0 or 1.1: other versions are well-formed but not
// spoken here (505), while anything else is not HTTP at all (400).
bool check_version(std::string_view version, std::string& error, int& status) {
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
        version[6] != '.' || !is_digit(version[7])) {
        error = "malformed HTTP version " + quoted(version) + ": expected HTTP/1.1";
        status = 400;
        return false;
    }
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
        error = "unsupported HTTP version " + quoted(version) +
                ": only HTTP/1.1 and HTTP/1.0 are accepted";
        status = 505;
        return false;
    }
    return true;
}

// A field line: name ":" OWS value OWS (RFC 9112 §5). The line has no CR or LF left.
bool parse_field_line(std::string_view line, std::string_view& name, std::string_view& value,
                      std::string& error) {
    if (is_ows(line.front())) {
        error = "obs-fold: a header field line starts with white space (line folding is not "
                "allowed, RFC 9112 §5.2)";
        return false;
    }
    std::size_t i = 0;
    while (i < line.size() && is_tchar(line[i])) ++i;
    if (i == line.size() || (line[i] != ':' && line.find(':', i) == std::string_view::npos)) {
        error = "header field line has no colon: " + quoted(line);
        return false;
    }
    if (line[i] != ':') {
        if (is_ows(line[i]))
            error = "white space between the field name and the colon in " + quoted(line) +
                    " (RFC 9112 §5.1)";
        else
            error = "invalid character " + quoted(line.substr(i, 1)) + " in field name " +
                    quoted(line.substr(0, i)) + ": field names are tokens";
        return false;
    }
    if (i == 0) {
        error = "empty field name in " + quoted(line);
        return false;
    }
    name = line.substr(0, i);
    value = trim_ows(line.substr(i + 1));
    for (const char c : value) {
        if (is_ctl(c)) {
            error = byte_name(c) + " in the value of field " + quoted(name);
            return false;
        }
    }
    return true;
}

// Parses Content-Length per RFC 9110 §8.6: repeated fields and list forms ("5, 5") are
// accepted only when every value is the same. Values are compared without leading zeros and
// saturate at SIZE_MAX, which is over any body limit.
bool parse_content_length(const http_headers& headers, std::size_t& length, std::string& error) {
    std::string_view first;
    bool any = false;
    for (const std::string_view element : headers.list("Content-Length")) {
        if (!std::all_of(element.begin(), element.end(), is_digit)) {
            error = "invalid Content-Length " + quoted(element) + ": expected decimal digits";
            return false;
        }
        std::string_view digits = element;
        while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
        if (any && digits != first) {
            error = "conflicting Content-Length values " + quoted(first) + " and " +
                    quoted(digits);
            return false;
        }
        first = digits;
        any = true;
    }
    if (!any) {
        error = "invalid Content-Length '': expected decimal digits";
        return false;
    }
    length = 0;
    for (const char c : first) {
        const auto digit = static_cast<std::size_t>(c - '0');
        if (length > (std::numeric_limits<std::size_t>::max() - digit) / 10) {
            length = std::numeric_limits<std::size_t>::max();
            break;
        }
        length = length * 10 + digit;
    }
    return true;
}

// The framing rules that keep both ends agreeing on where a message ends (RFC 9112 §6.3).
bool check_framing(const http_headers& headers, bool& has_length, std::size_t& length,
                   std::string& error) {
    has_length = headers.contains("Content-Length");
    if (has_length && headers.contains("Transfer-Encoding")) {
        error = "both Content-Length and Transfer-Encoding are present (RFC 9112 §6.3: a "
                "request smuggling risk)";
        return false;
    }
    return !has_length || parse_content_length(headers, length, error);
}

template <class Fn>
bool for_each_list_element(std::string_view value, Fn&& fn) {
    // One pass: a quote opens a quoted-string in which commas do not split and a backslash
    // escapes the next byte (RFC 9110 §5.6.4). An unclosed quote runs to the end.
    std::size_t start = 0;
    bool in_quotes = false;
    for (std::size_t i = 0; i <= value.size(); ++i) {
        if (i < value.size()) {
            const char c = value[i];
            if (in_quotes) {
                if (c == '\\' && i + 1 < value.size())
                    ++i;
                else if (c == '"')
                    in_quotes = false;
                continue;
            }
            if (c == '"') in_quotes = true;
            if (c != ',') continue;
        }
        const std::string_view element = trim_ows(value.substr(start, i - start));
        if (!element.empty() && fn(element)) return true;
        start = i + 1;
    }
    return false;
}

void check_serializable_fields(const http_headers& headers) {
    for (const auto& [name, value] : headers) {
        if (!is_token(name))
            throw invalid_argument("HTTP field name " + quoted(name) + " is not a token");
        for (const char c : value)
            if (is_ctl(c))
                throw invalid_argument(byte_name(c) + " in the value of HTTP field " +
                                            quoted(name));
    }
}

void check_serializable_version(std::string_view version) {
    std::string error;
    int status = 0;
    if (!check_version(version, error, status) && status == 400)
        throw invalid_argument(error);
}

void append_fields(std::string& out, const http_headers& headers) {
    for (const auto& [name, value] : headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
}

std::size_t fields_size(const http_headers& headers) {
    std::size_t size = 2;
    for (const auto& [name, value] : headers) size += name.size() + value.size() + 4;
    return size;
}

bool status_has_body(int status) noexcept {
    return !(status < 200 || status == 204 || status == 304);
}

}  // namespace

// --- http_headers -----------------------------------------------------------------------

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    return true;
}

void http_headers::add(std::string name, std::string value) {
    // A handshake carries a handful of fields: one allocation rather than four.
    if (fields_.capacity() == 0) fields_.reserve(8);
    fields_.emplace_back(std::move(name), std::move(value));
}

void http_headers::set(std::string name, std::string value) {
    const auto matches = [&name](const field& f) { return iequals(f.first, name); };
    const auto first = std::find_if(fields_.begin(), fields_.end(), matches);
    if (first == fields_.end()) {
        add(std::move(name), std::move(value));
        return;
    }
    fields_.erase(std::remove_if(first + 1, fields_.end(), matches), fields_.end());
    first->first = std::move(name);
    first->second = std::move(value);
}

void http_headers::remove(std::string_view name) {
    fields_.erase(std::remove_if(fields_.begin(), fields_.end(),
                                 [name](const field& f) { return iequals(f.first, name); }),
                  fields_.end());
}

std::optional<std::string_view> http_headers::get(std::string_view name) const {
    for (const auto& [n, v] : fields_)
        if (iequals(n, name)) return std::string_view(v);
    return std::nullopt;
}

std::vector<std::string_view> http_headers::get_all(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [n, v] : fields_)
        if (iequals(n, name)) out.emplace_back(v);
    return out;
}

bool http_headers::contains(std::string_view name) const { return get(name).has_value(); }

std::size_t http_headers::count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(
        fields_.begin(), fields_.end(), [name](const field& f) { return iequals(f.first, name); }));
}

std::vector<std::string_view> http_headers::list(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [n, v] : fields_) {
        if (!iequals(n, name)) continue;
        for_each_list_element(v, [&out](std::string_view element) {
            out.push_back(element);
            return false;
        });
    }
    return out;
}

bool http_headers::has_token(std::string_view name, std::string_view token) const {
    for (const auto& [n, v] : fields_) {
        if (!iequals(n, name)) continue;
        if (for_each_list_element(
                v, [token](std::string_view element) { return iequals(element, token); }))
            return true;
    }
    return false;
}

// --- serialization ----------------------------------------------------------------------

std::string http_request::serialize() const {
    if (!is_token(method))
        throw invalid_argument("HTTP method " + quoted(method) + " is not a token");
    if (target.empty())
        throw invalid_argument("empty HTTP request target");
    for (const char c : target)
        if (c == ' ' || is_ctl(c) || c == '\t')
            throw invalid_argument("white space or control character in HTTP request "
                                        "target " + quoted(target));
    check_serializable_version(version);
    check_serializable_fields(headers);

    std::string out;
    out.reserve(method.size() + target.size() + version.size() + 4 + fields_size(headers));
    out += method;
    out += ' ';
    out += target;
    out += ' ';
    out += version;
    out += "\r\n";
    append_fields(out, headers);
    out += "\r\n";
    return out;
}

std::string http_response::serialize() const {
    if (status < 100 || status > 599)
        throw invalid_argument("HTTP status " + std::to_string(status) +
                                    " is outside 100-599");
    for (const char c : reason)
        if (is_ctl(c))
            throw invalid_argument(byte_name(c) + " in HTTP reason phrase");
    if (!body.empty() && !status_has_body(status))
        throw invalid_argument("an HTTP " + std::to_string(status) +
                                    " response cannot have a body");
    check_serializable_version(version);
    check_serializable_fields(headers);

    const std::string_view shown_reason = reason.empty() ? reason_phrase(status) : reason;
    const bool add_length = !body.empty() && !headers.contains("Content-Length") &&
                            !headers.contains("Transfer-Encoding");
    const std::string length = add_length ? std::to_string(body.size()) : std::string();

    std::string out;
    out.reserve(version.size() + 5 + shown_reason.size() + 2 + fields_size(headers) +
                (add_length ? 18 + length.size() : 0) + body.size());
    out += version;
    out += ' ';
    out += std::to_string(status);
    out += ' ';
    out += shown_reason;
    out += "\r\n";
    append_fields(out, headers);
    if (add_length) {
        out += "Content-Length: ";
        out += length;
        out += "\r\n";
    }
    out += "\r\n";
    out += body;
    return out;
}

std::string_view reason_phrase(int status) noexcept {
    // RFC 9110 §15 names, plus the WebDAV and RFC 6585 codes that servers still send.
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "";
    }
}

// --- the shared head reader -------------------------------------------------------------

namespace detail {

http_head_reader::step http_head_reader::read_line(std::string_view data, std::size_t& pos,
                                                   line_kind kind, const http_limits& limits,
                                                   std::string_view& line, std::string& error,
                                                   int& error_status) {
    if (spill_is_line_) {
        spill_.clear();
        spill_is_line_ = false;
    }
    const bool in_head = kind == line_kind::request_line || kind == line_kind::status_line ||
                         kind == line_kind::field_line;
    const std::size_t max_content = kind == line_kind::chunk_end ? 0 : limits.max_line_bytes;
    const auto fail = [&](std::string message) {
        error = kind == line_kind::chunk_end ? "chunk data not followed by CRLF"
                                             : std::move(message);
        error_status = kind == line_kind::request_line ? 414 : 431;
        return step::failed;
    };

    // The most bytes this line may take, CRLF included: a line limit, or what is left of the
    // head. Searching no further than that is what bounds the spill buffer.
    std::size_t window = saturating_add(max_content, 2);
    bool head_bound = false;
    if (in_head && limits.max_head_bytes - section_bytes_ < window) {
        window = limits.max_head_bytes - section_bytes_;
        head_bound = true;
    }
    const std::size_t too_long_at = window - spill_.size();  // spill_ < window, see below

    const std::size_t available = data.size() - pos;
    const std::size_t searched = std::min(available, too_long_at);
    const void* lf = searched == 0 ? nullptr : std::memchr(data.data() + pos, '\n', searched);
    if (lf == nullptr) {
        if (available < too_long_at) {
            spill_.append(data.substr(pos));  // stays shorter than window
            pos = data.size();
            return step::need_more;
        }
        pos += too_long_at;
        if (head_bound && kind == line_kind::request_line)
            return fail("request line is longer than " + std::to_string(limits.max_head_bytes) +
                        " bytes (max_head_bytes)");
        if (head_bound)
            return fail("header section is larger than " +
                        std::to_string(limits.max_head_bytes) + " bytes (max_head_bytes)");
        return fail(std::string(line_name(kind)) + " is longer than " +
                    std::to_string(max_content) + " bytes (max_line_bytes)");
    }

    const std::size_t length = static_cast<std::size_t>(static_cast<const char*>(lf) -
                                                        (data.data() + pos)) + 1;
    std::string_view whole;
    if (spill_.empty()) {
        whole = data.substr(pos, length);  // the common case: no copy
    } else {
        spill_.append(data.substr(pos, length));
        whole = spill_;
        spill_is_line_ = true;
    }
    pos += length;
    if (in_head) section_bytes_ += whole.size();

    if (whole.size() < 2 || whole[whole.size() - 2] != '\r') {
        error = kind == line_kind::chunk_end
                    ? "chunk data not followed by CRLF"
                    : std::string("bare LF (LF without CR) ends a ") + line_name(kind);
        error_status = 400;
        return step::failed;
    }
    line = whole.substr(0, whole.size() - 2);
    if (std::memchr(line.data(), '\r', line.size()) != nullptr) {
        error = std::string("bare CR (CR not followed by LF) in a ") + line_name(kind);
        error_status = 400;
        return step::failed;
    }
    // No length check is left to do: the LF was found within max_content + 2 bytes and a CR
    // precedes it, so the line fits.
    return step::line;
}

http_head_reader::step http_head_reader::read_fields(std::string_view data, std::size_t& pos,
                                                     http_headers* headers,
                                                     const http_limits& limits,
                                                     std::string& error, int& error_status) {
    // The head has usually arrived whole: its line count makes the fields one allocation of
    // the right size, kept as long as the connection (bounded, the input is the peer's).
    if (headers != nullptr && field_count_ == 0 && headers->empty()) {
        std::string_view rest = data.substr(pos);
        // A head without fields ends right here; otherwise its fields end at a blank line.
        const bool no_fields = rest.substr(0, 2) == "\r\n" || rest.substr(0, 1) == "\n";
        rest = rest.substr(0, rest.find("\r\n\r\n"));
        const auto lines = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '\n')) + 1;
        if (!no_fields) headers->reserve(std::min(lines, limits.max_headers));
    }
    for (;;) {
        std::string_view line;
        const step s = read_line(data, pos, line_kind::field_line, limits, line, error,
                                 error_status);
        if (s != step::line) return s;
        if (line.empty()) return step::end_of_fields;
        if (field_count_ == limits.max_headers) {
            error = "more than " + std::to_string(limits.max_headers) +
                    " header fields (max_headers)";
            error_status = 431;
            return step::failed;
        }
        std::string_view name;
        std::string_view value;
        if (!parse_field_line(line, name, value, error)) {
            error_status = 400;
            return step::failed;
        }
        ++field_count_;
        if (headers != nullptr) headers->add(std::string(name), std::string(value));
    }
}

void http_head_reader::start_section() noexcept {
    section_bytes_ = 0;
    field_count_ = 0;
}

}  // namespace detail

// --- request parser ---------------------------------------------------------------------

http_request_parser::http_request_parser(http_limits limits) : limits_(limits) {
    // Parsed fields replace the defaults, which describe a request to send.
    request_.method.clear();
    request_.target.clear();
    request_.version.clear();
}

parse_status http_request_parser::feed(std::string_view data, std::size_t* consumed) {
    std::size_t pos = 0;
    const parse_status status = run(data, pos);
    if (consumed != nullptr) *consumed = pos;
    return status;
}

parse_status http_request_parser::run(std::string_view data, std::size_t& pos) {
    switch (state_) {
    case state::request_line: {
        std::string_view line;
        const step s = head_.read_line(data, pos, line_kind::request_line, limits_, line, error_,
                                       error_status_);
        if (s == step::need_more) return parse_status::need_more;
        if (s == step::failed || !parse_request_line(line)) {
            state_ = state::failed;
            return parse_status::failed;
        }
        state_ = state::fields;
        [[fallthrough]];
    }
    case state::fields: {
        const step s = head_.read_fields(data, pos, &request_.headers, limits_, error_,
                                         error_status_);
        if (s == step::need_more) return parse_status::need_more;
        bool has_length = false;
        std::size_t length = 0;
        if (s == step::failed || !check_framing(request_.headers, has_length, length, error_)) {
            if (s != step::failed) error_status_ = 400;
            state_ = state::failed;
            return parse_status::failed;
        }
        state_ = state::done;
        return parse_status::done;
    }
    case state::done:
        return parse_status::done;
    case state::failed:
        return parse_status::failed;
    }
    return parse_status::failed;
}

bool http_request_parser::parse_request_line(std::string_view line) {
    // method SP request-target SP HTTP-version, single spaces (RFC 9112 §3).
    const auto reject = [this](std::string message) {
        error_ = std::move(message);
        error_status_ = 400;
        return false;
    };
    if (line.empty()) return reject("empty request line: expected 'GET /path HTTP/1.1'");
    const std::size_t sp1 = line.find(' ');
    const std::string_view method = line.substr(0, sp1);
    if (method.empty()) return reject("empty method: the request line starts with white space");
    if (!is_token(method))
        return reject("invalid method " + quoted(method) + ": methods are tokens");
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos)
        return reject("malformed request line " + quoted(line) +
                      ": expected 'METHOD target HTTP/1.1'");
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target.empty()) return reject("empty request target (two spaces after the method)");
    for (const char c : target)
        if (is_ctl(c) || c == '\t') return reject(byte_name(c) + " in the request target");
    const std::string_view version = line.substr(sp2 + 1);
    if (version.find(' ') != std::string_view::npos)
        return reject("more than two spaces in the request line (white space is not allowed "
                      "in the request target): " + quoted(line));
    if (!check_version(version, error_, error_status_)) return false;
    request_.method = method;
    request_.target = target;
    request_.version = version;
    return true;
}

// --- response parser --------------------------------------------------------------------

http_response_parser::http_response_parser(http_limits limits) : limits_(limits) {
    response_.version.clear();
}

parse_status http_response_parser::feed(std::string_view data, std::size_t* consumed) {
    std::size_t pos = 0;
    const parse_status status = run(data, pos);
    if (consumed != nullptr) *consumed = pos;
    return status;
}

parse_status http_response_parser::fail() {
    state_ = state::failed;
    return parse_status::failed;
}

parse_status http_response_parser::fail(std::string message) {
    error_ = std::move(message);
    return fail();
}

parse_status http_response_parser::run(std::string_view data, std::size_t& pos) {
    // Each state either returns or moves on; a state is re-entered only with new input.
    for (;;) {
        switch (state_) {
        case state::status_line: {
            std::string_view line;
            const step s = head_.read_line(data, pos, line_kind::status_line, limits_, line,
                                           error_, error_status_);
            if (s == step::need_more) return parse_status::need_more;
            if (s == step::failed || !parse_status_line(line)) return fail();
            state_ = state::fields;
            break;
        }
        case state::fields: {
            const step s = head_.read_fields(data, pos, &response_.headers, limits_, error_,
                                             error_status_);
            if (s == step::need_more) return parse_status::need_more;
            if (s == step::failed || !start_body()) return fail();
            break;
        }
        case state::body_length:
        case state::chunk_data: {
            const std::size_t take = std::min(remaining_, data.size() - pos);
            response_.body.append(data.substr(pos, take));
            pos += take;
            remaining_ -= take;
            if (remaining_ != 0) return parse_status::need_more;
            state_ = state_ == state::body_length ? state::done : state::chunk_end;
            break;
        }
        case state::chunk_size:
        case state::chunk_end: {
            const line_kind kind =
                state_ == state::chunk_size ? line_kind::chunk_size : line_kind::chunk_end;
            std::string_view line;
            const step s = head_.read_line(data, pos, kind, limits_, line, error_, error_status_);
            if (s == step::need_more) return parse_status::need_more;
            if (s == step::failed) return fail();
            if (kind == line_kind::chunk_end) {
                state_ = state::chunk_size;  // the line reader allowed it no content
            } else if (!parse_chunk_size(line)) {
                return fail();
            }
            break;
        }
        case state::trailers: {
            const step s = head_.read_fields(data, pos, nullptr, limits_, error_, error_status_);
            if (s == step::need_more) return parse_status::need_more;
            if (s == step::failed) return fail();
            state_ = state::done;
            break;
        }
        case state::body_until_eof: {
            const std::size_t room = limits_.max_body_bytes - response_.body.size();
            const std::size_t available = data.size() - pos;
            const std::size_t take = std::min(room, available);
            response_.body.append(data.substr(pos, take));
            pos += take;
            if (available > room)
                return fail("response body is larger than " +
                            std::to_string(limits_.max_body_bytes) + " bytes (max_body_bytes)");
            return parse_status::need_more;
        }
        case state::done:
            return parse_status::done;
        case state::failed:
            return parse_status::failed;
        }
    }
}

parse_status http_response_parser::feed_eof() {
    switch (state_) {
    case state::status_line:
    case state::fields:
        return fail(head_.started() || state_ == state::fields
                        ? "connection closed before the end of the response head"
                        : "connection closed before the response head was received");
    case state::body_length:
        return fail("connection closed after " +
                    std::to_string(content_length_ - remaining_) + " of " +
                    std::to_string(content_length_) + " body bytes");
    case state::chunk_size:
    case state::chunk_data:
    case state::chunk_end:
    case state::trailers:
        return fail("connection closed in the middle of the chunked body");
    case state::body_until_eof:
        state_ = state::done;
        return parse_status::done;
    case state::done:
        return parse_status::done;
    case state::failed:
        return parse_status::failed;
    }
    return parse_status::failed;
}

bool http_response_parser::parse_status_line(std::string_view line) {
    // HTTP-version SP 3DIGIT SP [reason] (RFC 9112 §4). A missing final SP is tolerated:
    // servers that send "HTTP/1.1 101" exist, and the reason carries no meaning.
    const std::size_t sp = line.find(' ');
    if (!check_version(line.substr(0, sp), error_, error_status_)) return false;
    if (sp == std::string_view::npos) {
        error_ = "malformed status line " + quoted(line) + ": no status code";
        return false;
    }
    const std::string_view code = line.substr(sp + 1, 3);
    const bool ends_after_code =
        line.size() == sp + 4 || (line.size() > sp + 4 && line[sp + 4] == ' ');
    if (code.size() != 3 || !std::all_of(code.begin(), code.end(), is_digit) || !ends_after_code) {
        error_ = "invalid status code in " + quoted(line) + ": expected three digits";
        return false;
    }
    const int status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (status < 100 || status > 599) {
        error_ = "status code " + std::string(code) + " is outside 100-599";
        return false;
    }
    const std::string_view reason =
        line.size() > sp + 4 ? line.substr(sp + 5) : std::string_view();
    for (const char c : reason) {
        if (is_ctl(c)) {
            error_ = byte_name(c) + " in the reason phrase";
            return false;
        }
    }
    response_.version = line.substr(0, sp);
    response_.status = status;
    response_.reason = reason;
    return true;
}

bool http_response_parser::start_body() {
    const int status = response_.status;
    if (!status_has_body(status)) {
        state_ = state::done;  // RFC 9112 §6.3 rule 1, whatever the fields say
        return true;
    }
    const http_headers& headers = response_.headers;
    bool has_length = false;
    std::size_t length = 0;
    if (!check_framing(headers, has_length, length, error_)) return false;
    if (headers.contains("Transfer-Encoding")) {
        if (response_.version == "HTTP/1.0") {
            error_ = "Transfer-Encoding in an HTTP/1.0 response (RFC 9112 §6.1)";
            return false;
        }
        const auto codings = headers.list("Transfer-Encoding");
        if (codings.size() != 1 || !iequals(codings[0], "chunked")) {
            std::string all;
            for (const auto& value : headers.get_all("Transfer-Encoding"))
                all += (all.empty() ? "" : ", ") + std::string(value);
            error_ = "unsupported Transfer-Encoding " + quoted(all) + ": only chunked is accepted";
            return false;
        }
        state_ = state::chunk_size;
        return true;
    }
    if (has_length) {
        if (length > limits_.max_body_bytes) {
            error_ = "Content-Length " + quoted(*headers.get("Content-Length")) +
                     " is larger than " + std::to_string(limits_.max_body_bytes) +
                     " bytes (max_body_bytes)";
            return false;
        }
        content_length_ = length;
        remaining_ = length;
        state_ = length == 0 ? state::done : state::body_length;
        return true;
    }
    state_ = state::body_until_eof;
    return true;
}

bool http_response_parser::parse_chunk_size(std::string_view line) {
    // chunk-size [ BWS ";" chunk-ext ] (RFC 9112 §7.1). Extensions carry nothing we use, so
    // they are only checked for control characters.
    const std::size_t room = limits_.max_body_bytes - response_.body.size();
    std::size_t size = 0;
    std::size_t i = 0;
    for (; i < line.size(); ++i) {
        const char c = line[i];
        std::size_t digit = 0;
        if (is_digit(c))
            digit = static_cast<std::size_t>(c - '0');
        else if (c >= 'a' && c <= 'f')
            digit = static_cast<std::size_t>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            digit = static_cast<std::size_t>(c - 'A' + 10);
        else
            break;
        if (digit > room || size > (room - digit) / 16) {  // size * 16 + digit > room
            error_ = "chunked body is larger than " + std::to_string(limits_.max_body_bytes) +
                     " bytes (max_body_bytes)";
            return false;
        }
        size = size * 16 + digit;
    }
    std::string_view rest = line.substr(i);
    while (!rest.empty() && is_ows(rest.front())) rest.remove_prefix(1);
    if (i == 0 || (!rest.empty() && rest.front() != ';')) {
        error_ = "invalid chunk size line " + quoted(line) + ": expected hex digits";
        return false;
    }
    for (const char c : rest) {
        if (is_ctl(c)) {
            error_ = byte_name(c) + " in a chunk extension";
            return false;
        }
    }
    if (size == 0) {
        head_.start_section();
        state_ = state::trailers;
    } else {
        remaining_ = size;
        state_ = state::chunk_data;
    }
    return true;
}

}  // namespace syncws::core

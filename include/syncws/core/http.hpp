// HTTP/1.1 request and response heads (RFC 9110, RFC 9112), as needed by the WebSocket
// opening handshake: incremental parsers with limits, and serializers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace syncws::core {

/// Header fields in the order received. Names compare case-insensitively; repeated fields
/// are kept.
class http_headers {
public:
    using field = std::pair<std::string, std::string>;

    /// Appends a field (repeats allowed). The first one makes room for 8, unless reserve()
    /// said how many to expect.
    void add(std::string name, std::string value);
    /// Makes room for n fields: one allocation of the right size, which a connection keeps
    /// for as long as it lives (its handshake's request and response stay readable).
    void reserve(std::size_t n) { fields_.reserve(n); }
    /// Replaces every field with this name by one field.
    void set(std::string name, std::string value);
    /// Removes every field with this name.
    void remove(std::string_view name);

    /// The value of the first field with this name, if any.
    std::optional<std::string_view> get(std::string_view name) const;
    /// The values of every field with this name, in order.
    std::vector<std::string_view> get_all(std::string_view name) const;
    bool contains(std::string_view name) const;
    /// How many fields have this name.
    std::size_t count(std::string_view name) const;

    /// The comma-separated elements of every field with this name, trimmed, empty elements
    /// dropped ("keep-alive, Upgrade" -> {"keep-alive", "Upgrade"}). Commas inside a
    /// quoted-string do not split (RFC 9110 §5.6.4). One pass, linear in the input, because
    /// field values come from the peer. The views point into this object.
    std::vector<std::string_view> list(std::string_view name) const;
    /// True when the comma-separated elements of the fields with this name include token,
    /// compared case-insensitively. Linear in the input and allocation-free.
    bool has_token(std::string_view name, std::string_view token) const;

    std::vector<field>::const_iterator begin() const { return fields_.begin(); }
    std::vector<field>::const_iterator end() const { return fields_.end(); }
    std::size_t size() const { return fields_.size(); }
    bool empty() const { return fields_.empty(); }

private:
    std::vector<field> fields_;
};

/// Case-insensitive ASCII comparison, as HTTP names and tokens need.
/// Thread-safety: pure function.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// An HTTP request head.
struct http_request {
    std::string method = "GET";
    std::string target = "/";
    std::string version = "HTTP/1.1";
    http_headers headers;

    /// The request line, the fields and the empty line, exactly as they go on the wire.
    /// Throws syncws::invalid_argument, rather than write a request that a peer could read
    /// differently, when the method or a field name is not a token, the target is empty or
    /// has white space or control characters, the version is not HTTP/d.d, or a field value
    /// holds CR, LF, NUL or another control character (header injection).
    std::string serialize() const;
};

/// An HTTP response head and, for responses other than 101, its body.
struct http_response {
    int status = 200;
    std::string reason;
    std::string version = "HTTP/1.1";
    http_headers headers;
    std::string body;

    /// Status line, fields, empty line, body. An empty reason is written as
    /// reason_phrase(status). Adds Content-Length when there is a body and no Content-Length
    /// or Transfer-Encoding field was given (an empty body gets none: the message then ends
    /// where the connection does). The body is written as it is, even when a
    /// Transfer-Encoding field was given. Throws syncws::invalid_argument as
    /// http_request::serialize does, and for a status outside 100-599, control characters in
    /// the reason, or a body on a 1xx, 204 or 304 response.
    std::string serialize() const;
};

/// The standard reason phrase for a status code ("Switching Protocols"), or "".
/// Thread-safety: pure function.
std::string_view reason_phrase(int status) noexcept;

/// Limits enforced while parsing, before bytes are buffered beyond them. A line is its bytes
/// without the CRLF; the head counts every byte up to and including the empty line.
struct http_limits {
    std::size_t max_head_bytes = 16 * 1024;   ///< request/status line + fields + CRLFs
    std::size_t max_headers = 128;            ///< number of fields
    std::size_t max_line_bytes = 8 * 1024;    ///< one line, without its CRLF
    std::size_t max_body_bytes = 1024 * 1024; ///< body of a non-101 response
};

/// Outcome of feeding bytes to a parser.
enum class parse_status {
    need_more,  ///< every byte was consumed; feed more
    done,       ///< the message is complete; bytes after it were not consumed
    failed,     ///< malformed or over a limit; see error()
};

namespace detail {

/// The head machinery that the request and response parsers share; not an API. It cuts the
/// stream into CRLF-terminated lines under the line and head limits and reads field lines.
/// A line split across feeds waits in a spill buffer, and the search for its end resumes
/// after the bytes already searched, so no byte is searched twice however the input is cut
/// (a complete line is then checked once), and no more than a line's limit is buffered.
class http_head_reader {
public:
    /// Which line is expected: decides the limits that apply and the words of errors.
    enum class line_kind : unsigned char {
        request_line,  ///< too long: 414
        status_line,
        field_line,    ///< too long: 431; also counts toward max_head_bytes
        chunk_size,    ///< chunked body: size line, limited by max_line_bytes only
        chunk_end,     ///< chunked body: the CRLF after the chunk data
    };
    enum class step : unsigned char {
        need_more,      ///< every byte was consumed
        line,           ///< a line was read
        end_of_fields,  ///< the empty line that ends a field section was read
        failed,         ///< error and error_status were set
    };

    /// Reads the next line from data at pos, moving pos past the bytes consumed. On `line`,
    /// `line` views the line without its CRLF, valid until the next call or until data goes.
    step read_line(std::string_view data, std::size_t& pos, line_kind kind,
                   const http_limits& limits, std::string_view& line, std::string& error,
                   int& error_status);
    /// Reads field lines into headers (or checks and drops them when headers is null) until
    /// the empty line that ends the section.
    step read_fields(std::string_view data, std::size_t& pos, http_headers* headers,
                     const http_limits& limits, std::string& error, int& error_status);
    /// Starts a new field section (chunked trailers): the head byte and field counts restart.
    void start_section() noexcept;
    /// True once any byte of the current section was received.
    bool started() const noexcept { return section_bytes_ != 0 || !spill_.empty(); }

private:
    std::string spill_;              ///< the start of a line whose end has not arrived yet
    std::size_t section_bytes_ = 0;  ///< complete lines of the section, CRLFs included
    std::size_t field_count_ = 0;
    bool spill_is_line_ = false;     ///< the last line returned lives in spill_
};

}  // namespace detail

/// Incremental parser of an HTTP/1.1 request head. Bytes may arrive split anywhere; each byte
/// is examined once, and the outcome does not depend on how the input was split.
/// Lines must end in CRLF: a bare LF is rejected, although RFC 9112 §2.2 allows accepting it,
/// because a head that a proxy in front of us reads differently is a smuggling risk, and
/// WebSocket clients always send CRLF.
/// A request body is not read (the WebSocket handshake has none), but Content-Length and
/// Transfer-Encoding together, or conflicting or invalid Content-Length values, fail (RFC 9112
/// §6.3), so that a server never misreads where a request ends.
/// Errors carry the status a server should answer: 400 (malformed, obs-fold, bare CR,
/// bare LF), 414 (request line too long), 431 (field line, whole head or field count over a
/// limit), 505 (syntactically valid HTTP version other than HTTP/1.1 or HTTP/1.0).
/// Thread-safety: one instance per thread.
class http_request_parser {
public:
    explicit http_request_parser(http_limits limits = {});

    /// Consumes bytes up to the end of the head. Returns how many bytes were consumed in
    /// *consumed: all of them unless the head ended inside data (the rest, such as the first
    /// WebSocket frame, belongs to the caller). On failure, the bytes up to where the error
    /// was found. Once done or failed, consumes nothing and returns the same status.
    parse_status feed(std::string_view data, std::size_t* consumed);

    /// The parsed request, after feed() returned done.
    http_request& request() { return request_; }
    /// What was wrong, after feed() returned failed.
    const std::string& error() const { return error_; }
    /// The HTTP status a server should answer with, after feed() returned failed.
    int error_status() const { return error_status_; }

private:
    enum class state : unsigned char { request_line, fields, done, failed };

    parse_status run(std::string_view data, std::size_t& pos);
    bool parse_request_line(std::string_view line);

    http_limits limits_;
    http_request request_;
    std::string error_;
    int error_status_ = 0;
    detail::http_head_reader head_;
    state state_ = state::request_line;
};

/// Incremental parser of an HTTP/1.1 response: the head, then for a status other than 1xx,
/// 204 and 304 the body, delimited by Content-Length, chunked encoding (extensions ignored,
/// trailers checked and dropped), or the end of the stream. Line rules and limits are those of
/// http_request_parser; the body is held to max_body_bytes, and a declared length or chunk
/// size past it fails at once. Transfer-Encoding other than exactly "chunked", or in an
/// HTTP/1.0 response, fails.
/// Thread-safety: one instance per thread.
class http_response_parser {
public:
    explicit http_response_parser(http_limits limits = {});

    /// As http_request_parser::feed. After a 101 head, parsing stops right after the head.
    parse_status feed(std::string_view data, std::size_t* consumed);
    /// The peer closed the stream: completes a body delimited by the end of the stream, or
    /// fails if the head or a delimited body was cut short.
    parse_status feed_eof();

    http_response& response() { return response_; }
    const std::string& error() const { return error_; }

private:
    enum class state : unsigned char {
        status_line, fields, body_length, chunk_size, chunk_data, chunk_end, trailers,
        body_until_eof, done, failed,
    };

    parse_status run(std::string_view data, std::size_t& pos);
    bool parse_status_line(std::string_view line);
    bool start_body();
    bool parse_chunk_size(std::string_view line);
    parse_status fail();  ///< with error_ already set
    parse_status fail(std::string message);

    http_limits limits_;
    http_response response_;
    std::string error_;
    int error_status_ = 0;  ///< what a server would answer; filled by the shared head code
    detail::http_head_reader head_;
    state state_ = state::status_line;
    std::size_t remaining_ = 0;       ///< bytes still due in a Content-Length body or chunk
    std::size_t content_length_ = 0;  ///< the declared length, for a cut-short error
};

}  // namespace syncws::core

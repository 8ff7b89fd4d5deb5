// HTTP Basic authentication (RFC 7617) on the server side. The client sends credentials
// given in the URI ("ws://user:password@host/") as an Authorization header by itself.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "syncws/core/http.hpp"

namespace syncws {

/// A user name and password taken from an Authorization: Basic header.
struct basic_credentials {
    std::string user;
    std::string password;
};

/// The credentials of a request's Authorization: Basic header, or nothing when the header is
/// missing or repeated, uses another scheme, or is malformed (not canonical base64, no ':',
/// a control character in the user name or password, which RFC 7617 §2 forbids). The scheme
/// name is case-insensitive. The user name ends at the first ':', so the password may hold
/// ':'. Both are returned as the bytes sent: UTF-8 from clients that honour charset="UTF-8",
/// not checked here.
/// Thread-safety: pure function.
std::optional<basic_credentials> parse_basic_authorization(const core::http_request& request);

/// Decides whether a user name and password are valid. Compare secrets with
/// constant_time_equals so that timing does not reveal them.
using credential_check = std::function<bool(std::string_view user, std::string_view password)>;

/// True when a and b are equal, in a time that depends only on their lengths.
/// Thread-safety: pure function.
bool constant_time_equals(std::string_view a, std::string_view b) noexcept;

/// A server_options::process_request hook that lets a request through (returns nothing)
/// when its Basic credentials pass check, and otherwise answers 401 Unauthorized with
/// WWW-Authenticate: Basic realm="...", charset="UTF-8" (RFC 7617) and a one-line body
/// ("credentials required" or "invalid credentials"). If next is given, it is called for
/// requests that passed, and its answer is the hook's. A '"' or '\' in realm is escaped;
/// throws syncws::invalid_argument, when called, for a control character in realm or an
/// empty check. An exception from check or next makes the server answer 500 (and log it).
/// Thread-safety: the returned hook may be called from several worker threads at once, so
/// check and next must be thread-safe.
std::function<std::optional<core::http_response>(const core::http_request&)> basic_auth(
    std::string realm, credential_check check,
    std::function<std::optional<core::http_response>(const core::http_request&)> next = {});

}  // namespace syncws

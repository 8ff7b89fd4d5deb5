// Following HTTP redirects during the opening handshake. Internal.
#pragma once

#include <optional>

#include "syncws/core/http.hpp"
#include "syncws/core/uri.hpp"

namespace syncws::detail {

/// Where a 301, 302, 303, 307 or 308 answer sends the client; nothing for any other status.
/// The Location is resolved against from as RFC 3986 §5.2 says: absolute ws/wss/http/https
/// URLs (http is read as ws, https as wss), scheme-relative ("//host/path"), absolute-path
/// ("/path?q") and relative-path ("../b", "?q") references, dot segments removed; a fragment
/// is dropped (WebSocket URIs have none). Every redirect is followed with GET (there is no
/// other method to keep), so 303 is no different from 307.
/// Credentials in from go along only to the same host and port, or from ws://host (port 80)
/// to wss://host (port 443); a Location that carries its own user info keeps it.
/// Throws invalid_handshake (status 0) for a redirect without a usable Location (missing,
/// empty, repeated, another scheme, not a valid URI), and for one from wss:// to ws:// (a
/// downgrade); messages name both URIs without credentials.
/// Thread-safety: pure function.
std::optional<core::uri> redirect_target(const core::uri& from, const core::http_response& response);

}  // namespace syncws::detail

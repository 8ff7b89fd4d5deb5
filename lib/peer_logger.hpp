// A connection's logger that names its peer. Internal.
#pragma once

#include <string>
#include <utility>

#include "syncws/logger.hpp"

namespace syncws::detail {

/// base (or the default logger), with remote_address filled in on every record that has
/// none: the engine passes only its connection id, and a line without the peer's address is
/// of little use when a proxy or a thousand clients are in the way.
inline logger for_peer(logger base, std::string remote_address) {
    if (remote_address.empty()) return base;
    return [base = std::move(base), remote = std::move(remote_address)](const log_record& record) {
        log_record named = record;
        if (named.remote_address.empty()) named.remote_address = remote;
        base(named);
    };
}

}  // namespace syncws::detail

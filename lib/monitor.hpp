// The one thread per process that keeps connections alive while their application is busy:
// keepalive pings, close deadlines, and reading sockets that nobody waits on. Internal.
#pragma once

#include <memory>

namespace syncws::detail {

class connection_engine;

/// Starts watching an open connection (the monitor thread starts with the first one and
/// stops when none is left). The monitor does not keep the connection alive: it stops
/// watching once the connection is closed or freed. Thread-safety: safe from any thread.
void monitor_connection(const std::shared_ptr<connection_engine>& engine);

}  // namespace syncws::detail

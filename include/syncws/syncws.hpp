// Everything public in syncws.
#pragma once

#include "syncws/auth.hpp"
#include "syncws/client.hpp"
#include "syncws/connection.hpp"
#include "syncws/core/error.hpp"
#include "syncws/core/handshake.hpp"
#include "syncws/logger.hpp"
#include "syncws/message.hpp"
#include "syncws/options.hpp"
#include "syncws/reconnect.hpp"
#include "syncws/server.hpp"
#include "syncws/tls.hpp"
#include "syncws/version.hpp"

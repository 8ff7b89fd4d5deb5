// The library's version (semantic versioning of the public API).
#pragma once

#define SYNCWS_VERSION_MAJOR 0
#define SYNCWS_VERSION_MINOR 1
#define SYNCWS_VERSION_PATCH 0
#define SYNCWS_VERSION "0.1.0"

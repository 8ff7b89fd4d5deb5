# Runs an installed syncwsConfigVersion.cmake the way find_package() does for one request and
# prints the verdict, so that cmake_consumer_test.py can try many requests in a few
# milliseconds each (a real find_package per request would configure a project each time):
#
#   cmake -DVERSION_FILE=.../syncwsConfigVersion.cmake -DREQUEST=0.1 -P find_package_version.cmake
#   -> -- compatible=TRUE exact=FALSE
#
# REQUEST is what find_package(syncws REQUEST) would be given: empty, X[.Y[.Z]], or a range
# X.Y...Z (X.Y...<Z excludes Z). The variables set here are the ones find_package() sets.
cmake_minimum_required(VERSION 3.19)

if(REQUEST MATCHES "^(.+)\\.\\.\\.(<?)(.+)$")
  set(PACKAGE_FIND_VERSION_RANGE "${REQUEST}")
  set(PACKAGE_FIND_VERSION_MIN "${CMAKE_MATCH_1}")
  set(PACKAGE_FIND_VERSION_MAX "${CMAKE_MATCH_3}")
  set(PACKAGE_FIND_VERSION_RANGE_MIN INCLUDE)
  if(CMAKE_MATCH_2)
    set(PACKAGE_FIND_VERSION_RANGE_MAX EXCLUDE)
  else()
    set(PACKAGE_FIND_VERSION_RANGE_MAX INCLUDE)
  endif()
  set(PACKAGE_FIND_VERSION "${PACKAGE_FIND_VERSION_MIN}")
else()
  set(PACKAGE_FIND_VERSION "${REQUEST}")
endif()
set(PACKAGE_FIND_NAME syncws)
# A 64-bit consumer, as the project that finds it would be here.
set(CMAKE_SIZEOF_VOID_P 8)

set(PACKAGE_VERSION_COMPATIBLE FALSE)
set(PACKAGE_VERSION_EXACT FALSE)
include("${VERSION_FILE}")
if(PACKAGE_VERSION_UNSUITABLE)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
message(STATUS "compatible=${PACKAGE_VERSION_COMPATIBLE} exact=${PACKAGE_VERSION_EXACT}")

# FindUnicorn.cmake -- locate Unicorn Engine >= 2.1 and define Unicorn::Unicorn.
#
# Search order
#   1. A system Unicorn (pkg-config hints, then the default find_path /
#      find_library search).  Accepted only if unicorn.h says >= 2.1.
#   2. A project-local prefix given by the cache variable UNICORN_ROOT, e.g. the
#      directory made by
#        python3 -m pip install --no-deps --target <UNICORN_ROOT> unicorn==2.1.4
#      That wheel lays out
#        <UNICORN_ROOT>/unicorn/include/unicorn/unicorn.h
#        <UNICORN_ROOT>/unicorn/lib/libunicorn.so.2   (no unversioned .so)
#        <UNICORN_ROOT>/unicorn/lib/libunicorn.a
#      A plain install prefix (<UNICORN_ROOT>/include, <UNICORN_ROOT>/lib) works too.
#
# Input variables
#   UNICORN_ROOT        (cache PATH)  project-local prefix, searched second.
#   UNICORN_USE_STATIC  (cache BOOL)  link libunicorn.a instead of the shared
#                                     library (default OFF).
#   find_package(Unicorn 2.1.4) may ask for more than the hard minimum 2.1.
#
# Result variables
#   Unicorn_FOUND, Unicorn_VERSION, Unicorn_INCLUDE_DIR, Unicorn_LIBRARY,
#   Unicorn_SOURCE ("system" or "UNICORN_ROOT")
#
# Imported target
#   Unicorn::Unicorn    (include with  #include <unicorn/unicorn.h>)

cmake_minimum_required(VERSION 3.16)  # REASON_FAILURE_MESSAGE

set(UNICORN_ROOT "" CACHE PATH
    "Project-local Unicorn prefix (e.g. a 'pip install --target' dir of the unicorn wheel)")
option(UNICORN_USE_STATIC "Link Unicorn statically (libunicorn.a)" OFF)

set(_uc_min_version "2.1")
if(Unicorn_FIND_VERSION AND Unicorn_FIND_VERSION VERSION_GREATER _uc_min_version)
  set(_uc_min_version "${Unicorn_FIND_VERSION}")
endif()

# Parse UC_API_MAJOR/MINOR/PATCH out of <dir>/unicorn/unicorn.h into <outvar>.
function(_unicorn_header_version incdir outvar)
  set(_hdr "${incdir}/unicorn/unicorn.h")
  set(${outvar} "" PARENT_SCOPE)
  if(NOT EXISTS "${_hdr}")
    return()
  endif()
  file(STRINGS "${_hdr}" _lines REGEX "^#define[ \t]+UC_API_(MAJOR|MINOR|PATCH)[ \t]+[0-9]+")
  set(_maj "")
  set(_min "")
  set(_pat "0")
  foreach(_l IN LISTS _lines)
    if(_l MATCHES "UC_API_MAJOR[ \t]+([0-9]+)")
      set(_maj "${CMAKE_MATCH_1}")
    elseif(_l MATCHES "UC_API_MINOR[ \t]+([0-9]+)")
      set(_min "${CMAKE_MATCH_1}")
    elseif(_l MATCHES "UC_API_PATCH[ \t]+([0-9]+)")
      set(_pat "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(_maj STREQUAL "" OR _min STREQUAL "")
    return()
  endif()
  set(${outvar} "${_maj}.${_min}.${_pat}" PARENT_SCOPE)
endfunction()

# Restrict the suffixes so that a shared search never falls back to
# libunicorn.a (the wheel's lib/ has libunicorn.a but no unversioned .so, so a
# plain NAMES unicorn would silently pick the static archive).
set(_uc_saved_suffixes "${CMAKE_FIND_LIBRARY_SUFFIXES}")
if(UNICORN_USE_STATIC)
  set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
  set(_uc_names unicorn)
else()
  set(CMAKE_FIND_LIBRARY_SUFFIXES .so)
  # The pip wheel ships only libunicorn.so.2; system -dev packages ship libunicorn.so.
  set(_uc_names unicorn libunicorn.so.2)
endif()
# Re-search when the static/shared choice changes.
if(NOT "${UNICORN_USE_STATIC}" STREQUAL "${_UNICORN_STATIC_SEARCHED}")
  unset(UNICORN_SYSTEM_LIBRARY CACHE)
  unset(UNICORN_ROOT_LIBRARY CACHE)
endif()
set(_UNICORN_STATIC_SEARCHED "${UNICORN_USE_STATIC}" CACHE INTERNAL "")

set(Unicorn_SOURCE "")
set(_uc_rejected "")   # "<version> at <dir>" of every too-old Unicorn we saw

# ---- 1. system Unicorn ------------------------------------------------------
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_UNICORN QUIET unicorn)
endif()

find_path(UNICORN_SYSTEM_INCLUDE_DIR unicorn/unicorn.h
  HINTS ${PC_UNICORN_INCLUDEDIR} ${PC_UNICORN_INCLUDE_DIRS}
  NO_PACKAGE_ROOT_PATH)
find_library(UNICORN_SYSTEM_LIBRARY NAMES ${_uc_names}
  HINTS ${PC_UNICORN_LIBDIR} ${PC_UNICORN_LIBRARY_DIRS}
  NO_PACKAGE_ROOT_PATH)
mark_as_advanced(UNICORN_SYSTEM_INCLUDE_DIR UNICORN_SYSTEM_LIBRARY)

if(UNICORN_SYSTEM_INCLUDE_DIR AND UNICORN_SYSTEM_LIBRARY)
  _unicorn_header_version("${UNICORN_SYSTEM_INCLUDE_DIR}" _uc_sys_ver)
  if(_uc_sys_ver AND NOT _uc_sys_ver VERSION_LESS _uc_min_version)
    set(Unicorn_SOURCE "system")
    set(Unicorn_INCLUDE_DIR "${UNICORN_SYSTEM_INCLUDE_DIR}")
    set(Unicorn_LIBRARY "${UNICORN_SYSTEM_LIBRARY}")
    set(Unicorn_VERSION "${_uc_sys_ver}")
  else()
    list(APPEND _uc_rejected "${_uc_sys_ver} at ${UNICORN_SYSTEM_INCLUDE_DIR}")
  endif()
endif()

# ---- 2. project-local prefix (UNICORN_ROOT) ---------------------------------
if(NOT Unicorn_SOURCE AND UNICORN_ROOT)
  # Re-search whenever UNICORN_ROOT changes.
  if(NOT "${UNICORN_ROOT}" STREQUAL "${_UNICORN_ROOT_SEARCHED}")
    unset(UNICORN_ROOT_INCLUDE_DIR CACHE)
    unset(UNICORN_ROOT_LIBRARY CACHE)
  endif()
  set(_UNICORN_ROOT_SEARCHED "${UNICORN_ROOT}" CACHE INTERNAL "")
  find_path(UNICORN_ROOT_INCLUDE_DIR unicorn/unicorn.h
    PATHS "${UNICORN_ROOT}/unicorn/include" "${UNICORN_ROOT}/include"
    NO_DEFAULT_PATH)
  find_library(UNICORN_ROOT_LIBRARY NAMES ${_uc_names}
    PATHS "${UNICORN_ROOT}/unicorn/lib" "${UNICORN_ROOT}/lib"
          "${UNICORN_ROOT}/lib64"
    NO_DEFAULT_PATH)
  mark_as_advanced(UNICORN_ROOT_INCLUDE_DIR UNICORN_ROOT_LIBRARY)
  if(UNICORN_ROOT_INCLUDE_DIR AND UNICORN_ROOT_LIBRARY)
    _unicorn_header_version("${UNICORN_ROOT_INCLUDE_DIR}" _uc_root_ver)
    if(_uc_root_ver AND NOT _uc_root_ver VERSION_LESS _uc_min_version)
      set(Unicorn_SOURCE "UNICORN_ROOT")
      set(Unicorn_INCLUDE_DIR "${UNICORN_ROOT_INCLUDE_DIR}")
      set(Unicorn_LIBRARY "${UNICORN_ROOT_LIBRARY}")
      set(Unicorn_VERSION "${_uc_root_ver}")
    else()
      list(APPEND _uc_rejected "${_uc_root_ver} at ${UNICORN_ROOT_INCLUDE_DIR}")
    endif()
  endif()
endif()

set(CMAKE_FIND_LIBRARY_SUFFIXES "${_uc_saved_suffixes}")

# ---- verdict ----------------------------------------------------------------
set(_uc_reason "")
if(NOT Unicorn_SOURCE)
  list(JOIN _uc_rejected ", " _uc_rejected_text)
  if(_uc_rejected MATCHES "(^|;)2\\.0\\.")
    set(_uc_reason "Unicorn 2.0 forces virtual = physical on x86 and has no TLB-fill hook; need >= 2.1 (found: ${_uc_rejected_text}). ")
  elseif(_uc_rejected)
    set(_uc_reason "Unicorn too old, need >= ${_uc_min_version} (found: ${_uc_rejected_text}). ")
  endif()
  string(APPEND _uc_reason
    "Install Unicorn >= 2.1 project-locally: "
    "python3 -m pip install --no-deps --target <dir> unicorn==2.1.4 "
    "and configure with -DUNICORN_ROOT=<dir>")
  if(NOT UNICORN_ROOT)
    string(APPEND _uc_reason " (UNICORN_ROOT is not set)")
  endif()
  # Let FPHSA see "not found" rather than a stale value.
  set(Unicorn_INCLUDE_DIR "")
  set(Unicorn_LIBRARY "")
endif()

# FPHSA re-splits its arguments on ';', so the reason must not carry one; a
# REQUIRED search fails here with the exact text instead.
if(NOT Unicorn_SOURCE AND Unicorn_FIND_REQUIRED)
  message(FATAL_ERROR "Could NOT find Unicorn >= ${_uc_min_version}: ${_uc_reason}")
endif()
string(REPLACE ";" "," _uc_reason_fphsa "${_uc_reason}")
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Unicorn
  REQUIRED_VARS Unicorn_LIBRARY Unicorn_INCLUDE_DIR
  VERSION_VAR Unicorn_VERSION
  REASON_FAILURE_MESSAGE "${_uc_reason_fphsa}")

if(Unicorn_FOUND AND NOT TARGET Unicorn::Unicorn)
  if(Unicorn_LIBRARY MATCHES "\\.a$")
    add_library(Unicorn::Unicorn STATIC IMPORTED)
    find_package(Threads REQUIRED)
    # libunicorn.a needs libpthread and libm (plus libgcc, which the driver adds).
    set_target_properties(Unicorn::Unicorn PROPERTIES
      INTERFACE_LINK_LIBRARIES "Threads::Threads;m")
  else()
    add_library(Unicorn::Unicorn SHARED IMPORTED)
    get_filename_component(_uc_soname "${Unicorn_LIBRARY}" NAME)
    if(_uc_soname MATCHES "^libunicorn\\.so\\.[0-9]+$")
      set_target_properties(Unicorn::Unicorn PROPERTIES IMPORTED_SONAME "${_uc_soname}")
    endif()
  endif()
  set_target_properties(Unicorn::Unicorn PROPERTIES
    IMPORTED_LOCATION "${Unicorn_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Unicorn_INCLUDE_DIR}")
endif()

if(Unicorn_FOUND AND NOT Unicorn_FIND_QUIETLY)
  message(STATUS "Unicorn ${Unicorn_VERSION} from ${Unicorn_SOURCE}: ${Unicorn_LIBRARY}")
endif()

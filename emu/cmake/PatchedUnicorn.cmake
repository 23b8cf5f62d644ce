# PatchedUnicorn.cmake -- build Unicorn from its PyPI source distribution with the patches in
# emu/unicorn/ (x86 target only), installed into a prefix in the build tree.
#
#   mmuemu_build_patched_unicorn(<version> <sha256 of the sdist> <prefix>)
#
# Needs python3 -m pip (it fetches the sdist from PyPI, the one network access), patch(1) and a C
# compiler. The result is reused while the patches and the version stay the same (a stamp file
# records them); about half a minute of CPU otherwise.
function(mmuemu_build_patched_unicorn version sha256 prefix)
    file(GLOB _patches ${CMAKE_CURRENT_SOURCE_DIR}/unicorn/*.patch)
    list(SORT _patches)
    set(_stamp_text "unicorn ${version}\n")
    foreach(_p IN LISTS _patches)
        file(SHA256 ${_p} _h)
        get_filename_component(_n ${_p} NAME)
        string(APPEND _stamp_text "${_n} ${_h}\n")
    endforeach()
    set(_stamp ${prefix}/mmuemu-patches.stamp)
    if(EXISTS ${_stamp} AND EXISTS ${prefix}/include/unicorn/unicorn.h)
        file(READ ${_stamp} _old)
        if(_old STREQUAL _stamp_text)
            return()
        endif()
    endif()

    set(_work ${prefix}-work)
    file(REMOVE_RECURSE ${prefix} ${_work})
    file(MAKE_DIRECTORY ${_work})
    find_package(Python3 REQUIRED COMPONENTS Interpreter)
    message(STATUS "Downloading the source of Unicorn ${version} from PyPI")
    execute_process(
        COMMAND ${Python3_EXECUTABLE} -m pip download --quiet --disable-pip-version-check
                --no-binary :all: --no-deps --dest ${_work} unicorn==${version}
        RESULT_VARIABLE _r)
    set(_sdist ${_work}/unicorn-${version}.tar.gz)
    if(NOT _r EQUAL 0 OR NOT EXISTS ${_sdist})
        message(FATAL_ERROR "Could not download the source of unicorn==${version} with pip "
                            "(needs python3-pip and access to PyPI); "
                            "-DMMUEMU_PATCHED_UNICORN=OFF uses the prebuilt wheel instead")
    endif()
    file(SHA256 ${_sdist} _got)
    if(NOT _got STREQUAL sha256)
        message(FATAL_ERROR "unicorn-${version}.tar.gz has SHA-256 ${_got}, expected ${sha256}")
    endif()
    file(ARCHIVE_EXTRACT INPUT ${_sdist} DESTINATION ${_work})
    set(_src ${_work}/unicorn-${version})
    foreach(_p IN LISTS _patches)
        execute_process(COMMAND patch -p1 --forward --batch --silent -i ${_p}
                        WORKING_DIRECTORY ${_src} RESULT_VARIABLE _r)
        if(NOT _r EQUAL 0)
            message(FATAL_ERROR "Could not apply ${_p} to Unicorn ${version}")
        endif()
    endforeach()

    cmake_host_system_information(RESULT _cores QUERY NUMBER_OF_LOGICAL_CORES)
    message(STATUS "Building Unicorn ${version} (x86 only) with ${CMAKE_CURRENT_SOURCE_DIR}/unicorn/*.patch")
    execute_process(
        COMMAND ${CMAKE_COMMAND} -S ${_src}/src -B ${_work}/build -DCMAKE_BUILD_TYPE=Release
                -DUNICORN_ARCH=x86 -DUNICORN_BUILD_TESTS=OFF -DUNICORN_LEGACY_STATIC_ARCHIVE=OFF
                -DBUILD_SHARED_LIBS=ON -DUNICORN_INSTALL=ON
                -DCMAKE_INSTALL_PREFIX=${prefix} -DCMAKE_INSTALL_LIBDIR=lib
        OUTPUT_FILE ${_work}/configure.log ERROR_FILE ${_work}/configure.log RESULT_VARIABLE _r)
    if(_r EQUAL 0)
        execute_process(COMMAND ${CMAKE_COMMAND} --build ${_work}/build --parallel ${_cores}
                        OUTPUT_FILE ${_work}/build.log ERROR_FILE ${_work}/build.log RESULT_VARIABLE _r)
    endif()
    if(_r EQUAL 0)
        execute_process(COMMAND ${CMAKE_COMMAND} --install ${_work}/build
                        OUTPUT_QUIET RESULT_VARIABLE _r)
    endif()
    if(NOT _r EQUAL 0 OR NOT EXISTS ${prefix}/include/unicorn/unicorn.h)
        message(FATAL_ERROR "Building Unicorn ${version} failed: see ${_work}/configure.log and ${_work}/build.log")
    endif()
    file(WRITE ${_stamp} "${_stamp_text}")
    file(REMOVE_RECURSE ${_work})
endfunction()

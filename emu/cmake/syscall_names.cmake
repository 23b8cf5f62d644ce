# Generates a C++ table of x86-64 system call names from the kernel's UAPI header (facts the
# build host's linux-libc-dev provides): cmake -DHEADER=... -DOUTPUT=... -P syscall_names.cmake
file(STRINGS "${HEADER}" _defines REGEX "^#define __NR_[a-z0-9_]+ [0-9]+$")
set(_table "// Generated from ${HEADER} by emu/cmake/syscall_names.cmake.\n")
foreach(_line IN LISTS _defines)
    string(REGEX REPLACE "^#define __NR_([a-z0-9_]+) ([0-9]+)$" "    {\\2, \"\\1\"},\n" _entry "${_line}")
    string(APPEND _table "${_entry}")
endforeach()
file(WRITE "${OUTPUT}.tmp" "${_table}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)

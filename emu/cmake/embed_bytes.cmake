# Writes a C++ source holding a file's bytes as an array:
#   cmake -DINPUT=... -DOUTPUT=... -DNAME=... -P embed_bytes.cmake
# defines `extern const unsigned char NAME[]; extern const unsigned long NAME_size;`.
file(READ "${INPUT}" _hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
string(LENGTH "${_hex}" _digits)
math(EXPR _size "${_digits} / 2")
file(WRITE "${OUTPUT}.tmp"
     "// Generated from ${INPUT} by emu/cmake/embed_bytes.cmake.\n"
     "extern const unsigned char ${NAME}[];\nextern const unsigned long ${NAME}_size;\n"
     "const unsigned char ${NAME}[] = {${_bytes}};\nconst unsigned long ${NAME}_size = ${_size};\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)

# catalog.cmake - compiles data/catalog.tsv into the worker, in pure CMake
# (no xxd).  Included from weather-service/CMakeLists.txt it adds a build
# rule and sets TEMPO_CATALOG_C to the generated source; run as
#   cmake -DIN=catalog.tsv -DOUT=catalog_data.c -P catalog.cmake
# it writes the file bytes as a C array, so any UTF-8 or quote in a title
# is carried over verbatim without C escaping.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${IN}" hex HEX)
  string(LENGTH "${hex}" nhex)
  math(EXPR len "${nhex} / 2")
  # 16 bytes a line, then every byte pair as 0xNN.
  string(REPEAT "[0-9a-f]" 32 line16)
  string(REGEX REPLACE "(${line16})" "\\1\n" hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  file(WRITE "${OUT}.tmp"
    "/* Generated from weather-service/data/catalog.tsv; do not edit. */\n"
    "#include <stddef.h>\n"
    "extern const unsigned char catalog__tsv[];\n"
    "extern const size_t catalog__tsv_len;\n"
    "const unsigned char catalog__tsv[] = {\n${bytes}0x00};\n"
    "const size_t catalog__tsv_len = ${len};\n")
  file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
  file(REMOVE "${OUT}.tmp")
  return()
endif()

set(TEMPO_CATALOG_C ${CMAKE_CURRENT_BINARY_DIR}/catalog_data.c)
add_custom_command(OUTPUT ${TEMPO_CATALOG_C}
  COMMAND ${CMAKE_COMMAND}
    -DIN=${CMAKE_CURRENT_SOURCE_DIR}/data/catalog.tsv
    -DOUT=${TEMPO_CATALOG_C}
    -P ${CMAKE_CURRENT_LIST_DIR}/catalog.cmake
  DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/data/catalog.tsv
    ${CMAKE_CURRENT_LIST_DIR}/catalog.cmake
  COMMENT "Embedding the built-in music catalog"
  VERBATIM)

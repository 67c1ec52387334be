# embed.cmake - compiles the files the gateway serves (gateway/web/) into
# the binary, in pure CMake (no xxd), like weather-service's catalog.
# Included from gateway/CMakeLists.txt, tempo_embed_web(<var> <file>...)
# adds one build rule per file and appends the generated sources to <var>;
# run as
#   cmake -DIN=app.js -DOUT=web_app_js.c -DNAME=web__app_js -P embed.cmake
# it writes the file's bytes as a C array NAME (NUL-terminated, the NUL not
# counted in NAME_len) and NAME_etag, a strong HTTP entity tag made of the
# first 128 bits of the file's SHA-256, so the tag changes exactly when the
# content does.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${IN}" hex HEX)
  get_filename_component(base "${IN}" NAME)
  file(SHA256 "${IN}" sha)
  string(SUBSTRING "${sha}" 0 32 tag)
  string(LENGTH "${hex}" nhex)
  math(EXPR len "${nhex} / 2")
  string(REPEAT "[0-9a-f]" 32 line16)
  string(REGEX REPLACE "(${line16})" "\\1\n" hex "${hex}")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  file(WRITE "${OUT}.tmp"
    "/* Generated from gateway/web/${base}; do not edit. */\n"
    "#include <stddef.h>\n"
    "extern const unsigned char ${NAME}[];\n"
    "extern const size_t ${NAME}_len;\n"
    "extern const char ${NAME}_etag[];\n"
    "const unsigned char ${NAME}[] = {\n${bytes}0x00};\n"
    "const size_t ${NAME}_len = ${len};\n"
    "const char ${NAME}_etag[] = \"\\\"${tag}\\\"\";\n")
  file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
  file(REMOVE "${OUT}.tmp")
  return()
endif()

set(TEMPO_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_FILE})

function(tempo_embed_web var)
  set(out_list ${${var}})
  foreach(f ${ARGN})
    string(MAKE_C_IDENTIFIER "${f}" id)
    set(src ${CMAKE_CURRENT_SOURCE_DIR}/web/${f})
    set(out ${CMAKE_CURRENT_BINARY_DIR}/web_${id}.c)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -DIN=${src} -DOUT=${out} -DNAME=web__${id}
        -P ${TEMPO_EMBED_SCRIPT}
      DEPENDS ${src} ${TEMPO_EMBED_SCRIPT}
      COMMENT "Embedding gateway/web/${f}"
      VERBATIM)
    list(APPEND out_list ${out})
  endforeach()
  set(${var} ${out_list} PARENT_SCOPE)
endfunction()

# Symbol hygiene of the installed libraries: every global symbol that
# libattn.a, libattn.so and libattnrt.a define carries the attn_ prefix, so
# that none can clash with a user's (docs/API.md). The internals are hidden
# (-fvisibility=hidden) and, in the archives, made local (attn_archive in
# CMakeLists.txt).
# Usage: cmake -DNM=<nm> -DLIBS="<lib>|<lib>..." -P check_symbols.cmake
cmake_minimum_required(VERSION 3.20)
string(REPLACE "|" ";" libs "${LIBS}")
set(failures "")
foreach(lib IN LISTS libs)
  set(dynamic "")
  if(lib MATCHES "\\.so")
    set(dynamic --dynamic)
  endif()
  execute_process(COMMAND ${NM} ${dynamic} --defined-only --extern-only --format=posix ${lib}
                  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${lib}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  set(count 0)
  foreach(line IN LISTS lines)
    # "name type value size"; archive member headers end in ':'
    if(line STREQUAL "" OR line MATCHES ":$")
      continue()
    endif()
    string(REGEX REPLACE " .*" "" name "${line}")
    # the linker's own markers of a shared library's segments
    if(dynamic AND name MATCHES "^(__bss_start|_edata|_end)$")
      continue()
    endif()
    math(EXPR count "${count} + 1")
    if(NOT name MATCHES "^attn_")
      string(APPEND failures "  ${lib}: ${line}\n")
    endif()
  endforeach()
  get_filename_component(base ${lib} NAME)
  message("${base}: ${count} global symbols")
  if(count EQUAL 0)
    string(APPEND failures "  ${lib}: no global symbol at all\n")
  endif()
endforeach()
if(failures)
  message(FATAL_ERROR "global symbols without the attn_ prefix:\n${failures}")
endif()
message("symbols ok")

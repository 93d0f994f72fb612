# check_help.cmake — every line of `attnc help` and of `attnc help COMMAND`,
# for each command `attnc help` lists, fits 80 columns.
#
#   cmake -DATTNC=... -P check_help.cmake

# Fails unless every line of text (the output of `what`) is at most 80 columns.
function(check_width what text)
  string(REPLACE "\n" ";" lines "${text}")
  foreach(line IN LISTS lines)
    string(LENGTH "${line}" n)
    if(n GREATER 80)
      message(FATAL_ERROR "${what}: a line of ${n} columns:\n${line}")
    endif()
  endforeach()
endfunction()

execute_process(COMMAND ${ATTNC} help RESULT_VARIABLE rc OUTPUT_VARIABLE top)
if(NOT rc EQUAL 0 OR NOT top MATCHES "\nCommands:\n")
  message(FATAL_ERROR "attnc help (${rc}):\n${top}")
endif()
check_width("attnc help" "${top}")

string(REGEX REPLACE ".*\nCommands:\n" "" listed "${top}")
string(REGEX REPLACE "\n\n.*" "" listed "${listed}")
string(REPLACE "\n" ";" listed "${listed}")
set(count 0)
foreach(line IN LISTS listed)
  string(REGEX REPLACE "^  ([a-z]+) .*" "\\1" name "${line}")
  if(name STREQUAL "help")
    continue()
  endif()
  execute_process(COMMAND ${ATTNC} help ${name} RESULT_VARIABLE rc OUTPUT_VARIABLE text)
  if(NOT rc EQUAL 0 OR NOT text MATCHES "^usage: attnc ${name} ")
    message(FATAL_ERROR "attnc help ${name} (${rc}):\n${text}")
  endif()
  check_width("attnc help ${name}" "${text}")
  math(EXPR count "${count} + 1")
endforeach()
if(count LESS 5)
  message(FATAL_ERROR "attnc help lists ${count} commands:\n${top}")
endif()
message(STATUS "attnc help and the help of ${count} commands fit 80 columns")

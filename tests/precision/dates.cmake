# translate_dates on the held-out dates of its training script
# (tests/precision/dates_heldout.txt, one per line) with the weights stored as
# DTYPE: every answer must equal the expected one (dates_heldout_expected.txt,
# which the fp32 model also gives), so greedy tokens equal fp32's.
#
#   cmake -DRUN=translate_dates -DSRC=... -DDTYPE=int8 -DOUT=file -P dates.cmake
execute_process(
  COMMAND ${RUN} --dir ${SRC}/examples/translate_dates --models ${SRC}/models --no-heatmap --weights-dtype ${DTYPE}
  INPUT_FILE ${SRC}/tests/precision/dates_heldout.txt
  OUTPUT_FILE ${OUT}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "translate_dates --weights-dtype ${DTYPE} failed (${rc})")
endif()
file(STRINGS ${OUT} got)
file(STRINGS ${SRC}/tests/precision/dates_heldout_expected.txt want)
list(LENGTH want n)
list(LENGTH got ngot)
if(NOT ngot EQUAL n)
  message(FATAL_ERROR "translate_dates printed ${ngot} lines for ${n} dates")
endif()
math(EXPR last "${n} - 1")
set(wrong 0)
foreach(i RANGE 0 ${last})
  list(GET got ${i} g)
  list(GET want ${i} w)
  if(NOT g STREQUAL w)
    math(EXPR wrong "${wrong} + 1")
    message("wrong: ${g} (expected: ${w})")
  endif()
endforeach()
if(wrong GREATER 0)
  message(FATAL_ERROR "${wrong} of ${n} held-out dates wrong with ${DTYPE} weights")
endif()
message("all ${n} held-out dates right with ${DTYPE} weights")

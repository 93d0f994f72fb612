# check_stats.cmake — `attnc run --stats` on a zoo model with the fixtures of a
# golden case: checks the format of the statistics and of the peak RSS line,
# that the run's workspace with reuse is smaller than without (WANT_REUSE),
# and, for models with a scan (WANT_STEPS), that kernel calls outnumber kernels;
# the weights held per storage dtype (WANT_BF16: run with --weights-dtype bf16 in ARGS),
# the model's weight data (the fixtures are aligned F32 files: read in place, never
# copied) and the RSS after compiling.
#
#   cmake -DATTNC=... -DSRC=... -DMODEL=models/x.attn -DCASE=name
#         "-DARGS=--entry;forward;--set;k=v" [-DWANT_REUSE=1] [-DWANT_STEPS=1]
#         [-DBACKEND=interp] [-DWANT_BF16=1] -P check_stats.cmake
set(F ${SRC}/tests/golden/fixtures/${CASE})
if(NOT BACKEND)
  set(BACKEND jit)
endif()
execute_process(
  COMMAND ${ATTNC} run ${SRC}/${MODEL} ${ARGS} --weights ${F}/weights.safetensors
          --inputs ${F}/inputs.safetensors --backend ${BACKEND} --threads 1 --stats
  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "attnc failed (${rc}):\n${err}")
endif()
message(STATUS "${err}")
if(NOT err MATCHES "peak RSS: [0-9]+\\.[0-9] MiB\n")
  message(FATAL_ERROR "no peak RSS line in:\n${err}")
endif()
if(BACKEND STREQUAL "interp")
  if(NOT err MATCHES "stats: --stats needs --backend jit\n")
    message(FATAL_ERROR "the interpreter should say that --stats needs the JIT:\n${err}")
  endif()
  return()
endif()
set(bytes "([0-9]+) bytes \\([0-9]+\\.[0-9] (KiB|MiB|GiB)\\)")
if(NOT err MATCHES "stats: kernels ([0-9]+), kernel calls ([0-9]+)\n")
  message(FATAL_ERROR "no kernel counts in:\n${err}")
endif()
set(kernels ${CMAKE_MATCH_1})
set(calls ${CMAKE_MATCH_2})
if(NOT err MATCHES "stats: workspace ${bytes}, without reuse ${bytes}\n")
  message(FATAL_ERROR "no workspace line in:\n${err}")
endif()
set(reuse ${CMAKE_MATCH_1})
set(separate ${CMAKE_MATCH_3})
if(NOT err MATCHES "stats: bytes moved ${bytes}\n")
  message(FATAL_ERROR "no bytes moved line in:\n${err}")
endif()
set(moved ${CMAKE_MATCH_1})
if(NOT err MATCHES "stats: weights held: f32 ${bytes}, bf16 ${bytes}, int8 ${bytes}\n")
  message(FATAL_ERROR "no weights line in:\n${err}")
endif()
set(held_f32 ${CMAKE_MATCH_1})
set(held_bf16 ${CMAKE_MATCH_3})
# f32 weights: nothing held in bf16; bf16 (WANT_BF16): the products' weights
if(WANT_BF16 AND (held_bf16 LESS 1 OR held_f32 LESS 1))
  message(FATAL_ERROR "bf16 weights should hold the products' weights in bf16, the rest in f32:\n${err}")
elseif(NOT WANT_BF16 AND (held_bf16 GREATER 0 OR held_f32 LESS 1))
  message(FATAL_ERROR "f32 weights should hold every weight in f32:\n${err}")
endif()
if(NOT err MATCHES "stats: model weights: copies ${bytes}, read in place from the file ${bytes}\n")
  message(FATAL_ERROR "no model weights line in:\n${err}")
endif()
if(NOT CMAKE_MATCH_1 EQUAL 0)
  message(FATAL_ERROR "an aligned F32 file's weights should be read in place, not copied:\n${err}")
endif()
if(NOT err MATCHES "RSS after compiling: [0-9]+\\.[0-9] MiB\n")
  message(FATAL_ERROR "no RSS after compiling line in:\n${err}")
endif()
if(kernels LESS 1 OR calls LESS kernels OR moved LESS 1 OR reuse GREATER separate)
  message(FATAL_ERROR "inconsistent statistics:\n${err}")
endif()
if(WANT_REUSE AND NOT reuse LESS separate)
  message(FATAL_ERROR "no workspace saved by reuse (${reuse} of ${separate} bytes)")
endif()
if(WANT_STEPS AND NOT calls GREATER kernels)
  message(FATAL_ERROR "a scan's kernels should run once per step (${calls} calls of ${kernels} kernels)")
endif()

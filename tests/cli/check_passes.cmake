# check_passes.cmake — choosing and watching the optimisation passes from
# attnc, on the GRU written with one weight per gate (golden case
# gru_per_gate, whose products merge-matmuls merges): `graph --dump-after`
# prints a header per run of the pass and the graph it left, then the final
# graph; `--disable-pass` and `--passes` change the graph but not the outputs
# of `run`; unknown pass names list the passes; --dump-after is for graph only.
#
#   cmake -DATTNC=... -DSRC=... -P check_passes.cmake
set(F ${SRC}/tests/golden/fixtures/gru_per_gate)
set(M ${SRC}/tests/golden/models/gru_per_gate.attn --set input_size=5 --set hidden_size=7)

execute_process(COMMAND ${ATTNC} graph ${M} --dump-after=merge-matmuls --verify-ir
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^# after merge-matmuls, round 1: [0-9]+ changes?\nentry forward\\(")
  message(FATAL_ERROR "graph --dump-after=merge-matmuls (${rc}):\n${out}${err}")
endif()
if(NOT out MATCHES "\n# after merge-matmuls, round 2: no change\n" OR NOT out MATCHES "\n# final graph\nentry forward\\(")
  message(FATAL_ERROR "graph --dump-after=merge-matmuls: no second round or final graph in:\n${out}")
endif()
if(out MATCHES "# after (fold|cse|dce)")
  message(FATAL_ERROR "graph --dump-after=merge-matmuls dumps other passes:\n${out}")
endif()

execute_process(COMMAND ${ATTNC} graph ${M} --dump-after all RESULT_VARIABLE rc OUTPUT_VARIABLE out)
foreach(pass fold canonicalize cse merge-matmuls dce scan-prune scan-invariant scan-hoist)
  if(NOT out MATCHES "# after ${pass}, round 1: ")
    message(FATAL_ERROR "graph --dump-after all (${rc}): nothing after ${pass} in:\n${out}")
  endif()
endforeach()

# merge-matmuls left out: three recurrent products per step instead of one
execute_process(COMMAND ${ATTNC} graph ${M} RESULT_VARIABLE rc OUTPUT_VARIABLE merged)
execute_process(COMMAND ${ATTNC} graph ${M} --disable-pass=merge-matmuls RESULT_VARIABLE rc2 OUTPUT_VARIABLE apart)
string(REGEX MATCHALL "= matmul" m1 "${merged}")
string(REGEX MATCHALL "= matmul" m2 "${apart}")
list(LENGTH m1 n1)
list(LENGTH m2 n2)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT n2 GREATER n1)
  message(FATAL_ERROR "--disable-pass=merge-matmuls: ${n2} products, with the pass ${n1}:\n${apart}")
endif()

# the outputs do not depend on the passes
set(R run ${M} --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors)
execute_process(COMMAND ${ATTNC} ${R} RESULT_VARIABLE rc OUTPUT_VARIABLE all ERROR_VARIABLE err)
execute_process(COMMAND ${ATTNC} ${R} --passes= --verify-ir RESULT_VARIABLE rc2 OUTPUT_VARIABLE none ERROR_VARIABLE err2)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT all STREQUAL none)
  message(FATAL_ERROR "run with no passes (${rc}, ${rc2}):\n${all}${err}\n---\n${none}${err2}")
endif()
execute_process(COMMAND ${ATTNC} check ${M} --weights ${F}/weights.safetensors --passes fold,dce --verify-ir
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES ": ok \\(1 entry point: forward\\)")
  message(FATAL_ERROR "check --passes fold,dce (${rc}):\n${out}${err}")
endif()

execute_process(COMMAND ${ATTNC} graph ${M} --disable-pass=cse,fuse RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "option '--disable-pass': unknown pass 'fuse' \\(passes: fold canonicalize cse merge-matmuls dce scan-prune scan-invariant scan-hoist\\)")
  message(FATAL_ERROR "--disable-pass=cse,fuse (${rc}):\n${err}")
endif()
execute_process(COMMAND ${ATTNC} graph ${M} --dump-after=folding RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "unknown pass 'folding' \\(passes: fold .* scan-hoist, or all\\)")
  message(FATAL_ERROR "--dump-after=folding (${rc}):\n${err}")
endif()
execute_process(COMMAND ${ATTNC} ${R} --dump-after=fold RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "option '--dump-after' does not apply to run")
  message(FATAL_ERROR "run --dump-after (${rc}):\n${err}")
endif()
execute_process(COMMAND ${ATTNC} graph ${M} --verify-ir=1 RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "option '--verify-ir' takes no value")
  message(FATAL_ERROR "--verify-ir=1 (${rc}):\n${err}")
endif()

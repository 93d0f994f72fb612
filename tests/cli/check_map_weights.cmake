# check_map_weights.cmake — `--map-weights` on the command line, with HAN's
# weights under other names (golden case han_mapped: keys under `model.`,
# layers W_w, W_s, fc) and the case's map: `attnc check` and `attnc run` bind
# them (run writes every output), `attnc compile` checks them ahead of time,
# and without the map the same file is refused. The numbers themselves are
# compared with PyTorch's by golden.han_mapped.
#
#   cmake -DATTNC=... -DSRC=... -DWORK=... -P check_map_weights.cmake
set(F ${SRC}/tests/golden/fixtures/han_mapped)
set(W --weights ${F}/weights.safetensors)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

execute_process(COMMAND ${ATTNC} check ${SRC}/models/han.attn ${W} --map-weights ${F}/map.txt
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "han.attn: ok \\([0-9]+ entry points?: forward")
  message(FATAL_ERROR "check --map-weights (${rc}):\n${out}${err}")
endif()

execute_process(COMMAND ${ATTNC} run ${SRC}/models/han.attn ${W} --map-weights=${F}/map.txt
                        --inputs ${F}/inputs.safetensors --outputs ${WORK}/out.safetensors
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${WORK}/out.safetensors)
  message(FATAL_ERROR "run --map-weights (${rc}):\n${out}${err}")
endif()
file(STRINGS ${WORK}/out.safetensors header REGEX "^.*\"probs\"") # the JSON header's text
foreach(name probs word_attention sentence_attention)
  if(NOT header MATCHES "\"${name}\"")
    message(FATAL_ERROR "run --map-weights wrote no output ${name}: ${header}")
  endif()
endforeach()

execute_process(COMMAND ${ATTNC} compile ${SRC}/models/han.attn ${W} --map-weights ${F}/map.txt -o ${WORK}/han
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${WORK}/han.o OR NOT EXISTS ${WORK}/han.h)
  message(FATAL_ERROR "compile --map-weights (${rc}):\n${out}${err}")
endif()

execute_process(COMMAND ${ATTNC} check ${SRC}/models/han.attn ${W}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR NOT err MATCHES "unexpected weight 'model.u_w'")
  message(FATAL_ERROR "check without the map (${rc}):\n${out}${err}")
endif()
message(STATUS "--map-weights: check, run and compile bind HAN under other names")

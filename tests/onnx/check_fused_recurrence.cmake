# An ONNX GRU/LSTM export, imported, runs each step of its recurrences as the
# zoo's fused recurrence: one matmul+gates kernel (the recurrent product with
# the gate math in its epilogue) and no other kernel in the step.
#
#   cmake -DATTNC=... -DROOT=repo -DOUT=dir -DCASE=lstm -P check_fused_recurrence.cmake
file(MAKE_DIRECTORY ${OUT})
set(base ${OUT}/${CASE}_fused)
execute_process(COMMAND ${ATTNC} import ${ROOT}/tests/onnx/models/${CASE}.opset14.onnx -o ${base}
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "attnc import ${CASE} (${rc}):\n${err}")
endif()
execute_process(COMMAND ${ATTNC} graph --fused ${base}.attn --weights ${base}.safetensors
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "attnc graph --fused ${CASE} (${rc}):\n${err}")
endif()
# Kernels inside a scan body are listed indented by four spaces.
string(REGEX MATCHALL "\n    k[0-9]+ +[a-z+]+" step_kernels "${out}")
list(LENGTH step_kernels n)
string(REGEX MATCHALL "\n    k[0-9]+ +matmul\\+gates" gates "${out}")
list(LENGTH gates ngates)
if(n EQUAL 0 OR NOT n EQUAL ngates)
  message(FATAL_ERROR "${CASE}: ${ngates} of the ${n} kernels in recurrence steps are matmul+gates:\n${out}")
endif()
message("${CASE}: ${n} recurrence steps, each one matmul+gates kernel")

# One ONNX export of tests/onnx/export.py (ctest onnx.export.CASE.opsetN.BACKEND):
# `attnc import` writes CASE.attn and CASE.safetensors, then golden_check runs
# the imported model on BACKEND at both fixture shapes (a, b) against PyTorch's
# outputs at 1e-5.
#
#   cmake -DATTNC=... -DCHECK=golden_check -DROOT=repo -DOUT=dir -DCASE=gru -DOPSET=14
#         -DBACKEND=jit|interp -P check_export.cmake
set(onnx ${ROOT}/tests/onnx/models/${CASE}.opset${OPSET}.onnx)
set(dir ${OUT}/${BACKEND})
file(MAKE_DIRECTORY ${dir})
set(base ${dir}/${CASE}_opset${OPSET})
execute_process(COMMAND ${ATTNC} import ${onnx} -o ${base} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "attnc import ${onnx} (${rc}):\n${out}${err}")
endif()
foreach(shape a b)
  execute_process(COMMAND ${CHECK} --backend=${BACKEND} --fixtures=${ROOT}/tests/onnx/fixtures/${CASE}/${shape}
                          --weights=${base}.safetensors ${ROOT} ${CASE}.${shape} ${base}.attn forward - 1e-5
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${CASE} opset ${OPSET}, shape ${shape}, ${BACKEND}: ${err}")
  endif()
endforeach()

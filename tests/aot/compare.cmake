# An entry compiled ahead of time against the interpreter, on the inputs of a
# golden case: aot_run writes its outputs, attnc run --backend interp writes
# the interpreter's, aot_compare checks them at 1e-5. With -DDTYPE=bf16 (weights
# stored in bf16) the reference is attnc run on the JIT with the same dtype.
#
#   cmake -DRUN=aot_run_x -DCOMPARE=aot_compare -DATTNC=attnc -DMODEL=m.attn -DENTRY=e
#         -DCASE=golden_case -DSRC=repo -DWORK=dir "-DSETS=--set k=v ..." [-DDTYPE=bf16] -P compare.cmake
set(F ${SRC}/tests/golden/fixtures/${CASE})
separate_arguments(sets UNIX_COMMAND "${SETS}")
file(MAKE_DIRECTORY ${WORK})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}${err}")
  endif()
endfunction()

run(${RUN} ${F}/weights.safetensors ${F}/inputs.safetensors ${WORK}/aot.safetensors)
if(NOT DTYPE OR DTYPE STREQUAL "f32")
  run(${ATTNC} run ${MODEL} --entry ${ENTRY} ${sets} --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors
      --backend interp --outputs ${WORK}/interp.safetensors)
  run(${COMPARE} ${WORK}/aot.safetensors ${WORK}/interp.safetensors 1e-5)
  message("${CASE}: the object matches the interpreter")
else()
  # low-precision weights: the JIT's run with the same storage, and the same
  # core code for the same target, is the reference
  run(${ATTNC} run ${MODEL} --entry ${ENTRY} ${sets} --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors
      --weights-dtype ${DTYPE} --outputs ${WORK}/jit.safetensors)
  run(${COMPARE} ${WORK}/aot.safetensors ${WORK}/jit.safetensors 1e-5)
  message("${CASE}: the object matches the jit with ${DTYPE} weights")
endif()

# The AOT-compiled GRU against the interpreter on the same inputs: the given
# inputs file, then generated ones of batch 16 and length 33.
#
#   cmake -DAOT=aot_gru -DCOMPARE=aot_compare -DATTNC=attnc -DMODEL=gru.attn
#         -DWEIGHTS=w.safetensors -DINPUTS=in.safetensors -DWORK=dir
#         "-DSETS=--set;num_layers=2;..." -P compare.cmake
file(MAKE_DIRECTORY ${WORK})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${err}")
  endif()
endfunction()

run(${AOT} --gen 16 33 ${WORK}/gen_inputs.safetensors)
foreach(case given gen)
  if(case STREQUAL "given")
    set(in ${INPUTS})
  else()
    set(in ${WORK}/gen_inputs.safetensors)
  endif()
  run(${AOT} ${WEIGHTS} ${in} ${WORK}/${case}_aot.safetensors)
  run(${ATTNC} run ${MODEL} ${SETS} --weights ${WEIGHTS} --inputs ${in} --backend interp
      --outputs ${WORK}/${case}_interp.safetensors)
  run(${COMPARE} ${WORK}/${case}_aot.safetensors ${WORK}/${case}_interp.safetensors 1e-5)
endforeach()
message("aot_gru matches the interpreter")

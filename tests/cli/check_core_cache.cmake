# check_core_cache.cmake — the on-disk cache of the cores' machine code
# (compiler/jit/jit_cache.h), on the encoder layer of golden case enc_relu_post
# (it uses both the matmul and the attention core): a first run fills an empty
# cache directory with one entry per core, a second run reads them and gives
# the same outputs, a run over truncated (corrupt) entries still gives the same
# outputs and rewrites them, and ATTN_CACHE_DIR set but empty writes nothing.
# The attacks on the cache are tests/unit/test_jit_cache.c.
#
#   cmake -DATTNC=... -DSRC=... -DWORK=... -P check_core_cache.cmake
set(F ${SRC}/tests/golden/fixtures/enc_relu_post)
set(RUN ${ATTNC} run ${SRC}/models/transformer_encoder_layer.attn --set d_model=8 --set nhead=2
        --set dim_feedforward=16 --set activation=relu --set norm_first=0 --set layer_norm_eps=1e-5
        --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors)
set(DIR ${WORK}/cache)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run_with dir out)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ATTN_CACHE_DIR=${dir} ${RUN} --outputs ${out}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "attnc run with ATTN_CACHE_DIR='${dir}' (${rc}):\n${err}")
  endif()
endfunction()

function(expect_same a b)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${a} ${b} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${a} and ${b} differ")
  endif()
endfunction()

run_with(${DIR} ${WORK}/first.safetensors)
file(GLOB objects ${DIR}/core-*.entry)
list(LENGTH objects n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "expected the two cores' objects in ${DIR}, found: ${objects}")
endif()
file(GLOB leftovers ${DIR}/tmp-*)
if(leftovers)
  message(FATAL_ERROR "temporary files left in the cache: ${leftovers}")
endif()

run_with(${DIR} ${WORK}/second.safetensors)
expect_same(${WORK}/first.safetensors ${WORK}/second.safetensors)

foreach(o ${objects})
  file(READ ${o} head LIMIT 200 HEX)
  file(WRITE ${o} "${head}")
endforeach()
run_with(${DIR} ${WORK}/third.safetensors)
expect_same(${WORK}/first.safetensors ${WORK}/third.safetensors)
foreach(o ${objects})
  file(SIZE ${o} size)
  if(size LESS 1000)
    message(FATAL_ERROR "${o} was not rewritten after it was found corrupt (${size} bytes)")
  endif()
endforeach()

run_with("" ${WORK}/uncached.safetensors)
expect_same(${WORK}/first.safetensors ${WORK}/uncached.safetensors)

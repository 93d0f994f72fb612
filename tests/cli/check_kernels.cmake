# check_kernels.cmake — the kernel graph as attnc shows it, on the GRU cell of
# the zoo with the fixtures of golden case grucell: `attnc graph --fused`
# lists the fused gate kernel, `--fused --no-fuse` one kernel per node,
# `--fused --dot` clusters, and `attnc run --profile` a table with a line per
# kernel (the fused gate kernel among them); and on a GRU written with one
# weight per gate, the merged recurrent product; and on a GRU cell whose gate
# math runs in the recurrent product's epilogue.
#
#   cmake -DATTNC=... -DSRC=... -P check_kernels.cmake
set(F ${SRC}/tests/golden/fixtures/grucell)
set(M ${SRC}/models/grucell.attn --set input_size=5 --set hidden_size=7)

execute_process(COMMAND ${ATTNC} graph ${M} --fused RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "entry forward: 3 kernels for 21 nodes at top level\n")
  message(FATAL_ERROR "graph --fused (${rc}):\n${out}${err}")
endif()
if(NOT out MATCHES "k27 +elementwise +%8 slice, %9 slice, %10 slice, %13 slice, %14 slice, %15 slice, %16 add")
  message(FATAL_ERROR "no fused gate kernel in:\n${out}")
endif()

execute_process(COMMAND ${ATTNC} graph ${M} --fused --no-fuse RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "entry forward: 21 kernels for 21 nodes")
  message(FATAL_ERROR "graph --fused --no-fuse (${rc}):\n${out}")
endif()

execute_process(COMMAND ${ATTNC} graph ${M} --fused --dot RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "subgraph cluster_k0_27 {\n +label=\"kernel %27\"")
  message(FATAL_ERROR "graph --fused --dot (${rc}):\n${out}")
endif()

execute_process(COMMAND ${ATTNC} run ${M} --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors
                        --repeat 3 --profile RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "profile: 3 kernels, [0-9.]+ ms in kernels over 3 runs\n")
  message(FATAL_ERROR "run --profile (${rc}):\n${err}")
endif()
if(NOT err MATCHES " +ms/run +% +calls/run +us/call +kernel\n"
   OR NOT err MATCHES "[0-9.]+ +[0-9.]+ +1 +[0-9.]+ +k27 elementwise: %8 slice")
  message(FATAL_ERROR "no profile table in:\n${err}")
endif()

execute_process(COMMAND ${ATTNC} run ${M} --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors
                        --profile --backend interp RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "profile: --profile needs --backend jit\n")
  message(FATAL_ERROR "run --profile on the interpreter (${rc}):\n${err}")
endif()

# A GRU written with one linear layer per gate (golden case gru_per_gate): one
# recurrent product per step with its bias as epilogue, one gate kernel, and
# the concatenated weights packed by the JIT when binding (no kernel runs them).
set(F ${SRC}/tests/golden/fixtures/gru_per_gate)
set(M ${SRC}/tests/golden/models/gru_per_gate.attn --set input_size=5 --set hidden_size=7)
execute_process(COMMAND ${ATTNC} graph ${M} --fused RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "scan %[0-9]+ body:\n +k[0-9]+ +matmul\\+epilogue %[0-9]+ matmul, %[0-9]+ add +: f32\\[B, 21\\]\n +k[0-9]+ +elementwise ")
  message(FATAL_ERROR "per-gate GRU: no merged recurrent product in (${rc}):\n${out}${err}")
endif()
if(NOT out MATCHES "concat +: f32\\[21, 7\\] +\\(weights: packed when they are bound, no kernel")
  message(FATAL_ERROR "per-gate GRU: the concatenated state weights are not marked as packed:\n${out}")
endif()
execute_process(COMMAND ${ATTNC} run ${M} --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors
                        --profile RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
# five kernels: the product over all steps, two bias concatenations, and the two of the step
if(NOT rc EQUAL 0 OR NOT err MATCHES "profile: 5 kernels")
  message(FATAL_ERROR "per-gate GRU run --profile (${rc}):\n${err}")
endif()

# The GRU cell with hidden size 32 (golden case grucell_gated): the recurrent
# product and the gates are one kernel that also stores the product, and the
# profile has one line for it.
set(F ${SRC}/tests/golden/fixtures/grucell_gated)
set(M ${SRC}/models/grucell.attn --set input_size=10 --set hidden_size=32)
execute_process(COMMAND ${ATTNC} graph ${M} --fused RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "entry forward: 2 kernels for 21 nodes at top level\n"
   OR NOT out MATCHES "k27 +matmul\\+gates +%8 slice, %9 slice, %10 slice, %11 matmul \\(stored\\), %12 add, ")
  message(FATAL_ERROR "gated GRU cell: no gate kernel in (${rc}):\n${out}${err}")
endif()
execute_process(COMMAND ${ATTNC} run ${M} --weights ${F}/weights.safetensors --inputs ${F}/inputs.safetensors
                        --profile RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "profile: 2 kernels" OR NOT err MATCHES "k27 matmul\\+gates: %8 slice")
  message(FATAL_ERROR "gated GRU cell run --profile (${rc}):\n${err}")
endif()

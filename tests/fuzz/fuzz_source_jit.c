/*
 * fuzz_source_jit.c — fuzz_source.c with every entry compiled by the JIT (one
 * thread) instead of the interpreter, and run on the same small inputs: the
 * code generator, the generated code's per-call checks and the JIT runner
 * see fuzzed sources. Slower per input than fuzz_source (an LLVM compile per
 * entry), so .ci/fuzz gives it shorter inputs.
 *
 * The fuzz build turns UBSan's function check off (-fno-sanitize=function in
 * the top-level CMakeLists.txt): it reads a signature before the callee,
 * which JIT'd code does not have.
 */
#define FUZZ_SOURCE_BACKEND ATTN_BACKEND_JIT
#include "fuzz_source.c"

/*
 * cg_matmul.h — the matmul core: register-tiled, cache-blocked fp32 GEMM
 * generated with the LLVM C API for the module's target.
 *
 * Both functions are emitted into the module once (later calls return the
 * same function). All sizes and strides are i64 elements; `pool` is an
 * AttnPool * (NULL runs on the calling thread). Every call is independent:
 * scratch memory is per call and per task, so one module's functions may be
 * called from several threads at once.
 */
#ifndef ATTN_CG_MATMUL_H
#define ATTN_CG_MATMUL_H

#include "cg.h"

/*   void attn_gemm(i64 M, i64 N, i64 K, ptr A, i64 a_rs, i64 a_cs,
 *                  ptr B, i64 b_rs, i64 b_cs, ptr C, i64 ldc, ptr pool)
 * C[i*ldc + j] = sum_p A[i*a_rs + p*a_cs] * B[p*b_rs + j*b_cs] for i < M, j < N;
 * C is overwritten (K == 0 gives zeros; M or N == 0 does nothing). Strides make
 * transposed operands free. B is packed inside, per call, when that pays. */
LLVMValueRef cg_gemm(CgModule *cm);

/* Same product with B pre-packed by attn_pack_b (runtime/pack.h) for this target's lane count:
 *   void attn_gemm_packed(i64 M, i64 N, i64 K, ptr A, i64 a_rs, i64 a_cs, ptr Bp, ptr C, i64 ldc, ptr pool) */
LLVMValueRef cg_gemm_packed(CgModule *cm);

#endif

/*
 * cg_matmul.h — the matmul core: register-tiled, cache-blocked fp32 GEMM
 * generated with the LLVM C API for the module's target.
 *
 * Both functions are emitted into the module once (later calls return the
 * same function). All sizes and strides are i64 elements; `pool` is an
 * attn_pool * (NULL runs on the calling thread). Every call is independent:
 * scratch memory is per call and per task, so one module's functions may be
 * called from several threads at once.
 */
#ifndef ATTN_CG_MATMUL_H
#define ATTN_CG_MATMUL_H

#include "cg.h"

/*   void attn_gemm(i64 M, i64 N, i64 K, ptr A, i64 a_rs, i64 a_cs,
 *                  ptr B, i64 b_rs, i64 b_cs, ptr C, i64 ldc, ptr pool, ptr epi, ptr epi_arg,
 *                  i64 epi_panels)
 * C[i*ldc + j] = sum_p A[i*a_rs + p*a_cs] * B[p*b_rs + j*b_cs] for i < M, j < N;
 * C is overwritten (K == 0 gives zeros; M or N == 0 does nothing). Strides make
 * transposed operands free. B is packed inside, per call, when that pays.
 *
 * Epilogue (matmul + epilogue fusion). `epi` is NULL or a function
 *     void epi(ptr epi_arg, i64 r0, i64 r1, i64 c0, i64 c1)
 * that may read and rewrite C[i*ldc + j] for r0 <= i < r1, c0 <= j < c1 (bias,
 * activation, residual, scaling). When it is not NULL, the core calls it:
 *  - on non-empty rectangles of C that never overlap and together cover C
 *    exactly: every element is in exactly one call (none when M or N == 0);
 *  - only once the rectangle's values are final (all of K accumulated), and
 *    the core never touches the rectangle again;
 *  - on the thread that computed the rectangle, right after computing it,
 *    so it may run on several pool threads at once (on disjoint rectangles).
 * Granularity, chosen so that the rectangle is still in cache and each call
 * has long rows to vectorise over:
 *  - main path: in a task's last KC block, each MR-row strip of its
 *    current block of NCP column panels, once the kernels have stored it: at
 *    most MR x 480 floats (~15 KB; 8 x 480 with AVX-512, 6 x 480 with AVX2).
 *    The strip's last tile is in L1 and the rest in L2, next to the KC x NC
 *    block of B the strip has just used. One call per register tile would
 *    find the tile in L1, but gives the epilogue rows of one NR panel (48
 *    floats with AVX-512, 16 with AVX2) and NCP (10 to 60) times the calls;
 *  - small M (<= 4 rows, B packed or with contiguous rows; all of K at once
 *    per column panel): all M rows of each column panel right after its
 *    kernel (NR columns, or with B read directly 24 / M vectors, 384 / M
 *    floats with AVX-512), before the next panel of B streams through;
 *  - K == 0, and the fallback used when no packing buffer can be had: all of C
 *    in one call on the calling thread, after it has been written.
 * epi == NULL costs one untaken branch per strip or panel.
 * epi_panels: 1, or at least N: then every rectangle is whole rows (all N
 * columns), which a softmax of the product's rows needs (fuse_matmul.c);
 * see attn_gemm_packed for groups in between. */
LLVMValueRef cg_gemm(CgModule *cm);

/* Same product with B pre-packed by attn_pack_b (runtime/rt/pack.h) for this target's lane count,
 * and the same epilogue contract:
 *   void attn_gemm_packed(i64 M, i64 N, i64 K, ptr A, i64 a_rs, i64 a_cs, ptr Bp, ptr C, i64 ldc, ptr pool,
 *                         ptr epi, ptr epi_arg, i64 epi_panels)
 * and one more promise: every rectangle's columns start at a multiple of
 * epi_panels panels (NR columns each) and end at such a multiple or at N.
 * An epilogue that needs several panels together asks for them: the gate
 * math of a recurrent step reads the gates of a unit from one group
 * (attn_pack_b_gates). Tasks then split the columns in whole groups, and on
 * the small-M path the call comes after the group's last panel. Values < 1
 * mean 1. */
LLVMValueRef cg_gemm_packed(CgModule *cm);

/* The same product and epilogue contract with B stored as bf16 panels
 * (attn_pack_b_bf16, runtime/rt/pack.h; docs/PRECISION.md): A rounded to bf16
 * as it is packed, products accumulated in f32 (vdpbf16ps with AVX512_BF16,
 * else the bf16 values widened in registers). Signature of attn_gemm_packed:
 *   void attn_gemm_packed_bf16(i64 M, i64 N, i64 K, ptr A, i64 a_rs, i64 a_cs, ptr Bp, ptr C, i64 ldc,
 *                              ptr pool, ptr epi, ptr epi_arg, i64 epi_panels) */
LLVMValueRef cg_gemm_packed_bf16(CgModule *cm);

#endif

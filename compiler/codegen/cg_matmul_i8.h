/*
 * cg_matmul_i8.h — the int8 matmul core: int8 weights quantized per output
 * channel when bound (runtime/rt/pack_i8.h), activations quantized per row
 * when the product runs, products accumulated in int32 with vpdpbusd.
 */
#ifndef ATTN_CG_MATMUL_I8_H
#define ATTN_CG_MATMUL_I8_H

#include "cg.h"

/*   void attn_gemm_i8(i64 M, i64 N, i64 K, ptr A, i64 a_rs, i64 a_cs, ptr Bq, ptr C, i64 ldc, ptr pool,
 *                     ptr epi, ptr epi_arg, i64 epi_panels)
 * C[i*ldc + j] ~ sum_p A[i*a_rs + p*a_cs] * B[p][j], with B given quantized and
 * packed by attn_pack_b_i8 / attn_pack_b_i8_gates for this target's lane count.
 *
 * Each row i of A is quantized when the product starts, asymmetrically over
 * [lo, hi] = [min(0, min_p A[i][p]), max(0, max_p A[i][p])]: a_i = (hi - lo) / 255,
 * z_i = round_to_nearest_even(-lo / a_i), u8 = clamp(round(A[i][p] / a_i) + z_i,
 * 0, 255) (unsigned, as vpdpbusd multiplies unsigned by signed bytes). The
 * int32 sums acc = sum_p u8(i, p) * q(p, j) then give
 *     C[i][j] = (acc - z_i * sum_p q(p, j)) * a_i * s_j
 * where the column sums sum_p q(p, j) and s_j come with the packed weight. The
 * dequantization happens as the register tile is stored, and the epilogue
 * contract is attn_gemm_packed's (cg_matmul.h): rectangles of MR rows (or all
 * M <= MR rows) by a block of whole groups of epi_panels panels, final values,
 * on the thread that computed them, right after.
 *
 * On targets with AVX512_VNNI (feature "+avx512vnni", 16 lanes) the kernels use
 * vpdpbusd; elsewhere the same bytes are widened to int32 in registers and
 * multiplied and added there (the same sums, exactly; correct, not fast).
 * When the per-call buffer for the quantized rows cannot be had, the product
 * runs as a plain loop over the dequantized weights (fp32 activations). */
LLVMValueRef cg_gemm_i8(CgModule *cm);

#endif

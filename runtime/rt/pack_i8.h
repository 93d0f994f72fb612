/*
 * pack_i8.h — int8 weights for the generated attn_gemm_i8
 * (compiler/codegen/cg_matmul_i8.c): a matmul's right operand quantized per
 * output channel (column) and packed for vpdpbusd. Plain C, no LLVM.
 *
 * Quantization: column j of B gets scale s_j = max_p |B[p][j]| / 127 and
 * int8 values q = round_to_nearest_even(B[p][j] / s_j), clamped to ±127 (a
 * column of zeros has scale 0 and all q = 0).
 *
 * Layout for a target with `lanes` floats per vector (NR = attn_pack_nr(lanes)
 * columns per panel, as in pack.h, so that groups of gate columns line up the
 * same way), with Kq = K rounded up to a multiple of 4:
 *
 *     q(p, j)  ->  byte [((j / NR) * (Kq / 4) + p / 4) * NR * 4 + (j % NR) * 4 + p % 4]
 *
 * so one 4-byte group of a column holds 4 consecutive rows of K (the dot
 * product of one vpdpbusd lane) and NR columns of one group are contiguous;
 * rows K..Kq and columns past N are zero. After the panels, at byte
 * panels * NR * Kq (a multiple of 64): NR * panels floats s_j, then NR *
 * panels int32 c_j = sum_p q(p, j), the column sums that remove the zero
 * points of activations stored as unsigned bytes (zero for padding columns).
 */
#ifndef ATTN_PACK_I8_H
#define ATTN_PACK_I8_H

#include "attn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* K rounded up to the 4 rows of one vpdpbusd group. */
int64_t attn_pack_i8_kq(int64_t K);

/* Bytes needed to hold a K×N matrix quantized and packed for `lanes`. */
size_t attn_pack_b_i8_size(int64_t K, int64_t N, int lanes);

/* Quantizes and packs the n columns [col, col + n) of a K×N matrix B (element
 * (p, j) at B[p*b_rs + (j - col)*b_cs]), each column on its own; with gates
 * > 1 interleaved like attn_pack_b_gates (pack.h). The call whose columns end
 * at N zeroes the padding columns of the last panel. */
void attn_pack_b_i8_gates(const float *B, int64_t K, int64_t N, int64_t col, int64_t n, int64_t b_rs, int64_t b_cs,
                          int lanes, int gates, void *out);
/* All of B, plain column order. */
void attn_pack_b_i8(const float *B, int64_t K, int64_t N, int64_t b_rs, int64_t b_cs, int lanes, void *out);

/* The f32 panels of a K×N matrix (attn_pack_b / attn_pack_b_gates, pack.h)
 * quantized column by column into out (attn_pack_b_i8_size bytes): the
 * packed columns keep their order, gate interleaving included. */
void attn_pack_b_i8_from_panels(const float *panels, int64_t K, int64_t N, int lanes, void *out);

/* Column j's scale and int8 value of row p in a packed matrix (for tests and
 * error measurements). */
float attn_pack_i8_scale(const void *packed, int64_t K, int64_t N, int lanes, int64_t j);
int attn_pack_i8_value(const void *packed, int64_t K, int lanes, int64_t p, int64_t j);

#ifdef __cplusplus
}
#endif

#endif

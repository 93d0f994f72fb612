/*
 * pack.h — the packed layout of a matmul's right operand (a weight), shared
 * by the generated attn_gemm_packed (compiler/codegen/cg_matmul.c) and by programs
 * that pack their weights when they are bound. Plain C, no LLVM.
 *
 * Layout for a target with `lanes` floats per vector: the N columns are cut
 * into panels of NR = attn_pack_nr(lanes) columns (the last one padded with
 * zeros); each panel holds all K rows, row after row, NR floats per row:
 *
 *     element (p, j) of B  ->  out[((j / NR) * K + p) * NR + j % NR]
 *
 * so every block of consecutive rows of a panel (a KC block) is contiguous.
 */
#ifndef ATTN_PACK_H
#define ATTN_PACK_H

#include "attn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Columns per packed panel for a target with `lanes` floats per vector. */
int attn_pack_nr(int lanes);

/* Floats needed to hold a K×N matrix packed for a target with `lanes` floats per vector. */
size_t attn_pack_b_size(int64_t K, int64_t N, int lanes);

/* Packs B (element (p, j) at B[p*b_rs + j*b_cs]) into out, in the layout attn_gemm_packed reads. */
void attn_pack_b(const float *B, int64_t K, int64_t N, int64_t b_rs, int64_t b_cs, int lanes, float *out);
/* Packs the n columns of B (element (p, j) at B[p*b_rs + j*b_cs]) as columns
 * [col, col + n) of a K×N matrix packed into out: a matrix concatenated from
 * blocks along N is packed block by block, with no joined copy. The call whose
 * columns end at N zeroes the padding of the last panel. */
void attn_pack_b_cols(const float *B, int64_t K, int64_t N, int64_t col, int64_t n, int64_t b_rs, int64_t b_cs,
                      int lanes, float *out);

/* Packs the n columns [col, col + n) of a K×N matrix B (element (p, j) at
 * B[p*b_rs + (j - col)*b_cs]) whose columns are `gates` blocks of H = N / gates
 * (a recurrent layer's gates: r, z, n or i, f, g, o), interleaved: column
 * g*H + u becomes column (u / lanes) * gates * lanes + g * lanes + u % lanes,
 * so that each group of gates * lanes packed columns holds every gate of
 * `lanes` units, one vector each. The product's epilogue then finds all gates
 * of a unit in one group (attn_pack_gate_panels). H must be a multiple of
 * lanes; gates <= 1 is attn_pack_b_cols. */
void attn_pack_b_gates(const float *B, int64_t K, int64_t N, int64_t col, int64_t n, int64_t b_rs, int64_t b_cs,
                       int lanes, int gates, float *out);
/* Panels (of attn_pack_nr(lanes) columns) in the smallest run of whole panels
 * that is also whole groups of gates * lanes columns. */
int attn_pack_gate_panels(int lanes, int gates);

/* ---- low-precision storage (docs/PRECISION.md) ----
 * bf16 panels hold the same NR columns as the f32 ones, with the K rows taken
 * in pairs (K rounded up to Kp, even; a missing last row is zero): rows p and
 * p + 1 (p even) of column j make one 32-bit word, the lower half row p, so
 * that one vector of L words is L columns times two rows, as vdpbf16ps
 * multiplies them:
 *
 *     element (p, j)  ->  out[((j / NR) * Kp + p - p % 2) * NR + 2 * (j % NR) + p % 2]
 */

/* x rounded to the nearest bfloat16, ties to even (NaN stays NaN). */
uint16_t attn_bf16_round(float x);
/* 16-bit elements of a K×N matrix packed as bf16 panels. */
size_t attn_pack_b_bf16_size(int64_t K, int64_t N, int lanes);
/* The f32 panels of a K×N matrix (attn_pack_b) as bf16 panels, each value
 * rounded by attn_bf16_round. */
void attn_pack_b_bf16(const float *panels, int64_t K, int64_t N, int lanes, uint16_t *out);

/* The packed f32 panels of a K×N weight in the storage of `dt`: `panels`
 * itself for ATTN_WEIGHTS_F32, else a new 64-byte aligned buffer (panels
 * freed). *bytes gets the result's size. NULL when out of memory (panels
 * freed) or for a value outside the enum. int8: pack_i8.h. */
void *attn_pack_to_dtype(float *panels, int64_t K, int64_t N, int lanes, attn_weights_dtype dt, size_t *bytes);

/* Memory for a weight's packed panels, freed with free(): 64-byte aligned,
 * and from 2 MiB on aligned to 2 MiB with its whole 2 MiB pages advised as
 * huge pages (madvise MADV_HUGEPAGE; the tail keeps small pages, so nothing
 * is rounded up): a model streams its weights through the TLB once per run,
 * 4 KiB at a time otherwise. NULL when out of memory. */
void *attn_pack_alloc(size_t bytes);

/* 64-byte aligned scratch memory for generated code (NULL when out of memory
 * or bytes <= 0), and its release (NULL is allowed). */
ATTN_RT_API void *attn_rt_aligned_alloc(int64_t bytes);
ATTN_RT_API void attn_rt_aligned_free(void *p);

#ifdef __cplusplus
}
#endif

#endif

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

/* 64-byte aligned scratch memory for generated code (NULL when out of memory
 * or bytes <= 0), and its release (NULL is allowed). */
ATTN_RT_API void *attn_rt_aligned_alloc(int64_t bytes);
ATTN_RT_API void attn_rt_aligned_free(void *p);

#ifdef __cplusplus
}
#endif

#endif

/*
 * cg_attention.h — the attention core: fused scaled dot-product attention
 * (scores, mask, softmax, weighted sum of values) generated with the LLVM C
 * API for the module's target, flash-attention style: the L x S score matrix
 * is never materialised (docs/CODEGEN.md, "Attention core").
 *
 *   void attn_attention(ptr args, ptr pool)
 *
 * `args` points to an AttnAttentionArgs; `pool` is an attn_pool * (NULL runs
 * on the calling thread). For every batch index (b0, b1) and query i:
 *
 *   O[b0,b1,i,:] = softmax_j(scale * (q_i . k_j) (+ mask)) @ V[b0,b1]
 *
 * which is what softmax(where(mask, -inf, (q @ k.T) * scale), axis=-1) @ v
 * computes, special values included: a row whose every key is masked gives
 * NaN, NaN and inf in q, k, v or an additive mask propagate as they do
 * there. S == 0 gives zeros (an empty weighted sum). Every call is
 * independent: scratch memory is per call and per task.
 */
#ifndef ATTN_CG_ATTENTION_H
#define ATTN_CG_ATTENTION_H

#include "cg.h"

#include <stdint.h>

/* The descriptor. Every field is 8 bytes so that generated code reads field
 * number n at byte 8n (AttnAttentionField); all strides count elements, not
 * bytes, may be 0 (broadcast) and apply to the tensors' leading dims; the
 * last dim of q, k, v and o is contiguous (stride 1). */
typedef struct AttnAttentionArgs {
    int64_t nb0, nb1; /* the two batch dims (e.g. batch and heads); either may be 1 */
    int64_t L;        /* queries per batch index */
    int64_t S;        /* keys (and values) per batch index */
    int64_t D;        /* length of a query / key vector */
    int64_t Dv;       /* length of a value / output vector */
    const float *q;   /* q[b0*q_s0 + b1*q_s1 + i*q_rs + d], i < L, d < D */
    int64_t q_s0, q_s1, q_rs;
    const float *k;   /* k[b0*k_s0 + b1*k_s1 + j*k_rs + d], j < S, d < D */
    int64_t k_s0, k_s1, k_rs;
    const float *v;   /* v[b0*v_s0 + b1*v_s1 + j*v_rs + c], j < S, c < Dv */
    int64_t v_s0, v_s1, v_rs;
    float *o;         /* o[b0*o_s0 + b1*o_s1 + i*o_rs + c], i < L, c < Dv: written */
    int64_t o_s0, o_s1, o_rs;
    double scale;     /* multiplies q . k; used as the float nearest to it */
    const void *mask; /* NULL: no mask; else element (b0, b1, i, j) at b0*m0 + b1*m1 + i*mr + j*mc */
    int64_t mask_kind; /* 1: bytes, nonzero = masked (score -inf); 2: floats added to the scaled score;
                          anything else: no mask */
    int64_t m0, m1, mr, mc;
} AttnAttentionArgs;

/* Field numbers of AttnAttentionArgs, for code that fills it from IR. */
typedef enum AttnAttentionField {
    AF_NB0, AF_NB1, AF_L, AF_S, AF_D, AF_DV,
    AF_Q, AF_Q_S0, AF_Q_S1, AF_Q_RS,
    AF_K, AF_K_S0, AF_K_S1, AF_K_RS,
    AF_V, AF_V_S0, AF_V_S1, AF_V_RS,
    AF_O, AF_O_S0, AF_O_S1, AF_O_RS,
    AF_SCALE, AF_MASK, AF_MASK_KIND, AF_M0, AF_M1, AF_MR, AF_MC,
    AF_COUNT
} AttnAttentionField;

enum { ATTN_MASK_NONE = 0, ATTN_MASK_BOOL = 1, ATTN_MASK_ADD = 2 };

/* Emits attn_attention into the module (once; later calls return it). */
LLVMValueRef cg_attention(CgModule *cm);

/* attn_attention for a caller in cm: the definition (cg_attention), or a
 * declaration when the core is compiled separately (cm->core_external). */
LLVMValueRef cg_attention_fn(CgModule *cm);

#endif

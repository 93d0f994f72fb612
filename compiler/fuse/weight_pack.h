/*
 * weight_pack.h — which products read their right operand packed when
 * weights are bound, and from where: a 2-D weight (or a contiguous slice of
 * one, or a scan body's capture of either) or a concatenation of such weights
 * along the output dim (pass_merge_matmuls.c). Plain C over the IR, shared by
 * fusion (a kernel that relies on the packed copy, fuse_gates.c) and code
 * generation (cg_entry.c numbers the packed copies, runners make them).
 */
#ifndef ATTN_WEIGHT_PACK_H
#define ATTN_WEIGHT_PACK_H

#include "ir.h"

/* Most weights one packed operand is concatenated from (pass_merge_matmuls.c). */
#define CG_PARAM_MAX_PARTS 16

/* One slot of a run's weights (ctx->params): a bound weight as it is, or a
 * copy packed for attn_gemm_packed (runtime/rt/pack.h). */
typedef struct CgParam {
    const IrNode *node;  /* the PARAM node whose weight it holds (with parts: the first part's) */
    bool packed;         /* packed for attn_gemm_packed: B of k×n with strides rs, cs */
    bool unread;         /* not packed, but every reader of the weight reads a packed slot:
                            the generated code never reads this slot's data */
    bool bf16;           /* not packed: the slot holds the BF16 bits the weights file stores
                            (an embedding table read unpacked only by gathers, which widen
                            each row they copy; JIT only, CgModule.weight_bf16) */
    int64_t k, n, rs, cs;
    int64_t offset;      /* packed: B starts at this element of the weight (a slice of it) */
    /* packed from a concatenation of weights along B's n dim (JIT, AOT): each
       part a contiguous block of part_n[i] columns of B starting at element
       part_offset[i] of part[i]'s weight; nparts is 0 otherwise */
    int nparts;
    const IrNode *part[CG_PARAM_MAX_PARTS];
    int64_t part_offset[CG_PARAM_MAX_PARTS], part_n[CG_PARAM_MAX_PARTS];
    /* > 1: B's columns are `gates` blocks of n / gates, packed interleaved for a
       product whose epilogue computes the gates (attn_pack_b_gates) */
    int gates;
    /* packed: the storage of the copy (runtime/rt/pack.h, docs/PRECISION.md),
       decided at compile time; the runner converts the f32 panels at bind time */
    attn_weights_dtype dtype;
} CgParam;

/* The node a value really comes from: through scan captures to the outer
 * graph, through slice views (adding their offsets to *offset) and reshapes; *g and *i
 * follow it to its graph and index there. */
const IrNode *weight_source(const IrGraph **g, int *i, int64_t *offset);

/* Whether product mm of g reads its right operand packed at bind time. If so,
 * fills *p (packed, k, n, strides, offset, parts; node is the weight, or the
 * first part's) and, when wg and wi are not NULL, sets them to the graph and
 * index of the weight or of the concatenation. */
bool weight_packed_operand(const IrGraph *g, const IrNode *mm, CgParam *p, const IrGraph **wg, int *wi);

#endif

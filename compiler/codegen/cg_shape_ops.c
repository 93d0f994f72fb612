/*
 * cg_shape_ops.c — code generation for the ops that only move data: permute,
 * slice, concat and gather (embedding lookup). Semantics follow
 * ops/kernels_shape.c; every dtype is moved as bytes (whole contiguous runs
 * through llvm.memcpy, single elements as integers of the element's size).
 *
 * Rows: permute splits over its output rows (all dims but the innermost after
 * merging), slice and concat over the dims before their axis, gather over the
 * ids. Slice checks its (possibly symbolic) start against the extent, gather
 * every id against the table's rows, before reading anything. A gather whose
 * table holds a weights file's BF16 bits (JIT, CgParam.bf16) widens each row
 * it copies to f32.
 */
#include "cg_kernel.h"

static LLVMValueRef c64(CgKernel *k, int64_t v) { return cg_i64(k->cm, v); }
static LLVMValueRef add(CgKernel *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(k->b, a, b, ""); }
static LLVMValueRef mul(CgKernel *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(k->b, a, b, ""); }

/* p + off bytes. */
static LLVMValueRef byte_ptr(CgKernel *k, LLVMValueRef p, LLVMValueRef off) {
    return LLVMBuildInBoundsGEP2(k->b, k->cm->i8, p, &off, 1, "");
}

static unsigned dtype_bytes(attn_dtype dt) { return (unsigned)attn_dtype_size(dt); }

static void copy_bytes(CgKernel *k, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef bytes, unsigned align) {
    LLVMBuildMemCpy(k->b, dst, align, src, align, bytes);
}

/* ---- permute ---- */

/* The permutation with extent-1 dims dropped and runs of output dims that are
 * also neighbours in the input merged: output dim g has extent ext[g] and
 * input stride stride[g] (elements). */
typedef struct PermPlan {
    int n;
    LLVMValueRef ext[ATTN_MAX_RANK], stride[ATTN_MAX_RANK];
    bool last_contiguous;  /* stride[n-1] is 1 */
    bool unit_before_last; /* stride[n-2] is 1 */
} PermPlan;

static PermPlan perm_plan(CgKernel *k) {
    const CgShape *s = &k->in_shape[0];
    const int64_t *perm = k->node->attrs.perm;
    int kept[ATTN_MAX_RANK], pos[ATTN_MAX_RANK], nk = 0;
    for (int x = 0; x < s->rank; x++) {
        pos[x] = -1;
        if (s->cdim[x] != 1) {
            pos[x] = nk;
            kept[nk++] = x;
        }
    }
    int q[ATTN_MAX_RANK], nq = 0;
    for (int d = 0; d < s->rank; d++)
        if (pos[perm[d]] >= 0)
            q[nq++] = pos[perm[d]];
    PermPlan p = {.n = 0};
    for (int t = 0; t < nq;) {
        int u = t;
        while (u + 1 < nq && q[u + 1] == q[u] + 1)
            u++;
        LLVMValueRef e = c64(k, 1);
        for (int v = q[t]; v <= q[u]; v++)
            e = mul(k, e, s->dim[kept[v]]);
        p.ext[p.n] = e;
        p.stride[p.n] = cg_shape_numel(k->cm, k->b, s, kept[q[u]] + 1, s->rank);
        p.unit_before_last = p.last_contiguous;
        p.last_contiguous = q[u] == nk - 1;
        p.n++;
        t = u + 1;
    }
    return p;
}

static LLVMValueRef permute_rows(CgKernel *k) {
    PermPlan p = perm_plan(k);
    LLVMValueRef rows = c64(k, 1);
    for (int g = 0; g + 1 < p.n; g++)
        rows = mul(k, rows, p.ext[g]);
    return rows;
}

/* Source offset (elements) of the first element of output row r. */
static LLVMValueRef perm_row_src(CgKernel *k, const PermPlan *p, LLVMValueRef r) {
    LLVMValueRef rem = r, src = c64(k, 0);
    for (int g = p->n - 2; g >= 0; g--) {
        src = add(k, src, mul(k, LLVMBuildSRem(k->b, rem, p->ext[g], ""), p->stride[g]));
        rem = LLVMBuildSDiv(k->b, rem, p->ext[g], "");
    }
    return src;
}

/* One element of es bytes from in[si] to out[di]. */
static void copy_elem(CgKernel *k, LLVMTypeRef et, unsigned es, LLVMValueRef di, LLVMValueRef si) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef v = LLVMBuildLoad2(b, et, LLVMBuildInBoundsGEP2(b, et, k->in[0], &si, 1, ""), "");
    LLVMSetAlignment(v, es);
    LLVMSetAlignment(LLVMBuildStore(b, v, LLVMBuildInBoundsGEP2(b, et, k->out, &di, 1, "")), es);
}

static LLVMValueRef smin(CgKernel *k, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, a, b, ""), a, b, "");
}

enum { PERM_TILE = 16 };

/* A transpose: the output's innermost dim (extent E, input stride S) is
 * strided and the next one out is the input's contiguous dim. Rows are taken
 * in blocks of up to PERM_TILE consecutive rows of one outer index and copied
 * in PERM_TILE x PERM_TILE tiles, so reads and writes both stay within a few
 * cache lines per tile. */
static void permute_tiled(CgKernel *k, const PermPlan *p, LLVMValueRef lo, LLVMValueRef hi, LLVMTypeRef et,
                          unsigned es) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    LLVMValueRef e1 = p->ext[p->n - 2], e2 = p->ext[p->n - 1], st = p->stride[p->n - 1];
    LLVMValueRef tile = c64(k, PERM_TILE);
    /* while (r < hi) { rows [r, r + nr) share their outer index; r += nr } */
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
    LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "tile_rows");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "tile_body");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "tile_done");
    LLVMBuildBr(b, head);
    LLVMPositionBuilderAtEnd(b, head);
    LLVMValueRef r = LLVMBuildPhi(b, cm->i64, "r");
    LLVMAddIncoming(r, &lo, &pre, 1);
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, r, hi, ""), body, exit);
    LLVMPositionBuilderAtEnd(b, body);
    LLVMValueRef a0 = LLVMBuildSRem(b, r, e1, "");
    LLVMValueRef nr = smin(k, smin(k, tile, LLVMBuildSub(b, hi, r, "")), LLVMBuildSub(b, e1, a0, ""));
    LLVMValueRef src0 = perm_row_src(k, p, r), dst0 = mul(k, r, e2);
    CgLoop lb, la, lj;
    LLVMValueRef b0 = cg_loop_begin(k, &lb, c64(k, 0), e2, 1);
    {
        LLVMValueRef nb = smin(k, tile, LLVMBuildSub(b, e2, b0, ""));
        LLVMValueRef da = cg_loop_begin(k, &la, c64(k, 0), nr, 1);
        LLVMValueRef drow = add(k, dst0, add(k, mul(k, da, e2), b0));
        LLVMValueRef srow = add(k, add(k, src0, da), mul(k, b0, st));
        LLVMValueRef j = cg_loop_begin(k, &lj, c64(k, 0), nb, 1);
        copy_elem(k, et, es, add(k, drow, j), add(k, srow, mul(k, j, st)));
        cg_loop_end(k, &lj);
        cg_loop_end(k, &la);
        /* next tile column: b0 += PERM_TILE (the loop steps by 1) */
        LLVMValueRef next = add(k, b0, c64(k, PERM_TILE - 1));
        LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
        LLVMAddIncoming(lb.i, &next, &latch, 1);
        LLVMBuildBr(b, lb.head);
        LLVMPositionBuilderAtEnd(b, lb.exit);
    }
    LLVMValueRef rn = add(k, r, nr);
    LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
    LLVMAddIncoming(r, &rn, &latch, 1);
    LLVMBuildBr(b, head);
    LLVMPositionBuilderAtEnd(b, exit);
}

static void permute_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    CgModule *cm = k->cm;
    PermPlan p = perm_plan(k);
    unsigned es = dtype_bytes(k->node->type.dtype);
    LLVMTypeRef et = LLVMIntTypeInContext(cm->ctx, es * 8);
    if (p.n == 0) { /* one element */
        copy_bytes(k, k->out, k->in[0], c64(k, es), es);
        return;
    }
    if (!p.last_contiguous && p.n >= 2 && p.unit_before_last) {
        permute_tiled(k, &p, lo, hi, et, es);
        return;
    }
    LLVMValueRef run = p.ext[p.n - 1];
    CgLoop l;
    LLVMValueRef r = cg_loop_begin(k, &l, lo, hi, 1);
    LLVMValueRef src = perm_row_src(k, &p, r);
    LLVMValueRef dst = mul(k, r, run);
    if (p.last_contiguous) {
        LLVMValueRef esz = c64(k, es);
        copy_bytes(k, byte_ptr(k, k->out, mul(k, dst, esz)), byte_ptr(k, k->in[0], mul(k, src, esz)), mul(k, run, esz),
                   es);
    } else {
        LLVMValueRef st = p.stride[p.n - 1];
        CgLoop e;
        LLVMValueRef j = cg_loop_begin(k, &e, c64(k, 0), run, 1);
        copy_elem(k, et, es, add(k, dst, j), add(k, src, mul(k, j, st)));
        cg_loop_end(k, &e);
    }
    cg_loop_end(k, &l);
}

const CgEmitter cg_emit_permute = {permute_rows, permute_body};

/* ---- slice ---- */

static LLVMValueRef slice_rows(CgKernel *k) {
    return cg_shape_numel(k->cm, k->b, &k->in_shape[0], 0, (int)k->node->attrs.axis);
}

static void slice_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    const IrNode *n = k->node;
    int axis = (int)n->attrs.axis;
    int64_t step = n->attrs.step;
    const CgShape *s = &k->in_shape[0];
    LLVMValueRef ext = s->dim[axis], len = k->out_shape.dim[axis];
    LLVMValueRef start = n->start ? cg_dim(cm, b, k->syms, n->start) : c64(k, n->attrs.start);
    if (k->site >= 0) {
        LLVMValueRef last = add(k, start, mul(k, LLVMBuildSub(b, len, c64(k, 1), ""), c64(k, step)));
        LLVMValueRef bad = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntSLT, start, c64(k, 0), ""),
                                       LLVMBuildICmp(b, LLVMIntSGE, last, ext, ""), "");
        bad = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSGT, len, c64(k, 0), ""), bad, "");
        cg_fail_if(k, bad, start, len, ext);
    }
    unsigned es = dtype_bytes(n->type.dtype);
    LLVMValueRef chunk = mul(k, cg_shape_numel(cm, b, s, axis + 1, s->rank), c64(k, es)); /* bytes of one index */
    CgLoop l;
    LLVMValueRef o = cg_loop_begin(k, &l, lo, hi, 1);
    LLVMValueRef src = byte_ptr(k, k->in[0], mul(k, add(k, mul(k, o, ext), start), chunk));
    LLVMValueRef dst = byte_ptr(k, k->out, mul(k, mul(k, o, len), chunk));
    if (step == 1) {
        copy_bytes(k, dst, src, mul(k, len, chunk), es);
    } else {
        CgLoop e;
        LLVMValueRef j = cg_loop_begin(k, &e, c64(k, 0), len, 1);
        copy_bytes(k, byte_ptr(k, dst, mul(k, j, chunk)), byte_ptr(k, src, mul(k, mul(k, j, c64(k, step)), chunk)),
                   chunk, es);
        cg_loop_end(k, &e);
    }
    cg_loop_end(k, &l);
}

const CgEmitter cg_emit_slice = {slice_rows, slice_body};

/* ---- concat ---- */

static LLVMValueRef concat_rows(CgKernel *k) {
    return cg_shape_numel(k->cm, k->b, &k->out_shape, 0, (int)k->node->attrs.axis);
}

static void concat_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    int axis = (int)k->node->attrs.axis;
    unsigned es = dtype_bytes(k->node->type.dtype);
    const CgShape *os = &k->out_shape;
    LLVMValueRef chunk = mul(k, cg_shape_numel(cm, b, os, axis + 1, os->rank), c64(k, es));
    LLVMValueRef bytes[CG_MAX_IN];
    for (int q = 0; q < k->nin; q++)
        bytes[q] = mul(k, k->in_shape[q].dim[axis], chunk);
    LLVMValueRef out_bytes = mul(k, os->dim[axis], chunk);
    CgLoop l;
    LLVMValueRef o = cg_loop_begin(k, &l, lo, hi, 1);
    LLVMValueRef dst = mul(k, o, out_bytes);
    for (int q = 0; q < k->nin; q++) {
        copy_bytes(k, byte_ptr(k, k->out, dst), byte_ptr(k, k->in[q], mul(k, o, bytes[q])), bytes[q], es);
        dst = add(k, dst, bytes[q]);
    }
    cg_loop_end(k, &l);
}

const CgEmitter cg_emit_concat = {concat_rows, concat_body};

/* ---- gather ---- */

static LLVMValueRef gather_ids(CgKernel *k) {
    return cg_shape_numel(k->cm, k->b, &k->in_shape[1], 0, k->in_shape[1].rank);
}

/* id at position i (i64) and whether it is outside [0, rows). */
static LLVMValueRef load_id(CgKernel *k, LLVMValueRef i, LLVMValueRef rows, LLVMValueRef *bad) {
    LLVMValueRef id = cg_load(k, k->in_type[1]->dtype, k->in[1], i, 1);
    *bad = LLVMBuildICmp(k->b, LLVMIntUGE, id, rows, "");
    return id;
}

/* The ids are all checked here, in order and on the calling thread, before
 * any row is copied: the error names the first bad id whatever the split. */
static LLVMValueRef gather_rows(CgKernel *k) {
    LLVMValueRef n = gather_ids(k);
    if (k->site >= 0) {
        LLVMValueRef vocab = k->in_shape[0].dim[0], bad;
        CgLoop l;
        LLVMValueRef i = cg_loop_begin(k, &l, c64(k, 0), n, 1);
        LLVMValueRef id = load_id(k, i, vocab, &bad);
        cg_fail_if(k, bad, id, i, vocab);
        cg_loop_end(k, &l);
    }
    return n;
}

/* Elements [j, j + n) of a row of BF16 bits at src into the f32 row at dst:
 * each one's bits become the upper half of the f32's (exact). */
static void widen_bf16_step(CgKernel *k, LLVMValueRef src, LLVMValueRef dst, LLVMValueRef j, int n) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    LLVMTypeRef i16 = LLVMInt16TypeInContext(cm->ctx);
    LLVMTypeRef half_t = n > 1 ? LLVMVectorType(i16, (unsigned)n) : i16;
    LLVMTypeRef word_t = n > 1 ? LLVMVectorType(cm->i32, (unsigned)n) : cm->i32;
    LLVMValueRef h = LLVMBuildLoad2(b, half_t, LLVMBuildInBoundsGEP2(b, i16, src, &j, 1, ""), "");
    LLVMSetAlignment(h, 2);
    LLVMValueRef w = LLVMBuildShl(b, LLVMBuildZExt(b, h, word_t, ""), cg_splat(k, LLVMConstInt(cm->i32, 16, 0), n), "");
    LLVMSetAlignment(LLVMBuildStore(b, w, LLVMBuildInBoundsGEP2(b, cm->i32, dst, &j, 1, "")), 4);
}

/* Row `id` of a table of BF16 bits, `width` elements, into dst as f32. */
static void widen_bf16_row(CgKernel *k, LLVMValueRef dst, LLVMValueRef id, LLVMValueRef width) {
    LLVMValueRef off = mul(k, id, width);
    LLVMValueRef src = LLVMBuildInBoundsGEP2(k->b, LLVMInt16TypeInContext(k->cm->ctx), k->in[0], &off, 1, "");
    int lanes = cg_target_lanes(k->cm->target);
    CgLoop vec, tail;
    LLVMValueRef j = cg_loop_begin(k, &vec, c64(k, 0), width, lanes);
    widen_bf16_step(k, src, dst, j, lanes);
    cg_loop_end(k, &vec);
    j = cg_loop_begin(k, &tail, vec.i, width, 1);
    widen_bf16_step(k, src, dst, j, 1);
    cg_loop_end_scalar_tail(k, &tail);
}

/* Row `id` of the table (`width` elements, `row` bytes of the output) into
 * dst: its bytes, or its BF16 bits widened (k->param >= 0, CgParam.bf16). */
static void copy_row(CgKernel *k, LLVMValueRef dst, LLVMValueRef id, LLVMValueRef width, LLVMValueRef row,
                     unsigned es) {
    if (k->param >= 0)
        widen_bf16_row(k, dst, id, width);
    else
        copy_bytes(k, dst, byte_ptr(k, k->in[0], mul(k, id, row)), row, es);
}

static void gather_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    const CgShape *ts = &k->in_shape[0];
    unsigned es = dtype_bytes(k->node->type.dtype);
    LLVMValueRef vocab = ts->dim[0];
    LLVMValueRef width = cg_shape_numel(cm, b, ts, 1, ts->rank);
    LLVMValueRef row = mul(k, width, c64(k, es));
    CgLoop l;
    LLVMValueRef i = cg_loop_begin(k, &l, lo, hi, 1), bad;
    LLVMValueRef id = load_id(k, i, vocab, &bad);
    LLVMValueRef dst = byte_ptr(k, k->out, mul(k, i, row));
    if (k->site >= 0) {
        /* already checked by gather_rows; kept so the rows function is safe on its own */
        cg_fail_if(k, bad, id, i, vocab);
        copy_row(k, dst, id, width, row, es);
    } else {
        /* an id outside the table gives a row of zeros, like the reference kernel */
        LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "in_range");
        LLVMBasicBlockRef zero = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "out_of_range");
        LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "next");
        LLVMBuildCondBr(b, bad, zero, ok);
        LLVMPositionBuilderAtEnd(b, ok);
        copy_row(k, dst, id, width, row, es);
        LLVMBuildBr(b, next);
        LLVMPositionBuilderAtEnd(b, zero);
        LLVMBuildMemSet(b, dst, LLVMConstInt(cm->i8, 0, 0), row, es);
        LLVMBuildBr(b, next);
        LLVMPositionBuilderAtEnd(b, next);
    }
    cg_loop_end(k, &l);
}

const CgEmitter cg_emit_gather = {gather_rows, gather_body};

/* ---- check_lengths ---- */

/* Every length checked against 1..T on the calling thread before the copy,
 * so the error names the first bad one; T is the positions' extent. */
static LLVMValueRef check_lengths_rows(CgKernel *k) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef n = k->in_shape[0].dim[0], t = k->in_shape[1].dim[0];
    if (k->site >= 0) {
        CgLoop l;
        LLVMValueRef i = cg_loop_begin(k, &l, c64(k, 0), n, 1);
        LLVMValueRef len = cg_load(k, ATTN_I64, k->in[0], i, 1);
        LLVMValueRef bad = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntSLT, len, c64(k, 1), ""),
                                       LLVMBuildICmp(b, LLVMIntSGT, len, t, ""), "");
        cg_fail_if(k, bad, i, len, t);
        cg_loop_end(k, &l);
    }
    return n;
}

static void check_lengths_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    LLVMValueRef es = c64(k, (int64_t)sizeof(int64_t));
    copy_bytes(k, byte_ptr(k, k->out, mul(k, lo, es)), byte_ptr(k, k->in[0], mul(k, lo, es)),
               mul(k, LLVMBuildSub(k->b, hi, lo, ""), es), sizeof(int64_t));
}

const CgEmitter cg_emit_check_lengths = {check_lengths_rows, check_lengths_body};

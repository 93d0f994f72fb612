/*
 * cg_reduce.c — code generation for the ops that work along one axis: the
 * reductions sum, mean, max, min and argmax, softmax (any axis) and layer norm
 * (last axis). Semantics follow ops/kernels_reduce.c.
 *
 * The operand is viewed as [outer, len, inner] around the axis; the work is
 * outer*inner independent rows of len elements `inner` apart. Two loop shapes:
 *   - contiguous rows (inner == 1): each row is reduced with NACC vector
 *     accumulators of `lanes` floats, then one vector at a time, then one
 *     masked vector for the last len % lanes elements, and a horizontal
 *     reduction at the end;
 *   - strided rows (inner > 1): `lanes` neighbouring rows (consecutive inner
 *     positions) are processed together as one vector, walking the axis with
 *     NACC accumulators; the inner positions that do not fill a vector run as
 *     one masked vector.
 * When inner is only known per call, both are emitted behind a test of inner == 1.
 * Masked-off lanes load a neutral value (0 for sums, -inf for max and exp, +inf for min)
 * and are never stored. Sums accumulate in float (integer sums wrap in the
 * element type); max, min and argmax propagate NaN; softmax of a NaN or all -inf
 * row is NaN.
 */
#include "cg_fused.h"
#include "cg_vmath.h"
#include "op_cases.h"

#include <math.h>
#include <string.h>

enum { NACC = 4 };

/* ---- small helpers ---- */

/* A local variable (an alloca in the entry block; SROA turns it into SSA). */
typedef struct Var {
    LLVMValueRef p;
    LLVMTypeRef t;
} Var;

static Var var_new(CgKernel *k, LLVMTypeRef t, LLVMValueRef init) {
    Var v = {cg_entry_alloca(k, t), t};
    if (init)
        LLVMBuildStore(k->b, init, v.p);
    return v;
}

static LLVMValueRef var_get(CgKernel *k, Var v) { return LLVMBuildLoad2(k->b, v.t, v.p, ""); }
static void var_set(CgKernel *k, Var v, LLVMValueRef x) { LLVMBuildStore(k->b, x, v.p); }

static LLVMTypeRef vec(LLVMTypeRef t, int lanes) { return lanes > 1 ? LLVMVectorType(t, (unsigned)lanes) : t; }

static unsigned elem_bytes(LLVMTypeRef t) {
    return LLVMGetTypeKind(t) == LLVMFloatTypeKind ? 4 : LLVMGetIntTypeWidth(t) / 8;
}

static LLVMValueRef add(CgKernel *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildAdd(k->b, a, b, ""); }
static LLVMValueRef sub(CgKernel *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildSub(k->b, a, b, ""); }
static LLVMValueRef mul(CgKernel *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildMul(k->b, a, b, ""); }
static LLVMValueRef c64(CgKernel *k, int64_t v) { return cg_i64(k->cm, v); }

static int lanes_of(CgKernel *k) {
    int l = cg_target_lanes(k->cm->target);
    return l > 1 ? l : 1;
}

/* An intrinsic overloaded on several types. */
static LLVMValueRef intrinsic(CgKernel *k, const char *name, LLVMTypeRef *ov, int nov, LLVMValueRef *args, int nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(k->cm->mod, id, ov, (size_t)nov);
    return LLVMBuildCall2(k->b, LLVMIntrinsicGetType(k->cm->ctx, id, ov, (size_t)nov), fn, args, (unsigned)nargs, "");
}

/* Lanes j with j < n (i64; n < lanes). */
static LLVMValueRef tail_mask(CgKernel *k, LLVMValueRef n, int lanes) {
    LLVMValueRef iota[64];
    for (int j = 0; j < lanes; j++)
        iota[j] = c64(k, j);
    return LLVMBuildICmp(k->b, LLVMIntSLT, LLVMConstVector(iota, (unsigned)lanes), cg_splat(k, n, lanes), "");
}

/* ptr[idx .. idx+lanes) of element type et; with a mask, the lanes off it
 * read `pass` (a vector) and touch no memory. */
static LLVMValueRef vload(CgKernel *k, LLVMTypeRef et, LLVMValueRef ptr, LLVMValueRef idx, int lanes, LLVMValueRef mask,
                          LLVMValueRef pass) {
    LLVMValueRef p = LLVMBuildInBoundsGEP2(k->b, et, ptr, &idx, 1, "");
    if (mask) {
        LLVMTypeRef ov[] = {vec(et, lanes), k->cm->ptr};
        LLVMValueRef args[] = {p, LLVMConstInt(k->cm->i32, elem_bytes(et), 0), mask, pass};
        return intrinsic(k, "llvm.masked.load", ov, 2, args, 4);
    }
    LLVMValueRef v = LLVMBuildLoad2(k->b, vec(et, lanes), p, "");
    LLVMSetAlignment(v, elem_bytes(et));
    return v;
}

static void vstore(CgKernel *k, LLVMTypeRef et, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef v, LLVMValueRef mask) {
    LLVMValueRef p = LLVMBuildInBoundsGEP2(k->b, et, ptr, &idx, 1, "");
    if (mask) {
        LLVMTypeRef ov[] = {LLVMTypeOf(v), k->cm->ptr};
        LLVMValueRef args[] = {v, p, LLVMConstInt(k->cm->i32, elem_bytes(et), 0), mask};
        intrinsic(k, "llvm.masked.store", ov, 2, args, 4);
        return;
    }
    LLVMSetAlignment(LLVMBuildStore(k->b, v, p), elem_bytes(et));
}

/* The fused input (cg_fused.h) at flat index idx of the current row, lanes
 * off `mask` reading `pass`. */
static LLVMValueRef fused_input(CgKernel *k, LLVMValueRef idx, int lanes, LLVMValueRef mask, LLVMValueRef pass) {
    LLVMValueRef v = cg_fused_eval(k, LLVMBuildSub(k->b, idx, k->fused->row_start, ""), lanes, mask);
    return mask ? LLVMBuildSelect(k->b, mask, v, pass, "") : v;
}

/* Starts row r (first element base) of a fused input. */
static void fused_row(CgKernel *k, LLVMValueRef r, LLVMValueRef base) {
    if (!k->fused)
        return;
    cg_fused_row(k, r);
    k->fused->row_start = base;
}

/* The operand a reduction reads: operand 0, or NULL for a fused input. */
static LLVMValueRef input(CgKernel *k) { return k->fused ? NULL : k->in[0]; }

/* Emits the code after it only when cond holds, up to end_if. */
static LLVMBasicBlockRef begin_if(CgKernel *k, LLVMValueRef cond) {
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(k->cm->ctx, k->fn, "then");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(k->cm->ctx, k->fn, "endif");
    LLVMBuildCondBr(k->b, cond, then, join);
    LLVMPositionBuilderAtEnd(k->b, then);
    return join;
}

static void end_if(CgKernel *k, LLVMBasicBlockRef join) {
    LLVMBuildBr(k->b, join);
    LLVMPositionBuilderAtEnd(k->b, join);
}

static LLVMValueRef is_positive(CgKernel *k, LLVMValueRef n) { return LLVMBuildICmp(k->b, LLVMIntSGT, n, c64(k, 0), ""); }

/* max(a, x) (min(a, x) when `min`) where a NaN in either makes the result
 * NaN and stays (a is the running extreme, x the new element). */
static LLVMValueRef nan_extreme(CgKernel *k, LLVMValueRef a, LLVMValueRef x, bool min) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef better = LLVMBuildFCmp(b, min ? LLVMRealULT : LLVMRealUGT, x, a, "");
    LLVMValueRef take = LLVMBuildAnd(b, better, LLVMBuildFCmp(b, LLVMRealORD, a, a, ""), "");
    return LLVMBuildSelect(b, take, x, a, "");
}

static LLVMValueRef nan_max(CgKernel *k, LLVMValueRef a, LLVMValueRef x) { return nan_extreme(k, a, x, false); }

/* Horizontal nan_extreme of a float vector, by halving. */
static LLVMValueRef hextreme(CgKernel *k, LLVMValueRef v, bool min) {
    LLVMTypeRef t = LLVMTypeOf(v);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
        return v;
    int n = (int)LLVMGetVectorSize(t);
    while (n > 1) {
        int h = n / 2;
        LLVMValueRef lo[32], hi[32];
        for (int i = 0; i < h; i++) {
            lo[i] = LLVMConstInt(k->cm->i32, (unsigned long long)i, 0);
            hi[i] = LLVMConstInt(k->cm->i32, (unsigned long long)(h + i), 0);
        }
        LLVMValueRef u = LLVMGetUndef(LLVMTypeOf(v));
        LLVMValueRef a = LLVMBuildShuffleVector(k->b, v, u, LLVMConstVector(lo, (unsigned)h), "");
        LLVMValueRef c = LLVMBuildShuffleVector(k->b, v, u, LLVMConstVector(hi, (unsigned)h), "");
        v = nan_extreme(k, a, c, min);
        n = h;
    }
    return LLVMBuildExtractElement(k->b, v, LLVMConstInt(k->cm->i32, 0, 0), "");
}

/* ---- reductions of one row or of `lanes` neighbouring rows ---- */

typedef enum RedOp {
    RED_FSUM,   /* sum of floats */
    RED_ISUM,   /* wrapping sum of integers, in the element type */
    RED_MAX,    /* maximum, NaN sticks */
    RED_MIN,    /* minimum, NaN sticks */
    RED_DEV,    /* sum of x - c and sum of (x - c)^2 (two results) */
    RED_EXPSUM, /* y = exp(x - c) stored, summed */
} RedOp;

typedef struct Red {
    RedOp op;
    LLVMTypeRef et;    /* element type of x (and y) */
    LLVMValueRef x, y; /* operand; output of RED_EXPSUM */
} Red;

/* Accumulators: v[0], and v[1] for RED_DEV. */
typedef struct Acc {
    LLVMValueRef v[2];
} Acc;

static int red_parts(const Red *r) { return r->op == RED_DEV ? 2 : 1; }

static LLVMValueRef red_init(CgKernel *k, const Red *r, int lanes) {
    switch (r->op) {
    case RED_MAX: return cg_f32(k->cm, -INFINITY, lanes);
    case RED_MIN: return cg_f32(k->cm, INFINITY, lanes);
    case RED_ISUM: return LLVMConstNull(vec(r->et, lanes));
    case RED_FSUM:
    case RED_DEV:
    case RED_EXPSUM: return cg_f32(k->cm, 0.0, lanes);
    }
    ATTN_UNREACHABLE("reduction out of range");
}

/* acc combined with the `lanes` elements at idx (those on `mask` when not
 * NULL); c is the centre, `lanes` wide. */
static Acc red_step(CgKernel *k, const Red *r, Acc acc, LLVMValueRef idx, LLVMValueRef c, int lanes, LLVMValueRef mask) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef pass = NULL; /* what masked-off lanes read: neutral for the reduction */
    if (mask)
        pass = r->op == RED_DEV ? c : r->op == RED_EXPSUM ? cg_f32(k->cm, -INFINITY, lanes) : red_init(k, r, lanes);
    LLVMValueRef x = r->x ? vload(k, r->et, r->x, idx, lanes, mask, pass) : fused_input(k, idx, lanes, mask, pass);
    switch (r->op) {
    case RED_FSUM: acc.v[0] = LLVMBuildFAdd(b, acc.v[0], x, ""); break;
    case RED_ISUM: acc.v[0] = LLVMBuildAdd(b, acc.v[0], x, ""); break;
    case RED_MAX: acc.v[0] = nan_max(k, acc.v[0], x); break;
    case RED_MIN: acc.v[0] = nan_extreme(k, acc.v[0], x, true); break;
    case RED_DEV: {
        LLVMValueRef d = LLVMBuildFSub(b, x, c, "");
        acc.v[0] = LLVMBuildFAdd(b, acc.v[0], d, "");
        acc.v[1] = cg_fast(LLVMBuildFAdd(b, acc.v[1], cg_fast(LLVMBuildFMul(b, d, d, "")), ""));
        break;
    }
    case RED_EXPSUM: {
        LLVMValueRef e = cg_vexp(k->cm, b, LLVMBuildFSub(b, x, c, ""));
        vstore(k, r->et, r->y, idx, e, mask);
        acc.v[0] = LLVMBuildFAdd(b, acc.v[0], e, "");
        break;
    }
    }
    return acc;
}

static LLVMValueRef red_combine1(CgKernel *k, const Red *r, LLVMValueRef a, LLVMValueRef c) {
    switch (r->op) {
    case RED_MAX: return nan_max(k, a, c);
    case RED_MIN: return nan_extreme(k, a, c, true);
    case RED_ISUM: return LLVMBuildAdd(k->b, a, c, "");
    case RED_FSUM:
    case RED_DEV:
    case RED_EXPSUM: return LLVMBuildFAdd(k->b, a, c, "");
    }
    ATTN_UNREACHABLE("reduction out of range");
}

static Acc red_combine(CgKernel *k, const Red *r, Acc a, Acc c) {
    for (int p = 0; p < red_parts(r); p++)
        a.v[p] = red_combine1(k, r, a.v[p], c.v[p]);
    return a;
}

static Acc red_horizontal(CgKernel *k, const Red *r, Acc a) {
    for (int p = 0; p < red_parts(r); p++) {
        LLVMValueRef v = a.v[p];
        switch (r->op) {
        case RED_MAX: a.v[p] = hextreme(k, v, false); break;
        case RED_MIN: a.v[p] = hextreme(k, v, true); break;
        case RED_ISUM: a.v[p] = cg_intrinsic(k->cm, k->b, "llvm.vector.reduce.add", LLVMTypeOf(v), &v, 1); break;
        case RED_FSUM:
        case RED_DEV:
        case RED_EXPSUM: a.v[p] = cg_reduce_fadd(k, v); break;
        }
    }
    return a;
}

/* Variables holding an Acc of `lanes`. */
typedef struct AccVar {
    Var v[2];
} AccVar;

static AccVar acc_new(CgKernel *k, const Red *r, int lanes) {
    AccVar a = {0};
    for (int p = 0; p < red_parts(r); p++)
        a.v[p] = var_new(k, vec(LLVMTypeOf(red_init(k, r, 1)), lanes), red_init(k, r, lanes));
    return a;
}

static Acc acc_get(CgKernel *k, const Red *r, AccVar a) {
    Acc v = {{NULL, NULL}};
    for (int p = 0; p < red_parts(r); p++)
        v.v[p] = var_get(k, a.v[p]);
    return v;
}

static void acc_set(CgKernel *k, const Red *r, AccVar a, Acc v) {
    for (int p = 0; p < red_parts(r); p++)
        var_set(k, a.v[p], v.v[p]);
}

/* Reduces the contiguous elements [base, base + len) to scalars; c is a
 * scalar centre or NULL. */
static Acc red_row(CgKernel *k, const Red *r, LLVMValueRef base, LLVMValueRef len, LLVMValueRef c) {
    int lanes = lanes_of(k);
    LLVMValueRef end = add(k, base, len);
    LLVMValueRef cv = c ? cg_splat(k, c, lanes) : NULL;
    AccVar acc[NACC];
    for (int j = 0; j < NACC; j++)
        acc[j] = acc_new(k, r, lanes);
    CgLoop l1, l2;
    LLVMValueRef i = cg_loop_begin(k, &l1, base, end, (int64_t)NACC * lanes);
    for (int j = 0; j < NACC; j++)
        acc_set(k, r, acc[j],
                red_step(k, r, acc_get(k, r, acc[j]), add(k, i, c64(k, (int64_t)j * lanes)), cv, lanes, NULL));
    cg_loop_end(k, &l1);
    i = cg_loop_begin(k, &l2, l1.i, end, lanes);
    acc_set(k, r, acc[1], red_step(k, r, acc_get(k, r, acc[1]), i, cv, lanes, NULL));
    cg_loop_end(k, &l2);
    LLVMValueRef rest = sub(k, end, l2.i);
    LLVMBasicBlockRef join = begin_if(k, is_positive(k, rest));
    acc_set(k, r, acc[2], red_step(k, r, acc_get(k, r, acc[2]), l2.i, cv, lanes, tail_mask(k, rest, lanes)));
    end_if(k, join);
    Acc v01 = red_combine(k, r, acc_get(k, r, acc[0]), acc_get(k, r, acc[1]));
    Acc v23 = red_combine(k, r, acc_get(k, r, acc[2]), acc_get(k, r, acc[3]));
    return red_horizontal(k, r, red_combine(k, r, v01, v23));
}

/* Reduces `lanes` neighbouring rows (those on `mask` when not NULL):
 * elements base + j*stride (+ lane) for j in [0, len); c is a centre `lanes`
 * wide or NULL. Returns `lanes` results. */
static Acc red_col(CgKernel *k, const Red *r, LLVMValueRef base, LLVMValueRef len, LLVMValueRef stride,
                   LLVMValueRef c, int lanes, LLVMValueRef mask) {
    AccVar acc[NACC];
    for (int a = 0; a < NACC; a++)
        acc[a] = acc_new(k, r, lanes);
    CgLoop l1, l2;
    LLVMValueRef j = cg_loop_begin(k, &l1, c64(k, 0), len, NACC);
    LLVMValueRef idx = add(k, base, mul(k, j, stride));
    for (int a = 0; a < NACC; a++) {
        acc_set(k, r, acc[a], red_step(k, r, acc_get(k, r, acc[a]), idx, c, lanes, mask));
        idx = add(k, idx, stride);
    }
    cg_loop_end(k, &l1);
    j = cg_loop_begin(k, &l2, l1.i, len, 1);
    acc_set(k, r, acc[0], red_step(k, r, acc_get(k, r, acc[0]), add(k, base, mul(k, j, stride)), c, lanes, mask));
    cg_loop_end(k, &l2);
    Acc v01 = red_combine(k, r, acc_get(k, r, acc[0]), acc_get(k, r, acc[1]));
    Acc v23 = red_combine(k, r, acc_get(k, r, acc[2]), acc_get(k, r, acc[3]));
    return red_combine(k, r, v01, v23);
}

static void scale_at(CgKernel *k, LLVMValueRef y, LLVMValueRef idx, LLVMValueRef s, int lanes, LLVMValueRef mask) {
    LLVMTypeRef f = k->cm->f32;
    LLVMValueRef v = vload(k, f, y, idx, lanes, mask, mask ? LLVMGetUndef(vec(f, lanes)) : NULL);
    vstore(k, f, y, idx, LLVMBuildFMul(k->b, v, s, ""), mask);
}

/* y *= s over the contiguous elements [base, base + len). */
static void scale_row(CgKernel *k, LLVMValueRef y, LLVMValueRef base, LLVMValueRef len, LLVMValueRef s) {
    int lanes = lanes_of(k);
    LLVMValueRef end = add(k, base, len), sv = cg_splat(k, s, lanes);
    CgLoop l;
    LLVMValueRef i = cg_loop_begin(k, &l, base, end, lanes);
    scale_at(k, y, i, sv, lanes, NULL);
    cg_loop_end(k, &l);
    LLVMValueRef rest = sub(k, end, l.i);
    LLVMBasicBlockRef join = begin_if(k, is_positive(k, rest));
    scale_at(k, y, l.i, sv, lanes, tail_mask(k, rest, lanes));
    end_if(k, join);
}

static void scale_col(CgKernel *k, LLVMValueRef y, LLVMValueRef base, LLVMValueRef len, LLVMValueRef stride,
                      LLVMValueRef s, int lanes, LLVMValueRef mask) {
    CgLoop l;
    LLVMValueRef j = cg_loop_begin(k, &l, c64(k, 0), len, 1);
    scale_at(k, y, add(k, base, mul(k, j, stride)), s, lanes, mask);
    cg_loop_end(k, &l);
}

/* ---- the [outer, len, inner] view and its two loop shapes ---- */

typedef struct Axis {
    LLVMValueRef outer, len, inner; /* i64 */
    int inner_one;                  /* 1: inner is 1; 0: inner is another constant; -1: known per call */
} Axis;

static Axis axis_view(CgKernel *k, int axis) {
    const CgShape *s = &k->in_shape[0];
    Axis ax = {
        .outer = cg_shape_numel(k->cm, k->b, s, 0, axis),
        .len = s->dim[axis],
        .inner = cg_shape_numel(k->cm, k->b, s, axis + 1, s->rank),
    };
    int64_t inner = 1;
    bool known = true;
    for (int d = axis + 1; d < s->rank; d++) {
        if (s->cdim[d] < 0)
            known = false;
        else
            inner *= s->cdim[d];
    }
    ax.inner_one = known ? inner == 1 : -1;
    return ax;
}

/* What one op does to a contiguous row r, or to `lanes` rows at inner
 * positions [i, i + lanes) of outer index o (those on `mask` when not NULL). */
typedef struct AxisOp {
    void (*row)(CgKernel *k, const Axis *ax, LLVMValueRef r);
    void (*col)(CgKernel *k, const Axis *ax, LLVMValueRef o, LLVMValueRef i, int lanes, LLVMValueRef mask);
} AxisOp;

static void rows_contiguous(CgKernel *k, const Axis *ax, const AxisOp *op, LLVMValueRef lo, LLVMValueRef hi) {
    CgLoop l;
    LLVMValueRef r = cg_loop_begin(k, &l, lo, hi, 1);
    op->row(k, ax, r);
    cg_loop_end(k, &l);
}

static LLVMValueRef smax(CgKernel *k, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSGT, a, b, ""), a, b, "");
}
static LLVMValueRef smin(CgKernel *k, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* Rows [lo, hi) are (o, i) with r = o*inner + i: vectors of `lanes` along i
 * within each o, then one masked vector. */
static void rows_strided(CgKernel *k, const Axis *ax, const AxisOp *op, LLVMValueRef lo, LLVMValueRef hi) {
    LLVMBuilderRef b = k->b;
    int lanes = lanes_of(k);
    LLVMValueRef inner = smax(k, ax->inner, c64(k, 1));
    LLVMValueRef o_lo = LLVMBuildSDiv(b, lo, inner, "");
    LLVMValueRef o_hi = LLVMBuildSDiv(b, add(k, hi, sub(k, inner, c64(k, 1))), inner, "");
    CgLoop lo_loop, vl;
    LLVMValueRef o = cg_loop_begin(k, &lo_loop, o_lo, o_hi, 1);
    LLVMValueRef first = mul(k, o, ax->inner);
    LLVMValueRef i0 = smax(k, sub(k, lo, first), c64(k, 0));
    LLVMValueRef i1 = smin(k, sub(k, hi, first), ax->inner);
    LLVMValueRef i = cg_loop_begin(k, &vl, i0, i1, lanes);
    op->col(k, ax, o, i, lanes, NULL);
    cg_loop_end(k, &vl);
    LLVMValueRef rest = sub(k, i1, vl.i);
    LLVMBasicBlockRef join = begin_if(k, is_positive(k, rest));
    op->col(k, ax, o, vl.i, lanes, tail_mask(k, rest, lanes));
    end_if(k, join);
    cg_loop_end(k, &lo_loop);
}

static void axis_body(CgKernel *k, int axis, const AxisOp *op, LLVMValueRef lo, LLVMValueRef hi) {
    Axis ax = axis_view(k, axis);
    if (ax.inner_one == 1) {
        rows_contiguous(k, &ax, op, lo, hi);
        return;
    }
    if (ax.inner_one == 0) {
        rows_strided(k, &ax, op, lo, hi);
        return;
    }
    CgModule *cm = k->cm;
    LLVMBasicBlockRef bc = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "contiguous");
    LLVMBasicBlockRef bs = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "strided");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "join");
    LLVMBuildCondBr(k->b, LLVMBuildICmp(k->b, LLVMIntEQ, ax.inner, c64(k, 1), ""), bc, bs);
    LLVMPositionBuilderAtEnd(k->b, bc);
    rows_contiguous(k, &ax, op, lo, hi);
    LLVMBuildBr(k->b, join);
    LLVMPositionBuilderAtEnd(k->b, bs);
    rows_strided(k, &ax, op, lo, hi);
    LLVMBuildBr(k->b, join);
    LLVMPositionBuilderAtEnd(k->b, join);
}

/* outer*inner of operand 0 around `axis`. */
static LLVMValueRef axis_rows(CgKernel *k, int axis) {
    const CgShape *s = &k->in_shape[0];
    return mul(k, cg_shape_numel(k->cm, k->b, s, 0, axis), cg_shape_numel(k->cm, k->b, s, axis + 1, s->rank));
}

/* ---- sum, mean, max, min, argmax ---- */

static Red reduce_red(CgKernel *k) {
    attn_dtype dt = k->in_type[0]->dtype;
    Red r = {.et = cg_storage_type(k->cm, dt), .x = k->in[0]};
    switch (k->node->op) {
    case OP_MAX: r.op = RED_MAX; return r;
    case OP_MIN: r.op = RED_MIN; return r;
    case OP_SUM:
    case OP_MEAN: r.op = dt == ATTN_F32 ? RED_FSUM : RED_ISUM; return r;
    case OP_INPUT: case OP_PARAM: case OP_CONST: case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    case OP_ARGMAX: case OP_SOFTMAX: case OP_LAYER_NORM: case OP_MATMUL: case OP_RESHAPE: case OP_PERMUTE:
    case OP_SLICE: case OP_CONCAT: case OP_EXPAND: case OP_GATHER: case OP_CHECK_LENGTHS: case OP_SCAN: case OP_RESULT: case OP_COUNT:
        break;
    }
    ATTN_UNREACHABLE("reduction kernel for an op it has no accumulator for");
}

/* Looks for a hit among `lanes` elements at i (on `mask` when not NULL): an
 * element equal to m, or a NaN; on one, sets res to its index from base and
 * leaves for `found`. */
static void match_at(CgKernel *k, LLVMValueRef i, LLVMValueRef base, LLVMValueRef mv, LLVMValueRef mask, Var res,
                     LLVMBasicBlockRef found) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    int lanes = lanes_of(k);
    LLVMValueRef v = vload(k, cm->f32, k->in[0], i, lanes, mask, cg_f32(cm, 0.0, lanes));
    LLVMValueRef hit =
        LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOEQ, v, mv, ""), LLVMBuildFCmp(b, LLVMRealUNO, v, v, ""), "");
    if (mask)
        hit = LLVMBuildAnd(b, hit, mask, "");
    LLVMTypeRef bt = LLVMIntTypeInContext(cm->ctx, (unsigned)lanes);
    LLVMValueRef bits = LLVMBuildBitCast(b, hit, bt, "");
    LLVMBasicBlockRef hit_bb = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "hit");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "next");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntNE, bits, LLVMConstNull(bt), ""), hit_bb, next);
    LLVMPositionBuilderAtEnd(b, hit_bb);
    LLVMValueRef args[] = {bits, LLVMConstInt(cm->i1, 1, 0)};
    LLVMValueRef tz = LLVMBuildZExt(b, cg_intrinsic(cm, b, "llvm.cttz", bt, args, 2), cm->i64, "");
    var_set(k, res, add(k, sub(k, i, base), tz));
    LLVMBuildBr(b, found);
    LLVMPositionBuilderAtEnd(b, next);
}

/* Index (from base) of the first element of [base, base + len) equal to m,
 * or of the first NaN when m is NaN (then no element compares equal); 0
 * when there is none. */
static LLVMValueRef first_match(CgKernel *k, LLVMValueRef base, LLVMValueRef len, LLVMValueRef m) {
    CgModule *cm = k->cm;
    int lanes = lanes_of(k);
    LLVMValueRef end = add(k, base, len), mv = cg_splat(k, m, lanes);
    Var res = var_new(k, cm->i64, c64(k, 0));
    LLVMBasicBlockRef found = LLVMAppendBasicBlockInContext(cm->ctx, k->fn, "found");
    CgLoop l;
    LLVMValueRef i = cg_loop_begin(k, &l, base, end, lanes);
    match_at(k, i, base, mv, NULL, res, found);
    cg_loop_end(k, &l);
    LLVMValueRef rest = sub(k, end, l.i);
    LLVMBasicBlockRef join = begin_if(k, is_positive(k, rest));
    match_at(k, l.i, base, mv, tail_mask(k, rest, lanes), res, found);
    end_if(k, join);
    LLVMBuildBr(k->b, found);
    LLVMPositionBuilderAtEnd(k->b, found);
    return var_get(k, res);
}

static void reduce_store(CgKernel *k, const Axis *ax, LLVMValueRef idx, LLVMValueRef v, int lanes, LLVMValueRef mask) {
    CgModule *cm = k->cm;
    if (k->node->op == OP_MEAN)
        v = LLVMBuildFDiv(k->b, v, cg_splat(k, LLVMBuildSIToFP(k->b, ax->len, cm->f32, ""), lanes), "");
    vstore(k, cg_storage_type(cm, k->node->type.dtype), k->out, idx, v, mask);
}

static void reduce_row(CgKernel *k, const Axis *ax, LLVMValueRef r) {
    LLVMValueRef base = mul(k, r, ax->len);
    if (k->node->op == OP_ARGMAX) {
        Red red = {.op = RED_MAX, .et = k->cm->f32, .x = k->in[0]};
        LLVMValueRef m = red_row(k, &red, base, ax->len, NULL).v[0];
        vstore(k, k->cm->i64, k->out, r, first_match(k, base, ax->len, m), NULL);
        return;
    }
    Red red = reduce_red(k);
    reduce_store(k, ax, r, red_row(k, &red, base, ax->len, NULL).v[0], 1, NULL);
}

/* Argmax of `lanes` neighbouring rows: per lane the best value and its index. */
static void argmax_col(CgKernel *k, LLVMValueRef base, LLVMValueRef len, LLVMValueRef stride, LLVMValueRef out_idx,
                       int lanes, LLVMValueRef mask) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    LLVMValueRef ninf = cg_f32(cm, -INFINITY, lanes);
    Var best = var_new(k, vec(cm->f32, lanes), ninf);
    Var at = var_new(k, vec(cm->i64, lanes), LLVMConstNull(vec(cm->i64, lanes)));
    CgLoop l;
    LLVMValueRef j = cg_loop_begin(k, &l, c64(k, 0), len, 1);
    LLVMValueRef x = vload(k, cm->f32, k->in[0], add(k, base, mul(k, j, stride)), lanes, mask, ninf);
    LLVMValueRef cur = var_get(k, best);
    LLVMValueRef take =
        LLVMBuildAnd(b, LLVMBuildFCmp(b, LLVMRealUGT, x, cur, ""), LLVMBuildFCmp(b, LLVMRealORD, cur, cur, ""), "");
    var_set(k, best, LLVMBuildSelect(b, take, x, cur, ""));
    var_set(k, at, LLVMBuildSelect(b, take, cg_splat(k, j, lanes), var_get(k, at), ""));
    cg_loop_end(k, &l);
    vstore(k, cm->i64, k->out, out_idx, var_get(k, at), mask);
}

static void reduce_col(CgKernel *k, const Axis *ax, LLVMValueRef o, LLVMValueRef i, int lanes, LLVMValueRef mask) {
    LLVMValueRef base = add(k, mul(k, mul(k, o, ax->len), ax->inner), i);
    LLVMValueRef out_idx = add(k, mul(k, o, ax->inner), i);
    if (k->node->op == OP_ARGMAX) {
        argmax_col(k, base, ax->len, ax->inner, out_idx, lanes, mask);
        return;
    }
    Red red = reduce_red(k);
    reduce_store(k, ax, out_idx, red_col(k, &red, base, ax->len, ax->inner, NULL, lanes, mask).v[0], lanes, mask);
}

static const AxisOp reduce_op = {reduce_row, reduce_col};

static LLVMValueRef reduce_rows(CgKernel *k) { return axis_rows(k, (int)k->node->attrs.axis); }

static void reduce_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    axis_body(k, (int)k->node->attrs.axis, &reduce_op, lo, hi);
}

const CgEmitter cg_emit_reduce = {reduce_rows, reduce_body};

/* ---- softmax ---- */

static void softmax_row(CgKernel *k, const Axis *ax, LLVMValueRef r) {
    CgModule *cm = k->cm;
    LLVMValueRef base = mul(k, r, ax->len);
    fused_row(k, r, base);
    Red mx = {.op = RED_MAX, .et = cm->f32, .x = input(k)};
    LLVMValueRef m = red_row(k, &mx, base, ax->len, NULL).v[0];
    Red ex = {.op = RED_EXPSUM, .et = cm->f32, .x = input(k), .y = k->out};
    LLVMValueRef s = red_row(k, &ex, base, ax->len, m).v[0];
    scale_row(k, k->out, base, ax->len, LLVMBuildFDiv(k->b, cg_f32(cm, 1.0, 1), s, ""));
}

static void softmax_col(CgKernel *k, const Axis *ax, LLVMValueRef o, LLVMValueRef i, int lanes, LLVMValueRef mask) {
    CgModule *cm = k->cm;
    LLVMValueRef base = add(k, mul(k, mul(k, o, ax->len), ax->inner), i);
    Red mx = {.op = RED_MAX, .et = cm->f32, .x = k->in[0]};
    LLVMValueRef m = red_col(k, &mx, base, ax->len, ax->inner, NULL, lanes, mask).v[0];
    Red ex = {.op = RED_EXPSUM, .et = cm->f32, .x = k->in[0], .y = k->out};
    LLVMValueRef s = red_col(k, &ex, base, ax->len, ax->inner, m, lanes, mask).v[0];
    scale_col(k, k->out, base, ax->len, ax->inner, LLVMBuildFDiv(k->b, cg_f32(cm, 1.0, lanes), s, ""), lanes, mask);
}

static const AxisOp softmax_op = {softmax_row, softmax_col};

static void softmax_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    if (k->fused) /* fused only over the last axis: rows are contiguous */
        cg_fused_begin(k);
    axis_body(k, (int)k->node->attrs.axis, &softmax_op, lo, hi);
}

const CgEmitter cg_emit_softmax = {reduce_rows, softmax_body};

void cg_softmax_fused_rows(CgKernel *k, LLVMValueRef len, LLVMValueRef lo, LLVMValueRef hi) {
    Axis ax = {.outer = hi, .len = len, .inner = c64(k, 1), .inner_one = 1};
    rows_contiguous(k, &ax, &softmax_op, lo, hi);
}

/* ---- layer norm over the last axis ---- */

static LLVMValueRef layer_norm_rows(CgKernel *k) {
    const CgShape *s = &k->in_shape[0];
    return cg_shape_numel(k->cm, k->b, s, 0, s->rank - 1);
}

/* y = ((x - m0) - dm) * rstd [* w] [+ bias] for the `lanes` row elements at
 * i (on `mask` when not NULL), all arguments but i and base `lanes` wide. */
static void layer_norm_at(CgKernel *k, LLVMValueRef base, LLVMValueRef i, LLVMValueRef m0, LLVMValueRef dm,
                          LLVMValueRef rstd, int lanes, LLVMValueRef mask) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    LLVMValueRef pass = mask ? cg_f32(cm, 0.0, lanes) : NULL;
    LLVMValueRef idx = add(k, base, i);
    LLVMValueRef x = k->fused ? fused_input(k, idx, lanes, mask, pass) : vload(k, cm->f32, k->in[0], idx, lanes, mask, pass);
    LLVMValueRef v = LLVMBuildFSub(b, x, m0, "");
    v = LLVMBuildFMul(b, LLVMBuildFSub(b, v, dm, ""), rstd, "");
    if (k->node->nin > 1) /* the root's operands: a fused kernel has more */
        v = cg_fast(LLVMBuildFMul(b, v, vload(k, cm->f32, k->in[1], i, lanes, mask, pass), ""));
    if (k->node->nin > 2)
        v = cg_fast(LLVMBuildFAdd(b, v, vload(k, cm->f32, k->in[2], i, lanes, mask, pass), ""));
    vstore(k, cm->f32, k->out, idx, v, mask);
}

/* Per row: m0 = sum(x) / d; then s1 = sum(x - m0) and s2 = sum((x - m0)^2)
 * give the mean m0 + dm (dm = s1 / d, which repairs the rounding of m0) and
 * the variance s2 / d - dm^2. */
static void layer_norm_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    int lanes = lanes_of(k);
    const CgShape *s = &k->in_shape[0];
    LLVMValueRef d = s->dim[s->rank - 1];
    LLVMValueRef df = LLVMBuildSIToFP(b, d, cm->f32, "");
    if (k->fused)
        cg_fused_begin(k);
    CgLoop l, e;
    LLVMValueRef r = cg_loop_begin(k, &l, lo, hi, 1);
    LLVMValueRef base = mul(k, r, d);
    fused_row(k, r, base);
    Red sum = {.op = RED_FSUM, .et = cm->f32, .x = input(k)};
    LLVMValueRef m0 = LLVMBuildFDiv(b, red_row(k, &sum, base, d, NULL).v[0], df, "");
    Red dev = {.op = RED_DEV, .et = cm->f32, .x = input(k)};
    Acc sd = red_row(k, &dev, base, d, m0);
    LLVMValueRef dm = LLVMBuildFDiv(b, sd.v[0], df, "");
    LLVMValueRef var = LLVMBuildFSub(b, LLVMBuildFDiv(b, sd.v[1], df, ""), LLVMBuildFMul(b, dm, dm, ""), "");
    LLVMValueRef v = LLVMBuildFAdd(b, var, cg_f32(cm, k->node->attrs.eps, 1), "");
    LLVMValueRef rstd = LLVMBuildFDiv(b, cg_f32(cm, 1.0, 1), cg_intrinsic(cm, b, "llvm.sqrt", cm->f32, &v, 1), "");
    LLVMValueRef m0v = cg_splat(k, m0, lanes), dmv = cg_splat(k, dm, lanes), rv = cg_splat(k, rstd, lanes);
    LLVMValueRef i = cg_loop_begin(k, &e, c64(k, 0), d, lanes);
    layer_norm_at(k, base, i, m0v, dmv, rv, lanes, NULL);
    cg_loop_end(k, &e);
    LLVMValueRef rest = sub(k, d, e.i);
    LLVMBasicBlockRef join = begin_if(k, is_positive(k, rest));
    layer_norm_at(k, base, e.i, m0v, dmv, rv, lanes, tail_mask(k, rest, lanes));
    end_if(k, join);
    cg_loop_end(k, &l);
}

const CgEmitter cg_emit_layer_norm = {layer_norm_rows, layer_norm_body};

/*
 * cg_elementwise.c — code generation for ops that compute each output element
 * from the elements at the same broadcast index: unary math, casts, binary
 * arithmetic, comparisons, logic, where, expand, and the sources full and
 * arange.
 *
 * What each op computes is its emitter below, named in ops.def's emit column
 * and dispatched through a table generated from it.
 *
 * The output's dims are merged into groups inside which every operand is
 * either contiguous or broadcast (decided at compile time from the symbolic
 * shapes: a dim broadcasts when the operand's extent is the constant 1). The
 * last group is the inner loop, run a vector at a time with a scalar
 * remainder; each operand there has stride 1 (vector load) or 0 (splat).
 * The other groups form the independent rows. Semantics follow
 * ops/kernels_elementwise.c exactly (integer wrap-around, division by zero
 * is 0, NaN-propagating maximum/minimum, saturating float→int casts).
 */
#include "cg_kernel.h"
#include "cg_vmath.h"

#include <math.h>
#include <string.h>

enum { MAX_OPS = 3 };

/* The loop structure of one elementwise node. */
typedef struct Groups {
    int n;                                  /* groups (0 for a scalar) */
    LLVMValueRef extent[ATTN_MAX_RANK];     /* product of each group's dims */
    bool bcast[MAX_OPS][ATTN_MAX_RANK];     /* operand is broadcast along the group */
    LLVMValueRef stride[MAX_OPS][ATTN_MAX_RANK]; /* operand's element stride per group */
} Groups;

/* Whether operand i is broadcast along output dim d. */
static bool dim_bcast(const CgKernel *k, int i, int d) {
    const IrType *t = k->in_type[i];
    int od = d - (k->node->type.rank - t->rank);
    if (od < 0)
        return true;
    int64_t v;
    return dim_is_const(t->dims[od], &v) && v == 1 && !(dim_is_const(k->node->type.dims[d], &v) && v == 1);
}

static int noperands(const CgKernel *k) { return k->nin < MAX_OPS ? k->nin : MAX_OPS; }

static Groups make_groups(CgKernel *k) {
    Groups g = {0};
    int rank = k->node->type.rank, nops = noperands(k);
    for (int d = 0; d < rank; d++) {
        bool same = g.n > 0;
        for (int i = 0; i < nops && same; i++)
            same = g.bcast[i][g.n - 1] == dim_bcast(k, i, d);
        if (same) {
            g.extent[g.n - 1] = LLVMBuildMul(k->b, g.extent[g.n - 1], k->out_shape.dim[d], "");
            continue;
        }
        for (int i = 0; i < nops; i++)
            g.bcast[i][g.n] = dim_bcast(k, i, d);
        g.extent[g.n++] = k->out_shape.dim[d];
    }
    for (int i = 0; i < nops; i++) {
        LLVMValueRef s = cg_i64(k->cm, 1);
        for (int j = g.n - 1; j >= 0; j--) {
            g.stride[i][j] = g.bcast[i][j] ? cg_i64(k->cm, 0) : s;
            if (!g.bcast[i][j])
                s = LLVMBuildMul(k->b, s, g.extent[j], "");
        }
    }
    return g;
}

static LLVMValueRef ew_rows(CgKernel *k) {
    Groups g = make_groups(k);
    LLVMValueRef rows = cg_i64(k->cm, 1);
    for (int j = 0; j + 1 < g.n; j++)
        rows = LLVMBuildMul(k->b, rows, g.extent[j], "");
    return rows;
}

/* ---- one emitter per elementwise op (ops.def's emit column) ----
 * Each returns op(x[0], ...) for `lanes`-wide operands (scalars when lanes is
 * 1); `real` says whether the operands are f32 (the integer and bool forms of
 * an op share its emitter). Float-only ops are never given integers: shape
 * inference rejects them. */

typedef struct EwArgs {
    const IrNode *n;          /* the node (attributes, output dtype) */
    const attn_dtype *in_dt;  /* operand dtypes */
    const LLVMValueRef *x;    /* operand values */
    LLVMValueRef flat;        /* flat index of the first element (ARANGE) */
    int lanes;
    bool real;                /* operands are f32 */
} EwArgs;

typedef LLVMValueRef (*EwEmit)(CgKernel *k, const EwArgs *a);

static LLVMValueRef f32c(CgKernel *k, const EwArgs *a, double v) { return cg_f32(k->cm, v, a->lanes); }

static LLVMValueRef intrinsic1(CgKernel *k, const char *name, LLVMValueRef x) {
    return cg_intrinsic(k->cm, k->b, name, LLVMTypeOf(x), &x, 1);
}

/* sources */

/* A FULL node's value in its dtype's compute type (ku_store_real's rules). */
static LLVMValueRef ew_full(CgKernel *k, const EwArgs *a) {
    double v = a->n->attrs.fill;
    attn_dtype dt = a->n->type.dtype;
    if (dt == ATTN_F32)
        return cg_f32(k->cm, (float)v, a->lanes);
    int64_t iv;
    if (dt == ATTN_BOOL)
        iv = v != 0;
    else if (isnan(v))
        iv = 0;
    else {
        double lo = dt == ATTN_I32 ? (double)INT32_MIN : -9223372036854775808.0;
        double hi = dt == ATTN_I32 ? (double)INT32_MAX : 9223372036854775807.0;
        iv = v <= lo ? (dt == ATTN_I32 ? INT32_MIN : INT64_MIN) : v >= hi ? (dt == ATTN_I32 ? INT32_MAX : INT64_MAX) : (int64_t)v;
    }
    return cg_splat(k, cg_i64(k->cm, iv), a->lanes);
}

/* start + index * step, wrapping, then stored like an integer */
static LLVMValueRef ew_arange(CgKernel *k, const EwArgs *a) {
    int lanes = a->lanes;
    LLVMValueRef idx = cg_splat(k, a->flat, lanes);
    if (lanes > 1) {
        LLVMValueRef iota[64];
        for (int i = 0; i < lanes; i++)
            iota[i] = cg_i64(k->cm, i);
        idx = LLVMBuildAdd(k->b, idx, LLVMConstVector(iota, (unsigned)lanes), "");
    }
    LLVMValueRef v = LLVMBuildAdd(k->b, cg_splat(k, cg_i64(k->cm, a->n->attrs.start), lanes),
                                  LLVMBuildMul(k->b, idx, cg_splat(k, cg_i64(k->cm, a->n->attrs.step), lanes), ""), "");
    return cg_convert(k, ATTN_I64, a->n->type.dtype, v, lanes);
}

/* one operand */

static LLVMValueRef ew_neg(CgKernel *k, const EwArgs *a) {
    if (a->real)
        return LLVMBuildFNeg(k->b, a->x[0], "");
    return LLVMBuildSub(k->b, LLVMConstNull(LLVMTypeOf(a->x[0])), a->x[0], "");
}

static LLVMValueRef ew_abs(CgKernel *k, const EwArgs *a) {
    LLVMValueRef x = a->x[0], zero = LLVMConstNull(LLVMTypeOf(x));
    if (a->real)
        return intrinsic1(k, "llvm.fabs", x);
    return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, x, zero, ""), LLVMBuildSub(k->b, zero, x, ""), x, "");
}

static LLVMValueRef ew_not(CgKernel *k, const EwArgs *a) {
    LLVMValueRef x = a->x[0];
    return LLVMBuildZExt(k->b, LLVMBuildICmp(k->b, LLVMIntEQ, x, LLVMConstNull(LLVMTypeOf(x)), ""), LLVMTypeOf(x), "");
}

static LLVMValueRef ew_cast(CgKernel *k, const EwArgs *a) {
    return cg_convert(k, a->in_dt[0], a->n->type.dtype, a->x[0], a->lanes);
}

static LLVMValueRef ew_tanh(CgKernel *k, const EwArgs *a) { return cg_vtanh(k->cm, k->b, a->x[0]); }
static LLVMValueRef ew_sigmoid(CgKernel *k, const EwArgs *a) { return cg_vsigmoid(k->cm, k->b, a->x[0]); }
static LLVMValueRef ew_exp(CgKernel *k, const EwArgs *a) { return cg_vexp(k->cm, k->b, a->x[0]); }
static LLVMValueRef ew_log(CgKernel *k, const EwArgs *a) { return cg_vlog(k->cm, k->b, a->x[0]); }
static LLVMValueRef ew_erf(CgKernel *k, const EwArgs *a) { return cg_verf(k->cm, k->b, a->x[0]); }
static LLVMValueRef ew_sqrt(CgKernel *k, const EwArgs *a) { return intrinsic1(k, "llvm.sqrt", a->x[0]); }
/* sin and cos call the C library per element (as pow does). */
static LLVMValueRef ew_sin(CgKernel *k, const EwArgs *a) { return intrinsic1(k, "llvm.sin", a->x[0]); }
static LLVMValueRef ew_cos(CgKernel *k, const EwArgs *a) { return intrinsic1(k, "llvm.cos", a->x[0]); }

static LLVMValueRef ew_rsqrt(CgKernel *k, const EwArgs *a) {
    return LLVMBuildFDiv(k->b, f32c(k, a, 1), intrinsic1(k, "llvm.sqrt", a->x[0]), "");
}

static LLVMValueRef ew_relu(CgKernel *k, const EwArgs *a) {
    LLVMValueRef x = a->x[0];
    return LLVMBuildSelect(k->b, LLVMBuildFCmp(k->b, LLVMRealOLT, x, f32c(k, a, 0), ""), f32c(k, a, 0), x, "");
}

/* x/2 * (1 + inner) */
static LLVMValueRef half_x_times_1_plus(CgKernel *k, const EwArgs *a, LLVMValueRef inner) {
    LLVMValueRef h = LLVMBuildFMul(k->b, a->x[0], f32c(k, a, 0.5), "");
    return LLVMBuildFMul(k->b, h, LLVMBuildFAdd(k->b, f32c(k, a, 1), inner, ""), "");
}

static LLVMValueRef ew_gelu(CgKernel *k, const EwArgs *a) {
    return half_x_times_1_plus(k, a, cg_verf(k->cm, k->b, LLVMBuildFMul(k->b, a->x[0], f32c(k, a, M_SQRT1_2), "")));
}

/* tanh form: x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) */
static LLVMValueRef ew_gelu_tanh(CgKernel *k, const EwArgs *a) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef x = a->x[0];
    LLVMValueRef x3 = LLVMBuildFMul(b, LLVMBuildFMul(b, x, x, ""), x, "");
    LLVMValueRef u = LLVMBuildFAdd(b, x, LLVMBuildFMul(b, x3, f32c(k, a, 0.044715), ""), "");
    u = LLVMBuildFMul(b, u, f32c(k, a, M_2_SQRTPI * M_SQRT1_2), "");
    return half_x_times_1_plus(k, a, cg_vtanh(k->cm, b, u));
}

/* x above 20, else log1p(e^x) as log(u) - ((u - 1) - e^x) / u with u = 1 + e^x:
 * the correction restores what rounding u lost, so tiny e^x come out exact. */
static LLVMValueRef ew_softplus(CgKernel *k, const EwArgs *a) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef x = a->x[0], one = f32c(k, a, 1);
    LLVMValueRef e = cg_vexp(k->cm, b, x), u = LLVMBuildFAdd(b, one, e, "");
    LLVMValueRef lost = LLVMBuildFSub(b, LLVMBuildFSub(b, u, one, ""), e, "");
    LLVMValueRef lp = LLVMBuildFSub(b, cg_vlog(k->cm, b, u), LLVMBuildFDiv(b, lost, u, ""), "");
    return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, f32c(k, a, 20), ""), x, lp, "");
}

/* two operands */

static LLVMValueRef ew_add(CgKernel *k, const EwArgs *a) {
    return a->real ? LLVMBuildFAdd(k->b, a->x[0], a->x[1], "") : LLVMBuildAdd(k->b, a->x[0], a->x[1], "");
}

static LLVMValueRef ew_sub(CgKernel *k, const EwArgs *a) {
    return a->real ? LLVMBuildFSub(k->b, a->x[0], a->x[1], "") : LLVMBuildSub(k->b, a->x[0], a->x[1], "");
}

static LLVMValueRef ew_mul(CgKernel *k, const EwArgs *a) {
    return a->real ? LLVMBuildFMul(k->b, a->x[0], a->x[1], "") : LLVMBuildMul(k->b, a->x[0], a->x[1], "");
}

/* integers: truncating; x / 0 is 0 and x / -1 wraps like negation */
static LLVMValueRef ew_div(CgKernel *k, const EwArgs *a) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef x = a->x[0], v = a->x[1];
    if (a->real)
        return LLVMBuildFDiv(b, x, v, "");
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef zero = LLVMConstNull(t), minus1 = LLVMConstAllOnes(t);
    LLVMValueRef is0 = LLVMBuildICmp(b, LLVMIntEQ, v, zero, ""), ism1 = LLVMBuildICmp(b, LLVMIntEQ, v, minus1, "");
    LLVMValueRef one = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? cg_splat(k, cg_i64(k->cm, 1), (int)LLVMGetVectorSize(t))
                                                                 : cg_i64(k->cm, 1);
    LLVMValueRef safe = LLVMBuildSelect(b, LLVMBuildOr(b, is0, ism1, ""), one, v, "");
    LLVMValueRef q = LLVMBuildSDiv(b, x, safe, "");
    q = LLVMBuildSelect(b, ism1, LLVMBuildSub(b, zero, x, ""), q, "");
    return LLVMBuildSelect(b, is0, zero, q, "");
}

static LLVMValueRef ew_pow(CgKernel *k, const EwArgs *a) {
    LLVMValueRef args[] = {a->x[0], a->x[1]};
    return cg_intrinsic(k->cm, k->b, "llvm.pow", LLVMTypeOf(a->x[0]), args, 2);
}

/* x[0] when it wins (`real_wins` / `int_wins`) or is NaN, else x[1]: NaN in either propagates */
static LLVMValueRef pick(CgKernel *k, const EwArgs *a, LLVMRealPredicate real_wins, LLVMIntPredicate int_wins) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef x = a->x[0], v = a->x[1];
    if (!a->real)
        return LLVMBuildSelect(b, LLVMBuildICmp(b, int_wins, x, v, ""), x, v, "");
    LLVMValueRef wins = LLVMBuildOr(b, LLVMBuildFCmp(b, real_wins, x, v, ""), LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), "");
    return LLVMBuildSelect(b, wins, x, v, "");
}

static LLVMValueRef ew_maximum(CgKernel *k, const EwArgs *a) { return pick(k, a, LLVMRealOGT, LLVMIntSGT); }
static LLVMValueRef ew_minimum(CgKernel *k, const EwArgs *a) { return pick(k, a, LLVMRealOLT, LLVMIntSLT); }

/* bool result of comparing x[0] with x[1]; NaN is unordered (only != holds) */
static LLVMValueRef compare(CgKernel *k, const EwArgs *a, LLVMRealPredicate rp, LLVMIntPredicate ip) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef c = a->in_dt[0] == ATTN_F32 ? LLVMBuildFCmp(b, rp, a->x[0], a->x[1], "") : LLVMBuildICmp(b, ip, a->x[0], a->x[1], "");
    return LLVMBuildZExt(b, c, cg_compute_type(k->cm, ATTN_BOOL, a->lanes), "");
}

static LLVMValueRef ew_lt(CgKernel *k, const EwArgs *a) { return compare(k, a, LLVMRealOLT, LLVMIntSLT); }
static LLVMValueRef ew_le(CgKernel *k, const EwArgs *a) { return compare(k, a, LLVMRealOLE, LLVMIntSLE); }
static LLVMValueRef ew_gt(CgKernel *k, const EwArgs *a) { return compare(k, a, LLVMRealOGT, LLVMIntSGT); }
static LLVMValueRef ew_ge(CgKernel *k, const EwArgs *a) { return compare(k, a, LLVMRealOGE, LLVMIntSGE); }
static LLVMValueRef ew_eq(CgKernel *k, const EwArgs *a) { return compare(k, a, LLVMRealOEQ, LLVMIntEQ); }
static LLVMValueRef ew_ne(CgKernel *k, const EwArgs *a) { return compare(k, a, LLVMRealUNE, LLVMIntNE); }

/* bool operands as 0/1 integers */
static LLVMValueRef logic(CgKernel *k, const EwArgs *a, bool is_and) {
    LLVMBuilderRef b = k->b;
    LLVMTypeRef t = LLVMTypeOf(a->x[0]);
    LLVMValueRef zero = LLVMConstNull(t);
    LLVMValueRef x = LLVMBuildICmp(b, LLVMIntNE, a->x[0], zero, ""), y = LLVMBuildICmp(b, LLVMIntNE, a->x[1], zero, "");
    return LLVMBuildZExt(b, is_and ? LLVMBuildAnd(b, x, y, "") : LLVMBuildOr(b, x, y, ""), t, "");
}

static LLVMValueRef ew_and(CgKernel *k, const EwArgs *a) { return logic(k, a, true); }
static LLVMValueRef ew_or(CgKernel *k, const EwArgs *a) { return logic(k, a, false); }

/* three operands, and broadcast copies */

static LLVMValueRef ew_where(CgKernel *k, const EwArgs *a) {
    LLVMValueRef c = LLVMBuildICmp(k->b, LLVMIntNE, a->x[0], LLVMConstNull(LLVMTypeOf(a->x[0])), "");
    return LLVMBuildSelect(k->b, c, a->x[1], a->x[2], "");
}

static LLVMValueRef ew_expand(CgKernel *k, const EwArgs *a) {
    (void)k;
    return a->x[0];
}

/* The emitter of every op, from ops.def; NULL for ops that are not elementwise. */
#define OP_EMIT_(id, builtin, cls, min_in, max_in, attrs, kernel, cost, fold, scalar, emit) [OP_##id] = emit,
static const EwEmit ew_emit[OP_COUNT] = {ATTN_OP_TABLE(OP_EMIT_)};

bool cg_elementwise_handles(OpKind op) { return ew_emit[op] != NULL; }

LLVMValueRef cg_elementwise_apply(CgKernel *k, const IrNode *n, const attn_dtype *in_dt, LLVMValueRef *x,
                                  LLVMValueRef flat, int lanes) {
    if (!ew_emit[n->op])
        ATTN_UNREACHABLE("elementwise code for an op without an emitter in ops.def");
    EwArgs a = {.n = n, .in_dt = in_dt, .x = x, .flat = flat, .lanes = lanes};
    a.real = (n->nin ? in_dt[n->nin - 1] : n->type.dtype) == ATTN_F32;
    return ew_emit[n->op](k, &a);
}

/* Loads operand values at inner index j (vectors of `lanes`) and stores the result. */
static void ew_step(CgKernel *k, const Groups *g, LLVMValueRef *base, LLVMValueRef out_base, LLVMValueRef j, int lanes) {
    int nops = noperands(k);
    LLVMValueRef x[MAX_OPS];
    int last = g->n - 1;
    for (int i = 0; i < nops; i++) {
        attn_dtype dt = k->in_type[i]->dtype;
        if (last >= 0 && !g->bcast[i][last])
            x[i] = cg_load(k, dt, k->in[i], LLVMBuildAdd(k->b, base[i], j, ""), lanes);
        else
            x[i] = cg_splat(k, cg_load(k, dt, k->in[i], base[i], 1), lanes);
    }
    LLVMValueRef flat = LLVMBuildAdd(k->b, out_base, j, "");
    attn_dtype in_dt[MAX_OPS];
    for (int i = 0; i < nops; i++)
        in_dt[i] = k->in_type[i]->dtype;
    cg_store(k, k->node->type.dtype, k->out, flat, cg_elementwise_apply(k, k->node, in_dt, x, flat, lanes), lanes);
}

static void ew_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    Groups g = make_groups(k);
    int nops = noperands(k), lanes = cg_target_lanes(cm->target);
    LLVMValueRef inner = g.n ? g.extent[g.n - 1] : cg_i64(cm, 1);
    CgLoop rows;
    LLVMValueRef r = cg_loop_begin(k, &rows, lo, hi, 1);
    /* split the row index into the outer groups' indices, last group fastest */
    LLVMValueRef base[MAX_OPS], rem = r;
    for (int i = 0; i < nops; i++)
        base[i] = cg_i64(cm, 0);
    for (int j = g.n - 2; j >= 0; j--) {
        LLVMValueRef idx = LLVMBuildSRem(b, rem, g.extent[j], "");
        rem = LLVMBuildSDiv(b, rem, g.extent[j], "");
        for (int i = 0; i < nops; i++)
            if (!g.bcast[i][j])
                base[i] = LLVMBuildAdd(b, base[i], LLVMBuildMul(b, idx, g.stride[i][j], ""), "");
    }
    LLVMValueRef out_base = LLVMBuildMul(b, r, inner, "");
    CgLoop vec, tail;
    LLVMValueRef j = cg_loop_begin(k, &vec, cg_i64(cm, 0), inner, lanes);
    ew_step(k, &g, base, out_base, j, lanes);
    cg_loop_end(k, &vec);
    j = cg_loop_begin(k, &tail, vec.i, inner, 1);
    ew_step(k, &g, base, out_base, j, 1);
    cg_loop_end_scalar_tail(k, &tail);
    cg_loop_end(k, &rows);
}

const CgEmitter cg_emit_elementwise = {ew_rows, ew_body};

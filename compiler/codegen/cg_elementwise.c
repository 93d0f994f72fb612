/*
 * cg_elementwise.c — code generation for ops that compute each output element
 * from the elements at the same broadcast index: unary math, casts, binary
 * arithmetic, comparisons, logic, where, expand, and the sources full and
 * arange.
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

/* f(x) for the unary float ops. */
static LLVMValueRef real_unary(CgKernel *k, OpKind op, LLVMValueRef x, int lanes) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    LLVMTypeRef t = LLVMTypeOf(x);
    switch (op) {
    case OP_NEG: return LLVMBuildFNeg(b, x, "");
    case OP_TANH: return cg_vtanh(cm, b, x);
    case OP_SIGMOID: return cg_vsigmoid(cm, b, x);
    case OP_EXP: return cg_vexp(cm, b, x);
    case OP_LOG: return cg_vlog(cm, b, x);
    case OP_RELU: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, cg_f32(cm, 0, lanes), ""), cg_f32(cm, 0, lanes), x, "");
    case OP_GELU: {
        LLVMValueRef e = cg_verf(cm, b, LLVMBuildFMul(b, x, cg_f32(cm, M_SQRT1_2, lanes), ""));
        LLVMValueRef h = LLVMBuildFMul(b, x, cg_f32(cm, 0.5, lanes), "");
        return LLVMBuildFMul(b, h, LLVMBuildFAdd(b, cg_f32(cm, 1, lanes), e, ""), "");
    }
    case OP_SQRT: return cg_intrinsic(cm, b, "llvm.sqrt", t, &x, 1);
    case OP_ABS: return cg_intrinsic(cm, b, "llvm.fabs", t, &x, 1);
    default: return x;
    }
}

static LLVMValueRef int_unary(CgKernel *k, OpKind op, LLVMValueRef x) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef zero = LLVMConstNull(LLVMTypeOf(x));
    switch (op) {
    case OP_NEG: return LLVMBuildSub(b, zero, x, "");
    case OP_ABS: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, zero, ""), LLVMBuildSub(b, zero, x, ""), x, "");
    case OP_NOT: return LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntEQ, x, zero, ""), LLVMTypeOf(x), "");
    default: return x;
    }
}

static LLVMValueRef real_binary(CgKernel *k, OpKind op, LLVMValueRef a, LLVMValueRef v) {
    LLVMBuilderRef b = k->b;
    switch (op) {
    case OP_ADD: return LLVMBuildFAdd(b, a, v, "");
    case OP_SUB: return LLVMBuildFSub(b, a, v, "");
    case OP_MUL: return LLVMBuildFMul(b, a, v, "");
    case OP_DIV: return LLVMBuildFDiv(b, a, v, "");
    case OP_POW: {
        LLVMValueRef args[] = {a, v};
        return cg_intrinsic(k->cm, b, "llvm.pow", LLVMTypeOf(a), args, 2);
    }
    case OP_MAXIMUM:
    case OP_MINIMUM: {
        /* a when a is NaN or wins, else b: NaN in either propagates */
        LLVMValueRef wins = LLVMBuildFCmp(b, op == OP_MAXIMUM ? LLVMRealOGT : LLVMRealOLT, a, v, "");
        wins = LLVMBuildOr(b, wins, LLVMBuildFCmp(b, LLVMRealUNO, a, a, ""), "");
        return LLVMBuildSelect(b, wins, a, v, "");
    }
    default: return a;
    }
}

static LLVMValueRef int_binary(CgKernel *k, OpKind op, LLVMValueRef a, LLVMValueRef v) {
    LLVMBuilderRef b = k->b;
    LLVMTypeRef t = LLVMTypeOf(a);
    LLVMValueRef zero = LLVMConstNull(t);
    switch (op) {
    case OP_ADD: return LLVMBuildAdd(b, a, v, "");
    case OP_SUB: return LLVMBuildSub(b, a, v, "");
    case OP_MUL: return LLVMBuildMul(b, a, v, "");
    case OP_DIV: {
        /* truncating; x / 0 is 0 and x / -1 wraps like negation */
        LLVMValueRef minus1 = LLVMConstAllOnes(t);
        LLVMValueRef is0 = LLVMBuildICmp(b, LLVMIntEQ, v, zero, ""), ism1 = LLVMBuildICmp(b, LLVMIntEQ, v, minus1, "");
        LLVMValueRef one = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? cg_splat(k, cg_i64(k->cm, 1), (int)LLVMGetVectorSize(t))
                                                                     : cg_i64(k->cm, 1);
        LLVMValueRef safe = LLVMBuildSelect(b, LLVMBuildOr(b, is0, ism1, ""), one, v, "");
        LLVMValueRef q = LLVMBuildSDiv(b, a, safe, "");
        q = LLVMBuildSelect(b, ism1, LLVMBuildSub(b, zero, a, ""), q, "");
        return LLVMBuildSelect(b, is0, zero, q, "");
    }
    case OP_MAXIMUM: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, a, v, ""), a, v, "");
    case OP_MINIMUM: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, a, v, ""), a, v, "");
    case OP_AND:
    case OP_OR: {
        LLVMValueRef x = LLVMBuildICmp(b, LLVMIntNE, a, zero, ""), y = LLVMBuildICmp(b, LLVMIntNE, v, zero, "");
        return LLVMBuildZExt(b, op == OP_AND ? LLVMBuildAnd(b, x, y, "") : LLVMBuildOr(b, x, y, ""), t, "");
    }
    default: return a;
    }
}

static LLVMValueRef compare(CgKernel *k, OpKind op, bool real, LLVMValueRef a, LLVMValueRef v, int lanes) {
    LLVMBuilderRef b = k->b;
    LLVMValueRef c;
    if (real) {
        LLVMRealPredicate p = op == OP_LT ? LLVMRealOLT : op == OP_LE ? LLVMRealOLE : op == OP_GT ? LLVMRealOGT
                            : op == OP_GE ? LLVMRealOGE : op == OP_EQ ? LLVMRealOEQ : LLVMRealUNE;
        c = LLVMBuildFCmp(b, p, a, v, "");
    } else {
        LLVMIntPredicate p = op == OP_LT ? LLVMIntSLT : op == OP_LE ? LLVMIntSLE : op == OP_GT ? LLVMIntSGT
                           : op == OP_GE ? LLVMIntSGE : op == OP_EQ ? LLVMIntEQ : LLVMIntNE;
        c = LLVMBuildICmp(b, p, a, v, "");
    }
    return LLVMBuildZExt(b, c, cg_compute_type(k->cm, ATTN_BOOL, lanes), "");
}

/* A FULL node's value in its dtype's compute type (ku_store_real's rules). */
static LLVMValueRef full_value(CgKernel *k, const IrNode *n, int lanes) {
    double v = n->attrs.fill;
    attn_dtype dt = n->type.dtype;
    if (dt == ATTN_F32)
        return cg_f32(k->cm, (float)v, lanes);
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
    return cg_splat(k, cg_i64(k->cm, iv), lanes);
}

LLVMValueRef cg_elementwise_apply(CgKernel *k, const IrNode *n, const attn_dtype *in_dt, LLVMValueRef *x,
                                  LLVMValueRef flat, int lanes) {
    bool real = (n->nin ? in_dt[n->nin - 1] : n->type.dtype) == ATTN_F32;
    switch (op_info[n->op].cls) {
    case OC_UNARY:
        if (n->op == OP_CAST)
            return cg_convert(k, in_dt[0], n->type.dtype, x[0], lanes);
        return real ? real_unary(k, n->op, x[0], lanes) : int_unary(k, n->op, x[0]);
    case OC_BINARY:
        return real ? real_binary(k, n->op, x[0], x[1]) : int_binary(k, n->op, x[0], x[1]);
    case OC_LOGIC:
        return int_binary(k, n->op, x[0], x[1]);
    case OC_COMPARE:
        return compare(k, n->op, in_dt[0] == ATTN_F32, x[0], x[1], lanes);
    case OC_TERNARY: {
        LLVMValueRef c = LLVMBuildICmp(k->b, LLVMIntNE, x[0], LLVMConstNull(LLVMTypeOf(x[0])), "");
        return LLVMBuildSelect(k->b, c, x[1], x[2], "");
    }
    default:
        break;
    }
    if (n->op == OP_FULL)
        return full_value(k, n, lanes);
    if (n->op == OP_ARANGE) {
        /* start + index * step, wrapping, then stored like an integer */
        LLVMValueRef idx = cg_splat(k, flat, lanes);
        if (lanes > 1) {
            LLVMValueRef iota[64];
            for (int i = 0; i < lanes; i++)
                iota[i] = cg_i64(k->cm, i);
            idx = LLVMBuildAdd(k->b, idx, LLVMConstVector(iota, (unsigned)lanes), "");
        }
        LLVMValueRef v = LLVMBuildAdd(k->b, cg_splat(k, cg_i64(k->cm, n->attrs.start), lanes),
                                      LLVMBuildMul(k->b, idx, cg_splat(k, cg_i64(k->cm, n->attrs.step), lanes), ""), "");
        return cg_convert(k, ATTN_I64, n->type.dtype, v, lanes);
    }
    return x[0]; /* EXPAND: a broadcast copy */
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

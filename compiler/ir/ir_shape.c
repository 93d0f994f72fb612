/*
 * ir_shape.c — shape and dtype rules of the ops, on symbolic dims.
 *
 * shape_infer computes a node's result type from its operands' types and its
 * attributes, one rule per op class of ops.def (plus the few ops whose class
 * has no generic rule). A mismatch is reported at the node's source location
 * with both operands' shapes and the dims that disagree. Ops whose result type
 * is chosen by their builder (sources, RESHAPE, EXPAND, SLICE, CAST, RESULT)
 * arrive with node->type already set; their rules only check it.
 */
#include "ir.h"

#include <stdio.h>
#include <string.h>

static const IrType *operand(IrGraph *g, IrNode *n, int i) { return &g->nodes[n->in[i]].type; }

static void fmt_type(const IrType *t, char *buf, size_t len) { ir_type_format(t, buf, len); }

static void fmt_dim(const Dim *d, char *buf, size_t len) { dim_format(d, buf, len); }

/* Broadcasts b into acc (both right-aligned); false with a message on mismatch. */
static bool broadcast(Arena *ar, IrType *acc, const IrType *b, const IrType *a0, Diag *diag,
                      SrcLoc loc, const char *opname) {
    int rank = acc->rank > b->rank ? acc->rank : b->rank;
    IrType out = {.dtype = acc->dtype, .rank = rank};
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - acc->rank), ib = i - (rank - b->rank);
        const Dim *da = ia >= 0 ? acc->dims[ia] : NULL, *db = ib >= 0 ? b->dims[ib] : NULL;
        int64_t va, vb;
        if (!da || (dim_is_const(da, &va) && va == 1 && db))
            out.dims[i] = db;
        else if (!db || (dim_is_const(db, &vb) && vb == 1))
            out.dims[i] = da;
        else if (dim_equal(da, db))
            out.dims[i] = da;
        else {
            char ta[160], tb[160], sa[64], sb[64];
            fmt_type(a0, ta, sizeof ta);
            fmt_type(b, tb, sizeof tb);
            fmt_dim(da, sa, sizeof sa);
            fmt_dim(db, sb, sizeof sb);
            diag_error(diag, loc,
                       "%s: shapes %s and %s do not broadcast: dim %d is %s on the left and %s on the right",
                       opname, ta, tb, i - rank, sa, sb);
            return false;
        }
    }
    (void)ar;
    *acc = out;
    return true;
}

static bool need_dtype(IrNode *n, const IrType *t, attn_dtype want, Diag *diag, const char *what) {
    if (t->dtype == want)
        return true;
    diag_error(diag, n->loc, "%s needs %s, got %s", what, attn_dtype_name(want), attn_dtype_name(t->dtype));
    return false;
}

static bool elementwise(Arena *ar, IrGraph *g, IrNode *n, Diag *diag) {
    const OpInfo *info = &op_info[n->op];
    const char *name = op_name(n->op);
    int first = info->cls == OC_TERNARY ? 1 : 0;
    if (info->cls == OC_TERNARY && !need_dtype(n, operand(g, n, 0), ATTN_BOOL, diag, "where's condition"))
        return false;
    const IrType *a = operand(g, n, first);
    for (int i = first + 1; i < n->nin; i++)
        if (operand(g, n, i)->dtype != a->dtype) {
            diag_error(diag, n->loc, "%s: operands have different dtypes, %s and %s", name,
                       attn_dtype_name(a->dtype), attn_dtype_name(operand(g, n, i)->dtype));
            return false;
        }
    switch (info->cls) {
    case OC_BINARY:
        if (a->dtype == ATTN_BOOL) {
            diag_error(diag, n->loc, "%s is not defined on bool tensors", name);
            return false;
        }
        if (n->op == OP_POW && !need_dtype(n, a, ATTN_F32, diag, "pow"))
            return false;
        break;
    case OC_LOGIC:
        if (!need_dtype(n, a, ATTN_BOOL, diag, name))
            return false;
        break;
    case OC_COMPARE:
    case OC_TERNARY:
        break; /* any dtype, the same for all compared or selected operands */
    case OC_SOURCE:
    case OC_UNARY:
    case OC_REDUCE:
    case OC_NORM:
    case OC_MATMUL:
    case OC_SHAPE:
    case OC_GATHER:
    case OC_CHECK:
    case OC_CONTROL:
        ATTN_UNREACHABLE("broadcast rule for an op that is not elementwise");
    }
    IrType acc = *operand(g, n, 0);
    for (int i = 1; i < n->nin; i++)
        if (!broadcast(ar, &acc, operand(g, n, i), &acc, diag, n->loc, name))
            return false;
    acc.dtype = info->cls == OC_COMPARE || info->cls == OC_LOGIC ? ATTN_BOOL : a->dtype;
    n->type = acc;
    return true;
}

/* CAST converts, NOT is bool -> bool; NEG and ABS keep any numeric dtype
 * (their kernels have integer forms); the ops defined by their scalar function
 * alone (ops.def) take and give f32. */
static bool unary(IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *a = operand(g, n, 0);
    attn_dtype dt = n->type.dtype;
    if (n->op == OP_NOT) {
        if (!need_dtype(n, a, ATTN_BOOL, diag, "not"))
            return false;
        dt = ATTN_BOOL;
    } else if (n->op != OP_CAST && op_info[n->op].kernel) {
        if (a->dtype == ATTN_BOOL) {
            diag_error(diag, n->loc, "%s is not defined on bool tensors", op_name(n->op));
            return false;
        }
        dt = a->dtype;
    } else if (n->op != OP_CAST) {
        if (!need_dtype(n, a, ATTN_F32, diag, op_name(n->op)))
            return false;
        dt = ATTN_F32;
    }
    n->type = *a;
    n->type.dtype = dt;
    return true;
}

static bool axis_ok(IrNode *n, const IrType *a, Diag *diag) {
    int64_t ax = n->attrs.axis;
    if (ax < 0)
        ax += a->rank;
    if (ax < 0 || ax >= a->rank) {
        char ta[160];
        fmt_type(a, ta, sizeof ta);
        diag_error(diag, n->loc, "%s: axis %lld is out of range for %s (rank %d)", op_name(n->op),
                   (long long)n->attrs.axis, ta, a->rank);
        return false;
    }
    n->attrs.axis = ax;
    return true;
}

static bool reduce(Arena *ar, IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *a = operand(g, n, 0);
    if (!axis_ok(n, a, diag))
        return false;
    if (a->dtype == ATTN_BOOL || (n->op != OP_SUM && a->dtype != ATTN_F32)) {
        diag_error(diag, n->loc, "%s is not defined on %s tensors", op_name(n->op), attn_dtype_name(a->dtype));
        return false;
    }
    int64_t len;
    if (dim_is_const(a->dims[n->attrs.axis], &len) && len == 0 && n->op != OP_SUM) {
        diag_error(diag, n->loc, "%s over an empty axis", op_name(n->op));
        return false;
    }
    IrType t = {.dtype = n->op == OP_ARGMAX ? ATTN_I64 : a->dtype};
    for (int i = 0; i < a->rank; i++) {
        if (i == n->attrs.axis) {
            if (n->attrs.keepdim)
                t.dims[t.rank++] = dim_const(ar, 1);
        } else
            t.dims[t.rank++] = a->dims[i];
    }
    n->type = t;
    return true;
}

static bool same_dim(IrNode *n, const char *what, const IrType *a, int ia, const IrType *b, int ib, Diag *diag) {
    if (dim_equal(a->dims[ia], b->dims[ib]))
        return true;
    char ta[160], tb[160], da[64], db[64];
    fmt_type(a, ta, sizeof ta);
    fmt_type(b, tb, sizeof tb);
    fmt_dim(a->dims[ia], da, sizeof da);
    fmt_dim(b->dims[ib], db, sizeof db);
    diag_error(diag, n->loc, "%s: %s and %s disagree: dim %d of the first is %s, dim %d of the second is %s",
               what, ta, tb, ia - a->rank, da, ib - b->rank, db);
    return false;
}

static bool norm(IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *a = operand(g, n, 0);
    if (!need_dtype(n, a, ATTN_F32, diag, op_name(n->op)))
        return false;
    if (n->op == OP_SOFTMAX && !axis_ok(n, a, diag))
        return false;
    if (n->op == OP_LAYER_NORM) {
        if (a->rank < 1) {
            diag_error(diag, n->loc, "layer_norm needs a tensor of rank >= 1");
            return false;
        }
        for (int i = 1; i < n->nin; i++) {
            const IrType *w = operand(g, n, i);
            if (w->rank != 1 || !need_dtype(n, w, ATTN_F32, diag, "layer_norm's weight and bias")) {
                if (w->rank != 1)
                    diag_error(diag, n->loc, "layer_norm's %s must have rank 1, got rank %d",
                               i == 1 ? "weight" : "bias", w->rank);
                return false;
            }
            if (!same_dim(n, i == 1 ? "layer_norm's weight" : "layer_norm's bias", a, a->rank - 1, w, 0, diag))
                return false;
        }
    }
    n->type = *a;
    return true;
}

static bool matmul(Arena *ar, IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *a = operand(g, n, 0), *b = operand(g, n, 1);
    char ta[160], tb[160];
    fmt_type(a, ta, sizeof ta);
    fmt_type(b, tb, sizeof tb);
    if (a->rank < 2 || b->rank < 2) {
        diag_error(diag, n->loc, "matmul needs operands of rank >= 2, got %s @ %s (use unsqueeze)", ta, tb);
        return false;
    }
    if (a->dtype != ATTN_F32 || b->dtype != ATTN_F32) {
        diag_error(diag, n->loc, "matmul needs f32 operands, got %s%s @ %s%s", ta, n->attrs.trans_a ? "ᵀ" : "", tb,
                   n->attrs.trans_b ? "ᵀ" : "");
        return false;
    }
    int am = a->rank - 2 + (n->attrs.trans_a ? 1 : 0), ak = a->rank - 1 - (n->attrs.trans_a ? 1 : 0);
    int bk = b->rank - 2 + (n->attrs.trans_b ? 1 : 0), bn = b->rank - 1 - (n->attrs.trans_b ? 1 : 0);
    if (!dim_equal(a->dims[ak], b->dims[bk])) {
        char da[64], db[64];
        fmt_dim(a->dims[ak], da, sizeof da);
        fmt_dim(b->dims[bk], db, sizeof db);
        diag_error(diag, n->loc,
                   "matmul: inner dims differ: %s%s @ %s%s contracts %s (dim %d of the left) with %s (dim %d of the right)",
                   ta, n->attrs.trans_a ? "ᵀ" : "", tb, n->attrs.trans_b ? "ᵀ" : "", da, ak - a->rank, db,
                   bk - b->rank);
        return false;
    }
    IrType ba = {.dtype = ATTN_F32, .rank = a->rank - 2}, bb = {.dtype = ATTN_F32, .rank = b->rank - 2};
    memcpy(ba.dims, a->dims, sizeof(Dim *) * (size_t)ba.rank);
    memcpy(bb.dims, b->dims, sizeof(Dim *) * (size_t)bb.rank);
    if (!broadcast(ar, &ba, &bb, &ba, diag, n->loc, "matmul batch dims"))
        return false;
    if (ba.rank + 2 > ATTN_MAX_RANK) {
        diag_error(diag, n->loc, "matmul result has rank above %d", ATTN_MAX_RANK);
        return false;
    }
    ba.dims[ba.rank++] = a->dims[am];
    ba.dims[ba.rank++] = b->dims[bn];
    n->type = ba;
    return true;
}

static bool permute(IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *a = operand(g, n, 0);
    IrType t = {.dtype = a->dtype, .rank = a->rank};
    bool seen[ATTN_MAX_RANK] = {0};
    for (int i = 0; i < a->rank; i++) {
        int64_t p = n->attrs.perm[i];
        if (p < 0 || p >= a->rank || seen[p]) {
            char perm[256] = "";
            size_t len = 0;
            for (int k = 0; k < a->rank && len < sizeof perm; k++)
                len += (size_t)snprintf(perm + len, sizeof perm - len, "%s%lld", k ? ", " : "", (long long)n->attrs.perm[k]);
            diag_error(diag, n->loc, "permute: [%s] is not a permutation of the %d dims", perm, a->rank);
            return false;
        }
        seen[p] = true;
        t.dims[i] = a->dims[p];
    }
    n->type = t;
    return true;
}

static bool concat(Arena *ar, IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *a = operand(g, n, 0);
    if (!axis_ok(n, a, diag))
        return false;
    IrType t = *a;
    for (int i = 1; i < n->nin; i++) {
        const IrType *b = operand(g, n, i);
        if (b->rank != a->rank || b->dtype != a->dtype) {
            char ta[160], tb[160];
            fmt_type(a, ta, sizeof ta);
            fmt_type(b, tb, sizeof tb);
            diag_error(diag, n->loc, "concat: operand %d is %s but operand 1 is %s (the %s differ)", i + 1, tb, ta,
                       b->rank != a->rank ? "ranks" : "dtypes");
            return false;
        }
        for (int d = 0; d < a->rank; d++)
            if (d != n->attrs.axis && !same_dim(n, "concat", a, d, b, d, diag))
                return false;
        DimFault fault;
        const Dim *sum = dim_op(ar, DIM_OP_ADD, t.dims[n->attrs.axis], b->dims[n->attrs.axis], &fault);
        if (!sum) {
            char da[64], db[64];
            fmt_dim(t.dims[n->attrs.axis], da, sizeof da);
            fmt_dim(b->dims[n->attrs.axis], db, sizeof db);
            diag_error(diag, n->loc, "concat: the extent of axis %lld up to operand %d, %s + %s, %s",
                       (long long)n->attrs.axis, i + 1, da, db, dim_fault_text(fault));
            return false;
        }
        t.dims[n->attrs.axis] = sum;
    }
    n->type = t;
    return true;
}

static bool gather(IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *w = operand(g, n, 0), *ids = operand(g, n, 1);
    if (ids->dtype != ATTN_I64 && ids->dtype != ATTN_I32) {
        diag_error(diag, n->loc, "embedding: ids must be i64 or i32, got %s", attn_dtype_name(ids->dtype));
        return false;
    }
    if (w->rank < 1 || ids->rank + w->rank - 1 > ATTN_MAX_RANK) {
        diag_error(diag, n->loc, "embedding: table of rank %d with ids of rank %d", w->rank, ids->rank);
        return false;
    }
    IrType t = {.dtype = w->dtype, .rank = ids->rank + w->rank - 1};
    memcpy(t.dims, ids->dims, sizeof(Dim *) * (size_t)ids->rank);
    memcpy(t.dims + ids->rank, w->dims + 1, sizeof(Dim *) * (size_t)(w->rank - 1));
    n->type = t;
    return true;
}

/* CHECK_LENGTHS(lengths i64[B], positions i64[T]) -> lengths. */
static bool check_lengths(IrGraph *g, IrNode *n, Diag *diag) {
    const IrType *len = operand(g, n, 0), *pos = operand(g, n, 1);
    if (len->dtype != ATTN_I64 || len->rank != 1 || pos->dtype != ATTN_I64 || pos->rank != 1) {
        diag_error(diag, n->loc, "check_lengths: lengths must be i64[B], got %s[rank %d]", attn_dtype_name(len->dtype),
                   len->rank);
        return false;
    }
    n->type = *len;
    return true;
}

bool shape_infer(Arena *ar, IrGraph *g, int node, Diag *diag) {
    IrNode *n = &g->nodes[node];
    switch (op_info[n->op].cls) {
    case OC_UNARY:
        return unary(g, n, diag);
    case OC_BINARY:
    case OC_COMPARE:
    case OC_LOGIC:
    case OC_TERNARY:
        return elementwise(ar, g, n, diag);
    case OC_REDUCE:
        return reduce(ar, g, n, diag);
    case OC_NORM:
        return norm(g, n, diag);
    case OC_MATMUL:
        return matmul(ar, g, n, diag);
    case OC_GATHER:
        return gather(g, n, diag);
    case OC_CHECK:
        return check_lengths(g, n, diag);
    case OC_SHAPE:
        if (n->op == OP_PERMUTE)
            return permute(g, n, diag);
        if (n->op == OP_CONCAT)
            return concat(ar, g, n, diag);
        return true; /* RESHAPE, SLICE, EXPAND: typed by their builders */
    case OC_SOURCE:
    case OC_CONTROL:
        return true; /* typed by their builders */
    }
    ATTN_UNREACHABLE("op class out of range");
}

/*
 * onnx_ops_elementwise.c — elementwise ONNX ops: arithmetic, comparisons,
 * logic, math functions, Where, Clip, Cast. Values known at import time are
 * folded (integers as dims, so shape arithmetic stays symbolic: B * T).
 */
#include <math.h>
#include <string.h>

#include "onnx_imp.h"

#define NUM (DT_BIT(ATTN_F32) | DT_BIT(ATTN_I32) | DT_BIT(ATTN_I64))
#define ANY (NUM | DT_BIT(ATTN_BOOL))
#define F32 DT_BIT(ATTN_F32)
#define BOOLS DT_BIT(ATTN_BOOL)

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_EQ, B_LT, B_GT, B_LE, B_GE, B_AND, B_OR, B_XOR } BinKind;

typedef struct {
    const char *op;
    BinKind kind;
    const char *infix;  /* "+" or NULL */
    const char *fn;     /* "maximum" or NULL */
    unsigned dtypes;
    bool compare;       /* result is bool */
} BinOp;

static const BinOp bin_ops[] = {
    {"Add", B_ADD, "+", NULL, NUM, false},        {"Sub", B_SUB, "-", NULL, NUM, false},
    {"Mul", B_MUL, "*", NULL, NUM, false},        {"Div", B_DIV, "/", NULL, NUM, false},
    {"Pow", B_POW, NULL, "pow", F32, false},      {"Max", B_MAX, NULL, "maximum", NUM, false},
    {"Min", B_MIN, NULL, "minimum", NUM, false},  {"Equal", B_EQ, "==", NULL, ANY, true},
    {"Less", B_LT, "<", NULL, NUM, true},         {"Greater", B_GT, ">", NULL, NUM, true},
    {"LessOrEqual", B_LE, "<=", NULL, NUM, true}, {"GreaterOrEqual", B_GE, ">=", NULL, NUM, true},
    {"And", B_AND, "and", NULL, BOOLS, true},     {"Or", B_OR, "or", NULL, BOOLS, true},
    {"Xor", B_XOR, "!=", NULL, BOOLS, true},
};

static const BinOp *bin_of(const char *op) {
    for (size_t i = 0; i < sizeof bin_ops / sizeof *bin_ops; i++)
        if (!strcmp(bin_ops[i].op, op))
            return &bin_ops[i];
    return NULL;
}

static double fold_f(BinKind k, double a, double b) {
    switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MAX: return isnan(a) || a > b ? a : b;
    case B_MIN: return isnan(a) || a < b ? a : b;
    case B_EQ: return a == b;
    case B_LT: return a < b;
    case B_GT: return a > b;
    case B_LE: return a <= b;
    case B_GE: return a >= b;
    case B_AND: return a && b;
    case B_OR: return a || b;
    case B_XOR: return (a != 0) != (b != 0);
    }
    return 0;
}

/* An integer op on dims; *ok = false when it cannot be decided at import time. */
static Dim fold_d(Imp *im, BinKind k, Dim a, Dim b, bool *ok) {
    bool consts = odim_is_const(a) && odim_is_const(b);
    switch (k) {
    case B_ADD: return odim_add(im, a, b);
    case B_SUB: return odim_sub(im, a, b);
    case B_MUL: return odim_mul(im, a, b);
    case B_DIV:
        if (consts && b.c == 0)
            imp_node_fail(im, "integer division by zero");
        if (consts) /* truncation toward zero, as ONNX's integer Div */
            return odim_const(a.c / b.c);
        return odim_div(im, a, b);
    case B_EQ:
        if (odim_eq(a, b))
            return odim_const(1);
        /* a symbolic dim is never negative, and differs from a different product */
        if (consts || (odim_is_const(b) && b.c < 0) || (odim_is_const(a) && a.c < 0))
            return odim_const(0);
        break;
    default:
        if (consts)
            return odim_const((int64_t)fold_f(k, (double)a.c, (double)b.c));
        break;
    }
    *ok = false;
    return odim_const(0);
}

/* Index of the element of an operand of shape (r, d) broadcast to (ro, od) at flat index i. */
static int64_t bcast_index(int64_t i, int ro, const Dim *od, int r, const Dim *d) {
    int64_t idx = 0, stride = 1;
    for (int k = ro - 1; k >= 0; k--) {
        int64_t c = i % od[k].c;
        i /= od[k].c;
        int kk = k - (ro - r);
        if (kk >= 0) {
            if (d[kk].c != 1)
                idx += c * stride;
            stride *= d[kk].c;
        }
    }
    return idx;
}

static bool all_const_dims(int r, const Dim *d) {
    for (int i = 0; i < r; i++)
        if (!odim_is_const(d[i]))
            return false;
    return true;
}

/* Folds a binary op of two known values; false when it cannot. */
static bool fold_binary(Imp *im, const BinOp *b, const Val *x, const Val *y, const char *out) {
    if (!val_known(x) || !val_known(y) || x->sexpr || y->sexpr || x->var || y->var)
        return false; /* (an input whose value was given stays an input) */
    Dim od[ATTN_MAX_RANK];
    int ro = imp_broadcast(im, x->rank, x->dim, y->rank, y->dim, od);
    if (!all_const_dims(ro, od) || !all_const_dims(x->rank, x->dim) || !all_const_dims(y->rank, y->dim))
        return false;
    int64_t n = 1;
    for (int i = 0; i < ro; i++)
        n *= od[i].c;
    if (n > ATTN_LIMIT_ONNX_FOLD)
        return false;
    bool ints = x->ival && y->ival;
    attn_dtype dt = b->compare ? ATTN_BOOL : x->dt;
    if (ints) {
        Dim *r = imp_alloc(im, (size_t)(n ? n : 1) * sizeof *r);
        for (int64_t i = 0; i < n; i++) {
            bool ok = true;
            r[i] = fold_d(im, b->kind, x->ival[bcast_index(i, ro, od, x->rank, x->dim)],
                          y->ival[bcast_index(i, ro, od, y->rank, y->dim)], &ok);
            if (!ok)
                return false;
        }
        Val *v = imp_new_val(im, out, dt, ro, od);
        v->ival = r;
        return true;
    }
    if (!x->fval || !y->fval)
        return false;
    Val *v = imp_new_val(im, out, dt, ro, od);
    if (b->compare) {
        v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
        for (int64_t i = 0; i < n; i++)
            v->ival[i] = odim_const(fold_f(b->kind, x->fval[bcast_index(i, ro, od, x->rank, x->dim)],
                                          y->fval[bcast_index(i, ro, od, y->rank, y->dim)]) != 0);
    } else {
        v->fval = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            v->fval[i] = (float)fold_f(b->kind, x->fval[bcast_index(i, ro, od, x->rank, x->dim)],
                                       y->fval[bcast_index(i, ro, od, y->rank, y->dim)]);
    }
    return true;
}

/* x OP y as a statement (or folded); the operands' dtypes must agree. */
static Val *binary(Imp *im, const BinOp *b, Val *x, Val *y, const char *out) {
    if (b->kind == B_POW && y->dt != ATTN_F32) { /* Pow's exponent may be an integer type */
        if (y->ival && !y->var && all_const_dims(y->rank, y->dim) && val_numel(im, y) == 1) {
            Val *f = imp_alloc(im, sizeof *f);
            *f = *y;
            f->dt = ATTN_F32;
            f->fval = imp_alloc(im, sizeof(float));
            f->fval[0] = (float)val_int(im, y, 0, "the exponent");
            f->ival = NULL;
            y = f;
        } else {
            imp_need_dtype(im, y, "the exponent", NUM);
            Val *f = imp_alloc(im, sizeof *f);
            *f = *y;
            f->dt = ATTN_F32;
            f->var = imp_fmt(im, "f32(%s)", imp_ref(im, y));
            f->ival = NULL;
            y = f;
        }
    }
    if (x->dt != y->dt)
        imp_node_fail(im, "operands are %s and %s", imp_dtype_attn(x->dt), imp_dtype_attn(y->dt));
    imp_need_dtype(im, x, "the operand", b->dtypes);
    if (fold_binary(im, b, x, y, out))
        return imp_find(im, out);
    Dim od[ATTN_MAX_RANK];
    int ro = imp_broadcast(im, x->rank, x->dim, y->rank, y->dim, od);
    /* a scalar symbolic f32 (sqrt(T)) or literal needs a tensor on the other side */
    if (!x->var && !y->var)
        imp_ref_tensor(im, x->fval || x->ival ? x : y);
    const char *xs = imp_ref_bc(im, x, ro), *ys = imp_ref_bc(im, y, ro);
    attn_dtype dt = b->compare ? ATTN_BOOL : x->dt;
    if (b->infix)
        return imp_emit(im, out, dt, ro, od, "%s %s %s", xs, b->infix, ys);
    return imp_emit(im, out, dt, ro, od, "%s(%s, %s)", b->fn, xs, ys);
}

/* Pow of an integer base: in f32, converted back (exact while results stay below 2^24). */
static void int_pow(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0], *y = nd->in[1];
    imp_need_dtype(im, x, "the base", NUM);
    imp_need_dtype(im, y, "the exponent", NUM);
    Dim od[ATTN_MAX_RANK];
    int ro = imp_broadcast(im, x->rank, x->dim, y->rank, y->dim, od);
    const char *xs = imp_ref_tensor(im, x), *ys = imp_ref_bc(im, y, ro);
    if (y->dt != ATTN_F32 && y->var)
        ys = imp_fmt(im, "f32(%s)", ys);
    else if (y->dt != ATTN_F32) /* a literal: written as an integer, promoted to f32 */
        ys = imp_fmt(im, "%s", ys);
    imp_emit(im, imp_out(nd, 0), x->dt, ro, od, "%s(pow(f32(%s), %s))", imp_dtype_attn(x->dt), xs, ys);
}

static void op_binary(Imp *im, ImpNode *nd) {
    const BinOp *b = bin_of(nd->n->op_type);
    if (!nd->in[0] || !nd->in[1])
        imp_node_fail(im, "an input is missing");
    if (b->kind == B_POW && nd->in[0]->dt != ATTN_F32) {
        int_pow(im, nd);
        return;
    }
    binary(im, b, nd->in[0], nd->in[1], imp_out(nd, 0));
}

/* Max, Min, Sum, Mean: any number of operands */
static void op_variadic(Imp *im, ImpNode *nd) {
    const char *op = nd->n->op_type;
    const BinOp *b = bin_of(!strcmp(op, "Sum") || !strcmp(op, "Mean") ? "Add" : op);
    for (int i = 0; i < nd->nin; i++)
        if (!nd->in[i])
            imp_node_fail(im, "input %d is missing", i);
    Val *acc = nd->in[0];
    for (int i = 1; i < nd->nin; i++) {
        const char *o = i == nd->nin - 1 && strcmp(op, "Mean") ? imp_out(nd, 0) : imp_fmt(im, "%s#%d", imp_out(nd, 0), i);
        acc = binary(im, b, acc, nd->in[i], o);
    }
    if (!strcmp(op, "Mean")) {
        imp_need_dtype(im, acc, "Mean's operand", F32);
        Val *cnt = imp_alloc(im, sizeof *cnt);
        cnt->onnx = "count";
        cnt->dt = ATTN_F32;
        cnt->fval = imp_alloc(im, sizeof(float));
        cnt->fval[0] = (float)nd->nin;
        acc = binary(im, bin_of("Div"), acc, cnt, imp_out(nd, 0));
    } else if (nd->nin == 1) {
        Val *v = imp_new_val(im, imp_out(nd, 0), acc->dt, acc->rank, acc->dim);
        Val keep = *v;
        acc->used = true;
        *v = *acc;
        v->onnx = keep.onnx;
    }
}

/* ---- unary ---- */
typedef struct {
    const char *op;
    const char *pre, *post; /* around the operand: "sqrt(" and ")" */
    double (*fold)(double);
    unsigned dtypes;
} UnOp;

static double f_recip(double x) { return 1.0 / x; }
static double f_neg(double x) { return -x; }
static double f_relu(double x) { return x > 0 ? x : 0; }
static double f_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double f_softplus(double x) { return x > 20 ? x : log1p(exp(x)); }

static const UnOp un_ops[] = {
    {"Sqrt", "sqrt(", ")", sqrt, F32},       {"Exp", "exp(", ")", exp, F32},
    {"Log", "log(", ")", log, F32},          {"Tanh", "tanh(", ")", tanh, F32},
    {"Sigmoid", "sigmoid(", ")", f_sigmoid, F32}, {"Relu", "relu(", ")", f_relu, F32},
    {"Erf", "erf(", ")", erf, F32},          {"Abs", "abs(", ")", fabs, NUM},
    {"Sin", "sin(", ")", sin, F32},          {"Cos", "cos(", ")", cos, F32},
    {"Softplus", "softplus(", ")", f_softplus, F32}, {"Neg", "-", "", f_neg, NUM},
    {"Reciprocal", "1.0 / ", "", f_recip, F32},   {"Not", "not ", "", NULL, BOOLS},
};

static void op_unary(Imp *im, ImpNode *nd) {
    const UnOp *u = NULL;
    for (size_t i = 0; i < sizeof un_ops / sizeof *un_ops; i++)
        if (!strcmp(un_ops[i].op, nd->n->op_type))
            u = &un_ops[i];
    Val *x = nd->in[0];
    const char *out = imp_out(nd, 0);
    if (!strcmp(u->op, "Relu") && x->dt != ATTN_F32) { /* integer Relu (opset 14) */
        imp_need_dtype(im, x, "the operand", NUM);
        imp_emit(im, out, x->dt, x->rank, x->dim, "maximum(%s, 0)", imp_ref(im, x));
        return;
    }
    imp_need_dtype(im, x, "the operand", u->dtypes);
    if (x->fval && !x->var && u->fold && all_const_dims(x->rank, x->dim)) {
        int64_t n = val_numel(im, x);
        Val *v = imp_new_val(im, out, x->dt, x->rank, x->dim);
        v->fval = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            v->fval[i] = (float)u->fold(x->fval[i]);
        return;
    }
    if (x->ival && !x->var && x->dt != ATTN_F32) {
        int64_t n = val_numel(im, x);
        Val *v = imp_new_val(im, out, x->dt, x->rank, x->dim);
        v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
        for (int64_t i = 0; i < n; i++) {
            int64_t a = val_int(im, x, i, "the operand");
            v->ival[i] = odim_const(!strcmp(u->op, "Not") ? !a : !strcmp(u->op, "Neg") ? -a : a < 0 ? -a : a);
        }
        return;
    }
    if (x->sexpr && !x->var) { /* sqrt(T): an f32 scalar of the dims */
        Val *v = imp_new_val(im, out, x->dt, x->rank, x->dim);
        v->sexpr = imp_fmt(im, "%s(%s)%s", u->pre, x->sexpr, u->post);
        return;
    }
    imp_emit(im, out, x->dt, x->rank, x->dim, "%s%s%s", u->pre, imp_ref_tensor(im, x), u->post);
}

static void alias(Imp *im, const char *out, Val *x) {
    x->used = true; /* an input passed on is an input of the entry */
    Val *v = imp_new_val(im, out, x->dt, x->rank, x->dim);
    const char *onnx = v->onnx;
    *v = *x;
    v->onnx = onnx;
    v->used = false;
}

static void op_identity(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    if (nd->nin > 2 && nd->in[2]) { /* Dropout's training_mode: only a ratio of 0 leaves x as it is */
        const Val *t = nd->in[2];
        bool training = !t->ival || t->ival[0].c;
        const Val *r = nd->nin > 1 ? nd->in[1] : NULL;
        bool zero = r && r->fval && r->fval[0] == 0;
        if (training && !zero)
            imp_node_fail(im, "Dropout in training mode with a ratio other than 0 draws a random mask; "
                              "attn runs inference");
    }
    alias(im, imp_out(nd, 0), x);
    if (nd->nout > 1 && *imp_out(nd, 1)) /* the mask keeps everything */
        imp_emit(im, imp_out(nd, 1), ATTN_BOOL, x->rank, x->dim, "full(%s, true, dtype = \"bool\")",
                 imp_dims_text(im, x->rank, x->dim));
}

static void op_where(Imp *im, ImpNode *nd) {
    Val *c = nd->in[0], *a = nd->in[1], *b = nd->in[2];
    if (!c || !a || !b)
        imp_node_fail(im, "an input is missing");
    imp_need_dtype(im, c, "the condition", BOOLS);
    if (a->dt != b->dt)
        imp_node_fail(im, "the branches are %s and %s", imp_dtype_attn(a->dt), imp_dtype_attn(b->dt));
    Dim t[ATTN_MAX_RANK], od[ATTN_MAX_RANK];
    int rt = imp_broadcast(im, a->rank, a->dim, b->rank, b->dim, t);
    int ro = imp_broadcast(im, c->rank, c->dim, rt, t, od);
    if (c->ival && a->ival && b->ival && !c->var && !a->var && !b->var && all_const_dims(ro, od)) {
        int64_t n = 1;
        for (int i = 0; i < ro; i++)
            n *= od[i].c;
        if (n <= ATTN_LIMIT_ONNX_FOLD) {
            Val *v = imp_new_val(im, imp_out(nd, 0), a->dt, ro, od);
            v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
            for (int64_t i = 0; i < n; i++)
                v->ival[i] = val_int(im, c, bcast_index(i, ro, od, c->rank, c->dim), "the condition")
                                 ? a->ival[bcast_index(i, ro, od, a->rank, a->dim)]
                                 : b->ival[bcast_index(i, ro, od, b->rank, b->dim)];
            return;
        }
    }
    if (!a->var && !b->var) /* where() takes its dtype from a tensor branch */
        imp_ref_tensor(im, a);
    imp_emit(im, imp_out(nd, 0), a->dt, ro, od, "where(%s, %s, %s)", imp_ref_tensor(im, c), imp_ref_bc(im, a, ro),
             imp_ref_bc(im, b, ro));
}

static void op_clip(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the operand", NUM);
    const char *e = imp_ref_tensor(im, x);
    Val *lo = nd->nin > 1 ? nd->in[1] : NULL, *hi = nd->nin > 2 ? nd->in[2] : NULL;
    if (imp_attr(nd, "min") || imp_attr(nd, "max")) { /* opset 6 */
        float lo_a = imp_attr_float(im, nd, "min", -INFINITY), hi_a = imp_attr_float(im, nd, "max", INFINITY);
        if (isnan(lo_a) || isnan(hi_a))
            imp_node_fail(im, "a NaN bound");
        e = imp_fmt(im, "minimum(maximum(%s, %s), %s)", e, imp_float_lit(im, lo_a), imp_float_lit(im, hi_a));
    }
    for (int k = 0; k < 2; k++) {
        Val *b = k ? hi : lo;
        if (!b)
            continue;
        if (b->dt != x->dt || b->rank != 0)
            imp_node_fail(im, "Clip's %s must be a scalar of the input's type", k ? "max" : "min");
        e = imp_fmt(im, "%s(%s, %s)", k ? "minimum" : "maximum", e, imp_ref_bc(im, b, x->rank));
    }
    imp_emit(im, imp_out(nd, 0), x->dt, x->rank, x->dim, "%s", e);
}

static void op_cast(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int64_t to = imp_attr_int(im, nd, "to", -1);
    attn_dtype dt = imp_dtype_of_onnx(im, (int32_t)to, "Cast's target type");
    const char *out = imp_out(nd, 0);
    if (x->dt == dt) {
        alias(im, out, x);
        return;
    }
    if (!x->var && x->ival && dt != ATTN_F32) {
        Val *v = imp_new_val(im, out, dt, x->rank, x->dim);
        v->ival = x->ival;
        if (dt == ATTN_BOOL) {
            int64_t n = val_numel(im, x);
            v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
            for (int64_t i = 0; i < n; i++)
                v->ival[i] = odim_const(val_int(im, x, i, "the operand") != 0);
        }
        return;
    }
    if (!x->var && x->ival && dt == ATTN_F32 && all_const_dims(x->rank, x->dim)) {
        int64_t n = val_numel(im, x);
        bool consts = true;
        for (int64_t i = 0; i < n; i++)
            consts = consts && odim_is_const(x->ival[i]);
        Val *v = imp_new_val(im, out, dt, x->rank, x->dim);
        if (consts) {
            v->fval = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(float));
            for (int64_t i = 0; i < n; i++)
                v->fval[i] = (float)x->ival[i].c;
        } else if (n == 1) {
            v->sexpr = odim_text(im, x->ival[0]);
        } else
            imp_node_fail(im, "a list of dims cast to FLOAT is not supported");
        return;
    }
    if (!x->var && x->fval && dt != ATTN_F32 && all_const_dims(x->rank, x->dim)) {
        int64_t n = val_numel(im, x);
        Val *v = imp_new_val(im, out, dt, x->rank, x->dim);
        v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
        for (int64_t i = 0; i < n; i++) {
            float f = x->fval[i];
            v->ival[i] = odim_const(dt == ATTN_BOOL ? f != 0 : isnan(f) ? 0 : (int64_t)f);
        }
        return;
    }
    imp_emit(im, out, dt, x->rank, x->dim, "%s(%s)", imp_dtype_attn(dt), imp_ref_tensor(im, x));
}

#define BIN(name) {name, op_binary, 2, 2, 1, 1, "", 7}
#define UN(name) {name, op_unary, 1, 1, 1, 1, "", 7}
const ImpOp imp_ops_elementwise[] = {
    BIN("Add"), BIN("Sub"), BIN("Mul"), BIN("Div"), BIN("Pow"), BIN("Equal"), BIN("Less"), BIN("Greater"),
    BIN("LessOrEqual"), BIN("GreaterOrEqual"), BIN("And"), BIN("Or"), BIN("Xor"),
    {"Max", op_variadic, 1, ATTN_LIMIT_ONNX_NODE_IO, 1, 1, "", 8},
    {"Min", op_variadic, 1, ATTN_LIMIT_ONNX_NODE_IO, 1, 1, "", 8},
    {"Sum", op_variadic, 1, ATTN_LIMIT_ONNX_NODE_IO, 1, 1, "", 8},
    {"Mean", op_variadic, 1, ATTN_LIMIT_ONNX_NODE_IO, 1, 1, "", 8},
    UN("Sqrt"), UN("Exp"), UN("Log"), UN("Tanh"), UN("Sigmoid"), UN("Relu"), UN("Erf"), UN("Abs"), UN("Sin"),
    UN("Cos"), UN("Neg"), UN("Reciprocal"), {"Softplus", op_unary, 1, 1, 1, 1, "", 1},
    {"Not", op_unary, 1, 1, 1, 1, "", 1},
    {"Identity", op_identity, 1, 1, 1, 1, "", 7},
    {"Dropout", op_identity, 1, 3, 1, 2, "seed ratio", 7},
    {"Where", op_where, 3, 3, 1, 1, "", 9},
    {"Clip", op_clip, 1, 3, 1, 1, "min max", 7},
    {"Cast", op_cast, 1, 1, 1, 1, "to", 7},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0},
};

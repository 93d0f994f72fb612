/*
 * onnx_ops_nn.c — ONNX ops of the network itself: MatMul, Gemm, Einsum
 * (the contractions attention code writes), Softmax, LogSoftmax,
 * LayerNormalization, the reductions, ArgMax/ArgMin and CumSum.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_imp.h"

#define F32 DT_BIT(ATTN_F32)

static const char *lit(Imp *im, float f) {
    const char *s = imp_float_lit(im, f);
    if (!s)
        imp_node_fail(im, "a NaN attribute");
    return s;
}

static Dim product(Imp *im, const Dim *d, int from, int to) {
    Dim p = odim_const(1);
    for (int i = from; i < to; i++)
        p = odim_mul(im, p, d[i]);
    return p;
}

/* Batch dims of a matmul: the broadcast of both operands' leading dims. */
static int matmul_dims(Imp *im, const Val *a, const Val *b, Dim *out) {
    if (a->rank < 1 || b->rank < 1)
        imp_node_fail(im, "MatMul of a scalar");
    int ra = a->rank, rb = b->rank;
    Dim k1 = a->dim[ra - 1], k2 = b->dim[rb >= 2 ? rb - 2 : 0];
    if (!odim_eq(k1, k2))
        imp_node_fail(im, "inner dims differ: %s and %s", odim_text(im, k1), odim_text(im, k2));
    int nb = imp_broadcast(im, ra > 2 ? ra - 2 : 0, a->dim, rb > 2 ? rb - 2 : 0, b->dim, out);
    int r = nb;
    if (ra >= 2)
        out[r++] = a->dim[ra - 2];
    if (rb >= 2)
        out[r++] = b->dim[rb - 1];
    return r;
}

static void op_matmul(Imp *im, ImpNode *nd) {
    Val *a = nd->in[0], *b = nd->in[1];
    imp_need_dtype(im, a, "the left operand", F32);
    imp_need_dtype(im, b, "the right operand", F32);
    Dim dims[ATTN_MAX_RANK + 2];
    int r = matmul_dims(im, a, b, dims);
    if (r > ATTN_MAX_RANK)
        imp_node_fail(im, "the result has rank %d", r);
    const char *as = imp_ref_tensor(im, a), *bs = imp_ref_tensor(im, b), *out = imp_out(nd, 0);
    if (a->rank == 1 && b->rank == 1)
        imp_emit(im, out, ATTN_F32, 0, dims, "sum(%s * %s)", as, bs);
    else if (a->rank == 1)
        imp_emit(im, out, ATTN_F32, r, dims, "squeeze(unsqueeze(%s, 0) @ %s, -2)", as, bs);
    else if (b->rank == 1)
        imp_emit(im, out, ATTN_F32, r, dims, "squeeze(%s @ unsqueeze(%s, -1), -1)", as, bs);
    else
        imp_emit(im, out, ATTN_F32, r, dims, "%s @ %s", as, bs);
}

static void op_gemm(Imp *im, ImpNode *nd) {
    Val *a = nd->in[0], *b = nd->in[1], *c = nd->nin > 2 ? nd->in[2] : NULL;
    imp_need_dtype(im, a, "A", F32);
    imp_need_dtype(im, b, "B", F32);
    if (a->rank != 2 || b->rank != 2)
        imp_node_fail(im, "A and B must be matrices");
    bool ta = imp_attr_int(im, nd, "transA", 0), tb = imp_attr_int(im, nd, "transB", 0);
    float alpha = imp_attr_float(im, nd, "alpha", 1), beta = imp_attr_float(im, nd, "beta", 1);
    Dim m = a->dim[ta ? 1 : 0], k1 = a->dim[ta ? 0 : 1], k2 = b->dim[tb ? 1 : 0], n = b->dim[tb ? 0 : 1];
    if (!odim_eq(k1, k2))
        imp_node_fail(im, "inner dims differ: %s and %s", odim_text(im, k1), odim_text(im, k2));
    Dim dims[2] = {m, n};
    const char *e = imp_fmt(im, "%s%s @ %s%s", imp_ref_tensor(im, a), ta ? ".T" : "", imp_ref_tensor(im, b),
                            tb ? ".T" : "");
    if (alpha != 1)
        e = imp_fmt(im, "%s * %s", e, lit(im, alpha));
    if (c && beta != 0) {
        Dim bc[ATTN_MAX_RANK];
        imp_broadcast(im, 2, dims, c->rank, c->dim, bc);
        imp_need_dtype(im, c, "C", F32);
        e = imp_fmt(im, "%s + %s", e, imp_ref_bc(im, c, 2));
        if (beta != 1)
            e = imp_fmt(im, "%s * %s", e, lit(im, beta));
    }
    imp_emit(im, imp_out(nd, 0), ATTN_F32, 2, dims, "%s", e);
}

/* Softmax and LogSoftmax: over one axis from opset 13, before that over
 * the dims from `axis` on, flattened. */
static void op_softmax(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", F32);
    const char *fn = !strcmp(nd->n->op_type, "Softmax") ? "softmax" : "log_softmax";
    int axis = imp_axis(im, imp_attr_int(im, nd, "axis", im->opset >= 13 ? -1 : 1), x->rank, "axis");
    const char *xs = imp_ref_tensor(im, x), *out = imp_out(nd, 0);
    if (x->rank == 0)
        imp_node_fail(im, "the input is a scalar");
    if (im->opset >= 13 || axis == x->rank - 1) {
        if (axis == x->rank - 1)
            imp_emit(im, out, ATTN_F32, x->rank, x->dim, "%s(%s)", fn, xs);
        else
            imp_emit(im, out, ATTN_F32, x->rank, x->dim, "%s(%s, axis = %d)", fn, xs, axis);
        return;
    }
    Dim flat[2] = {product(im, x->dim, 0, axis), product(im, x->dim, axis, x->rank)};
    imp_emit(im, out, ATTN_F32, x->rank, x->dim, "reshape(%s(reshape(%s, %s)), %s)", fn, xs,
             imp_dims_text(im, 2, flat), imp_dims_text(im, x->rank, x->dim));
}

/* LayerNormalization with its Mean and InvStdDev outputs: spelled out. */
static void layer_norm_stats(Imp *im, ImpNode *nd, Val *x, int axis, const char *eps) {
    Val *w = nd->in[1], *b = nd->nin > 2 ? nd->in[2] : NULL;
    Dim flat[ATTN_MAX_RANK], st[ATTN_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        st[i] = i < axis ? x->dim[i] : odim_const(1);
    for (int i = 0; i < axis; i++)
        flat[i] = x->dim[i];
    flat[axis] = product(im, x->dim, axis, x->rank);
    const char *out = imp_out(nd, 0);
    Val *xf = imp_emit(im, imp_fmt(im, "%s#flat", out), ATTN_F32, axis + 1, flat, "reshape(%s, %s)",
                       imp_ref_tensor(im, x), imp_dims_text(im, axis + 1, flat));
    flat[axis] = odim_const(1);
    Val *m = imp_emit(im, imp_fmt(im, "%s#mean", out), ATTN_F32, axis + 1, flat, "mean(%s, axis = %d, keepdim = true)",
                      xf->var, axis);
    Val *d = imp_emit(im, imp_fmt(im, "%s#centred", out), ATTN_F32, axis + 1, xf->dim, "%s - %s", xf->var, m->var);
    Val *inv = imp_emit(im, imp_fmt(im, "%s#invstd", out), ATTN_F32, axis + 1, flat,
                        "rsqrt(mean(%s * %s, axis = %d, keepdim = true) + %s)", d->var, d->var, axis, eps);
    const char *e = imp_fmt(im, "reshape(%s * %s, %s) * %s", d->var, inv->var, imp_dims_text(im, x->rank, x->dim),
                            imp_ref_bc(im, w, x->rank));
    if (b)
        e = imp_fmt(im, "%s + %s", e, imp_ref_bc(im, b, x->rank));
    imp_emit(im, out, ATTN_F32, x->rank, x->dim, "%s", e);
    const char *st_text = imp_dims_text(im, x->rank, st);
    if (*imp_out(nd, 1))
        imp_emit(im, imp_out(nd, 1), ATTN_F32, x->rank, st, "reshape(%s, %s)", m->var, st_text);
    if (nd->nout > 2 && *imp_out(nd, 2))
        imp_emit(im, imp_out(nd, 2), ATTN_F32, x->rank, st, "reshape(%s, %s)", inv->var, st_text);
}

static void op_layer_norm(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0], *w = nd->in[1], *b = nd->nin > 2 ? nd->in[2] : NULL;
    imp_need_dtype(im, x, "the input", F32);
    int axis = imp_axis(im, imp_attr_int(im, nd, "axis", -1), x->rank, "axis");
    float eps = imp_attr_float(im, nd, "epsilon", 1e-5f);
    int64_t stash = imp_attr_int(im, nd, "stash_type", 1);
    if (stash != 1)
        imp_node_fail(im, "stash_type %lld: attn normalises in f32", (long long)stash);
    const char *out = imp_out(nd, 0), *xs = imp_ref_tensor(im, x), *es = lit(im, eps);
    bool last = axis == x->rank - 1;
    bool stats = nd->nout > 1 && (*imp_out(nd, 1) || (nd->nout > 2 && *imp_out(nd, 2)));
    if (stats) {
        layer_norm_stats(im, nd, x, axis, es);
        return;
    }
    if (last && w->rank == 1 && (!b || b->rank == 1)) {
        imp_emit(im, out, ATTN_F32, x->rank, x->dim, "layer_norm(%s, %s%s%s, eps = %s)", xs, imp_ref_tensor(im, w),
                 b ? ", " : "", b ? imp_ref_tensor(im, b) : "", es);
        return;
    }
    /* over several axes: flatten them into one, normalise, then scale with broadcasting */
    Dim flat[ATTN_MAX_RANK];
    for (int i = 0; i < axis; i++)
        flat[i] = x->dim[i];
    flat[axis] = product(im, x->dim, axis, x->rank);
    const char *e = imp_fmt(im, "reshape(layer_norm(reshape(%s, %s), eps = %s), %s) * %s", xs,
                            imp_dims_text(im, axis + 1, flat), es, imp_dims_text(im, x->rank, x->dim),
                            imp_ref_bc(im, w, x->rank));
    if (b)
        e = imp_fmt(im, "%s + %s", e, imp_ref_bc(im, b, x->rank));
    imp_emit(im, out, ATTN_F32, x->rank, x->dim, "%s", e);
}

/* ---- reductions ---- */
typedef enum { PRE_NONE, PRE_SQUARE, PRE_ABS, PRE_EXP } ReducePre;

typedef struct {
    const char *op;
    ReducePre pre;     /* applied to x first */
    const char *fn;    /* sum, mean, max, min */
    const char *post;  /* a function of the result ("sqrt"), or NULL */
    unsigned dtypes;
} Reduce;

static const Reduce reduces[] = {
    {"ReduceSum", PRE_NONE, "sum", NULL, DT_BIT(ATTN_F32) | DT_BIT(ATTN_I64)},
    {"ReduceMean", PRE_NONE, "mean", NULL, F32},
    {"ReduceMax", PRE_NONE, "max", NULL, F32},
    {"ReduceMin", PRE_NONE, "min", NULL, F32},
    {"ReduceSumSquare", PRE_SQUARE, "sum", NULL, F32},
    {"ReduceL2", PRE_SQUARE, "sum", "sqrt", F32},
    {"ReduceL1", PRE_ABS, "sum", NULL, F32},
    {"ReduceLogSum", PRE_NONE, "sum", "log", F32},
    {"ReduceLogSumExp", PRE_EXP, "sum", "log", F32},
};

static void op_reduce(Imp *im, ImpNode *nd) {
    const Reduce *rd = NULL;
    for (size_t i = 0; i < sizeof reduces / sizeof *reduces; i++)
        if (!strcmp(reduces[i].op, nd->n->op_type))
            rd = &reduces[i];
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", rd->dtypes);
    bool keep = imp_attr_int(im, nd, "keepdims", 1) != 0;
    bool noop = imp_attr_int(im, nd, "noop_with_empty_axes", 0) != 0;
    int n;
    const int64_t *a = imp_attr_ints(im, nd, "axes", &n);
    int64_t buf[ATTN_MAX_RANK + 1];
    if (n < 0 && nd->nin > 1 && nd->in[1]) {
        const Val *v = imp_need_known(im, nd, 1, "the axes");
        n = (int)(v->rank ? v->dim[0].c : 1);
        if (n > x->rank)
            imp_node_fail(im, "%d axes for rank %d", n, x->rank);
        for (int i = 0; i < n; i++)
            buf[i] = val_int(im, v, i, "the axes");
        a = buf;
    }
    if (n > x->rank)
        imp_node_fail(im, "%d axes for rank %d", n, x->rank);
    bool red[ATTN_MAX_RANK] = {0};
    const char *out = imp_out(nd, 0);
    if (n <= 0 && noop) {
        Val *v = imp_new_val(im, out, x->dt, x->rank, x->dim);
        const char *onnx = v->onnx;
        x->used = true;
        *v = *x;
        v->onnx = onnx;
        return;
    }
    for (int i = 0; i < (n <= 0 ? x->rank : n); i++) {
        int ax = n <= 0 ? i : imp_axis(im, a[i], x->rank, "axis");
        if (red[ax])
            imp_node_fail(im, "axis %d is given twice", ax);
        red[ax] = true;
    }
    const char *xs = imp_ref_tensor(im, x);
    const char *e = rd->pre == PRE_SQUARE ? imp_fmt(im, "%s * %s", xs, xs)
                  : rd->pre == PRE_ABS  ? imp_fmt(im, "abs(%s)", xs)
                  : rd->pre == PRE_EXP  ? imp_fmt(im, "exp(%s)", xs)
                                        : xs;
    Dim dims[ATTN_MAX_RANK];
    int r = 0;
    for (int i = x->rank - 1; i >= 0; i--) /* from the last axis, so the others keep their numbers */
        if (red[i])
            e = imp_fmt(im, "%s(%s, axis = %d%s)", rd->fn, e, i, keep ? ", keepdim = true" : "");
    for (int i = 0; i < x->rank; i++)
        if (!red[i] || keep)
            dims[r++] = red[i] ? odim_const(1) : x->dim[i];
    if (rd->post)
        e = imp_fmt(im, "%s(%s)", rd->post, e);
    if (x->rank == 0)
        e = xs;
    imp_emit(im, out, x->dt, r, dims, "%s", e);
}

static void op_argmax(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", F32);
    int axis = imp_axis(im, imp_attr_int(im, nd, "axis", 0), x->rank, "axis");
    bool keep = imp_attr_int(im, nd, "keepdims", 1) != 0;
    bool last = imp_attr_int(im, nd, "select_last_index", 0) != 0;
    Dim dims[ATTN_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (i != axis || keep)
            dims[r++] = i == axis ? odim_const(1) : x->dim[i];
    bool min = !strcmp(nd->n->op_type, "ArgMin"); /* the first minimum is the first maximum of -x */
    const char *xs = imp_ref_tensor(im, x), *k = keep ? ", keepdim = true" : "";
    if (!last) {
        imp_emit(im, imp_out(nd, 0), ATTN_I64, r, dims, "argmax(%s%s, axis = %d%s)", min ? "-" : "", xs, axis, k);
        return;
    }
    /* the last index holding the extreme: the largest position where x equals it */
    Dim pos[ATTN_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        pos[i] = i == axis ? x->dim[i] : odim_const(1);
    imp_emit(im, imp_out(nd, 0), ATTN_I64, r, dims,
             "i64(max(where(%s == %s(%s, axis = %d, keepdim = true), f32(reshape(arange(%s), %s)), -1.0), "
             "axis = %d%s))", xs, min ? "min" : "max", xs, axis, odim_text(im, x->dim[axis]),
             imp_dims_text(im, x->rank, pos), axis, k);
}

/* CumSum as a product with a triangular 0/1 matrix along the axis (moved last). */
static void op_cumsum(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    imp_need_dtype(im, x, "the input", F32);
    const Val *av = imp_need_known(im, nd, 1, "the axis");
    int axis = imp_axis(im, val_int(im, av, 0, "the axis"), x->rank, "axis");
    bool excl = imp_attr_int(im, nd, "exclusive", 0), rev = imp_attr_int(im, nd, "reverse", 0);
    const char *n = odim_text(im, x->dim[axis]);
    /* element j of the input adds to output i when j <= i (j < i exclusive; >= and > reversed) */
    const char *cmp = rev ? (excl ? ">" : ">=") : (excl ? "<" : "<=");
    const char *tri = imp_fmt(im, "f32(unsqueeze(arange(%s), 1) %s arange(%s))", n, cmp, n);
    const char *xs = imp_ref_tensor(im, x), *out = imp_out(nd, 0);
    if (x->rank == 1) {
        imp_emit(im, out, ATTN_F32, 1, x->dim, "squeeze(unsqueeze(%s, 0) @ %s, 0)", xs, tri);
        return;
    }
    if (axis == x->rank - 1) {
        imp_emit(im, out, ATTN_F32, x->rank, x->dim, "%s @ %s", xs, tri);
        return;
    }
    imp_emit(im, out, ATTN_F32, x->rank, x->dim, "transpose(transpose(%s, %d, %d) @ %s, %d, %d)", xs, axis,
             x->rank - 1, tri, axis, x->rank - 1);
}

/* ---- Einsum: two operands as one batched matmul, or one operand ---- */
typedef struct {
    char letters[ATTN_MAX_RANK + 1];
    int n;
} Term;

static void parse_term(Imp *im, const char *s, size_t len, Term *t) {
    t->n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ')
            continue;
        if (c == '.')
            imp_node_fail(im, "ellipsis ('...') in the equation is not supported");
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            imp_node_fail(im, "unexpected character '%c' in the equation", c);
        if (memchr(t->letters, c, (size_t)t->n))
            imp_node_fail(im, "the letter '%c' repeats in one term (diagonals are not supported)", c);
        if (t->n == ATTN_MAX_RANK)
            imp_node_fail(im, "a term of more than %d letters", ATTN_MAX_RANK);
        t->letters[t->n++] = c;
    }
    t->letters[t->n] = 0;
}

static int where_in(const Term *t, char c) {
    const char *p = memchr(t->letters, c, (size_t)t->n);
    return p ? (int)(p - t->letters) : -1;
}

/* x (with letters `from`) permuted to the letter order `to`: text and dims */
static const char *permuted(Imp *im, const char *x, const Term *from, const Term *to) {
    bool identity = true;
    const char *list = "";
    for (int i = 0; i < to->n; i++) {
        int k = where_in(from, to->letters[i]);
        identity = identity && k == i;
        list = imp_fmt(im, "%s%s%d", list, i ? ", " : "", k);
    }
    return identity ? x : imp_fmt(im, "permute(%s, [%s])", x, list);
}

static Dim letter_dim(Imp *im, char c, const Term *ta, const Val *a, const Term *tb, const Val *b) {
    int i = where_in(ta, c);
    if (i >= 0)
        return a->dim[i];
    i = where_in(tb, c);
    if (i < 0)
        imp_node_fail(im, "output letter '%c' is in no input", c);
    return b->dim[i];
}

static void op_einsum(Imp *im, ImpNode *nd) {
    const char *eq = imp_attr_str(im, nd, "equation", NULL);
    if (!eq)
        imp_node_fail(im, "no equation");
    if (nd->nin < 1 || nd->nin > 2)
        imp_node_fail(im, "%d operands; attn imports Einsum of one or two", nd->nin);
    const char *arrow = strstr(eq, "->");
    const char *comma = strchr(eq, ',');
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    if ((comma && (size_t)(comma - eq) > lhs_len) || (!comma) != (nd->nin == 1))
        imp_node_fail(im, "the equation '%.60s' does not have %d terms", eq, nd->nin);
    Term ta, tb = {{0}, 0}, to;
    parse_term(im, eq, comma ? (size_t)(comma - eq) : lhs_len, &ta);
    if (comma)
        parse_term(im, comma + 1, lhs_len - (size_t)(comma + 1 - eq), &tb);
    if (arrow)
        parse_term(im, arrow + 2, strlen(arrow + 2), &to);
    else { /* implicit: the letters seen once, in alphabetical order */
        to.n = 0;
        for (char c = 'A'; c <= 'z'; c++) {
            int cnt = (where_in(&ta, c) >= 0) + (where_in(&tb, c) >= 0);
            if (cnt == 1 && to.n < ATTN_MAX_RANK)
                to.letters[to.n++] = c;
        }
        to.letters[to.n] = 0;
    }
    Val *a = nd->in[0], *b = nd->nin > 1 ? nd->in[1] : NULL;
    imp_need_dtype(im, a, "operand 0", F32);
    if (ta.n != a->rank || (b && tb.n != b->rank))
        imp_node_fail(im, "the equation's terms do not match the operands' ranks");
    Dim od[ATTN_MAX_RANK];
    for (int i = 0; i < to.n; i++)
        od[i] = letter_dim(im, to.letters[i], &ta, a, &tb, b ? b : a);
    const char *out = imp_out(nd, 0);
    if (!b) { /* one operand: sum the letters not kept, then permute */
        const char *e = imp_ref_tensor(im, a);
        Term cur = ta;
        for (int i = ta.n - 1; i >= 0; i--)
            if (where_in(&to, ta.letters[i]) < 0) {
                e = imp_fmt(im, "sum(%s, axis = %d)", e, i);
                memmove(cur.letters + i, cur.letters + i + 1, (size_t)(cur.n - i));
                cur.n--;
            }
        imp_emit(im, out, ATTN_F32, to.n, od, "%s", permuted(im, e, &cur, &to));
        return;
    }
    imp_need_dtype(im, b, "operand 1", F32);
    /* classify: batch (both, kept), contracted (both, not kept), free of a, free of b */
    Term batch = {{0}, 0}, con = {{0}, 0}, fa = {{0}, 0}, fb = {{0}, 0};
    for (int i = 0; i < ta.n; i++) {
        char c = ta.letters[i];
        bool inb = where_in(&tb, c) >= 0, kept = where_in(&to, c) >= 0;
        if (inb && !odim_eq(a->dim[i], b->dim[where_in(&tb, c)]))
            imp_node_fail(im, "letter '%c' has extent %s and %s", c, odim_text(im, a->dim[i]),
                          odim_text(im, b->dim[where_in(&tb, c)]));
        Term *t = inb ? (kept ? &batch : &con) : kept ? &fa : NULL;
        if (!t)
            imp_node_fail(im, "letter '%c' is summed within one operand; not supported", c);
        t->letters[t->n++] = c;
    }
    for (int i = 0; i < tb.n; i++) {
        char c = tb.letters[i];
        if (where_in(&ta, c) >= 0)
            continue;
        if (where_in(&to, c) < 0)
            imp_node_fail(im, "letter '%c' is summed within one operand; not supported", c);
        fb.letters[fb.n++] = c;
    }
    /* a as [batch, fa, con], b as [batch, con, fb]; one matmul on [batch, FA, CON] @ [batch, CON, FB] */
    Term oa = batch, ob = batch, prod = batch;
    for (int i = 0; i < fa.n; i++)
        oa.letters[oa.n++] = fa.letters[i];
    for (int i = 0; i < con.n; i++)
        oa.letters[oa.n++] = con.letters[i];
    for (int i = 0; i < con.n; i++)
        ob.letters[ob.n++] = con.letters[i];
    for (int i = 0; i < fb.n; i++)
        ob.letters[ob.n++] = fb.letters[i];
    for (int i = 0; i < fa.n; i++)
        prod.letters[prod.n++] = fa.letters[i];
    for (int i = 0; i < fb.n; i++)
        prod.letters[prod.n++] = fb.letters[i];
    Dim bd[ATTN_MAX_RANK + 2] = {{0}}, pa = odim_const(1), pc = odim_const(1), pb = odim_const(1);
    for (int i = 0; i < batch.n; i++)
        bd[i] = letter_dim(im, batch.letters[i], &ta, a, &tb, b);
    for (int i = 0; i < fa.n; i++)
        pa = odim_mul(im, pa, letter_dim(im, fa.letters[i], &ta, a, &tb, b));
    for (int i = 0; i < con.n; i++)
        pc = odim_mul(im, pc, letter_dim(im, con.letters[i], &ta, a, &tb, b));
    for (int i = 0; i < fb.n; i++)
        pb = odim_mul(im, pb, letter_dim(im, fb.letters[i], &ta, a, &tb, b));
    if (batch.n + 2 > ATTN_MAX_RANK)
        imp_node_fail(im, "too many batch letters");
    const char *ea = permuted(im, imp_ref_tensor(im, a), &ta, &oa);
    const char *eb = permuted(im, imp_ref_tensor(im, b), &tb, &ob);
    Dim ma[ATTN_MAX_RANK], mb[ATTN_MAX_RANK];
    memcpy(ma, bd, sizeof ma);
    memcpy(mb, bd, sizeof mb);
    ma[batch.n] = pa;
    ma[batch.n + 1] = pc;
    mb[batch.n] = pc;
    mb[batch.n + 1] = pb;
    if (fa.n != 1 || con.n != 1)
        ea = imp_fmt(im, "reshape(%s, %s)", ea, imp_dims_text(im, batch.n + 2, ma));
    if (fb.n != 1 || con.n != 1)
        eb = imp_fmt(im, "reshape(%s, %s)", eb, imp_dims_text(im, batch.n + 2, mb));
    const char *e = imp_fmt(im, "%s @ %s", ea, eb);
    Dim pd[ATTN_MAX_RANK];
    for (int i = 0; i < prod.n; i++)
        pd[i] = letter_dim(im, prod.letters[i], &ta, a, &tb, b);
    if (fa.n != 1 || fb.n != 1)
        e = imp_fmt(im, "reshape(%s, %s)", e, imp_dims_text(im, prod.n, pd));
    imp_emit(im, out, ATTN_F32, to.n, od, "%s", permuted(im, e, &prod, &to));
}

#define RED(name) {name, op_reduce, 1, 2, 1, 1, "axes keepdims noop_with_empty_axes", 1}
const ImpOp imp_ops_nn[] = {
    {"MatMul", op_matmul, 2, 2, 1, 1, "", 7},
    {"Gemm", op_gemm, 2, 3, 1, 1, "alpha beta transA transB", 7},
    {"Softmax", op_softmax, 1, 1, 1, 1, "axis", 7},
    {"LogSoftmax", op_softmax, 1, 1, 1, 1, "axis", 7},
    {"LayerNormalization", op_layer_norm, 2, 3, 1, 3, "axis epsilon stash_type", 17},
    RED("ReduceSum"), RED("ReduceMean"), RED("ReduceMax"), RED("ReduceMin"), RED("ReduceSumSquare"), RED("ReduceL2"),
    RED("ReduceL1"), RED("ReduceLogSum"), RED("ReduceLogSumExp"),
    {"ArgMax", op_argmax, 1, 1, 1, 1, "axis keepdims select_last_index", 7},
    {"ArgMin", op_argmax, 1, 1, 1, 1, "axis keepdims select_last_index", 7},
    {"CumSum", op_cumsum, 2, 2, 1, 1, "exclusive reverse", 11},
    {"Einsum", op_einsum, 1, 2, 1, 1, "equation", 12},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0},
};

/* ---- the table of every op ---- */
static const ImpOp *const tables[] = {imp_ops_elementwise, imp_ops_shape, imp_ops_nn, imp_ops_rnn, imp_ops_act};

const ImpOp *imp_op_lookup(const char *op) {
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const ImpOp *o = tables[t]; o->op; o++)
            if (!strcmp(o->op, op))
                return o;
    return NULL;
}

static char supported[2048];
static pthread_once_t supported_once = PTHREAD_ONCE_INIT;

static int by_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static void list_supported(void) {
    const char *names[256];
    size_t n = 0;
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const ImpOp *o = tables[t]; o->op && n < 256; o++)
            names[n++] = o->op;
    qsort(names, n, sizeof *names, by_name);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(supported + k, sizeof supported - k, "%s%s", i ? " " : "", names[i]);
}

const char *onnx_supported_ops(void) {
    pthread_once(&supported_once, list_supported);
    return supported;
}

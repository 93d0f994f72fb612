/*
 * onnx_ops_shape.c — ONNX ops that move or make data: Reshape, Flatten,
 * Transpose, Squeeze, Unsqueeze, Concat, Split, Slice, Expand, Gather, Shape,
 * Size, ConstantOfShape, Range, Constant, Trilu. On values known at import
 * time (shape vectors above all) they are folded, so the shape arithmetic of
 * an export ends as the dims of a reshape.
 */
#include <stdio.h>
#include <string.h>

#include "onnx_imp.h"

static bool const_dims(int r, const Dim *d) {
    for (int i = 0; i < r; i++)
        if (!odim_is_const(d[i]))
            return false;
    return true;
}

static bool foldable(const Val *x) { return !x->var && (x->ival || x->fval) && const_dims(x->rank, x->dim); }

/* A known value `out` of the given shape whose element i is x's element src[i]. */
static void fold_gather(Imp *im, const char *out, const Val *x, int rank, const Dim *dims, const int64_t *src,
                        int64_t n) {
    Val *v = imp_new_val(im, out, x->dt, rank, dims);
    if (x->ival) {
        v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
        for (int64_t i = 0; i < n; i++)
            v->ival[i] = x->ival[src[i]];
    } else {
        v->fval = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            v->fval[i] = x->fval[src[i]];
    }
}

/* The same data with other dims (Reshape, Squeeze, ... of a known value). */
static void fold_view(Imp *im, const char *out, const Val *x, int rank, const Dim *dims) {
    Val *v = imp_new_val(im, out, x->dt, rank, dims);
    v->ival = x->ival;
    v->fval = x->fval;
}

static void alias_as(Imp *im, const char *out, Val *x) {
    x->used = true; /* an input passed on is an input of the entry */
    Val *v = imp_new_val(im, out, x->dt, x->rank, x->dim);
    const char *onnx = v->onnx;
    *v = *x;
    v->onnx = onnx;
    v->used = false;
}

static bool same_dims(int ra, const Dim *a, int rb, const Dim *b) {
    if (ra != rb)
        return false;
    for (int i = 0; i < ra; i++)
        if (!odim_eq(a[i], b[i]))
            return false;
    return true;
}

static Dim product(Imp *im, const Dim *d, int from, int to) {
    Dim p = odim_const(1);
    for (int i = from; i < to; i++)
        p = odim_mul(im, p, d[i]);
    return p;
}

/* x with new dims: folded, left alone, or `reshape(x, [...])`. */
static void reshape_to(Imp *im, const char *out, Val *x, int rank, const Dim *dims) {
    if (foldable(x)) {
        fold_view(im, out, x, rank, dims);
        return;
    }
    if (same_dims(x->rank, x->dim, rank, dims)) {
        alias_as(im, out, x);
        return;
    }
    imp_emit(im, out, x->dt, rank, dims, "reshape(%s, %s)", imp_ref_tensor(im, x), imp_dims_text(im, rank, dims));
}

static void op_reshape(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    const Val *s = imp_need_known(im, nd, 1, "the shape");
    int64_t n = s->rank ? s->dim[0].c : 1;
    if (n > ATTN_MAX_RANK)
        imp_node_fail(im, "the shape has %lld dims; attn tensors have at most %d", (long long)n, ATTN_MAX_RANK);
    bool allowzero = imp_attr_int(im, nd, "allowzero", 0) != 0;
    Dim dims[ATTN_MAX_RANK];
    int infer = -1;
    for (int i = 0; i < n; i++) {
        Dim d = s->ival[i];
        if (odim_is_const(d) && d.c == -1) {
            if (infer >= 0)
                imp_node_fail(im, "the shape has two -1 dims");
            infer = i;
            dims[i] = d; /* the -1 as given, until inferred (and in the message below) */
            continue;
        }
        if (odim_is_const(d) && d.c == 0 && !allowzero) {
            if (i >= x->rank)
                imp_node_fail(im, "shape dim %d is 0 (copy), but the input has rank %d", i, x->rank);
            d = x->dim[i];
        }
        if (odim_is_const(d) && d.c < 0)
            imp_node_fail(im, "shape dim %d is %lld", i, (long long)d.c);
        dims[i] = d;
    }
    if (infer >= 0) {
        Dim rest = odim_const(1);
        for (int i = 0; i < n; i++)
            if (i != infer)
                rest = odim_mul(im, rest, dims[i]);
        Dim total = product(im, x->dim, 0, x->rank);
        if (!odim_divides(total, rest))
            imp_node_fail(im, "cannot infer the -1 of shape %s from %s", imp_dims_text(im, (int)n, dims),
                          imp_dims_text(im, x->rank, x->dim));
        dims[infer] = odim_div(im, total, rest);
    }
    reshape_to(im, imp_out(nd, 0), x, (int)n, dims);
}

static void op_flatten(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int64_t a = imp_attr_int(im, nd, "axis", 1);
    if (a < -x->rank || a > x->rank)
        imp_node_fail(im, "axis %lld is out of range for rank %d", (long long)a, x->rank);
    int axis = (int)(a < 0 ? a + x->rank : a);
    Dim dims[2] = {product(im, x->dim, 0, axis), product(im, x->dim, axis, x->rank)};
    reshape_to(im, imp_out(nd, 0), x, 2, dims);
}

/* Element index of x for output flat index i of x permuted by perm. */
static int64_t perm_index(int64_t i, const Val *x, const int *perm) {
    int64_t coord[ATTN_MAX_RANK];
    for (int k = x->rank - 1; k >= 0; k--) {
        int64_t e = x->dim[perm[k]].c;
        coord[perm[k]] = i % e;
        i /= e;
    }
    int64_t idx = 0;
    for (int k = 0; k < x->rank; k++)
        idx = idx * x->dim[k].c + coord[k];
    return idx;
}

static void op_transpose(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int n;
    const int64_t *p = imp_attr_ints(im, nd, "perm", &n);
    int perm[ATTN_MAX_RANK];
    bool seen[ATTN_MAX_RANK] = {0}, identity = true;
    if (n >= 0 && n != x->rank)
        imp_node_fail(im, "perm has %d entries for rank %d", n, x->rank);
    for (int i = 0; i < x->rank; i++) {
        perm[i] = n < 0 ? x->rank - 1 - i : imp_axis(im, p[i], x->rank, "perm entry");
        if (seen[perm[i]])
            imp_node_fail(im, "perm is not a permutation");
        seen[perm[i]] = true;
        identity = identity && perm[i] == i;
    }
    Dim dims[ATTN_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = x->dim[perm[i]];
    const char *out = imp_out(nd, 0);
    if (identity) {
        alias_as(im, out, x);
        return;
    }
    if (foldable(x)) {
        int64_t cnt = val_numel(im, x);
        int64_t *src = imp_alloc(im, (size_t)(cnt ? cnt : 1) * sizeof *src);
        for (int64_t i = 0; i < cnt; i++)
            src[i] = perm_index(i, x, perm);
        fold_gather(im, out, x, x->rank, dims, src, cnt);
        return;
    }
    bool last_two = x->rank >= 2 && perm[x->rank - 1] == x->rank - 2 && perm[x->rank - 2] == x->rank - 1;
    for (int i = 0; i + 2 < x->rank; i++)
        last_two = last_two && perm[i] == i;
    if (last_two) {
        imp_emit(im, out, x->dt, x->rank, dims, "%s.T", imp_ref_tensor(im, x));
        return;
    }
    const char *list = "";
    for (int i = 0; i < x->rank; i++)
        list = imp_fmt(im, "%s%s%d", list, i ? ", " : "", perm[i]);
    imp_emit(im, out, x->dt, x->rank, dims, "permute(%s, [%s])", imp_ref_tensor(im, x), list);
}

/* Axes from the attribute (older opsets) or input 1 (newer); *n = -1 when absent. */
static int node_axes(Imp *im, ImpNode *nd, int rank, int *axes, const char *what) {
    int n;
    const int64_t *a = imp_attr_ints(im, nd, "axes", &n);
    int64_t buf[ATTN_MAX_RANK + 1];
    if (n < 0 && nd->nin > 1 && nd->in[1]) {
        const Val *v = imp_need_known(im, nd, 1, what);
        n = (int)(v->rank ? v->dim[0].c : 1);
        if (n > ATTN_MAX_RANK)
            imp_node_fail(im, "%d axes for rank %d", n, rank);
        for (int i = 0; i < n; i++)
            buf[i] = val_int(im, v, i, what);
        a = buf;
    }
    if (n > ATTN_MAX_RANK)
        imp_node_fail(im, "%d axes for rank %d", n, rank);
    for (int i = 0; i < n; i++) {
        axes[i] = imp_axis(im, a[i], rank, "axis");
        for (int j = 0; j < i; j++)
            if (axes[j] == axes[i])
                imp_node_fail(im, "axis %d is given twice", axes[i]);
    }
    return n;
}

static void op_squeeze(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int axes[ATTN_MAX_RANK + 1];
    int n = node_axes(im, nd, x->rank, axes, "the axes");
    bool drop[ATTN_MAX_RANK] = {0};
    if (n < 0) { /* every dim of extent 1 (symbolic dims are taken to be larger) */
        n = 0;
        for (int i = 0; i < x->rank; i++)
            if (odim_is_const(x->dim[i]) && x->dim[i].c == 1)
                axes[n++] = i;
    }
    for (int i = 0; i < n; i++) {
        if (!odim_is_const(x->dim[axes[i]]) || x->dim[axes[i]].c != 1)
            imp_node_fail(im, "axis %d has extent %s, not 1", axes[i], odim_text(im, x->dim[axes[i]]));
        drop[axes[i]] = true;
    }
    Dim dims[ATTN_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!drop[i])
            dims[r++] = x->dim[i];
    const char *out = imp_out(nd, 0);
    if (foldable(x) || !n) {
        reshape_to(im, out, x, r, dims);
        return;
    }
    const char *e = imp_ref_tensor(im, x);
    for (int i = x->rank - 1; i >= 0; i--)
        if (drop[i])
            e = imp_fmt(im, "squeeze(%s, %d)", e, i);
    imp_emit(im, out, x->dt, r, dims, "%s", e);
}

static void op_unsqueeze(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int axes[ATTN_MAX_RANK + 1];
    int np;
    const int64_t *a = imp_attr_ints(im, nd, "axes", &np);
    int n = np;
    int64_t buf[ATTN_MAX_RANK + 1];
    if (n < 0) {
        const Val *v = imp_need_known(im, nd, 1, "the axes");
        n = (int)(v->rank ? v->dim[0].c : 1);
        if (n > ATTN_MAX_RANK)
            imp_node_fail(im, "%d axes", n);
        for (int i = 0; i < n; i++)
            buf[i] = val_int(im, v, i, "the axes");
        a = buf;
    }
    int r = x->rank + n;
    if (r > ATTN_MAX_RANK)
        imp_node_fail(im, "the result would have rank %d; attn tensors have at most %d dims", r, ATTN_MAX_RANK);
    bool ins[ATTN_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        axes[i] = imp_axis(im, a[i], r, "axis");
        if (ins[axes[i]])
            imp_node_fail(im, "axis %d is given twice", axes[i]);
        ins[axes[i]] = true;
    }
    Dim dims[ATTN_MAX_RANK];
    for (int i = 0, k = 0; i < r; i++)
        dims[i] = ins[i] ? odim_const(1) : x->dim[k++];
    const char *out = imp_out(nd, 0);
    if (foldable(x) || (!x->var && x->sexpr)) {
        fold_view(im, out, x, r, dims);
        imp_find(im, out)->sexpr = x->sexpr;
        return;
    }
    const char *e = imp_ref_tensor(im, x);
    for (int i = 0; i < r; i++)
        if (ins[i])
            e = imp_fmt(im, "unsqueeze(%s, %d)", e, i);
    imp_emit(im, out, x->dt, r, dims, "%s", e)->nonneg = x->nonneg;
}

static void op_concat(Imp *im, ImpNode *nd) {
    Val *x0 = nd->in[0];
    if (!x0)
        imp_node_fail(im, "input 0 is missing");
    int axis = imp_axis(im, imp_attr_int(im, nd, "axis", 0), x0->rank, "axis");
    Dim dims[ATTN_MAX_RANK];
    for (int i = 0; i < x0->rank; i++)
        dims[i] = x0->dim[i];
    dims[axis] = odim_const(0);
    bool fold = true;
    for (int k = 0; k < nd->nin; k++) {
        Val *x = nd->in[k];
        if (!x)
            imp_node_fail(im, "input %d is missing", k);
        if (x->dt != x0->dt || x->rank != x0->rank)
            imp_node_fail(im, "input %d is %s of rank %d, input 0 %s of rank %d", k, imp_dtype_attn(x->dt), x->rank,
                          imp_dtype_attn(x0->dt), x0->rank);
        for (int i = 0; i < x->rank; i++)
            if (i != axis && !odim_eq(x->dim[i], x0->dim[i]))
                imp_node_fail(im, "input %d has dim %d of %s, input 0 of %s", k, i, odim_text(im, x->dim[i]),
                              odim_text(im, x0->dim[i]));
        dims[axis] = odim_add(im, dims[axis], x->dim[axis]);
        fold = fold && foldable(x) && !!x->ival == !!x0->ival;
    }
    const char *out = imp_out(nd, 0);
    if (fold && const_dims(x0->rank, dims) && product(im, dims, 0, x0->rank).c <= ATTN_LIMIT_ONNX_FOLD) {
        int64_t total = product(im, dims, 0, x0->rank).c;
        Val *v = imp_new_val(im, out, x0->dt, x0->rank, dims);
        if (x0->ival)
            v->ival = imp_alloc(im, (size_t)(total ? total : 1) * sizeof(Dim));
        else
            v->fval = imp_alloc(im, (size_t)(total ? total : 1) * sizeof(float));
        int64_t outer = product(im, dims, 0, axis).c, inner = product(im, dims, axis + 1, x0->rank).c, o = 0;
        for (int64_t b = 0; b < outer; b++)
            for (int k = 0; k < nd->nin; k++) {
                const Val *x = nd->in[k];
                int64_t chunk = x->dim[axis].c * inner;
                for (int64_t j = 0; j < chunk; j++, o++) {
                    if (x0->ival)
                        v->ival[o] = x->ival[b * chunk + j];
                    else
                        v->fval[o] = x->fval[b * chunk + j];
                }
            }
        return;
    }
    if (nd->nin == 1) {
        alias_as(im, out, x0);
        return;
    }
    const char *list = "";
    for (int k = 0; k < nd->nin; k++)
        if (!odim_is_const(nd->in[k]->dim[axis]) || nd->in[k]->dim[axis].c) /* empty pieces add nothing */
            list = imp_fmt(im, "%s%s%s", list, *list ? ", " : "", imp_ref_tensor(im, nd->in[k]));
    imp_emit(im, out, x0->dt, x0->rank, dims, "concat([%s], axis = %d)", list, axis);
}

static void op_split(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int axis = imp_axis(im, imp_attr_int(im, nd, "axis", 0), x->rank, "axis");
    int n = nd->nout;
    if (n > ATTN_LIMIT_SPLIT_PIECES)
        imp_node_fail(im, "%d pieces; the limit is %d", n, ATTN_LIMIT_SPLIT_PIECES);
    Dim sizes[ATTN_LIMIT_ONNX_NODE_IO];
    int ns;
    const int64_t *a = imp_attr_ints(im, nd, "split", &ns);
    const char *how;
    if (ns < 0 && nd->nin > 1 && nd->in[1]) {
        const Val *v = imp_need_known(im, nd, 1, "the split sizes");
        ns = (int)(v->rank ? v->dim[0].c : 1);
        if (ns != n)
            imp_node_fail(im, "%d split sizes for %d outputs", ns, n);
        for (int i = 0; i < n; i++)
            sizes[i] = odim_const(val_int(im, v, i, "the split sizes"));
    } else if (ns >= 0) {
        if (ns != n)
            imp_node_fail(im, "%d split sizes for %d outputs", ns, n);
        for (int i = 0; i < n; i++)
            sizes[i] = odim_const(a[i]);
    }
    if (ns >= 0) {
        Dim total = odim_const(0);
        how = "[";
        for (int i = 0; i < n; i++) {
            if (sizes[i].c < 0)
                imp_node_fail(im, "split size %d is negative", i);
            total = odim_add(im, total, sizes[i]);
            how = imp_fmt(im, "%s%s%lld", how, i ? ", " : "", (long long)sizes[i].c);
        }
        how = imp_fmt(im, "%s]", how);
        if (!odim_eq(total, x->dim[axis]))
            imp_node_fail(im, "split sizes add up to %s, but the axis has %s", odim_text(im, total),
                          odim_text(im, x->dim[axis]));
    } else {
        if (!odim_divides(x->dim[axis], odim_const(n)))
            imp_node_fail(im, "an axis of %s does not split into %d equal pieces", odim_text(im, x->dim[axis]), n);
        for (int i = 0; i < n; i++)
            sizes[i] = odim_div(im, x->dim[axis], odim_const(n));
        how = imp_fmt(im, "%d", n);
    }
    if (n == 1) {
        alias_as(im, imp_out(nd, 0), x);
        return;
    }
    const char *targets = "", *src = imp_ref_tensor(im, x);
    for (int i = 0; i < n; i++) {
        Dim dims[ATTN_MAX_RANK];
        memcpy(dims, x->dim, sizeof dims);
        dims[axis] = sizes[i];
        const char *o = imp_out(nd, i);
        const char *var = "_";
        if (*o)
            var = imp_bind(im, o, x->dt, x->rank, dims)->var;
        targets = imp_fmt(im, "%s%s%s", targets, i ? ", " : "", var);
    }
    imp_stmt(im, "%s = split(%s, %s, axis = %d)", targets, src, how, axis);
}

/* out = the elements of x at `ids` (an i64 expression of rank ids_rank) along
 * axis: embedding() looks rows up along axis 0, so another axis is moved there
 * and back. */
static Val *emit_take(Imp *im, const char *out, Val *x, int axis, const char *ids, int ids_rank, int rank,
                      const Dim *dims) {
    const char *table = imp_ref_tensor(im, x);
    if (axis == 0)
        return imp_emit(im, out, x->dt, rank, dims, "embedding(%s, %s)", table, ids);
    const char *p1 = imp_fmt(im, "%d", axis), *p2 = "";
    for (int i = 0; i < x->rank; i++)
        if (i != axis)
            p1 = imp_fmt(im, "%s, %d", p1, i);
    for (int i = 0; i < rank; i++) { /* embedding gives [ids dims..., the other dims...] */
        int src = i < axis ? ids_rank + i : i < axis + ids_rank ? i - axis : i;
        p2 = imp_fmt(im, "%s%s%d", p2, i ? ", " : "", src);
    }
    return imp_emit(im, out, x->dt, rank, dims, "permute(embedding(permute(%s, [%s]), %s), [%s])", table, p1, ids,
                    p2);
}

/* ---- Slice ---- */
static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* What a Slice does to each axis: an index item of a forward slice
 * (`2:8:2`, `:`), or, for a negative step, the descending indices to take. */
typedef struct {
    const char *item[ATTN_MAX_RANK];
    const char *ids[ATTN_MAX_RANK]; /* an i64 expression, or NULL */
    Dim dims[ATTN_MAX_RANK];
    int64_t lo[ATTN_MAX_RANK], step[ATTN_MAX_RANK]; /* element c of the axis is lo + c * step (constant dims) */
    bool touched[ATTN_MAX_RANK], noop;
} SliceAxes;

static void slice_init(SliceAxes *sl, const Val *x) {
    memset(sl, 0, sizeof *sl);
    sl->noop = true;
    for (int i = 0; i < x->rank; i++) {
        sl->item[i] = ":";
        sl->dims[i] = x->dim[i];
        sl->step[i] = 1;
    }
}

/* On a symbolic dim, bounds at or past +-2^31 (INT_MAX, INT64_MAX, INT_MIN,
 * INT64_MIN, as exporters write them) mean "to the end", or "to the start". */
#define SLICE_FAR ((int64_t)1 << 31)

static void slice_forward(Imp *im, SliceAxes *sl, Dim d, int ax, int64_t s, int64_t e, int64_t step) {
    if (odim_is_const(d)) { /* ONNX's clamping, to a slice attn takes as is */
        int64_t ext = d.c;
        s = clamp64(s < 0 ? s + ext : s, 0, ext);
        e = clamp64(e < 0 ? e + ext : e, 0, ext);
        int64_t len = e > s ? (e - s - 1) / step + 1 : 0; /* ceil((e - s) / step), which cannot overflow */
        if (len == 0)
            s = e = 0;
        sl->dims[ax] = odim_const(len);
        sl->lo[ax] = s;
        sl->step[ax] = step;
        if (s == 0 && e == ext && step == 1)
            return;
        sl->item[ax] = step == 1 ? imp_fmt(im, "%lld:%lld", (long long)s, (long long)e)
                                 : imp_fmt(im, "%lld:%lld:%lld", (long long)s, (long long)e, (long long)step);
        sl->noop = false;
        return;
    }
    /* a symbolic extent: bounds past the end mean "to the end" */
    bool to_end = e >= SLICE_FAR;
    if (step != 1 || s < -SLICE_FAR || s >= SLICE_FAR || (!to_end && e < -SLICE_FAR))
        imp_node_fail(im, "a slice of the symbolic dim %s needs step 1 and bounds within 2^31", odim_text(im, d));
    Dim a = s < 0 ? odim_add(im, d, odim_const(s)) : odim_const(s);
    Dim b = to_end ? d : e < 0 ? odim_add(im, d, odim_const(e)) : odim_const(e);
    if (s == 0 && to_end)
        return;
    sl->dims[ax] = odim_sub(im, b, a);
    if (odim_is_const(sl->dims[ax]) && sl->dims[ax].c < 0)
        imp_node_fail(im, "the slice %lld:%lld of the symbolic dim %s would have %lld elements", (long long)s,
                      (long long)e, odim_text(im, d), (long long)sl->dims[ax].c);
    sl->item[ax] = to_end ? imp_fmt(im, "%lld:", (long long)s) : imp_fmt(im, "%lld:%lld", (long long)s, (long long)e);
    sl->noop = false;
}

/* A negative step: elements first, first - k, ... above the end, with ONNX's
 * clamping (the start to [0, extent - 1], the end to [-1, extent - 1]). The
 * language slices forward only, so the axis is gathered at descending indices
 * `first - k * arange(len)`; one element or none is a forward slice. */
static void slice_backward(Imp *im, SliceAxes *sl, Dim d, int ax, int64_t s, int64_t e, int64_t step) {
    sl->noop = false;
    if (odim_is_const(d)) {
        int64_t ext = d.c, k = step == INT64_MIN ? INT64_MAX : -step; /* any k >= ext gives one element */
        s = clamp64(s < 0 ? s + ext : s, 0, ext - 1);
        e = clamp64(e < 0 ? e + ext : e, -1, ext - 1);
        int64_t len = ext && s > e ? (s - e - 1) / k + 1 : 0;
        sl->dims[ax] = odim_const(len);
        sl->lo[ax] = s;
        sl->step[ax] = step;
        if (len <= 1) {
            sl->item[ax] = len ? imp_fmt(im, "%lld:%lld", (long long)s, (long long)s + 1) : "0:0";
            sl->step[ax] = 1;
            return;
        }
        sl->ids[ax] = k == 1 ? imp_fmt(im, "%lld - arange(%lld)", (long long)s, (long long)len)
                             : imp_fmt(im, "%lld - %lld * arange(%lld)", (long long)s, (long long)k, (long long)len);
        return;
    }
    /* a symbolic extent: from the end (start -1 or past the end) down to the
     * start (end past the beginning) or to a bound counted from the end */
    if (s >= SLICE_FAR)
        s = -1;
    bool to_start = e <= -SLICE_FAR;
    if (step != -1 || s >= 0 || s <= -SLICE_FAR || !(to_start || e < s))
        imp_node_fail(im,
                      "a backward slice of the symbolic dim %s needs step -1, a start counted from the end and an end "
                      "counted from the end or past the beginning",
                      odim_text(im, d));
    /* element first = d + s; with the end d + e there are s - e of them, down to the start d + s + 1 */
    Dim len = to_start ? odim_add(im, d, odim_const(s + 1)) : odim_const(s - e);
    sl->dims[ax] = len;
    sl->ids[ax] = imp_fmt(im, "arange(%s)[%lld] - arange(%s)", odim_text(im, d), (long long)s, odim_text(im, len));
}

static void op_slice(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int64_t starts[ATTN_MAX_RANK], ends[ATTN_MAX_RANK], steps[ATTN_MAX_RANK];
    int axes[ATTN_MAX_RANK];
    int n;
    if (im->opset < 10) {
        int ne, na;
        const int64_t *s = imp_attr_ints(im, nd, "starts", &n), *e = imp_attr_ints(im, nd, "ends", &ne),
                      *a = imp_attr_ints(im, nd, "axes", &na);
        if (n < 0 || ne != n || (na >= 0 && na != n) || n > x->rank)
            imp_node_fail(im, "starts, ends and axes must be lists of the same length, at most the rank");
        for (int i = 0; i < n; i++) {
            starts[i] = s[i];
            ends[i] = e[i];
            steps[i] = 1;
            axes[i] = na < 0 ? i : imp_axis(im, a[i], x->rank, "axis");
        }
    } else {
        const Val *s = imp_need_known(im, nd, 1, "the starts"), *e = imp_need_known(im, nd, 2, "the ends");
        n = (int)(s->rank ? s->dim[0].c : 1);
        if (n > x->rank || (e->rank ? e->dim[0].c : 1) != n)
            imp_node_fail(im, "starts and ends must be lists of the same length, at most the rank");
        const Val *a = nd->nin > 3 && nd->in[3] ? imp_need_known(im, nd, 3, "the axes") : NULL;
        const Val *st = nd->nin > 4 && nd->in[4] ? imp_need_known(im, nd, 4, "the steps") : NULL;
        if ((a && (a->rank ? a->dim[0].c : 1) != n) || (st && (st->rank ? st->dim[0].c : 1) != n))
            imp_node_fail(im, "axes and steps must have as many entries as starts");
        for (int i = 0; i < n; i++) {
            starts[i] = val_int(im, s, i, "the starts");
            ends[i] = val_int(im, e, i, "the ends");
            axes[i] = a ? imp_axis(im, val_int(im, a, i, "the axes"), x->rank, "axis") : i;
            steps[i] = st ? val_int(im, st, i, "the steps") : 1;
        }
    }
    SliceAxes sl;
    slice_init(&sl, x);
    for (int i = 0; i < n; i++) {
        int ax = axes[i];
        if (sl.touched[ax])
            imp_node_fail(im, "axis %d is sliced twice", ax);
        sl.touched[ax] = true;
        if (steps[i] == 0)
            imp_node_fail(im, "step 0 on axis %d: a slice needs a step other than 0", ax);
        if (steps[i] > 0)
            slice_forward(im, &sl, x->dim[ax], ax, starts[i], ends[i], steps[i]);
        else
            slice_backward(im, &sl, x->dim[ax], ax, starts[i], ends[i], steps[i]);
    }
    const char *out = imp_out(nd, 0);
    if (sl.noop) {
        alias_as(im, out, x);
        return;
    }
    if (foldable(x) && const_dims(x->rank, sl.dims)) {
        int64_t cnt = product(im, sl.dims, 0, x->rank).c;
        int64_t *src = imp_alloc(im, (size_t)(cnt ? cnt : 1) * sizeof *src);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t rem = i, idx = 0, stride = 1;
            for (int k = x->rank - 1; k >= 0; k--) {
                int64_t c = rem % sl.dims[k].c;
                rem /= sl.dims[k].c;
                idx += (sl.lo[k] + c * sl.step[k]) * stride;
                stride *= x->dim[k].c;
            }
            src[i] = idx;
        }
        fold_gather(im, out, x, x->rank, sl.dims, src, cnt);
        return;
    }
    int nrev = 0;
    for (int i = 0; i < x->rank; i++)
        nrev += sl.ids[i] != NULL;
    Val *cur = x;
    int last = x->rank - 1;
    while (last >= 0 && !strcmp(sl.item[last], ":"))
        last--;
    if (last >= 0) { /* the forward part: every axis but the reversed ones */
        Dim fwd[ATTN_MAX_RANK];
        const char *idx = "";
        for (int i = 0; i < x->rank; i++) {
            fwd[i] = sl.ids[i] ? x->dim[i] : sl.dims[i];
            if (i <= last)
                idx = imp_fmt(im, "%s%s%s", idx, i ? ", " : "", sl.item[i]);
        }
        const char *name = nrev ? imp_fmt(im, "%s#forward", out) : out;
        cur = imp_emit(im, name, x->dt, x->rank, fwd, "%s[%s]", imp_ref_tensor(im, x), idx);
    }
    /* each reversed axis: the elements at descending indices */
    for (int ax = 0, done = 0; ax < x->rank; ax++) {
        if (!sl.ids[ax])
            continue;
        Dim dims[ATTN_MAX_RANK];
        memcpy(dims, cur->dim, sizeof dims);
        dims[ax] = sl.dims[ax];
        const char *name = ++done == nrev ? out : imp_fmt(im, "%s#reversed%d", out, ax);
        cur = emit_take(im, name, cur, ax, sl.ids[ax], 1, x->rank, dims);
    }
}

static void op_expand(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    const Val *s = imp_need_known(im, nd, 1, "the shape");
    int n = (int)(s->rank ? s->dim[0].c : 1);
    if (n > ATTN_MAX_RANK)
        imp_node_fail(im, "the shape has %d dims", n);
    Dim want[ATTN_MAX_RANK], dims[ATTN_MAX_RANK];
    for (int i = 0; i < n; i++)
        want[i] = s->ival[i];
    int r = imp_broadcast(im, x->rank, x->dim, n, want, dims);
    const char *out = imp_out(nd, 0);
    if (same_dims(x->rank, x->dim, r, dims)) {
        alias_as(im, out, x);
        return;
    }
    if (foldable(x) && const_dims(r, dims) && product(im, dims, 0, r).c <= ATTN_LIMIT_ONNX_FOLD && x->ival) {
        int64_t cnt = product(im, dims, 0, r).c;
        int64_t *src = imp_alloc(im, (size_t)(cnt ? cnt : 1) * sizeof *src);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t rem = i, idx = 0, stride = 1;
            for (int k = r - 1; k >= 0; k--) {
                int64_t c = rem % dims[k].c;
                rem /= dims[k].c;
                int kk = k - (r - x->rank);
                if (kk >= 0) {
                    if (x->dim[kk].c != 1)
                        idx += c * stride;
                    stride *= x->dim[kk].c;
                }
            }
            src[i] = idx;
        }
        fold_gather(im, out, x, r, dims, src, cnt);
        return;
    }
    imp_emit(im, out, x->dt, r, dims, "expand(%s, %s)", imp_ref_tensor(im, x), imp_dims_text(im, r, dims));
}

static void op_gather(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0], *ix = nd->in[1];
    if (!x || !ix)
        imp_node_fail(im, "an input is missing");
    imp_need_dtype(im, ix, "the indices", DT_BIT(ATTN_I64) | DT_BIT(ATTN_I32));
    int axis = imp_axis(im, imp_attr_int(im, nd, "axis", 0), x->rank, "axis");
    int r = x->rank - 1 + ix->rank;
    if (r > ATTN_MAX_RANK)
        imp_node_fail(im, "the result would have rank %d", r);
    Dim dims[ATTN_MAX_RANK];
    for (int i = 0, k = 0; i < x->rank; i++) {
        if (i == axis)
            for (int j = 0; j < ix->rank; j++)
                dims[k++] = ix->dim[j];
        else
            dims[k++] = x->dim[i];
    }
    const char *out = imp_out(nd, 0);
    bool known_ix = ix->ival && !ix->var && const_dims(ix->rank, ix->dim);
    Dim ext = x->dim[axis];
    if (known_ix && odim_is_const(ext)) { /* negative indices count from the end */
        int64_t cnt = val_numel(im, ix);
        Val *fixed = imp_alloc(im, sizeof *fixed);
        *fixed = *ix;
        fixed->ival = imp_alloc(im, (size_t)(cnt ? cnt : 1) * sizeof(Dim));
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = val_int(im, ix, i, "the indices");
            if (v < -ext.c || v >= ext.c)
                imp_node_fail(im, "index %lld is out of range for a dim of %lld", (long long)v, (long long)ext.c);
            fixed->ival[i] = odim_const(v < 0 ? v + ext.c : v);
        }
        ix = fixed;
    }
    if (known_ix && foldable(x) && const_dims(r, dims)) {
        int64_t cnt = product(im, dims, 0, r).c, ni = val_numel(im, ix);
        int64_t inner = product(im, x->dim, axis + 1, x->rank).c;
        int64_t *src = imp_alloc(im, (size_t)(cnt ? cnt : 1) * sizeof *src);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t in_ = i % inner, rest = i / inner, j = rest % (ni ? ni : 1), o = rest / (ni ? ni : 1);
            src[i] = (o * ext.c + ix->ival[j].c) * inner + in_;
        }
        fold_gather(im, out, x, r, dims, src, cnt);
        return;
    }
    if (known_ix && ix->rank == 0) { /* one index: x[:, :, i] */
        const char *idx = "";
        for (int i = 0; i < axis; i++)
            idx = imp_fmt(im, "%s:, ", idx);
        imp_emit(im, out, x->dt, r, dims, "%s[%s%lld]", imp_ref_tensor(im, x), idx,
                 (long long)val_int(im, ix, 0, "the index"));
        return;
    }
    imp_ref_tensor(im, x); /* declared before the ids, in the order the node lists them */
    const char *ids = imp_ref_tensor(im, ix);
    if (ix->dt == ATTN_I32)
        ids = imp_fmt(im, "i64(%s)", ids);
    if (!known_ix && !ix->nonneg && odim_is_const(ext)) /* negative indices count from the end */
        ids = imp_fmt(im, "where(%s < 0, %s + %lld, %s)", ids, ids, (long long)ext.c, ids);
    emit_take(im, out, x, axis, ids, ix->rank, r, dims);
}

static void op_shape(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    int64_t s = imp_attr_int(im, nd, "start", 0), e = imp_attr_int(im, nd, "end", x->rank);
    s = clamp64(s < 0 ? s + x->rank : s, 0, x->rank);
    e = clamp64(e < 0 ? e + x->rank : e, 0, x->rank);
    int64_t n = e > s ? e - s : 0;
    Dim d = odim_const(n);
    Val *v = imp_new_val(im, imp_out(nd, 0), ATTN_I64, 1, &d);
    v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
    for (int64_t i = 0; i < n; i++)
        v->ival[i] = x->dim[s + i];
}

static void op_size(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    Val *v = imp_new_val(im, imp_out(nd, 0), ATTN_I64, 0, NULL);
    v->ival = imp_alloc(im, sizeof(Dim));
    v->ival[0] = product(im, x->dim, 0, x->rank);
}

/* The value attribute of ConstantOfShape, a one-element tensor. */
static Val *fill_value(Imp *im, ImpNode *nd) {
    const Onnx__AttributeProto *a = imp_attr(nd, "value");
    if (!a) {
        Val *v = imp_alloc(im, sizeof *v);
        v->dt = ATTN_F32;
        v->fval = imp_alloc(im, sizeof(float));
        return v;
    }
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t)
        imp_node_fail(im, "attribute 'value' must be a tensor");
    if (a->t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)
        imp_node_fail(im, "a DOUBLE value is not supported");
    Val *v = imp_tensor_val(im, a->t, imp_fmt(im, "%s#value", imp_out(nd, 0)));
    if (val_numel(im, v) != 1)
        imp_node_fail(im, "attribute 'value' must hold one element");
    return v;
}

static void op_constant_of_shape(Imp *im, ImpNode *nd) {
    const Val *s = imp_need_known(im, nd, 0, "the shape");
    int n = (int)(s->rank ? s->dim[0].c : 1);
    if (n > ATTN_MAX_RANK)
        imp_node_fail(im, "the shape has %d dims", n);
    Dim dims[ATTN_MAX_RANK];
    for (int i = 0; i < n; i++) {
        dims[i] = s->ival[i];
        if (odim_is_const(dims[i]) && dims[i].c < 0)
            imp_node_fail(im, "shape dim %d is negative", i);
    }
    Val *fill = fill_value(im, nd);
    const char *out = imp_out(nd, 0);
    bool small = const_dims(n, dims) && product(im, dims, 0, n).c <= ATTN_LIMIT_ONNX_FOLD;
    if (small && (fill->ival || product(im, dims, 0, n).c <= 1)) {
        int64_t cnt = product(im, dims, 0, n).c;
        int64_t *src = imp_alloc(im, (size_t)(cnt ? cnt : 1) * sizeof *src);
        fold_gather(im, out, fill, n, dims, src, cnt);
        return;
    }
    const char *value = fill->fval ? imp_float_lit(im, fill->fval[0])
                        : fill->dt == ATTN_BOOL ? (fill->ival[0].c ? "true" : "false")
                                                : imp_fmt(im, "%lld", (long long)fill->ival[0].c);
    if (!value)
        imp_node_fail(im, "a NaN fill value is not supported");
    imp_emit(im, out, fill->dt, n, dims, "full(%s, %s, dtype = \"%s\")", imp_dims_text(im, n, dims), value,
             imp_dtype_attn(fill->dt));
}

static void op_range(Imp *im, ImpNode *nd) {
    Val *a = nd->in[0], *b = nd->in[1], *c = nd->in[2];
    if (!a || !b || !c || a->rank || b->rank || c->rank)
        imp_node_fail(im, "start, limit and delta must be scalars");
    const char *out = imp_out(nd, 0);
    if (a->dt == ATTN_F32) {
        if (!a->fval || !b->fval || !c->fval)
            imp_node_fail(im, "a FLOAT Range needs start, limit and delta known at import time");
        double s = a->fval[0], l = b->fval[0], d = c->fval[0];
        if (d == 0)
            imp_node_fail(im, "delta is 0");
        double cnt = (l - s) / d;
        int64_t n = cnt > 0 ? (int64_t)(cnt + 0.999999999) : 0;
        if (n > ATTN_LIMIT_ONNX_FOLD)
            imp_node_fail(im, "%lld elements", (long long)n);
        Dim dn = odim_const(n);
        Val *v = imp_new_val(im, out, ATTN_F32, 1, &dn);
        v->fval = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(float));
        for (int64_t i = 0; i < n; i++)
            v->fval[i] = (float)(s + (double)i * d);
        return;
    }
    if (!a->ival || !b->ival || !c->ival)
        imp_node_fail(im, "Range needs start, limit and delta known at import time (as dims)");
    int64_t d = val_int(im, c, 0, "delta");
    Dim s = a->ival[0], l = b->ival[0];
    if (d == 0)
        imp_node_fail(im, "delta is 0");
    if (odim_is_const(s) && odim_is_const(l)) {
        int64_t span = l.c - s.c;
        int64_t n = (span > 0) == (d > 0) && span ? (span + d + (d > 0 ? -1 : 1)) / d : 0;
        if (n > ATTN_LIMIT_ONNX_FOLD)
            imp_node_fail(im, "%lld elements", (long long)n);
        Dim dn = odim_const(n);
        Val *v = imp_new_val(im, out, a->dt, 1, &dn);
        v->ival = imp_alloc(im, (size_t)(n ? n : 1) * sizeof(Dim));
        for (int64_t i = 0; i < n; i++)
            v->ival[i] = odim_const(s.c + i * d);
        return;
    }
    if (d != 1 || !odim_is_const(s))
        imp_node_fail(im, "a Range up to the symbolic %s needs a constant start and delta 1", odim_text(im, l));
    Dim n = odim_sub(im, l, s);
    const char *e = imp_fmt(im, "arange(%s)", odim_text(im, n));
    if (s.c)
        e = imp_fmt(im, "%s + %lld", e, (long long)s.c);
    if (a->dt == ATTN_I32)
        e = imp_fmt(im, "i32(%s)", e);
    imp_emit(im, out, a->dt, 1, &n, "%s", e)->nonneg = s.c >= 0;
}

static void op_constant(Imp *im, ImpNode *nd) {
    if (nd->n->n_attribute != 1)
        imp_node_fail(im, "a Constant has exactly one attribute");
    const Onnx__AttributeProto *a = nd->n->attribute[0];
    const char *out = imp_out(nd, 0);
    if (!strcmp(a->name, "value")) {
        if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR || !a->t)
            imp_node_fail(im, "attribute 'value' must be a tensor");
        imp_tensor_val(im, a->t, out);
        return;
    }
    bool ints = !strcmp(a->name, "value_int") || !strcmp(a->name, "value_ints");
    bool list = !strcmp(a->name, "value_ints") || !strcmp(a->name, "value_floats");
    size_t n = list ? (ints ? a->n_ints : a->n_floats) : 1;
    if (n > ATTN_LIMIT_ONNX_FOLD)
        imp_node_fail(im, "%zu values", n);
    Dim d = odim_const((int64_t)n);
    Val *v = imp_new_val(im, out, ints ? ATTN_I64 : ATTN_F32, list, &d);
    if (ints) {
        v->ival = imp_alloc(im, (n ? n : 1) * sizeof(Dim));
        for (size_t i = 0; i < n; i++)
            v->ival[i] = odim_const(list ? a->ints[i] : a->i);
    } else {
        v->fval = imp_alloc(im, (n ? n : 1) * sizeof(float));
        for (size_t i = 0; i < n; i++)
            v->fval[i] = list ? a->floats[i] : a->f;
    }
}

static void op_trilu(Imp *im, ImpNode *nd) {
    Val *x = nd->in[0];
    if (x->rank < 2)
        imp_node_fail(im, "the input has rank %d; Trilu needs at least 2", x->rank);
    int64_t k = 0;
    if (nd->nin > 1 && nd->in[1])
        k = val_int(im, imp_need_known(im, nd, 1, "k"), 0, "k");
    bool upper = imp_attr_int(im, nd, "upper", 1) != 0;
    const char *zero = x->dt == ATTN_BOOL ? "false" : "0";
    Dim n = x->dim[x->rank - 2], m = x->dim[x->rank - 1];
    /* column - row >= k keeps the upper part, <= k the lower */
    imp_emit(im, imp_out(nd, 0), x->dt, x->rank, x->dim, "where(arange(%s) - unsqueeze(arange(%s), 1) %s %s, %s, %s)",
             odim_text(im, m), odim_text(im, n), upper ? ">=" : "<=",
             k < 0 ? imp_fmt(im, "(%lld)", (long long)k) : imp_fmt(im, "%lld", (long long)k), imp_ref_tensor(im, x),
             zero);
}

const ImpOp imp_ops_shape[] = {
    {"Reshape", op_reshape, 2, 2, 1, 1, "allowzero", 5},
    {"Flatten", op_flatten, 1, 1, 1, 1, "axis", 7},
    {"Transpose", op_transpose, 1, 1, 1, 1, "perm", 7},
    {"Squeeze", op_squeeze, 1, 2, 1, 1, "axes", 7},
    {"Unsqueeze", op_unsqueeze, 1, 2, 1, 1, "axes", 7},
    {"Concat", op_concat, 1, ATTN_LIMIT_ONNX_NODE_IO, 1, 1, "axis", 7},
    {"Split", op_split, 1, 2, 1, ATTN_LIMIT_ONNX_NODE_IO, "axis split num_outputs", 7},
    {"Slice", op_slice, 1, 5, 1, 1, "starts ends axes", 7},
    {"Expand", op_expand, 2, 2, 1, 1, "", 8},
    {"Gather", op_gather, 2, 2, 1, 1, "axis", 7},
    {"Shape", op_shape, 1, 1, 1, 1, "start end", 7},
    {"Size", op_size, 1, 1, 1, 1, "", 7},
    {"ConstantOfShape", op_constant_of_shape, 1, 1, 1, 1, "value", 9},
    {"Range", op_range, 3, 3, 1, 1, "", 11},
    {"Constant", op_constant, 0, 0, 1, 1, "value value_float value_floats value_int value_ints", 7},
    {"Trilu", op_trilu, 1, 2, 1, 1, "upper", 14},
    {NULL, NULL, 0, 0, 0, 0, NULL, 0},
};

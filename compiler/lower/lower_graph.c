/*
 * lower_graph.c — building typed graph nodes during lowering: the generic node
 * builder with its shape check, scalar constants, elementwise operators with
 * scalar promotion, matmul with transposes folded into the operation, shape
 * changes, tensor indexing and slicing.
 */
#include "lower.h"

#include <math.h>
#include <string.h>

int add_node(Lower *L, OpKind op, const int *in, int nin, SrcLoc loc, const OpAttrs *attrs) {
    for (int i = 0; i < nin; i++)
        if (in[i] < 0)
            return -1;
    if (L->ar->failed) /* out of memory: the phase reports it and drops the graph */
        return -1;
    if (!lower_node_step(L, loc))
        return -1;
    int id = ir_add(L->ar, L->g, op, in, nin, loc);
    if (attrs)
        L->g->nodes[id].attrs = *attrs;
    if (!shape_infer(L->ar, L->g, id, L->diag)) {
        L->g->n--; /* drop the ill-typed node */
        return -1;
    }
    return id;
}

int const_scalar(Lower *L, attn_dtype dt, double v, SrcLoc loc) {
    attn_tensor *t = arena_alloc(L->ar, sizeof *t);
    void *data = arena_alloc(L->ar, 8);
    if (!t || !data)
        return -1;
    t->dtype = dt;
    t->data = data;
    switch (dt) {
    case ATTN_F32: *(float *)t->data = (float)v; break;
    case ATTN_I32: *(int32_t *)t->data = (int32_t)v; break;
    case ATTN_I64: *(int64_t *)t->data = (int64_t)v; break;
    case ATTN_BOOL: *(uint8_t *)t->data = v != 0; break;
    }
    int id = ir_add(L->ar, L->g, OP_CONST, NULL, 0, loc);
    L->g->nodes[id].type = (IrType){.dtype = dt};
    L->g->nodes[id].value = t;
    return id;
}

/* A per-call dim as an f32 scalar tensor: sum(ones([d])), evaluated per call. */
int dim_tensor(Lower *L, const Dim *d, SrcLoc loc) {
    OpAttrs ones = {.fill = 1};
    int id = add_node(L, OP_FULL, NULL, 0, loc, &ones);
    L->g->nodes[id].type = (IrType){.dtype = ATTN_F32, .rank = 1, .dims = {d}};
    OpAttrs sum = {.axis = 0};
    return add_node(L, OP_SUM, &id, 1, loc, &sum);
}

/* A scalar value as a constant node of dtype dt, or -1 with an error. */
static int scalar_node(Lower *L, Val v, attn_dtype dt, const Ast *at) {
    double x;
    if (v.k == V_DIM && dt == ATTN_F32)
        return dim_tensor(L, v.d, at->loc);
    switch (v.k) {
    case V_INT:
    case V_BOOL: x = (double)v.i; break;
    case V_FLOAT: x = v.f; break;
    default:
        diag_error(L->diag, at->loc, "cannot combine a tensor with %s", val_describe(L, v));
        return -1;
    }
    if (dt != ATTN_F32 && v.k == V_FLOAT && (x != floor(x) || isinf(x))) {
        diag_error(L->diag, at->loc, "cannot combine a %s tensor with the number %g (convert with f32(x))",
                   attn_dtype_name(dt), x);
        return -1;
    }
    if (dt == ATTN_BOOL && v.k != V_BOOL) {
        diag_error(L->diag, at->loc, "cannot combine a bool tensor with %s", val_describe(L, v));
        return -1;
    }
    return const_scalar(L, dt, x, at->loc);
}

/* Tensor operands of an elementwise op; scalars take the tensors' dtype. */
static bool elementwise_operands(Lower *L, Val *vals, int n, int *out, const Ast *at) {
    attn_dtype dt = ATTN_F32;
    for (int i = n - 1; i >= 0; i--)
        if (vals[i].k == V_TENSOR)
            dt = vals[i].g->nodes[vals[i].node].type.dtype;
    for (int i = 0; i < n; i++) {
        if (vals[i].k == V_ERR)
            return false;
        out[i] = vals[i].k == V_TENSOR ? use(L, vals[i]) : scalar_node(L, vals[i], dt, at);
        if (out[i] < 0)
            return false;
    }
    return true;
}

Val lower_binop_tensor(Lower *L, OpKind op, Val a, Val b, const Ast *at) {
    Val vals[2] = {a, b};
    int in[2];
    if (!elementwise_operands(L, vals, 2, in, at))
        return err_val();
    return tensor_val(L, add_node(L, op, in, 2, at->loc, NULL));
}

Val lower_where(Lower *L, Val c, Val a, Val b, const Ast *at) {
    if (c.k != V_TENSOR) {
        bool k;
        return val_to_bool(L, c, at, &k) ? (k ? a : b) : err_val();
    }
    Val vals[2] = {a, b};
    int in[3] = {use(L, c)};
    if (!elementwise_operands(L, vals, 2, in + 1, at))
        return err_val();
    return tensor_val(L, add_node(L, OP_WHERE, in, 3, at->loc, NULL));
}

int lower_permute(Lower *L, int x, const int64_t *perm, SrcLoc loc) {
    OpAttrs at = {0};
    if (x < 0)
        return -1;
    memcpy(at.perm, perm, sizeof(int64_t) * (size_t)L->g->nodes[x].type.rank);
    return add_node(L, OP_PERMUTE, &x, 1, loc, &at);
}

/* True when node x is a transpose of its operand's last two dims (x.T). */
static bool is_last_two_swap(const IrNode *n) {
    if (n->op != OP_PERMUTE)
        return false;
    int r = n->type.rank;
    for (int i = 0; i < r - 2; i++)
        if (n->attrs.perm[i] != i)
            return false;
    return r >= 2 && n->attrs.perm[r - 2] == r - 1 && n->attrs.perm[r - 1] == r - 2;
}

Val lower_matmul(Lower *L, Val a, Val b, const Ast *at) {
    if (a.k != V_TENSOR || b.k != V_TENSOR) {
        diag_error(L->diag, at->loc, "@ needs two tensors, got %s and %s", val_describe(L, a), val_describe(L, b));
        return err_val();
    }
    int in[2] = {use(L, a), use(L, b)};
    OpAttrs attrs = {0};
    /* x @ w.T reads w transposed instead of materialising the transpose */
    if (is_last_two_swap(&L->g->nodes[in[0]])) {
        in[0] = L->g->nodes[in[0]].in[0];
        attrs.trans_a = true;
    }
    if (is_last_two_swap(&L->g->nodes[in[1]])) {
        in[1] = L->g->nodes[in[1]].in[0];
        attrs.trans_b = true;
    }
    return tensor_val(L, add_node(L, OP_MATMUL, in, 2, at->loc, &attrs));
}

/* Product of dims, or NULL when it is no dim (after an error at loc when L). */
static const Dim *dims_product(Lower *L, Arena *ar, const Dim *const *dims, int n, SrcLoc loc) {
    const Dim *p = dim_const(ar, 1);
    DimFault fault;
    for (int i = 0; i < n && p; i++)
        p = L ? lower_dim_op(L, DIM_OP_MUL, p, dims[i], loc, "reshape: element count")
              : dim_op(ar, DIM_OP_MUL, p, dims[i], &fault);
    return p;
}

int lower_reshape(Lower *L, int x, const Dim **dims, int rank, SrcLoc loc) {
    if (x < 0)
        return -1;
    const IrType *t = &L->g->nodes[x].type;
    const Dim *want = dims_product(L, L->ar, dims, rank, loc);
    if (!want)
        return -1;
    /* the operand's count when it is a dim: else it is checked per call */
    const Dim *have = dims_product(NULL, L->ar, t->dims, t->rank, loc);
    int64_t w, h;
    if (dim_is_const(want, &w) && dim_is_const(have, &h) && w != h) {
        IrType nt = {.dtype = t->dtype, .rank = rank};
        memcpy(nt.dims, dims, sizeof(Dim *) * (size_t)rank);
        diag_error(L->diag, loc, "reshape: %s has a different number of elements than %s", type_text(L, t),
                   type_text(L, &nt));
        return -1;
    }
    /* symbolic element counts are checked again per call, with values */
    int id = add_node(L, OP_RESHAPE, &x, 1, loc, NULL);
    if (id >= 0) {
        L->g->nodes[id].type.dtype = t->dtype;
        L->g->nodes[id].type.rank = rank;
        memcpy(L->g->nodes[id].type.dims, dims, sizeof(Dim *) * (size_t)rank);
    }
    return id;
}

/* Slice of x along axis: `len` elements from `start` with `step`. */
int lower_slice(Lower *L, int x, int axis, const Dim *start, const Dim *len, int64_t step, SrcLoc loc) {
    if (x < 0)
        return -1;
    OpAttrs at = {.axis = axis, .step = step};
    int id = add_node(L, OP_SLICE, &x, 1, loc, &at);
    if (id >= 0) {
        IrNode *n = &L->g->nodes[id];
        n->type = L->g->nodes[x].type;
        n->type.dims[axis] = len;
        n->start = start;
    }
    return id;
}

/* Normalises a possibly negative index against extent `dim`. */
static const Dim *norm_index(Lower *L, Val v, const Dim *dim, bool is_end, const Ast *at) {
    const Dim *d;
    int64_t i, n;
    if (v.k == V_INT && v.i < 0) {
        if (dim_is_const(dim, &n) && v.i < -n) {
            diag_error(L->diag, at->loc, "index %lld is out of range for a dim of extent %lld", (long long)v.i,
                       (long long)n);
            return NULL;
        }
        return lower_dim_op(L, DIM_OP_ADD, dim, dim_const(L->ar, v.i), at->loc, "index");
    }
    if (!val_to_dim(L, v, at, &d))
        return NULL;
    if (dim_is_const(d, &i) && dim_is_const(dim, &n) && (i > n || (!is_end && i == n))) {
        diag_error(L->diag, at->loc, "index %lld is out of range for a dim of extent %lld", (long long)i, (long long)n);
        return NULL;
    }
    return d;
}

static int index_axis(Lower *L, int x, int axis, const Ast *item, bool *drop) {
    const Dim *extent = L->g->nodes[x].type.dims[axis];
    *drop = false;
    if (item->kind != A_SLICE) {
        Val v = lower_expr(L, item);
        if (v.k == V_TENSOR) {
            diag_error(L->diag, item->loc, "indexing with a tensor is not supported; use embedding(table, ids)");
            return -1;
        }
        const Dim *s = norm_index(L, v, extent, false, item);
        *drop = true;
        return s ? lower_slice(L, x, axis, s, dim_const(L->ar, 1), 1, item->loc) : -1;
    }
    int64_t step = 1;
    if (item->c && (!val_to_int(L, lower_expr(L, item->c), item->c, &step) || step < 1)) {
        if (step < 1)
            diag_error(L->diag, item->c->loc, "slice step must be at least 1");
        return -1;
    }
    const Dim *s = item->a ? norm_index(L, lower_expr(L, item->a), extent, true, item->a) : dim_const(L->ar, 0);
    const Dim *e = item->b ? norm_index(L, lower_expr(L, item->b), extent, true, item->b) : extent;
    if (!s || !e)
        return -1;
    int64_t si, ei;
    if (dim_is_const(s, &si) && dim_is_const(e, &ei) && ei < si)
        e = s; /* empty, like Python */
    if (!item->a && !item->b && step == 1)
        return x;
    /* ceil((e - s) / step) as (e - s - 1) // step + 1: no step-sized term that could overflow */
    const Dim *len = lower_dim_op(L, DIM_OP_SUB, e, s, item->loc, "slice length");
    if (len && step > 1) {
        len = lower_dim_op(L, DIM_OP_SUB, len, dim_const(L->ar, 1), item->loc, "slice length");
        len = len ? lower_dim_op(L, DIM_OP_DIV, len, dim_const(L->ar, step), item->loc, "slice length") : NULL;
        len = len ? lower_dim_op(L, DIM_OP_ADD, len, dim_const(L->ar, 1), item->loc, "slice length") : NULL;
    }
    return len ? lower_slice(L, x, axis, s, len, step, item->loc) : -1;
}

/* Whether index item i is PyTorch's None (a new axis); if so reports it with
 * the unsqueeze that inserts the same axis: its position among the kept
 * axes, counted from the end after a '...'. */
static bool none_index(Lower *L, const Ast *e, int i) {
    const Ast *item = e->list.items[i];
    if (item->kind != A_NAME || strcmp(item->str, "None") != 0 || name_is_bound(L, "None"))
        return false;
    bool after_ellipsis = false;
    for (int j = 0; j < i; j++)
        after_ellipsis |= e->list.items[j]->kind == A_ELLIPSIS;
    int kept = 0;
    for (int j = after_ellipsis ? i + 1 : 0; j < (after_ellipsis ? e->list.n : i); j++) {
        const Ast *o = e->list.items[j];
        kept += o->kind == A_SLICE || (o->kind == A_NAME && strcmp(o->str, "None") == 0);
    }
    bool whole = true; /* every other item is ':' or '...': the index does nothing but insert */
    for (int j = 0; j < e->list.n; j++) {
        const Ast *o = e->list.items[j];
        whole &= j == i || o->kind == A_ELLIPSIS || (o->kind == A_SLICE && !o->a && !o->b && !o->c);
    }
    int axis = after_ellipsis ? -1 - kept : kept;
    if (whole && e->a->kind == A_NAME)
        diag_error(L->diag, item->loc, "None in an index: .attn has no None; write unsqueeze(%s, %d)", e->a->str, axis);
    else
        diag_error(L->diag, item->loc, "None in an index: .attn has no None; leave it out of the index and apply "
                   "unsqueeze(..., %d) to the result", axis);
    return true;
}

Val lower_index(Lower *L, Val xv, const Ast *e) {
    for (int i = 0; i < e->list.n; i++)
        if (none_index(L, e, i))
            return err_val();
    int x = use(L, xv);
    int rank = L->g->nodes[x].type.rank, nitems = e->list.n, ellipsis = -1;
    for (int i = 0; i < nitems; i++)
        if (e->list.items[i]->kind == A_ELLIPSIS) {
            if (ellipsis >= 0) {
                diag_error(L->diag, e->list.items[i]->loc, "an index has at most one '...'");
                return err_val();
            }
            ellipsis = i;
        }
    int used = nitems - (ellipsis >= 0);
    if (used > rank) {
        diag_error(L->diag, e->loc, "too many indices (%d) for %s", used, type_text(L, &L->g->nodes[x].type));
        return err_val();
    }
    bool drop[ATTN_MAX_RANK] = {0};
    int axis = 0;
    for (int i = 0; i < nitems && x >= 0; i++) {
        const Ast *item = e->list.items[i];
        if (item->kind == A_ELLIPSIS) {
            axis += rank - used;
            continue;
        }
        x = index_axis(L, x, axis, item, &drop[axis]);
        axis++;
    }
    if (x < 0)
        return err_val();
    const IrType *t = &L->g->nodes[x].type;
    const Dim *dims[ATTN_MAX_RANK];
    int n = 0;
    bool any = false;
    for (int i = 0; i < t->rank; i++) {
        if (drop[i])
            any = true;
        else
            dims[n++] = t->dims[i];
    }
    return tensor_val(L, any ? lower_reshape(L, x, dims, n, e->loc) : x);
}

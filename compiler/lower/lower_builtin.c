/*
 * lower_builtin.c — calls of built-in functions and the scan construct.
 *
 * Ops of the op table that have a builtin name are called generically: their
 * tensor operands come first, then their attributes, by position or by name,
 * as ops.def lists them ("axis=-1,keepdim=0"). The remaining builtins are
 * sugar that lowers to several ops (split, stack, masks, ...); they are listed
 * in `sugar[]` with their documented signatures.
 */
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

Val lower_where(Lower *L, Val c, Val a, Val b, const Ast *at);
int lower_slice(Lower *L, int x, int axis, const Dim *start, const Dim *len, int64_t step, SrcLoc loc);

/* Arguments of a call: positional values, then named ones. */
typedef struct Args {
    Val pos[ATTN_LIMIT_OPERANDS]; const Ast *pos_at[ATTN_LIMIT_OPERANDS]; int npos;
    const char *kw[8]; Val kwv[8]; const Ast *kw_at[8]; int nkw;
} Args;

static bool eval_args(Lower *L, const Ast *call, Args *a) {
    a->npos = a->nkw = 0;
    for (int i = 0; i < call->list.n; i++) {
        const Ast *arg = call->list.items[i];
        if (arg->kind == A_KWARG) {
            if (a->nkw == 8) {
                diag_error(L->diag, arg->loc, "too many named arguments");
                return false;
            }
            a->kw[a->nkw] = arg->str;
            a->kw_at[a->nkw] = arg;
            if ((a->kwv[a->nkw++] = lower_expr(L, arg->a)).k == V_ERR)
                return false;
        } else {
            if (a->npos == ATTN_LIMIT_OPERANDS) {
                diag_error(L->diag, arg->loc, "more than %d arguments (ATTN_LIMIT_OPERANDS)", ATTN_LIMIT_OPERANDS);
                return false;
            }
            a->pos_at[a->npos] = arg;
            if ((a->pos[a->npos++] = lower_expr(L, arg)).k == V_ERR)
                return false;
        }
    }
    return true;
}

/* Takes named argument `name` out of a (NULL when absent). */
static const Val *take_kw(Args *a, const char *name, const Ast **at) {
    for (int i = 0; i < a->nkw; i++)
        if (a->kw[i] && strcmp(a->kw[i], name) == 0) {
            a->kw[i] = NULL;
            if (at)
                *at = a->kw_at[i];
            return &a->kwv[i];
        }
    return NULL;
}

static bool no_kw_left(Lower *L, const Args *a, const char *fn) {
    for (int i = 0; i < a->nkw; i++)
        if (a->kw[i]) {
            diag_error(L->diag, a->kw_at[i]->loc, "%s() has no argument named '%s'%s", fn, a->kw[i],
                       strcmp(a->kw[i], "dim") == 0 ? " (PyTorch's dim= is axis= in .attn)" : "");
            return false;
        }
    return true;
}

static bool want_tensor(Lower *L, Val v, const Ast *at, const char *fn, int i) {
    if (v.k == V_TENSOR)
        return true;
    if (report_whole_tuple(L, v, at->loc, arena_printf(L->ar, "used here as argument %d of %s(), a tensor", i + 1, fn)))
        return false;
    diag_error(L->diag, at->loc, "argument %d of %s() must be a tensor, got %s", i + 1, fn, val_describe(L, v));
    return false;
}

static int rank_of(Lower *L, Val v) { return v.g->nodes[v.node].type.rank; }

/* Normalises axis for fn on tensor x, whose result has rank `rank` (one more
 * than x's for unsqueeze and stack). */
static bool norm_axis(Lower *L, int64_t *axis, int rank, const Ast *at, const char *fn, Val x) {
    if (*axis < -rank || *axis >= rank) {
        diag_error(L->diag, at->loc, "%s: axis %lld is out of range for %s (axes %d to %d)", fn, (long long)*axis,
                   val_describe(L, x), -rank, rank - 1);
        return false;
    }
    if (*axis < 0)
        *axis += rank;
    return true;
}

/* An integer argument: positional index `i` if present, else named, else def. */
static bool int_arg(Lower *L, Args *a, int i, const char *name, int64_t def, int64_t *out, const Ast *call) {
    const Ast *at = call;
    const Val *v = take_kw(a, name, &at);
    if (i < a->npos) {
        if (v) {
            diag_error(L->diag, at->loc, "argument '%s' given twice", name);
            return false;
        }
        v = &a->pos[i];
        at = a->pos_at[i];
    }
    if (!v) {
        *out = def;
        return true;
    }
    return val_to_int(L, *v, at, out);
}

/* ---- generic ops of the op table ---- */

/* Value of attribute `name` in an ops.def attribute list, or false. */
static bool attr_default(const char *spec, const char *name, double *out) {
    size_t n = strlen(name);
    for (const char *p = spec; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            *out = strtod(p + n + 1, NULL);
            return true;
        }
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    return false;
}

/* op(x) of a number at compile time: the op's scalar function (ops.def), the
 * same the interpreter maps over tensors. */
static Val scalar_call(Lower *L, OpKind op, const Ast *call, const Args *a) {
    if (a->pos[0].k != V_INT && a->pos[0].k != V_FLOAT) {
        if (report_whole_tuple(L, a->pos[0], a->pos_at[0]->loc, arena_printf(L->ar, "used here as the operand of %s()", call->str)))
            return err_val();
        diag_error(L->diag, a->pos_at[0]->loc, "%s() needs a tensor or a number, got %s", call->str, val_describe(L, a->pos[0]));
        return err_val();
    }
    if (!op_info[op].scalar) {
        diag_error(L->diag, a->pos_at[0]->loc, "%s() of a number is not defined; pass a tensor", call->str);
        return err_val();
    }
    double x = a->pos[0].k == V_FLOAT ? a->pos[0].f : (double)a->pos[0].i;
    return (Val){.k = V_FLOAT, .f = op_info[op].scalar(x)};
}

/* A call of op with evaluated arguments a. */
static Val call_op_args(Lower *L, OpKind op, const Ast *call, const Args *args) {
    const OpInfo *info = &op_info[op];
    Args a = *args;
    int ntensor = 0;
    while (ntensor < a.npos && ntensor < info->max_in && (a.pos[ntensor].k == V_TENSOR || ntensor < info->min_in))
        ntensor++;
    if (ntensor < info->min_in) {
        diag_error(L->diag, call->loc, "%s() takes %d tensor argument%s, got %d", call->str, info->min_in,
                   info->min_in == 1 ? "" : "s", a.npos);
        return err_val();
    }
    /* a per-call dim becomes a tensor computed per call: sqrt(d) */
    if (info->cls == OC_UNARY && a.npos == 1 && a.pos[0].k == V_DIM)
        a.pos[0] = tensor_val(L, dim_tensor(L, a.pos[0].d, call->loc));
    /* scalar math at compile time: sqrt(64), tanh(0.5) */
    if (info->cls == OC_UNARY && a.npos == 1 && a.pos[0].k != V_TENSOR) {
        if (!no_kw_left(L, &a, call->str))
            return err_val();
        return scalar_call(L, op, call, &a);
    }
    int in[ATTN_LIMIT_OPERANDS];
    Val tv[3];
    for (int i = 0; i < ntensor; i++) {
        if (info->cls == OC_BINARY || info->cls == OC_TERNARY) {
            if (i < 3)
                tv[i] = a.pos[i];
            continue;
        }
        if (!want_tensor(L, a.pos[i], a.pos_at[i], call->str, i))
            return err_val();
        in[i] = use(L, a.pos[i]);
    }
    if (op == OP_WHERE)
        return lower_where(L, tv[0], tv[1], tv[2], call);
    if (info->cls == OC_BINARY) {
        if (tv[0].k != V_TENSOR && tv[1].k != V_TENSOR) {
            diag_error(L->diag, call->loc, "%s() needs at least one tensor argument", call->str);
            return err_val();
        }
        return lower_binop_tensor(L, op, tv[0], tv[1], call);
    }
    OpAttrs attrs = {0};
    double d;
    int rest = ntensor;
    if (attr_default(info->attrs, "axis", &d)) {
        if (!int_arg(L, &a, rest++, "axis", (int64_t)d, &attrs.axis, call))
            return err_val();
    }
    if (attr_default(info->attrs, "keepdim", &d)) {
        int64_t k;
        if (!int_arg(L, &a, rest++, "keepdim", (int64_t)d, &k, call))
            return err_val();
        attrs.keepdim = k != 0;
    }
    if (attr_default(info->attrs, "eps", &d)) {
        const Ast *at = call;
        const Val *v = take_kw(&a, "eps", &at);
        attrs.eps = d;
        if (v && v->k != V_FLOAT && v->k != V_INT) {
            diag_error(L->diag, at->loc, "eps must be a number, got %s", val_describe(L, *v));
            return err_val();
        }
        if (v)
            attrs.eps = v->k == V_FLOAT ? v->f : (double)v->i;
    }
    if (rest < a.npos) {
        diag_error(L->diag, a.pos_at[rest]->loc, "%s() takes at most %d argument%s, got %d", call->str, rest,
                   rest == 1 ? "" : "s", a.npos);
        return err_val();
    }
    if (!no_kw_left(L, &a, call->str))
        return err_val();
    return tensor_val(L, add_node(L, op, in, ntensor, call->loc, &attrs));
}

static Val call_op(Lower *L, OpKind op, const Ast *call) {
    Args a;
    if (!eval_args(L, call, &a))
        return err_val();
    return call_op_args(L, op, call, &a);
}

/* ---- sugar ---- */

/* A tuple of n items to fill, or an error value when out of memory. */
static Val tuple(Lower *L, int n) {
    Val *items = arena_alloc(L->ar, sizeof(Val) * (size_t)(n + 1));
    return items ? (Val){.k = V_TUPLE, .n = n, .items = items} : err_val();
}

/* split(x, n | [sizes], axis=-1): equal pieces or the given sizes along axis. */
static Val b_split(Lower *L, const Ast *call, Args *a) {
    int64_t axis;
    if (a->npos < 2 || !want_tensor(L, a->pos[0], a->pos_at[0], "split", 0) ||
        !int_arg(L, a, 2, "axis", -1, &axis, call) || !no_kw_left(L, a, "split") ||
        !norm_axis(L, &axis, rank_of(L, a->pos[0]), call, "split", a->pos[0])) {
        if (a->npos < 2)
            diag_error(L->diag, call->loc, "split(x, n, axis=-1) takes a tensor and a count or list of sizes");
        return err_val();
    }
    int x = use(L, a->pos[0]);
    const Dim *extent = L->g->nodes[x].type.dims[axis];
    int64_t n, sizes[ATTN_LIMIT_SPLIT_PIECES], total;
    Val s = a->pos[1];
    if (s.k == V_TUPLE) {
        n = s.n;
        if (n < 1 || n > ATTN_LIMIT_SPLIT_PIECES) {
            diag_error(L->diag, a->pos_at[1]->loc, "split into %lld pieces: 1 to %d allowed (ATTN_LIMIT_SPLIT_PIECES)",
                       (long long)n, ATTN_LIMIT_SPLIT_PIECES);
            return err_val();
        }
        for (int i = 0; i < n; i++) {
            if (!val_to_int(L, s.items[i], a->pos_at[1], &sizes[i]))
                return err_val();
            if (sizes[i] < 0) {
                diag_error(L->diag, a->pos_at[1]->loc, "split: size %lld is negative", (long long)sizes[i]);
                return err_val();
            }
        }
    } else {
        if (!val_to_int(L, s, a->pos_at[1], &n))
            return err_val();
        if (n < 1 || n > ATTN_LIMIT_SPLIT_PIECES) {
            diag_error(L->diag, a->pos_at[1]->loc, "split into %lld pieces: 1 to %d allowed (ATTN_LIMIT_SPLIT_PIECES)",
                       (long long)n, ATTN_LIMIT_SPLIT_PIECES);
            return err_val();
        }
        /* symbolic extents split when a constant factor divides: 3*H into H, H, H */
        if (extent->kind == DIM_MUL && extent->b->kind == DIM_CONST && extent->b->value % n == 0) {
            const Dim *piece = lower_dim_op(L, DIM_OP_MUL, extent->a, dim_const(L->ar, extent->b->value / n), call->loc,
                                            "split: piece");
            Val out = tuple(L, (int)n);
            for (int i = 0; i < n; i++) {
                const Dim *start = piece ? lower_dim_op(L, DIM_OP_MUL, piece, dim_const(L->ar, i), call->loc,
                                                        "split: start of a piece") : NULL;
                if (!start)
                    return err_val();
                out.items[i] = tensor_val(L, lower_slice(L, x, (int)axis, start, piece, 1, call->loc));
            }
            return out;
        }
        if (!dim_is_const(extent, &total) || total % n) {
            char e[64];
            dim_format(extent, e, sizeof e);
            StrBuf pieces = {0};
            describe_size(L, &pieces, a->pos_at[1], s);
            diag_error(L->diag, call->loc, "split: dim %lld of %s is %s, not divisible into %s equal pieces",
                       (long long)axis, type_text(L, &L->g->nodes[x].type), e, sb_str(&pieces));
            sb_free(&pieces);
            return err_val();
        }
        for (int i = 0; i < n; i++)
            sizes[i] = total / n;
    }
    total = 0;
    for (int i = 0; i < n; i++)
        if (__builtin_add_overflow(total, sizes[i], &total))
            total = INT64_MAX;
    int64_t have;
    if (!dim_is_const(extent, &have) || have != total) {
        char e[64];
        dim_format(extent, e, sizeof e);
        diag_error(L->diag, call->loc, "split: sizes add up to %lld but dim %lld is %s", (long long)total, (long long)axis, e);
        return err_val();
    }
    Val out = tuple(L, (int)n);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        out.items[i] = tensor_val(L, lower_slice(L, x, (int)axis, dim_const(L->ar, start), dim_const(L->ar, sizes[i]), 1, call->loc));
        start += sizes[i];
    }
    return out;
}

/* Tensors of a variadic call: f(a, b, c) or f([a, b, c]). */
static int tensor_list(Lower *L, Args *a, const Ast *call, int *in) {
    const char *fn = call->str;
    Val *items = a->pos;
    int n = a->npos;
    if (n == 1 && a->pos[0].k == V_TUPLE) {
        items = a->pos[0].items;
        n = a->pos[0].n;
    }
    if (n < 1 || n > 64) {
        diag_error(L->diag, call->loc, "%s() takes 1 to 64 tensors, got %d", fn, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (!want_tensor(L, items[i], a->pos_at[a->npos == 1 ? 0 : i], fn, i))
            return -1;
        in[i] = use(L, items[i]);
    }
    return n;
}

static Val b_concat(Lower *L, const Ast *call, Args *a) {
    int64_t axis;
    int in[64];
    if (!int_arg(L, a, 64, "axis", -1, &axis, call) || !no_kw_left(L, a, "concat"))
        return err_val();
    int n = tensor_list(L, a, call, in);
    if (n < 0)
        return err_val();
    if (n == 1)
        return tensor_val(L, in[0]);
    OpAttrs at = {.axis = axis};
    return tensor_val(L, add_node(L, OP_CONCAT, in, n, call->loc, &at));
}

static int unsqueeze(Lower *L, int x, int64_t axis, SrcLoc loc) {
    const IrType *t = &L->g->nodes[x].type;
    if (t->rank >= ATTN_MAX_RANK) {
        diag_error(L->diag, loc, "unsqueeze: rank would exceed %d", ATTN_MAX_RANK);
        return -1;
    }
    const Dim *dims[ATTN_MAX_RANK];
    for (int i = 0, j = 0; i <= t->rank; i++)
        dims[i] = i == axis ? dim_const(L->ar, 1) : t->dims[j++];
    return lower_reshape(L, x, dims, t->rank + 1, loc);
}

static Val b_stack(Lower *L, const Ast *call, Args *a) {
    int64_t axis;
    int in[64];
    if (!int_arg(L, a, 64, "axis", 0, &axis, call) || !no_kw_left(L, a, "stack"))
        return err_val();
    int n = tensor_list(L, a, call, in);
    if (n < 0 || !norm_axis(L, &axis, L->g->nodes[in[0]].type.rank + 1, call, "stack", tensor_val(L, in[0])))
        return err_val();
    for (int i = 0; i < n; i++)
        if ((in[i] = unsqueeze(L, in[i], axis, call->loc)) < 0)
            return err_val();
    if (n == 1)
        return tensor_val(L, in[0]);
    OpAttrs at = {.axis = axis};
    return tensor_val(L, add_node(L, OP_CONCAT, in, n, call->loc, &at));
}

/* Reports a call of fn with fewer than n positional arguments; false when it has them. */
static bool too_few(Lower *L, const Ast *call, const Args *a, int n, const char *signature) {
    if (a->npos >= n)
        return false;
    diag_error(L->diag, call->loc, "%s takes %d argument%s, got %d", signature, n, n == 1 ? "" : "s", a->npos);
    return true;
}

static Val b_unsqueeze(Lower *L, const Ast *call, Args *a) {
    int64_t axis;
    if (too_few(L, call, a, 1, "unsqueeze(x, axis=0)") || !want_tensor(L, a->pos[0], a->pos_at[0], "unsqueeze", 0) ||
        !int_arg(L, a, 1, "axis", 0, &axis, call) || !no_kw_left(L, a, "unsqueeze") ||
        !norm_axis(L, &axis, rank_of(L, a->pos[0]) + 1, call, "unsqueeze", a->pos[0]))
        return err_val();
    return tensor_val(L, unsqueeze(L, use(L, a->pos[0]), axis, call->loc));
}

static Val b_squeeze(Lower *L, const Ast *call, Args *a) {
    int64_t axis, one;
    if (too_few(L, call, a, 1, "squeeze(x, axis=0)") || !want_tensor(L, a->pos[0], a->pos_at[0], "squeeze", 0) ||
        !int_arg(L, a, 1, "axis", 0, &axis, call) || !no_kw_left(L, a, "squeeze") ||
        !norm_axis(L, &axis, rank_of(L, a->pos[0]), call, "squeeze", a->pos[0]))
        return err_val();
    int x = use(L, a->pos[0]);
    const IrType *t = &L->g->nodes[x].type;
    if (!dim_is_const(t->dims[axis], &one) || one != 1) {
        diag_error(L->diag, call->loc, "squeeze: dim %lld of %s is not 1", (long long)axis, type_text(L, t));
        return err_val();
    }
    const Dim *dims[ATTN_MAX_RANK];
    for (int i = 0, j = 0; i < t->rank; i++)
        if (i != axis)
            dims[j++] = t->dims[i];
    return tensor_val(L, lower_reshape(L, x, dims, t->rank - 1, call->loc));
}

static Val b_transpose(Lower *L, const Ast *call, Args *a) {
    int64_t d0, d1;
    if (a->npos != 3 || !want_tensor(L, a->pos[0], a->pos_at[0], "transpose", 0)) {
        if (a->npos != 3)
            diag_error(L->diag, call->loc, "transpose(x, dim0, dim1) takes 3 arguments");
        return err_val();
    }
    int r = rank_of(L, a->pos[0]);
    if (!val_to_int(L, a->pos[1], a->pos_at[1], &d0) || !val_to_int(L, a->pos[2], a->pos_at[2], &d1) ||
        !norm_axis(L, &d0, r, a->pos_at[1], "transpose", a->pos[0]) ||
        !norm_axis(L, &d1, r, a->pos_at[2], "transpose", a->pos[0]) || !no_kw_left(L, a, "transpose"))
        return err_val();
    int64_t perm[ATTN_MAX_RANK];
    for (int i = 0; i < r; i++)
        perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return tensor_val(L, lower_permute(L, use(L, a->pos[0]), perm, call->loc));
}

static Val b_permute(Lower *L, const Ast *call, Args *a) {
    if (a->npos != 2 || !want_tensor(L, a->pos[0], a->pos_at[0], "permute", 0) || a->pos[1].k != V_TUPLE) {
        diag_error(L->diag, call->loc, "permute(x, [dims]) takes a tensor and a list of dims");
        return err_val();
    }
    int r = rank_of(L, a->pos[0]);
    if (a->pos[1].n != r) {
        diag_error(L->diag, a->pos_at[1]->loc, "permute: %d dims given for a tensor of rank %d", a->pos[1].n, r);
        return err_val();
    }
    int64_t perm[ATTN_MAX_RANK];
    for (int i = 0; i < r; i++)
        if (!val_to_int(L, a->pos[1].items[i], a->pos_at[1], &perm[i]) ||
            !norm_axis(L, &perm[i], r, a->pos_at[1], "permute", a->pos[0]))
            return err_val();
    return tensor_val(L, lower_permute(L, use(L, a->pos[0]), perm, call->loc));
}

/* Dims of a shape list; -1 (once) is inferred from x's element count. */
static bool shape_list(Lower *L, Val list, const Ast *at, const IrType *x, const Dim **dims, int *rank) {
    if (list.k != V_TUPLE || list.n > ATTN_MAX_RANK) {
        diag_error(L->diag, at->loc, "expected a list of at most %d dims, got %s", ATTN_MAX_RANK, val_describe(L, list));
        return false;
    }
    int infer = -1;
    const Dim *known = dim_const(L->ar, 1);
    DimFault fault;
    for (int i = 0; i < list.n; i++) {
        if (x && list.items[i].k == V_INT && list.items[i].i == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (!val_to_dim(L, list.items[i], at, &dims[i]))
            return false;
        known = known ? dim_op(L->ar, DIM_OP_MUL, known, dims[i], &fault) : NULL;
    }
    *rank = list.n;
    if (infer >= 0) { /* counts that are no dims cannot be inferred from */
        const Dim *all = dim_const(L->ar, 1);
        for (int i = 0; i < x->rank && all; i++)
            all = dim_op(L->ar, DIM_OP_MUL, all, x->dims[i], &fault);
        int64_t va, vk;
        if (!all || !known || !dim_is_const(all, &va) || !dim_is_const(known, &vk) || vk == 0 || va % vk) {
            diag_error(L->diag, at->loc, "reshape: cannot infer the -1 dim of %s; give every dim", type_text(L, x));
            return false;
        }
        dims[infer] = dim_const(L->ar, va / vk);
    }
    return true;
}

static Val b_reshape(Lower *L, const Ast *call, Args *a) {
    if (a->npos != 2 || !want_tensor(L, a->pos[0], a->pos_at[0], "reshape", 0) || !no_kw_left(L, a, "reshape")) {
        if (a->npos != 2)
            diag_error(L->diag, call->loc, "reshape(x, [dims]) takes a tensor and a list of dims");
        return err_val();
    }
    int x = use(L, a->pos[0]), rank;
    const Dim *dims[ATTN_MAX_RANK];
    if (!shape_list(L, a->pos[1], a->pos_at[1], &L->g->nodes[x].type, dims, &rank) ||
        reshape_division_error(L, a->pos_at[1], &L->g->nodes[x].type, dims, rank))
        return err_val();
    return tensor_val(L, lower_reshape(L, x, dims, rank, call->loc));
}

static Val b_expand(Lower *L, const Ast *call, Args *a) {
    int rank;
    const Dim *dims[ATTN_MAX_RANK];
    if (a->npos != 2) {
        diag_error(L->diag, call->loc, "expand(x, [dims]) takes a tensor and a list of dims");
        return err_val();
    }
    if (!want_tensor(L, a->pos[0], a->pos_at[0], "expand", 0) ||
        !shape_list(L, a->pos[1], a->pos_at[1], NULL, dims, &rank) || !no_kw_left(L, a, "expand"))
        return err_val();
    int x = use(L, a->pos[0]);
    IrType want = {.dtype = L->g->nodes[x].type.dtype, .rank = rank};
    memcpy(want.dims, dims, sizeof(Dim *) * (size_t)rank);
    /* check by broadcasting against a typed placeholder: reuse the binary rule */
    int id = add_node(L, OP_EXPAND, &x, 1, call->loc, NULL);
    if (id < 0)
        return err_val();
    const IrType *t = &L->g->nodes[x].type;
    bool ok = t->rank <= rank;
    for (int i = 0; ok && i < t->rank; i++) {
        const Dim *d = t->dims[t->rank - 1 - i], *w = dims[rank - 1 - i];
        int64_t one;
        ok = dim_equal(d, w) || (dim_is_const(d, &one) && one == 1);
    }
    if (!ok) {
        diag_error(L->diag, call->loc, "expand: %s cannot be broadcast to %s", type_text(L, t), type_text(L, &want));
        L->g->n--;
        return err_val();
    }
    L->g->nodes[id].type = want;
    return tensor_val(L, id);
}

static attn_dtype dtype_arg(Lower *L, Args *a, attn_dtype def, bool *ok) {
    const Ast *at;
    const Val *v = take_kw(a, "dtype", &at);
    *ok = true;
    if (!v)
        return def;
    static const char *names[] = {"f32", "i32", "i64", "bool"};
    for (int i = 0; i < 4; i++)
        if ((v->k == V_ENUM || v->k == V_STR) && strcmp(v->s, names[i]) == 0)
            return (attn_dtype)i;
    diag_error(L->diag, at->loc, "dtype must be \"f32\", \"i32\", \"i64\" or \"bool\"");
    *ok = false;
    return def;
}

/* zeros([dims]), ones([dims]), full([dims], value): dtype="f32" by default. */
static Val b_full(Lower *L, const Ast *call, Args *a, double fill, bool has_value) {
    int rank;
    const Dim *dims[ATTN_MAX_RANK];
    bool ok;
    attn_dtype dt = dtype_arg(L, a, ATTN_F32, &ok);
    if (!ok || a->npos != 1 + has_value || !no_kw_left(L, a, call->str)) {
        if (ok && a->npos != 1 + has_value)
            diag_error(L->diag, call->loc, "%s() takes a list of dims%s", call->str, has_value ? " and a value" : "");
        return err_val();
    }
    if (!shape_list(L, a->pos[0], a->pos_at[0], NULL, dims, &rank))
        return err_val();
    if (has_value) {
        Val v = a->pos[1];
        if (v.k != V_INT && v.k != V_FLOAT && v.k != V_BOOL) {
            diag_error(L->diag, a->pos_at[1]->loc, "full() needs a number, got %s", val_describe(L, v));
            return err_val();
        }
        fill = v.k == V_FLOAT ? v.f : (double)v.i;
    }
    OpAttrs at = {.fill = fill};
    int id = add_node(L, OP_FULL, NULL, 0, call->loc, &at);
    L->g->nodes[id].type = (IrType){.dtype = dt, .rank = rank};
    memcpy(L->g->nodes[id].type.dims, dims, sizeof(Dim *) * (size_t)rank);
    return tensor_val(L, id);
}

static int arange(Lower *L, const Dim *n, SrcLoc loc) {
    OpAttrs at = {.start = 0, .step = 1};
    int id = add_node(L, OP_ARANGE, NULL, 0, loc, &at);
    L->g->nodes[id].type = (IrType){.dtype = ATTN_I64, .rank = 1, .dims = {n}};
    return id;
}

static Val b_arange(Lower *L, const Ast *call, Args *a) {
    const Dim *n;
    if (a->npos != 1 || !no_kw_left(L, a, "arange") || !val_to_dim(L, a->pos[0], a->pos_at[0], &n)) {
        if (a->npos != 1)
            diag_error(L->diag, call->loc, "arange(n) takes one dim");
        return err_val();
    }
    return tensor_val(L, arange(L, n, call->loc));
}

/* causal_mask(L, S): bool [L, S], true above the diagonal (position j > i is masked). */
static Val b_causal_mask(Lower *L, const Ast *call, Args *a) {
    const Dim *l, *s;
    if (a->npos != 2 || !no_kw_left(L, a, "causal_mask") || !val_to_dim(L, a->pos[0], a->pos_at[0], &l) ||
        !val_to_dim(L, a->pos[1], a->pos_at[1], &s)) {
        if (a->npos != 2)
            diag_error(L->diag, call->loc, "causal_mask(L, S) takes two dims");
        return err_val();
    }
    int i = arange(L, l, call->loc), j = arange(L, s, call->loc);
    const Dim *col[2] = {l, dim_const(L->ar, 1)}, *row[2] = {dim_const(L->ar, 1), s};
    int in[2] = {lower_reshape(L, j, row, 2, call->loc), lower_reshape(L, i, col, 2, call->loc)};
    return tensor_val(L, add_node(L, OP_GT, in, 2, call->loc, NULL));
}

/* length_mask(lengths, S): bool [B, S], true at positions >= lengths[b] (padding). */
static Val b_length_mask(Lower *L, const Ast *call, Args *a) {
    const Dim *s;
    if (a->npos != 2) {
        diag_error(L->diag, call->loc, "length_mask(lengths, S) takes a tensor and a dim");
        return err_val();
    }
    if (!want_tensor(L, a->pos[0], a->pos_at[0], "length_mask", 0) || !no_kw_left(L, a, "length_mask") ||
        !val_to_dim(L, a->pos[1], a->pos_at[1], &s))
        return err_val();
    int len = use(L, a->pos[0]);
    const IrType *t = &L->g->nodes[len].type;
    if (t->rank != 1 || t->dtype != ATTN_I64) {
        diag_error(L->diag, a->pos_at[0]->loc, "length_mask needs lengths of type i64[B], got %s", type_text(L, t));
        return err_val();
    }
    const Dim *col[2] = {t->dims[0], dim_const(L->ar, 1)}, *row[2] = {dim_const(L->ar, 1), s};
    int in[2] = {lower_reshape(L, arange(L, s, call->loc), row, 2, call->loc), lower_reshape(L, len, col, 2, call->loc)};
    return tensor_val(L, add_node(L, OP_GE, in, 2, call->loc, NULL));
}

/* check_lengths(lengths, T): lengths (i64[B]), refused at run time unless each
 * is in 1..T, as pack_padded_sequence needs; T is the extent of an arange(T)
 * operand, so a per-call T is known to both backends. */
static Val b_check_lengths(Lower *L, const Ast *call, Args *a) {
    const Dim *t;
    if (a->npos != 2) {
        diag_error(L->diag, call->loc, "check_lengths(lengths, T) takes a tensor and a dim");
        return err_val();
    }
    if (!want_tensor(L, a->pos[0], a->pos_at[0], "check_lengths", 0) || !no_kw_left(L, a, "check_lengths") ||
        !val_to_dim(L, a->pos[1], a->pos_at[1], &t))
        return err_val();
    int len = use(L, a->pos[0]);
    const IrType *ty = &L->g->nodes[len].type;
    if (ty->rank != 1 || ty->dtype != ATTN_I64) {
        diag_error(L->diag, a->pos_at[0]->loc, "check_lengths needs lengths of type i64[B], got %s", type_text(L, ty));
        return err_val();
    }
    int in[2] = {len, arange(L, t, call->loc)};
    return tensor_val(L, add_node(L, OP_CHECK_LENGTHS, in, 2, call->loc, NULL));
}

/* masked_fill(x, mask, value) = where(mask, value, x), as in PyTorch. */
static Val b_masked_fill(Lower *L, const Ast *call, Args *a) {
    if (a->npos != 3 || !no_kw_left(L, a, "masked_fill")) {
        diag_error(L->diag, call->loc, "masked_fill(x, mask, value) takes 3 arguments");
        return err_val();
    }
    return lower_where(L, a->pos[1], a->pos[2], a->pos[0], call);
}

static Val b_cast(Lower *L, const Ast *call, Args *a) {
    static const char *names[] = {"f32", "i32", "i64", "bool"};
    attn_dtype dt = ATTN_F32;
    for (int i = 0; i < 4; i++)
        if (strcmp(call->str, names[i]) == 0)
            dt = (attn_dtype)i;
    if (a->npos != 1) {
        diag_error(L->diag, call->loc, "%s(x) takes one tensor, got %d arguments", call->str, a->npos);
        return err_val();
    }
    if (!want_tensor(L, a->pos[0], a->pos_at[0], call->str, 0) || !no_kw_left(L, a, call->str))
        return err_val();
    int x = use(L, a->pos[0]);
    if (L->g->nodes[x].type.dtype == dt)
        return tensor_val(L, x);
    int id = add_node(L, OP_CAST, &x, 1, call->loc, NULL);
    if (id >= 0) {
        L->g->nodes[id].type = L->g->nodes[x].type;
        L->g->nodes[id].type.dtype = dt;
    }
    return tensor_val(L, id);
}

/* min(a, b) / max(a, b) on compile-time numbers; max(x, axis) on tensors is the reduction. */
static Val b_minmax_scalar(Lower *L, const Ast *call, Args *a) {
    bool ismax = strcmp(call->str, "max") == 0;
    Val x = a->pos[0], y = a->pos[1];
    if (x.k == V_INT && y.k == V_INT)
        return (Val){.k = V_INT, .i = (x.i > y.i) == ismax ? x.i : y.i};
    double p = x.k == V_FLOAT ? x.f : (double)x.i, q = y.k == V_FLOAT ? y.f : (double)y.i;
    return (Val){.k = V_FLOAT, .f = (p > q) == ismax ? p : q};
}

/* gelu(x, approximate="none"): nn.GELU's exact (erf) form, or with
 * approximate="tanh" its tanh form, which is op GELU_TANH. */
static Val b_gelu(Lower *L, const Ast *call, Args *a) {
    const Ast *at = call;
    const Val *v = take_kw(a, "approximate", &at);
    OpKind op = OP_GELU;
    if (v) {
        bool text = v->k == V_ENUM || v->k == V_STR;
        if (text && strcmp(v->s, "tanh") == 0)
            op = OP_GELU_TANH;
        else if (!text || strcmp(v->s, "none") != 0) {
            diag_error(L->diag, at->loc, "approximate must be \"none\" or \"tanh\"");
            return err_val();
        }
    }
    return call_op_args(L, op, call, a);
}

/* log_softmax(x, axis=-1) = s - log(sum(exp(s))) with s = x - max(x) along
 * axis, as PyTorch computes it: no exp overflows and no log of 0 for
 * finite rows. */
static Val b_log_softmax(Lower *L, const Ast *call, Args *a) {
    OpAttrs keep = {.keepdim = true};
    if (too_few(L, call, a, 1, "log_softmax(x, axis=-1)") || !want_tensor(L, a->pos[0], a->pos_at[0], "log_softmax", 0) ||
        !int_arg(L, a, 1, "axis", -1, &keep.axis, call) || !no_kw_left(L, a, "log_softmax"))
        return err_val();
    if (a->npos > 2) {
        diag_error(L->diag, a->pos_at[2]->loc, "log_softmax(x, axis=-1) takes at most 2 arguments, got %d", a->npos);
        return err_val();
    }
    int x = use(L, a->pos[0]);
    const IrType *t = &L->g->nodes[x].type;
    if (t->dtype != ATTN_F32) {
        diag_error(L->diag, a->pos_at[0]->loc, "log_softmax needs an f32 tensor, got %s", type_text(L, t));
        return err_val();
    }
    /* add_node passes a failed operand (-1) on */
    int m = add_node(L, OP_MAX, &x, 1, call->loc, &keep);
    int s = add_node(L, OP_SUB, (int[]){x, m}, 2, call->loc, NULL);
    int e = add_node(L, OP_EXP, &s, 1, call->loc, NULL);
    int sum = add_node(L, OP_SUM, &e, 1, call->loc, &keep);
    int lse = add_node(L, OP_LOG, &sum, 1, call->loc, NULL);
    return tensor_val(L, add_node(L, OP_SUB, (int[]){s, lse}, 2, call->loc, NULL));
}

typedef struct Sugar {
    const char *name;
    Val (*fn)(Lower *L, const Ast *call, Args *a);
} Sugar;

static Val b_zeros(Lower *L, const Ast *c, Args *a) { return b_full(L, c, a, 0, false); }
static Val b_ones(Lower *L, const Ast *c, Args *a) { return b_full(L, c, a, 1, false); }
static Val b_fullv(Lower *L, const Ast *c, Args *a) { return b_full(L, c, a, 0, true); }

static const Sugar sugar[] = {
    {"split", b_split},         {"chunk", b_split},       {"concat", b_concat},     {"cat", b_concat},
    {"stack", b_stack},         {"unsqueeze", b_unsqueeze}, {"squeeze", b_squeeze}, {"transpose", b_transpose},
    {"permute", b_permute},     {"reshape", b_reshape},   {"expand", b_expand},     {"zeros", b_zeros},
    {"ones", b_ones},           {"full", b_fullv},        {"arange", b_arange},     {"causal_mask", b_causal_mask},
    {"length_mask", b_length_mask}, {"check_lengths", b_check_lengths}, {"masked_fill", b_masked_fill}, {"f32", b_cast}, {"i32", b_cast},
    {"i64", b_cast},            {"bool", b_cast},         {"gelu", b_gelu},         {"log_softmax", b_log_softmax},
};

int builtin_sugar_count(void) { return (int)(sizeof sugar / sizeof *sugar); }
const char *builtin_sugar_name(int i) { return sugar[i].name; }

Val lower_builtin(Lower *L, const Ast *call) {
    for (size_t i = 0; i < sizeof sugar / sizeof *sugar; i++)
        if (strcmp(sugar[i].name, call->str) == 0) {
            Args a;
            if (!eval_args(L, call, &a))
                return err_val();
            return sugar[i].fn(L, call, &a);
        }
    if ((strcmp(call->str, "max") == 0 || strcmp(call->str, "min") == 0) && call->list.n == 2) {
        Args a;
        if (!eval_args(L, call, &a))
            return err_val();
        bool scalars = a.npos == 2 && a.pos[0].k != V_TENSOR && a.pos[1].k != V_TENSOR;
        if (scalars && (a.pos[0].k == V_INT || a.pos[0].k == V_FLOAT) && (a.pos[1].k == V_INT || a.pos[1].k == V_FLOAT))
            return b_minmax_scalar(L, call, &a);
    }
    OpKind op = op_by_builtin(call->str);
    if (op != OP_COUNT)
        return call_op(L, op, call);
    report_unknown_function(L, call);
    return err_val();
}

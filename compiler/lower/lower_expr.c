/*
 * lower_expr.c — evaluating expressions during lowering.
 *
 * Compile-time values (numbers, dims, strings, enum members, tuples) are
 * computed on the spot; anything involving a tensor becomes graph nodes (see
 * lower_builtin.c). Names resolve to, in order: variables of the current
 * frame and its parents, the model's `let` constants, hyperparameters and
 * enumeration members.
 */
#include "lower.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

Val err_val(void) { return (Val){.k = V_ERR}; }

Val tensor_val(Lower *L, int node) {
    if (node < 0)
        return err_val();
    return (Val){.k = V_TENSOR, .g = L->g, .node = node};
}

static Val int_val(int64_t i) { return (Val){.k = V_INT, .i = i}; }
static Val float_val(double f) { return (Val){.k = V_FLOAT, .f = f}; }
static Val bool_val(bool b) { return (Val){.k = V_BOOL, .i = b}; }

static Val dim_val(const Dim *d) {
    int64_t v;
    if (dim_is_const(d, &v))
        return int_val(v);
    return (Val){.k = V_DIM, .d = d};
}

const char *type_text(Lower *L, const IrType *t) {
    char buf[256];
    ir_type_format(t, buf, sizeof buf);
    return arena_strdup(L->ar, buf);
}

const char *val_describe(Lower *L, Val v) {
    switch (v.k) {
    case V_ERR: return "an erroneous value";
    case V_NONE: return "nothing";
    case V_INT: return arena_printf(L->ar, "the integer %lld", (long long)v.i);
    case V_FLOAT: return arena_printf(L->ar, "the number %g", v.f);
    case V_BOOL: return v.i ? "true" : "false";
    case V_STR: return arena_printf(L->ar, "the string \"%s\"", v.s);
    case V_ENUM: return arena_printf(L->ar, "the name %s", v.s);
    case V_DIM: {
        char b[128];
        dim_format(v.d, b, sizeof b);
        return arena_printf(L->ar, "the dim %s", b);
    }
    case V_TENSOR: return arena_printf(L->ar, "a tensor %s", type_text(L, &v.g->nodes[v.node].type));
    case V_TUPLE: return arena_printf(L->ar, "a tuple of %d values", v.n);
    }
    return "?";
}

/* The index of tensor v in the current graph; values of enclosing graphs are
 * captured as extra inputs of the scan bodies between. */
int use(Lower *L, Val v) {
    if (v.g == L->g)
        return v.node;
    ScanCtx *sc = L->scan;
    if (!sc || sc->g != L->g)
        ATTN_UNREACHABLE("tensor of a foreign graph");
    for (Capture *c = sc->captures; c; c = c->next)
        if (c->outer_g == v.g && c->outer_node == v.node)
            return c->inner_node;
    /* make the value available in the enclosing graph first */
    IrGraph *inner = L->g;
    ScanCtx *saved = L->scan;
    L->g = inner->parent;
    L->scan = sc->parent;
    int outer = use(L, v);
    L->g = inner;
    L->scan = saved;
    for (Capture *c = sc->captures; c; c = c->next)
        if (c->outer_g == inner->parent && c->outer_node == outer)
            return c->inner_node;
    int id = ir_add(L->ar, inner, OP_INPUT, NULL, 0, inner->parent->nodes[outer].loc);
    inner->nodes[id].type = inner->parent->nodes[outer].type;
    inner->nodes[id].index = sc->first_capture_index + sc->ncaptures;
    inner->ninputs++;
    Capture *c = arena_alloc(L->ar, sizeof *c);
    if (!c)
        return id; /* out of memory: the graph is dropped, the node exists */
    *c = (Capture){inner->parent, outer, id, NULL};
    Capture **tail = &sc->captures;
    while (*tail)
        tail = &(*tail)->next;
    *tail = c;
    sc->ncaptures++;
    return id;
}

bool val_to_int(Lower *L, Val v, const Ast *at, int64_t *out) {
    if (v.k == V_INT || v.k == V_BOOL) {
        *out = v.i;
        return true;
    }
    if (v.k == V_FLOAT && v.f == floor(v.f) && fabs(v.f) < 9e15) {
        *out = (int64_t)v.f;
        return true;
    }
    if (v.k == V_DIM && v.d->kind == DIM_SYM && v.d->sym < 0) {
        diag_error(L->diag, at->loc, "hyperparameter '%s' is not set (use --set %s=VALUE)", v.d->name, v.d->name);
        return false;
    }
    if (v.k != V_ERR)
        diag_error(L->diag, at->loc, "expected an integer known at compile time, got %s", val_describe(L, v));
    return false;
}

bool val_to_dim(Lower *L, Val v, const Ast *at, const Dim **out) {
    if (v.k == V_DIM) {
        *out = v.d;
        return true;
    }
    int64_t i;
    if (!val_to_int(L, v, at, &i))
        return false;
    if (i < 0) {
        diag_error(L->diag, at->loc, "a dim must not be negative, got %lld", (long long)i);
        return false;
    }
    *out = dim_const(L->ar, i);
    return true;
}

bool val_to_bool(Lower *L, Val v, const Ast *at, bool *out) {
    if (v.k == V_BOOL || v.k == V_INT) {
        *out = v.i != 0;
        return true;
    }
    if (v.k == V_TENSOR)
        diag_error(L->diag, at->loc, "a condition must be known at compile time; for tensors use where(cond, a, b)");
    else if (v.k != V_ERR)
        diag_error(L->diag, at->loc, "expected a boolean, got %s", val_describe(L, v));
    return false;
}

static bool frame_get(Frame *f, const char *name, Val *out) {
    for (; f; f = f->parent)
        for (Binding *b = f->vars; b; b = b->next)
            if (strcmp(b->name, name) == 0) {
                *out = b->v;
                return true;
            }
    return false;
}

static Val hyper_val(Lower *L, const Hyper *h, const Ast *at) {
    ptrdiff_t index = h - L->m->hypers;
    if (index < 64)
        L->hypers_read |= (uint64_t)1 << index;
    if (h->set) {
        switch (h->kind) {
        case HK_INT: return (Val){.k = V_INT, .i = h->i, .hyper = (int)index + 1};
        case HK_FLOAT: return float_val(h->f);
        case HK_BOOL: return bool_val(h->i != 0);
        case HK_ENUM: return (Val){.k = V_ENUM, .s = h->decl->type->list.items[h->i]->str};
        }
    }
    if (h->kind == HK_INT && !L->final)
        return (Val){.k = V_DIM, .d = dim_sym(L->ar, (int)(-1 - (h - L->m->hypers)), h->name)};
    diag_error(L->diag, at->loc, "hyperparameter '%s' is not set (use --set %s=VALUE)", h->name, h->name);
    return err_val();
}

static bool is_enum_member(const Model *m, const char *name) {
    for (int i = 0; i < m->nhypers; i++) {
        const Ast *t = m->hypers[i].decl->type;
        if (m->hypers[i].kind == HK_ENUM)
            for (int j = 0; j < t->list.n; j++)
                if (strcmp(t->list.items[j]->str, name) == 0)
                    return true;
    }
    return false;
}

bool name_is_bound(Lower *L, const char *name) {
    Val v;
    return frame_get(L->frame, name, &v) || find_hyper(L->m, name) || is_enum_member(L->m, name);
}

static Val lookup(Lower *L, const Ast *e) {
    Val v;
    if (frame_get(L->frame, e->str, &v))
        return v;
    const Hyper *h = find_hyper(L->m, e->str);
    if (h)
        return hyper_val(L, h, e);
    if (is_enum_member(L->m, e->str))
        return (Val){.k = V_ENUM, .s = e->str};
    if (find_def(L->m, e->str) || op_by_builtin(e->str) != OP_COUNT)
        diag_error(L->diag, e->loc, "'%s' is a function; call it with arguments", e->str);
    else
        diag_error(L->diag, e->loc, "unknown name '%s'", e->str);
    return err_val();
}

static bool is_number(Val v) { return v.k == V_INT || v.k == V_FLOAT || v.k == V_BOOL; }
static bool is_intlike(Val v) { return v.k == V_INT || v.k == V_DIM; }

static Val scalar_arith(Lower *L, int op, Val a, Val b, const Ast *e) {
    bool ints = a.k != V_FLOAT && b.k != V_FLOAT;
    double x = a.k == V_FLOAT ? a.f : (double)a.i, y = b.k == V_FLOAT ? b.f : (double)b.i;
    int64_t r;
    switch (op) {
    case BINOP_ADD:
        if (ints)
            return __builtin_add_overflow(a.i, b.i, &r) ? (diag_error(L->diag, e->loc, "integer overflow"), err_val()) : int_val(r);
        return float_val(x + y);
    case BINOP_SUB:
        if (ints)
            return __builtin_sub_overflow(a.i, b.i, &r) ? (diag_error(L->diag, e->loc, "integer overflow"), err_val()) : int_val(r);
        return float_val(x - y);
    case BINOP_MUL:
        if (ints)
            return __builtin_mul_overflow(a.i, b.i, &r) ? (diag_error(L->diag, e->loc, "integer overflow"), err_val()) : int_val(r);
        return float_val(x * y);
    case BINOP_DIV:
        if (y == 0) {
            diag_error(L->diag, e->loc, "division by zero");
            return err_val();
        }
        if (ints && a.i == INT64_MIN && b.i == -1) {
            diag_error(L->diag, e->loc, "integer overflow: %lld / -1 is outside int64", (long long)a.i);
            return err_val();
        }
        if (ints && a.i % b.i == 0)
            return int_val(a.i / b.i); /* exact: keeps dims integral */
        return float_val(x / y);
    case BINOP_FLOORDIV:
    case BINOP_MOD:
        if (y == 0) {
            diag_error(L->diag, e->loc, "division by zero");
            return err_val();
        }
        if (ints) {
            if (b.i < 0) {
                diag_error(L->diag, e->loc, "integer division by a negative number");
                return err_val();
            }
            int64_t q = a.i / b.i, m = a.i % b.i; /* b.i > 0: neither overflows */
            if (m < 0) { /* floor semantics */
                q--;
                m += b.i;
            }
            return int_val(op == BINOP_FLOORDIV ? q : m);
        }
        return float_val(op == BINOP_FLOORDIV ? floor(x / y) : x - y * floor(x / y));
    case BINOP_POW:
        return float_val(pow(x, y));
    case BINOP_LT: return bool_val(x < y);
    case BINOP_LE: return bool_val(x <= y);
    case BINOP_GT: return bool_val(x > y);
    case BINOP_GE: return bool_val(x >= y);
    case BINOP_EQ: return bool_val(x == y);
    case BINOP_NE: return bool_val(x != y);
    case BINOP_AND: return bool_val(x != 0 && y != 0);
    case BINOP_OR: return bool_val(x != 0 || y != 0);
    default:
        diag_error(L->diag, e->loc, "operator %s is not defined on numbers", binop_text(op));
        return err_val();
    }
}

/* Text of a dim as an operand: "(T+1)" for a sum, so that "(T+1) * 4" reads right. */
static void operand_text(const Dim *d, char *buf, size_t n) {
    char text[112];
    dim_format(d, text, sizeof text);
    if (strlen(text) == sizeof text - 1) /* cut short */
        memcpy(text + sizeof text - 4, "...", 4);
    snprintf(buf, n, d && d->kind == DIM_ADD ? "(%s)" : "%s", text);
}

const Dim *lower_dim_op(Lower *L, DimOp op, const Dim *a, const Dim *b, SrcLoc loc, const char *what) {
    DimFault fault = DIM_FAULT_NOMEM; /* a missing operand: its arena ran out */
    const Dim *r = a && b ? dim_op(L->ar, op, a, b, &fault) : NULL;
    if (r)
        return r;
    char x[128], y[128];
    operand_text(a, x, sizeof x);
    operand_text(b, y, sizeof y);
    diag_error(L->diag, loc, "%s: %s %s %s %s", what, x, dim_op_text(op), y, dim_fault_text(fault));
    return NULL;
}

static Val dim_arith(Lower *L, int op, Val a, Val b, const Ast *e) {
    const Dim *x = a.k == V_DIM ? a.d : dim_const(L->ar, a.i), *y = b.k == V_DIM ? b.d : dim_const(L->ar, b.i);
    DimOp dop;
    switch (op) {
    case BINOP_ADD: dop = DIM_OP_ADD; break;
    case BINOP_SUB: dop = DIM_OP_SUB; break;
    case BINOP_MUL: dop = DIM_OP_MUL; break;
    case BINOP_DIV:
    case BINOP_FLOORDIV: dop = DIM_OP_DIV; break;
    case BINOP_MOD: dop = DIM_OP_MOD; break;
    case BINOP_EQ:
    case BINOP_NE:
        if (dim_equal(x, y))
            return bool_val(op == BINOP_EQ);
        /* different symbolic dims may still be equal per call */
        __attribute__((fallthrough));
    default:
        diag_error(L->diag, e->loc, "operator %s on dims %s and %s needs values known at compile time",
                   binop_text(op), val_describe(L, a), val_describe(L, b));
        return err_val();
    }
    const Dim *r = lower_dim_op(L, dop, x, y, e->loc, "dim arithmetic");
    return r ? dim_val(r) : err_val();
}

static const OpKind binop_ops[] = {
    [BINOP_ADD] = OP_ADD, [BINOP_SUB] = OP_SUB, [BINOP_MUL] = OP_MUL, [BINOP_DIV] = OP_DIV,
    [BINOP_POW] = OP_POW, [BINOP_LT] = OP_LT,   [BINOP_LE] = OP_LE,   [BINOP_GT] = OP_GT,
    [BINOP_GE] = OP_GE,   [BINOP_EQ] = OP_EQ,   [BINOP_NE] = OP_NE,   [BINOP_AND] = OP_AND,
    [BINOP_OR] = OP_OR,   [BINOP_FLOORDIV] = OP_COUNT, [BINOP_MOD] = OP_COUNT, [BINOP_MATMUL] = OP_COUNT,
};

static Val binop(Lower *L, const Ast *e) {
    Val a = lower_expr(L, e->a);
    Val b = lower_expr(L, e->b);
    if (a.k == V_ERR || b.k == V_ERR)
        return err_val();
    if (e->op == BINOP_MATMUL)
        return lower_matmul(L, a, b, e);
    if (a.k == V_TENSOR || b.k == V_TENSOR) {
        OpKind op = binop_ops[e->op];
        if (op == OP_COUNT) {
            diag_error(L->diag, e->loc, "operator %s is not defined on tensors", binop_text(e->op));
            return err_val();
        }
        return lower_binop_tensor(L, op, a, b, e);
    }
    if ((a.k == V_DIM && (is_intlike(b) || b.k == V_BOOL)) || (b.k == V_DIM && is_intlike(a)))
        return dim_arith(L, e->op, a, b, e);
    if (is_number(a) && is_number(b))
        return scalar_arith(L, e->op, a, b, e);
    if ((a.k == V_STR || a.k == V_ENUM) && (b.k == V_STR || b.k == V_ENUM) &&
        (e->op == BINOP_EQ || e->op == BINOP_NE))
        return bool_val((strcmp(a.s, b.s) == 0) == (e->op == BINOP_EQ));
    if (e->op == BINOP_ADD && (a.k == V_STR || b.k == V_STR)) { /* weight-name building */
        char x[64], y[64];
        const char *sa = a.k == V_STR ? a.s : a.k == V_INT ? (snprintf(x, sizeof x, "%lld", (long long)a.i), x) : NULL;
        const char *sb = b.k == V_STR ? b.s : b.k == V_INT ? (snprintf(y, sizeof y, "%lld", (long long)b.i), y) : NULL;
        if (sa && sb)
            return string_concat(L, sa, sb, e->loc);
    }
    const char *use = arena_printf(L->ar, "used here as an operand of %s", binop_text(e->op));
    if (report_whole_tuple(L, a, e->loc, use) || report_whole_tuple(L, b, e->loc, use))
        return err_val();
    diag_error(L->diag, e->loc, "operator %s is not defined on %s and %s", binop_text(e->op), val_describe(L, a),
               val_describe(L, b));
    return err_val();
}

/* sa followed by sb, a string value no longer than ATTN_LIMIT_STRING_BYTES. */
Val string_concat(Lower *L, const char *sa, const char *sb, SrcLoc at) {
    size_t na = strlen(sa), nb = strlen(sb);
    if (na + nb > ATTN_LIMIT_STRING_BYTES) {
        diag_error(L->diag, at, "string of %zu bytes exceeds the limit of %d (ATTN_LIMIT_STRING_BYTES)", na + nb,
                   ATTN_LIMIT_STRING_BYTES);
        return err_val();
    }
    char *s = arena_alloc(L->ar, na + nb + 1);
    if (!s) {
        diag_error(L->diag, at, "out of memory building a string of %zu bytes", na + nb);
        return err_val();
    }
    memcpy(s, sa, na);
    memcpy(s + na, sb, nb);
    return (Val){.k = V_STR, .s = s};
}

static Val unop(Lower *L, const Ast *e) {
    Val a = lower_expr(L, e->a);
    if (a.k == V_ERR)
        return a;
    if (a.k == V_TENSOR) {
        int x = use(L, a);
        return tensor_val(L, add_node(L, e->op == UNOP_NEG ? OP_NEG : OP_NOT, &x, 1, e->loc, NULL));
    }
    if (e->op == UNOP_NOT) {
        bool b;
        return val_to_bool(L, a, e->a, &b) ? bool_val(!b) : err_val();
    }
    if (a.k == V_INT) {
        if (a.i != INT64_MIN)
            return int_val(-a.i);
        diag_error(L->diag, e->loc, "integer overflow");
        return err_val();
    }
    if (a.k == V_FLOAT)
        return float_val(-a.f);
    if (a.k == V_DIM) {
        const Dim *r = lower_dim_op(L, DIM_OP_MUL, a.d, dim_const(L->ar, -1), e->loc, "negation");
        return r ? dim_val(r) : err_val();
    }
    diag_error(L->diag, e->loc, "cannot negate %s", val_describe(L, a));
    return err_val();
}

static Val field(Lower *L, const Ast *e) {
    Val a = lower_expr(L, e->a);
    if (a.k == V_ERR)
        return a;
    if (a.k != V_TENSOR) {
        diag_error(L->diag, e->loc, "'.%s' needs a tensor, got %s", e->str, val_describe(L, a));
        return err_val();
    }
    const IrType *t = &a.g->nodes[a.node].type;
    if (strcmp(e->str, "T") == 0) {
        if (t->rank < 2) {
            diag_error(L->diag, e->loc, ".T needs a tensor of rank >= 2, got %s", type_text(L, t));
            return err_val();
        }
        int64_t perm[ATTN_MAX_RANK];
        for (int i = 0; i < t->rank; i++)
            perm[i] = i;
        perm[t->rank - 2] = t->rank - 1;
        perm[t->rank - 1] = t->rank - 2;
        return tensor_val(L, lower_permute(L, use(L, a), perm, e->loc));
    }
    if (strcmp(e->str, "shape") == 0) {
        Val tup = {.k = V_TUPLE, .n = t->rank, .items = arena_alloc(L->ar, sizeof(Val) * (size_t)(t->rank + 1))};
        if (!tup.items)
            return err_val();
        for (int i = 0; i < t->rank; i++)
            tup.items[i] = dim_val(t->dims[i]);
        return tup;
    }
    if (strcmp(e->str, "rank") == 0)
        return int_val(t->rank);
    diag_error(L->diag, e->loc, "tensors have no field '%s' (fields: T, shape, rank)", e->str);
    return err_val();
}

static Val index_tuple(Lower *L, Val tup, const Ast *e) {
    if (e->list.n != 1 || e->list.items[0]->kind == A_SLICE || e->list.items[0]->kind == A_ELLIPSIS) {
        diag_error(L->diag, e->loc, "a tuple takes one integer index");
        return err_val();
    }
    int64_t i;
    if (!val_to_int(L, lower_expr(L, e->list.items[0]), e->list.items[0], &i))
        return err_val();
    if (i < -tup.n || i >= tup.n) {
        diag_error(L->diag, e->loc, "index %lld is out of range for a tuple of %d values", (long long)i, tup.n);
        return err_val();
    }
    return tup.items[i < 0 ? i + tup.n : i];
}

static Val list(Lower *L, const Ast *e) {
    Val tup = {.k = V_TUPLE, .n = e->list.n, .items = arena_alloc(L->ar, sizeof(Val) * (size_t)(e->list.n + 1))};
    if (!tup.items)
        return err_val();
    for (int i = 0; i < e->list.n; i++) {
        tup.items[i] = lower_expr(L, e->list.items[i]);
        if (tup.items[i].k == V_ERR)
            return err_val();
    }
    return tup;
}

/* Reports a budget running out, once per lowering: at the loop running when
 * there is one (the loop is what to change), else at the expression. */
static bool over_budget(Lower *L, SrcLoc at, const char *what) {
    if (!L->budget->over) {
        L->budget->over = true;
        if (L->loop)
            diag_error(L->diag, L->loop->loc, "loop runs too long at compile time (%s)", what);
        else
            diag_error(L->diag, at, "the model is too large to lower (%s)", what);
    }
    return false;
}

bool lower_step(Lower *L, SrcLoc at) {
    LowerBudget *b = L->budget;
    if (b->over)
        return false;
    char what[128];
    if (++b->steps > ATTN_BUDGET_LOWER_STEPS) {
        snprintf(what, sizeof what, "more than %d steps, ATTN_BUDGET_LOWER_STEPS, all entries together",
                 ATTN_BUDGET_LOWER_STEPS);
        return over_budget(L, at, what);
    }
    if (L->ar->bytes > ATTN_BUDGET_MODEL_BYTES) {
        snprintf(what, sizeof what, "the model needs more than %llu MiB, ATTN_BUDGET_MODEL_BYTES",
                 ATTN_BUDGET_MODEL_BYTES >> 20);
        return over_budget(L, at, what);
    }
    return true;
}

bool lower_node_step(Lower *L, SrcLoc at) {
    if (!lower_step(L, at))
        return false;
    if (++L->budget->nodes <= ATTN_BUDGET_NODES)
        return true;
    char what[128];
    snprintf(what, sizeof what, "more than %d graph nodes, ATTN_BUDGET_NODES, all entries together", ATTN_BUDGET_NODES);
    return over_budget(L, at, what);
}

Val lower_expr(Lower *L, const Ast *e) {
    if (!lower_step(L, e->loc))
        return err_val();
    switch (e->kind) {
    case A_INT: return int_val(e->ival);
    case A_FLOAT: return float_val(e->fval);
    case A_BOOL: return bool_val(e->ival != 0);
    case A_STR: return (Val){.k = V_STR, .s = e->str};
    case A_INF: return float_val(INFINITY);
    case A_NAME: return lookup(L, e);
    case A_BINOP: return binop(L, e);
    case A_UNOP: return unop(L, e);
    case A_FIELD: return field(L, e);
    case A_LIST: return list(L, e);
    case A_SCAN: return lower_scan(L, e);
    case A_INDEX: {
        Val x = lower_expr(L, e->a);
        if (x.k == V_TUPLE)
            return index_tuple(L, x, e);
        if (x.k == V_TENSOR)
            return lower_index(L, x, e);
        if (x.k != V_ERR)
            diag_error(L->diag, e->loc, "cannot index %s", val_describe(L, x));
        return err_val();
    }
    case A_CALL: {
        const Ast *def = find_def(L->m, e->str);
        return def ? lower_call_def(L, def, e) : lower_builtin(L, e);
    }
    default:
        diag_error(L->diag, e->loc, "this cannot be used as a value here");
        return err_val();
    }
}

/* dtype named in a type annotation, or false. */
static bool dtype_by_name(const char *s, attn_dtype *dt) {
    static const struct { const char *name; attn_dtype dt; } names[] = {
        {"f32", ATTN_F32}, {"i32", ATTN_I32}, {"i64", ATTN_I64}, {"bool", ATTN_BOOL}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i].name) == 0) {
            *dt = names[i].dt;
            return true;
        }
    return false;
}

/* A bare name not bound anywhere: a dim variable that a type binds. */
static bool is_free_name(Lower *L, const Ast *e) {
    Val v;
    return e->kind == A_NAME && !frame_get(L->frame, e->str, &v) && !find_hyper(L->m, e->str) &&
           !is_enum_member(L->m, e->str);
}

/* Evaluates a type annotation. With bind_names, free dim names become new
 * per-call symbols bound in the current frame (entry inputs). */
bool lower_type(Lower *L, const Ast *type, IrType *out, bool bind_names, Frame *binds) {
    (void)binds;
    *out = (IrType){0};
    if (!dtype_by_name(type->str, &out->dtype) || !type->ival) {
        diag_error(L->diag, type->loc, "expected a tensor type such as f32[B, T, 64], got '%s'", type->str);
        return false;
    }
    if (type->list.n > ATTN_MAX_RANK) {
        diag_error(L->diag, type->loc, "tensor rank %d exceeds the limit of %d", type->list.n, ATTN_MAX_RANK);
        return false;
    }
    out->rank = type->list.n;
    for (int i = 0; i < type->list.n; i++) {
        const Ast *d = type->list.items[i];
        if (bind_names && is_free_name(L, d)) {
            if (L->nsyms == L->capsyms) {
                L->capsyms = L->capsyms ? 2 * L->capsyms : 8;
                const char **s = arena_alloc(L->ar, sizeof(char *) * (size_t)L->capsyms);
                if (!s)
                    return false; /* out of memory: the arena says so */
                if (L->nsyms)
                    memcpy(s, L->syms, sizeof(char *) * (size_t)L->nsyms);
                L->syms = s;
            }
            L->syms[L->nsyms] = d->str;
            out->dims[i] = dim_sym(L->ar, L->nsyms++, d->str);
            frame_set(L, d->str, (Val){.k = V_DIM, .d = out->dims[i]});
            continue;
        }
        if (!val_to_dim(L, lower_expr(L, d), d, &out->dims[i]))
            return false;
    }
    return true;
}

/* Checks tensor v against an argument's declared type, binding free dim names
 * to v's dims in the current frame. */
bool check_tensor_type(Lower *L, Val v, const Ast *type, const char *what, const Ast *at) {
    attn_dtype dt;
    if (v.k != V_TENSOR) {
        if (report_whole_tuple(L, v, at->loc, arena_printf(L->ar, "used here as %s, a tensor", what)))
            return false;
        if (v.k != V_ERR)
            diag_error(L->diag, at->loc, "%s must be a tensor %s[...], got %s", what, type->str, val_describe(L, v));
        return false;
    }
    const IrType *t = &v.g->nodes[v.node].type;
    if (!dtype_by_name(type->str, &dt) || !type->ival) {
        diag_error(L->diag, type->loc, "expected a tensor type such as f32[B, T, 64], got '%s'", type->str);
        return false;
    }
    if (dt != t->dtype || t->rank != type->list.n) {
        diag_error(L->diag, at->loc, "%s must be %s of rank %d, got %s", what, type->str, type->list.n, type_text(L, t));
        return false;
    }
    for (int i = 0; i < t->rank; i++) {
        const Ast *d = type->list.items[i];
        if (is_free_name(L, d)) {
            frame_set(L, d->str, dim_val(t->dims[i]));
            continue;
        }
        const Dim *want;
        if (!val_to_dim(L, lower_expr(L, d), d, &want))
            return false;
        if (!dim_equal(want, t->dims[i])) {
            char w[64], g[64];
            dim_format(want, w, sizeof w);
            dim_format(t->dims[i], g, sizeof g);
            diag_error(L->diag, at->loc, "%s has shape %s, but dim %d should be %s, not %s", what, type_text(L, t), i, w, g);
            return false;
        }
    }
    return true;
}

/*
 * divide_check.c — sizes that do not divide, named by what they are. A
 * reshape that splits a width into heads (`[B, L, heads, E // heads]`) with a
 * width the head count does not divide is reported at that line, naming the
 * operands and the hyperparameters they come from (a value read from an int
 * hyperparameter remembers it, lower.h), or, for a value taken from a tensor's
 * shape, the hyperparameters that have the same value.
 */
#include "lower.h"

#include <string.h>

/* " (hyperparameter nhead)", " (the value of hyperparameter d_model)" or ""
 * for operand `name` of value v. */
static void describe_origin(Lower *L, StrBuf *b, const char *name, Val v) {
    if (v.hyper > 0) {
        const char *h = L->m->hypers[v.hyper - 1].name;
        if (!name || strcmp(name, h) != 0)
            sb_printf(b, " (hyperparameter %s)", h);
        return;
    }
    int n = 0;
    for (int i = 0; i < L->m->nhypers; i++) {
        const Hyper *h = &L->m->hypers[i];
        if (h->kind == HK_INT && h->set && h->i == v.i && (!name || strcmp(name, h->name) != 0))
            sb_printf(b, "%s%s", n++ ? ", " : " (the value of hyperparameter ", h->name);
    }
    if (n)
        sb_printf(b, ")");
}

void describe_size(Lower *L, StrBuf *b, const Ast *e, Val v) {
    const char *name = e && e->kind == A_NAME ? e->str : NULL;
    if (name)
        sb_printf(b, "%s = %lld", name, (long long)v.i);
    else
        sb_printf(b, "%lld", (long long)v.i);
    describe_origin(L, b, name, v);
}

/* Whether e can be evaluated again without making nodes: names, integers and
 * dims of a shape (x.shape[-1]). */
static bool pure(const Ast *e) {
    return e->kind == A_NAME || e->kind == A_INT ||
           (e->kind == A_INDEX && e->a->kind == A_FIELD && strcmp(e->a->str, "shape") == 0);
}

bool reshape_division_error(Lower *L, const Ast *list, const IrType *x, const Dim *const *dims, int rank) {
    if (list->kind != A_LIST || list->list.n != rank)
        return false;
    DimFault fault;
    const Dim *have = dim_const(L->ar, 1), *want = dim_const(L->ar, 1);
    for (int i = 0; i < x->rank && have; i++)
        have = dim_op(L->ar, DIM_OP_MUL, have, x->dims[i], &fault);
    for (int i = 0; i < rank && want; i++)
        want = dim_op(L->ar, DIM_OP_MUL, want, dims[i], &fault);
    if (!have || !want || dim_equal(have, want))
        return false;
    for (int i = 0; i < rank; i++) {
        const Ast *d = list->list.items[i];
        if (d->kind != A_BINOP || d->op != BINOP_FLOORDIV || !pure(d->a) || !pure(d->b))
            continue;
        Val a = lower_expr(L, d->a), b = lower_expr(L, d->b);
        if (a.k != V_INT || b.k != V_INT || b.i <= 0 || a.i % b.i == 0)
            continue;
        bool again = L->division_reported.file == d->loc.file && L->division_reported.line == d->loc.line &&
                     L->division_reported.col == d->loc.col;
        if (again) /* the same line through another call (q, k and v split alike): said once */
            return true;
        L->division_reported = d->loc;
        StrBuf msg = {0};
        sb_printf(&msg, "reshape: ");
        describe_size(L, &msg, d->a, a);
        sb_printf(&msg, " is not divisible by ");
        describe_size(L, &msg, d->b, b);
        sb_printf(&msg, ", so %s has a different number of elements than this shape", type_text(L, x));
        diag_error(L->diag, d->loc, "%s", sb_str(&msg));
        sb_free(&msg);
        return true;
    }
    return false;
}

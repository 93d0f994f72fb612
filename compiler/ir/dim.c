/*
 * dim.c — building, comparing and evaluating symbolic dims. See dim.h.
 */
#include "dim.h"
#include "attn_limits.h"

#include <stdio.h>
#include <string.h>

static const Dim *fail(DimFault *fault, DimFault why) {
    *fault = why;
    return NULL;
}

static const Dim *make(Arena *ar, DimKind k, const Dim *a, const Dim *b, DimFault *fault) {
    int depth = 1 + (a->depth > b->depth ? a->depth : b->depth), terms = 1 + a->terms + b->terms;
    if (depth > ATTN_LIMIT_DIM_DEPTH)
        return fail(fault, DIM_FAULT_DEPTH);
    if (terms > ATTN_LIMIT_DIM_TERMS)
        return fail(fault, DIM_FAULT_TERMS);
    Dim *d = arena_alloc(ar, sizeof(Dim));
    if (!d)
        return fail(fault, DIM_FAULT_NOMEM);
    *d = (Dim){.kind = k, .a = a, .b = b, .depth = depth, .terms = terms};
    return d;
}

const Dim *dim_const(Arena *ar, int64_t v) {
    Dim *d = arena_alloc(ar, sizeof(Dim));
    if (d)
        *d = (Dim){.kind = DIM_CONST, .value = v, .depth = 1, .terms = 1};
    return d;
}

const Dim *dim_sym(Arena *ar, int sym, const char *name) {
    Dim *d = arena_alloc(ar, sizeof(Dim));
    if (d)
        *d = (Dim){.kind = DIM_SYM, .sym = sym, .name = name, .depth = 1, .terms = 1};
    return d;
}

bool dim_is_const(const Dim *d, int64_t *v) {
    if (!d || d->kind != DIM_CONST)
        return false;
    if (v)
        *v = d->value;
    return true;
}

static bool is(const Dim *d, int64_t v) { return d->kind == DIM_CONST && d->value == v; }

static const Dim *constant(Arena *ar, int64_t v, DimFault *fault) {
    const Dim *d = dim_const(ar, v);
    return d ? d : fail(fault, DIM_FAULT_NOMEM);
}

static const Dim *add(Arena *ar, const Dim *a, const Dim *b, DimFault *fault) {
    int64_t x, y, r;
    if (dim_is_const(a, &x) && dim_is_const(b, &y))
        return __builtin_add_overflow(x, y, &r) ? fail(fault, DIM_FAULT_OVERFLOW) : constant(ar, r, fault);
    if (is(a, 0))
        return b;
    if (is(b, 0))
        return a;
    if (a->kind == DIM_CONST) /* constants on the right: T+1 == 1+T */
        return make(ar, DIM_ADD, b, a, fault);
    /* (T + c1) + c2 == T + (c1 + c2) */
    if (b->kind == DIM_CONST && a->kind == DIM_ADD && a->b->kind == DIM_CONST) {
        const Dim *c = add(ar, a->b, b, fault);
        return c ? add(ar, a->a, c, fault) : NULL;
    }
    return make(ar, DIM_ADD, a, b, fault);
}

static const Dim *mul(Arena *ar, const Dim *a, const Dim *b, DimFault *fault) {
    int64_t x, y, r;
    if (dim_is_const(a, &x) && dim_is_const(b, &y))
        return __builtin_mul_overflow(x, y, &r) ? fail(fault, DIM_FAULT_OVERFLOW) : constant(ar, r, fault);
    if (is(a, 1))
        return b;
    if (is(b, 1))
        return a;
    if (is(a, 0) || is(b, 0))
        return constant(ar, 0, fault);
    if (a->kind == DIM_CONST)
        return make(ar, DIM_MUL, b, a, fault);
    return make(ar, DIM_MUL, a, b, fault);
}

static const Dim *sub(Arena *ar, const Dim *a, const Dim *b, DimFault *fault) {
    int64_t x, y, r;
    if (dim_is_const(a, &x) && dim_is_const(b, &y))
        return __builtin_sub_overflow(x, y, &r) ? fail(fault, DIM_FAULT_OVERFLOW) : constant(ar, r, fault);
    if (dim_equal(a, b))
        return constant(ar, 0, fault);
    const Dim *minus_one = constant(ar, -1, fault), *neg = minus_one ? mul(ar, b, minus_one, fault) : NULL;
    return neg ? add(ar, a, neg, fault) : NULL;
}

static const Dim *divmod(Arena *ar, DimKind k, const Dim *a, const Dim *b, DimFault *fault) {
    int64_t x, y;
    if (dim_is_const(b, &y) && y <= 0)
        return fail(fault, DIM_FAULT_DIVISOR);
    if (dim_is_const(a, &x) && dim_is_const(b, &y)) {
        int64_t q = x / y, m = x % y; /* y > 0: neither overflows */
        if (m < 0) { /* floor semantics */
            q--;
            m += y;
        }
        return constant(ar, k == DIM_DIV ? q : m, fault);
    }
    if (k == DIM_DIV && is(b, 1))
        return a;
    return make(ar, k, a, b, fault);
}

const Dim *dim_op(Arena *ar, DimOp op, const Dim *a, const Dim *b, DimFault *fault) {
    *fault = DIM_FAULT_NONE;
    switch (op) {
    case DIM_OP_ADD: return add(ar, a, b, fault);
    case DIM_OP_SUB: return sub(ar, a, b, fault);
    case DIM_OP_MUL: return mul(ar, a, b, fault);
    case DIM_OP_DIV: return divmod(ar, DIM_DIV, a, b, fault);
    case DIM_OP_MOD: return divmod(ar, DIM_MOD, a, b, fault);
    }
    return fail(fault, DIM_FAULT_OVERFLOW);
}

const char *dim_op_text(DimOp op) {
    static const char *const text[] = {[DIM_OP_ADD] = "+", [DIM_OP_SUB] = "-", [DIM_OP_MUL] = "*",
                                       [DIM_OP_DIV] = "//", [DIM_OP_MOD] = "%"};
    return text[op];
}

#define STR_(x) #x
#define STR(x) STR_(x)

const char *dim_fault_text(DimFault f) {
    switch (f) {
    case DIM_FAULT_NONE: return "is valid";
    case DIM_FAULT_OVERFLOW: return "overflows int64";
    case DIM_FAULT_DIVISOR: return "divides by a number that is not positive";
    case DIM_FAULT_DEPTH: return "nests deeper than ATTN_LIMIT_DIM_DEPTH (" STR(ATTN_LIMIT_DIM_DEPTH) ")";
    case DIM_FAULT_TERMS: return "has more than ATTN_LIMIT_DIM_TERMS (" STR(ATTN_LIMIT_DIM_TERMS) ") terms";
    case DIM_FAULT_NOMEM: return "runs out of memory";
    }
    return "?";
}

bool dim_equal(const Dim *a, const Dim *b) {
    if (a == b)
        return true;
    if (!a || !b || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case DIM_CONST:
        return a->value == b->value;
    case DIM_SYM:
        return a->sym == b->sym;
    case DIM_ADD:
    case DIM_MUL: /* commutative */
        return (dim_equal(a->a, b->a) && dim_equal(a->b, b->b)) ||
               (dim_equal(a->a, b->b) && dim_equal(a->b, b->a));
    default:
        return dim_equal(a->a, b->a) && dim_equal(a->b, b->b);
    }
}

bool dim_eval(const Dim *d, const int64_t *syms, int nsyms, int64_t *out) {
    int64_t x, y;
    switch (d->kind) {
    case DIM_CONST:
        *out = d->value;
        return true;
    case DIM_SYM:
        if (d->sym < 0 || d->sym >= nsyms || syms[d->sym] < 0)
            return false;
        *out = syms[d->sym];
        return true;
    default:
        break;
    }
    if (!dim_eval(d->a, syms, nsyms, &x) || !dim_eval(d->b, syms, nsyms, &y))
        return false;
    switch (d->kind) {
    case DIM_ADD:
        return !__builtin_add_overflow(x, y, out);
    case DIM_MUL:
        return !__builtin_mul_overflow(x, y, out);
    case DIM_DIV:
    case DIM_MOD:
        if (y <= 0)
            return false;
        *out = d->kind == DIM_DIV ? x / y - (x % y < 0) : ((x % y) + y) % y;
        return true;
    default:
        return false;
    }
}

static size_t fmt(const Dim *d, char *buf, size_t n, bool paren) {
    char tmp[32];
    switch (d->kind) {
    case DIM_CONST:
        snprintf(tmp, sizeof tmp, "%lld", (long long)d->value);
        return (size_t)snprintf(buf, n, "%s", tmp);
    case DIM_SYM:
        return (size_t)snprintf(buf, n, "%s", d->name);
    default:
        break;
    }
    const char *op = d->kind == DIM_ADD ? "+" : d->kind == DIM_MUL ? "*" : d->kind == DIM_DIV ? "//" : "%";
    size_t used = 0;
    bool p = paren && d->kind == DIM_ADD;
#define PUT(expr) do { size_t k_ = (expr); used += k_; if (used >= n) return used; } while (0)
    if (p)
        PUT((size_t)snprintf(buf + used, n - used, "("));
    PUT(fmt(d->a, buf + used, n - used, true));
    int64_t neg;
    if (d->kind == DIM_ADD && dim_is_const(d->b, &neg) && neg < 0)
        PUT((size_t)snprintf(buf + used, n - used, "-%llu", 0ull - (unsigned long long)neg)); /* INT64_MIN too */
    else {
        PUT((size_t)snprintf(buf + used, n - used, "%s", op));
        PUT(fmt(d->b, buf + used, n - used, true));
    }
    if (p)
        PUT((size_t)snprintf(buf + used, n - used, ")"));
#undef PUT
    return used;
}

void dim_format(const Dim *d, char *buf, size_t n) {
    if (n == 0)
        return;
    buf[0] = '\0';
    if (!d) {
        snprintf(buf, n, "?");
        return;
    }
    fmt(d, buf, n, false);
}

/*
 * interp.c — the reference interpreter.
 *
 * Nodes run in order; each value is a tensor that either borrows memory
 * (inputs, weights, constants) or owns it, and an owned value is freed after
 * its last use. A SCAN runs its body graph once per step: the sequences are
 * sliced at the step, the carried states are threaded through, and the
 * per-step outputs are copied into the stacked results. Dims that vary per
 * call are bound once from the inputs' shapes and evaluated for every node.
 */
#include "attn_limits.h"
#include "interp.h"
#include "ir_signature.h"
#include "text.h"
#include "kernels.h"
#include "op_cases.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One call's state. */
typedef struct Exec {
    const IrEntry *e;
    int64_t *syms;   /* value of each symbol */
    char *error;     /* first error, malloc'd */
} Exec;

/* A value during execution. */
typedef struct Slot {
    attn_tensor t;   /* shape and data */
    bool owned;      /* data is ours to free */
    attn_tensor *multi; int nmulti; /* SCAN: its outputs, taken by RESULTs */
} Slot;

__attribute__((format(printf, 2, 3)))
static void fail(Exec *x, const char *fmt, ...) {
    if (x->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    x->error = attn_vformat(fmt, ap);
    va_end(ap);
}

static const char *where(const IrNode *n, char *buf, size_t len) {
    if (n->loc.file)
        snprintf(buf, len, "%s:%d:%d: ", n->loc.file->path, n->loc.line, n->loc.col);
    else
        buf[0] = '\0';
    return buf;
}

static bool alloc_tensor(Exec *x, attn_tensor *t, const IrNode *n) {
    /* the element count is computed with overflow checks: the kernels trust it */
    int64_t numel = 1;
    bool over = false;
    for (int d = 0; d < t->rank; d++)
        over |= t->shape[d] < 0 || __builtin_mul_overflow(numel, t->shape[d], &numel);
    size_t bytes;
    if (over || __builtin_mul_overflow((size_t)numel, attn_dtype_size(t->dtype), &bytes) || bytes > ((size_t)1 << ATTN_LIMIT_TENSOR_BYTES_SHIFT)) {
        char b[256], s[256];
        fail(x, "%serror: a tensor of shape %s is too large", where(n, b, sizeof b), attn_shape_text(t, s, sizeof s));
        return false;
    }
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data) {
        char b[256];
        fail(x, "%serror: out of memory allocating %zu bytes", where(n, b, sizeof b), bytes);
        return false;
    }
    return true;
}

/* Concrete shape of a node's type under the call's symbols. */
static bool concrete(Exec *x, const IrNode *n, const IrType *type, attn_tensor *t) {
    t->dtype = type->dtype;
    t->rank = type->rank;
    for (int i = 0; i < type->rank; i++) {
        bool known = dim_eval(type->dims[i], x->syms, x->e->nsyms, &t->shape[i]);
        if (!known || t->shape[i] < 0) {
            char b[256], d[64];
            dim_format(type->dims[i], d, sizeof d);
            if (known)
                fail(x, "%serror: dim %s is %lld in this call; a dim must not be negative", where(n, b, sizeof b), d,
                     (long long)t->shape[i]);
            else
                fail(x, "%serror: dim %s has no valid value in this call", where(n, b, sizeof b), d);
            return false;
        }
    }
    return true;
}

static void release(Slot *s) {
    if (s->owned)
        free(s->t.data);
    for (int i = 0; i < s->nmulti; i++)
        free(s->multi[i].data);
    free(s->multi);
    memset(s, 0, sizeof *s);
}

static int run_graph(Exec *x, const IrGraph *g, const attn_tensor *in, attn_tensor *out);

/* Per-call checks a kernel relies on that the compiler could not prove. */
static bool check_node(Exec *x, const IrNode *n, Slot *s, const attn_tensor *o, OpAttrs *attrs) {
    char b[256];
    const attn_tensor *a = n->nin ? &s[n->in[0]].t : NULL;
    switch (n->op) {
    case OP_RESHAPE:
        if (attn_tensor_numel(a) != attn_tensor_numel(o)) {
            fail(x, "%serror: reshape of %lld elements into %lld", where(n, b, sizeof b),
                 (long long)attn_tensor_numel(a), (long long)attn_tensor_numel(o));
            return false;
        }
        return true;
    case OP_SLICE: {
        if (!dim_eval(n->start, x->syms, x->e->nsyms, &attrs->start)) {
            fail(x, "%serror: slice start has no value", where(n, b, sizeof b));
            return false;
        }
        int64_t len = o->shape[attrs->axis], ext = a->shape[attrs->axis];
        if (len > 0 && (attrs->start < 0 || attrs->start + (len - 1) * attrs->step >= ext)) {
            fail(x, "%serror: slice [%lld, +%lld) is out of range for a dim of %lld", where(n, b, sizeof b),
                 (long long)attrs->start, (long long)len, (long long)ext);
            return false;
        }
        return true;
    }
    case OP_CHECK_LENGTHS: {
        int64_t t = s[n->in[1]].t.shape[0], cnt = attn_tensor_numel(a);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t len = ((const int64_t *)a->data)[i];
            if (len < 1 || len > t) {
                fail(x, "%serror: lengths[%lld] is %lld; a length must be at least 1 and at most the padded length %lld", where(n, b, sizeof b), (long long)i,
                     (long long)len, (long long)t);
                return false;
            }
        }
        return true;
    }
    case OP_GATHER: {
        const attn_tensor *ids = &s[n->in[1]].t;
        int64_t v = a->shape[0], cnt = attn_tensor_numel(ids);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t id = ids->dtype == ATTN_I64 ? ((const int64_t *)ids->data)[i] : ((const int32_t *)ids->data)[i];
            if (id < 0 || id >= v) {
                fail(x, "%serror: id %lld at position %lld is out of range for an embedding table of %lld rows",
                     where(n, b, sizeof b), (long long)id, (long long)i, (long long)v);
                return false;
            }
        }
        return true;
    }
    case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    OP_CASES_REDUCE_NORM
    case OP_MATMUL: case OP_PERMUTE: case OP_CONCAT: case OP_EXPAND:
        return true;
    case OP_INPUT: case OP_PARAM: case OP_CONST: case OP_SCAN: case OP_RESULT: case OP_COUNT:
        break; /* run_node runs these without a kernel */
    }
    ATTN_UNREACHABLE("a kernel check for an op without a kernel");
}

/* Copies step t of seq (along axis) into dst (shape without the axis). */
static void take_step(const attn_tensor *seq, int axis, int64_t t, attn_tensor *dst) {
    OpAttrs at = {.axis = axis, .start = t, .step = 1};
    attn_tensor view = *dst;
    view.rank = seq->rank;
    memcpy(view.shape, seq->shape, sizeof seq->shape);
    view.shape[axis] = 1;
    kern_slice(&at, seq, 1, &view);
}

/* Writes src (shape without the axis) into step t of dst along axis. */
static void put_step(const attn_tensor *src, int axis, int64_t t, attn_tensor *dst) {
    int64_t outer = 1, inner = attn_dtype_size(dst->dtype);
    for (int i = 0; i < axis; i++)
        outer *= dst->shape[i];
    for (int i = axis + 1; i < dst->rank; i++)
        inner *= dst->shape[i];
    for (int64_t o = 0; o < outer; o++)
        memcpy((char *)dst->data + (o * dst->shape[axis] + t) * inner, (const char *)src->data + o * inner, (size_t)inner);
}

static bool copy_tensor(Exec *x, const IrNode *n, const attn_tensor *src, attn_tensor *dst) {
    *dst = *src;
    if (!alloc_tensor(x, dst, n))
        return false;
    size_t bytes = (size_t)attn_tensor_numel(src) * attn_dtype_size(src->dtype);
    if (bytes) /* an empty tensor's data may be NULL */
        memcpy(dst->data, src->data, bytes);
    return true;
}

static bool run_scan(Exec *x, const IrNode *n, Slot *s, Slot *self) {
    const IrScan *sc = &n->scan;
    const IrGraph *body = n->body;
    int64_t steps;
    if (!dim_eval(sc->steps, x->syms, x->e->nsyms, &steps))
        return false;
    int nbody_in = sc->nseq + sc->ncarry + sc->ncapture, nbody_out = sc->nyield + sc->ncarry;
    attn_tensor *bin = calloc((size_t)nbody_in + 1, sizeof *bin), *bout = calloc((size_t)nbody_out + 1, sizeof *bout);
    self->multi = calloc((size_t)nbody_out + 1, sizeof(attn_tensor));
    self->nmulti = self->multi ? nbody_out : 0;
    bool ok = bin && bout && self->multi;
    if (!ok)
        fail(x, "error: out of memory");
    /* stacked outputs */
    for (int i = 0; ok && i < sc->nyield; i++) {
        ok = concrete(x, n, &body->nodes[body->outputs[i]].type, &self->multi[i]);
        attn_tensor *m = &self->multi[i];
        if (ok) {
            for (int d = m->rank; d > sc->axis; d--)
                m->shape[d] = m->shape[d - 1];
            m->shape[sc->axis] = steps;
            m->rank++;
            ok = alloc_tensor(x, m, n);
        }
    }
    for (int i = 0; ok && i < sc->nseq; i++) {
        ok = concrete(x, n, &body->nodes[0].type, &bin[i]); /* placeholder; shape set below */
        const attn_tensor *seq = &s[n->in[i]].t;
        bin[i].dtype = seq->dtype;
        bin[i].rank = seq->rank - 1;
        for (int d = 0, k = 0; d < seq->rank; d++)
            if (d != sc->axis)
                bin[i].shape[k++] = seq->shape[d];
        ok = ok && alloc_tensor(x, &bin[i], n);
    }
    for (int j = 0; ok && j < sc->ncarry; j++)
        ok = copy_tensor(x, n, &s[n->in[sc->nseq + j]].t, &bin[sc->nseq + j]);
    for (int c = 0; ok && c < sc->ncapture; c++)
        bin[sc->nseq + sc->ncarry + c] = s[n->in[sc->nseq + sc->ncarry + c]].t;
    for (int64_t k = 0; ok && k < steps; k++) {
        int64_t t = sc->reverse ? steps - 1 - k : k;
        for (int i = 0; i < sc->nseq; i++)
            take_step(&s[n->in[i]].t, sc->axis, t, &bin[i]);
        ok = run_graph(x, body, bin, bout) == 0;
        if (!ok)
            break;
        for (int i = 0; i < sc->nyield; i++) {
            put_step(&bout[i], sc->axis, t, &self->multi[i]);
            free(bout[i].data);
        }
        for (int j = 0; j < sc->ncarry; j++) {
            free(bin[sc->nseq + j].data);
            bin[sc->nseq + j] = bout[sc->nyield + j];
        }
    }
    if (ok)
        for (int j = 0; j < sc->ncarry; j++) {
            self->multi[sc->nyield + j] = bin[sc->nseq + j];
            bin[sc->nseq + j].data = NULL;
        }
    for (int i = 0; bin && i < sc->nseq + sc->ncarry; i++)
        free(bin[i].data);
    free(bin);
    free(bout);
    return ok;
}

static bool run_node(Exec *x, const IrGraph *g, int i, Slot *s, const attn_tensor *in) {
    const IrNode *n = &g->nodes[i];
    Slot *self = &s[i];
    switch (n->op) {
    case OP_INPUT:
        self->t = in[n->index];
        return true;
    case OP_PARAM:
    case OP_CONST:
        self->t = *n->value;
        return true;
    case OP_SCAN:
        return run_scan(x, n, s, self);
    case OP_RESULT: {
        Slot *sc = &s[n->in[0]];
        self->t = sc->multi[n->attrs.axis];
        sc->multi[n->attrs.axis].data = NULL;
        self->owned = true;
        return true;
    }
    case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    OP_CASES_REDUCE_NORM
    case OP_MATMUL: case OP_RESHAPE: case OP_PERMUTE: case OP_SLICE: case OP_CONCAT: case OP_EXPAND: case OP_GATHER: case OP_CHECK_LENGTHS:
        break;
    case OP_COUNT: ATTN_UNREACHABLE("op out of range");
    }
    attn_tensor ops[ATTN_LIMIT_OPERANDS]; /* lowering bounds every kernel op's operands by this */
    for (int k = 0; k < n->nin && k < ATTN_LIMIT_OPERANDS; k++)
        ops[k] = s[n->in[k]].t;
    OpAttrs attrs = n->attrs;
    if (!concrete(x, n, &n->type, &self->t) || !check_node(x, n, s, &self->t, &attrs) || !alloc_tensor(x, &self->t, n))
        return false;
    self->owned = true;
    op_run(n->op, &attrs, ops, n->nin, &self->t);
    return true;
}

/* Runs g on inputs `in`; writes its outputs (owned copies) into `out`. */
static int run_graph(Exec *x, const IrGraph *g, const attn_tensor *in, attn_tensor *out) {
    Slot *s = calloc((size_t)g->n + 1, sizeof *s);
    int *last = malloc(sizeof(int) * ((size_t)g->n + 1));
    bool ok = s && last;
    if (!ok)
        fail(x, "error: out of memory");
    for (int i = 0; ok && i < g->n; i++)
        last[i] = -1;
    for (int i = 0; ok && i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            last[g->nodes[i].in[k]] = i;
    for (int i = 0; ok && i < g->nout; i++)
        last[g->outputs[i]] = g->n; /* outputs live to the end */
    for (int i = 0; ok && i < g->n; i++) {
        ok = run_node(x, g, i, s, in);
        for (int k = 0; ok && k < g->nodes[i].nin; k++)
            if (last[g->nodes[i].in[k]] == i)
                release(&s[g->nodes[i].in[k]]);
    }
    for (int i = 0; ok && i < g->nout; i++) {
        Slot *o = &s[g->outputs[i]];
        ok = copy_tensor(x, &g->nodes[g->outputs[i]], &o->t, &out[i]);
        if (!ok)
            for (int j = 0; j < i; j++)
                free(out[j].data);
    }
    for (int i = 0; s && i < g->n; i++)
        release(&s[i]);
    free(s);
    free(last);
    return ok ? 0 : -1;
}

/* attn_dims_fn of the interpreter: the dims of entry `self`'s inputs under
 * syms, -1 where a dim has no value (which no input matches). */
static int32_t input_dims(const void *self, const int64_t *syms, int64_t *dims) {
    const IrEntry *e = self;
    const IrGraph *g = e->graph;
    for (int k = 0; k < g->n; k++) {
        const IrNode *n = &g->nodes[k];
        for (int d = 0; n->op == OP_INPUT && d < n->type.rank; d++)
            if (!dim_eval(n->type.dims[d], syms, e->nsyms, &dims[n->index * ATTN_MAX_RANK + d]))
                dims[n->index * ATTN_MAX_RANK + d] = -1;
    }
    return 0;
}

/* Checks the inputs and binds the entry's symbols from their shapes with the
 * runner of compiled code (attn_bind_inputs): one implementation, one set of
 * messages and limits for both engines. */
static bool bind_inputs(Exec *x, const attn_tensor *inputs, int ninputs, const attn_tensor **bound) {
    Arena ar = {0};
    attn_sig_tensor *sig, *outs;
    bool ok = false;
    if (ir_signature(x->e, &ar, &sig, &outs) != 0)
        fail(x, "error: out of memory");
    else
        ok = attn_bind_inputs(x->e->name, sig, x->e->graph->ninputs, x->e->nsyms, input_dims, x->e, inputs, ninputs,
                              x->syms, bound, &x->error) == 0;
    arena_free(&ar);
    return ok;
}

int interp_run(const IrEntry *e, const attn_tensor *inputs, int ninputs, attn_tensor **outputs, int *noutputs,
               char **error) {
    const IrGraph *g = e->graph;
    Exec x = {.e = e};
    x.syms = calloc((size_t)e->nsyms + 1, sizeof *x.syms);
    const attn_tensor **bound = calloc((size_t)g->ninputs + 1, sizeof *bound);
    attn_tensor *in = calloc((size_t)g->ninputs + 1, sizeof *in);
    attn_tensor *out = calloc((size_t)g->nout + 1, sizeof *out);
    int rc = -1;
    if (!x.syms || !bound || !in || !out)
        fail(&x, "error: out of memory");
    else if (bind_inputs(&x, inputs, ninputs, bound)) {
        for (int i = 0; i < g->ninputs; i++)
            in[i] = *bound[i];
        rc = run_graph(&x, g, in, out);
    }
    free(x.syms);
    free(bound);
    free(in);
    if (rc == 0) {
        for (int i = 0; i < g->nout; i++)
            out[i].name = g->output_names[i];
        *outputs = out;
        *noutputs = g->nout;
    } else
        free(out);
    if (error)
        *error = x.error;
    else
        free(x.error);
    return rc;
}

/*
 * pass_scan_invariant.c — loop-invariant hoisting: body work that does not
 * depend on the step moves before its scan.
 *
 * A body node whose operands are all, transitively, captures, constants or
 * params computes the same value at every step: in a decode loop, additive
 * attention projects the encoder outputs (a capture) with W_k at every step.
 * Such nodes are copied into the enclosing graph just before the scan, and
 * the ones the rest of the body reads become new captures; the body's copies
 * are left for DCE. Bodies are processed innermost first, so a value hoisted
 * out of an inner scan is hoisted further when it is invariant in the outer
 * body too.
 *
 * Which nodes move. A scan may run zero steps, and then its body never runs:
 * a hoisted node runs anyway, so it must not be able to fail where the body's
 * copy never would have. So nodes with run-time checks stay in the body:
 * reshape (element count), slice (start in range) and gather (ids in range),
 * and so do nodes whose type has a dim that may be negative in some call
 * ("T-2"); a dim made of constants and symbols with + * / % never is. A node
 * that can fail only by running out of memory may move: the value computed
 * once is the same size as the one the body computed per step. SCANs and
 * RESULTs stay (an inner loop over invariant values is left alone), and so do
 * plain sources: CONST and PARAM are copied out where a hoisted node reads
 * them, but are not hoisted for their own sake. Only nodes some body output
 * depends on move.
 */
#include "ir.h"
#include "attn_limits.h"
#include "op_cases.h"

#include <stdlib.h>

/* Per body node flags of one scan. */
typedef struct Marks {
    bool *live;     /* some body output depends on it */
    bool *outside;  /* its value can be had before the scan */
    bool *take;     /* copied before the scan */
    bool *frontier; /* hoisted and read by the part that stays: becomes a capture */
    int *outer_of;  /* index of its copy in the enclosing graph */
} Marks;

static bool dim_never_negative(const Dim *d) {
    if (!d)
        return false;
    switch (d->kind) {
    case DIM_CONST: return d->value >= 0;
    case DIM_SYM: return true; /* bound from an input's extent */
    case DIM_ADD: case DIM_MUL: case DIM_DIV: case DIM_MOD:
        return dim_never_negative(d->a) && dim_never_negative(d->b);
    }
    ATTN_UNREACHABLE("dim kind out of range");
}

/* True when n cannot fail at run time other than by running out of memory. */
static bool cannot_fail(const IrNode *n) {
    switch (n->op) {
    case OP_RESHAPE:
    case OP_SLICE:
    case OP_GATHER: case OP_CHECK_LENGTHS:
    case OP_SCAN:
    case OP_RESULT: return false;
    case OP_INPUT: case OP_PARAM: case OP_CONST: case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    OP_CASES_REDUCE_NORM
    case OP_MATMUL: case OP_PERMUTE: case OP_CONCAT: case OP_EXPAND: break;
    case OP_COUNT: ATTN_UNREACHABLE("op out of range");
    }
    for (int d = 0; d < n->type.rank; d++)
        if (!dim_never_negative(n->type.dims[d]))
            return false;
    return true;
}

static bool is_value_source(const IrNode *n) { return n->op == OP_CONST || n->op == OP_PARAM; }

/* Marks what moves out of the body of scan `scan`; false when nothing does. */
static bool mark(const IrNode *scan, Marks *m) {
    const IrGraph *body = scan->body;
    int first_capture = scan->scan.nseq + scan->scan.ncarry;
    ir_mark_live(body, m->live);
    for (int j = 0; j < body->n; j++) {
        const IrNode *n = &body->nodes[j];
        if (n->op == OP_INPUT)
            m->outside[j] = n->index >= first_capture;
        else if (is_value_source(n))
            m->outside[j] = true;
        else {
            m->outside[j] = cannot_fail(n);
            for (int k = 0; k < n->nin && m->outside[j]; k++)
                m->outside[j] = m->outside[n->in[k]];
        }
    }
    /* hoisted: computed nodes that can be had outside; the frontier is what the rest reads */
    bool any = false;
    for (int j = 0; j < body->n; j++) {
        const IrNode *n = &body->nodes[j];
        m->take[j] = m->frontier[j] = false;
        if (!m->live[j] || (m->outside[j] && n->op != OP_INPUT && !is_value_source(n)))
            continue; /* dead, or itself hoisted */
        for (int k = 0; k < n->nin; k++) {
            const IrNode *in = &body->nodes[n->in[k]];
            bool hoisted = m->outside[n->in[k]] && in->op != OP_INPUT && !is_value_source(in);
            m->frontier[n->in[k]] |= hoisted;
            any |= hoisted;
        }
    }
    for (int k = 0; k < body->nout; k++) {
        const IrNode *out = &body->nodes[body->outputs[k]];
        bool hoisted = m->outside[body->outputs[k]] && out->op != OP_INPUT && !is_value_source(out);
        m->frontier[body->outputs[k]] |= hoisted;
        any |= hoisted;
    }
    if (!any)
        return false;
    /* copied: the frontier and, backwards, everything it reads that is not an input */
    for (int j = body->n - 1; j >= 0; j--) {
        m->take[j] |= m->frontier[j];
        if (!m->take[j])
            continue;
        for (int k = 0; k < body->nodes[j].nin; k++)
            m->take[body->nodes[j].in[k]] |= body->nodes[body->nodes[j].in[k]].op != OP_INPUT;
    }
    return true;
}

/* Hoists the invariant work of scan *si of g; updates *si and returns the
 * number of nodes hoisted. Each value of the frontier becomes a capture: no
 * hoisting that would take the scan past ATTN_LIMIT_SCAN_CAPTURES. */
static int hoist(Arena *ar, IrGraph *g, int *si, Marks *m) {
    if (!mark(&g->nodes[*si], m))
        return 0;
    const IrGraph *body = g->nodes[*si].body;
    int captures = g->nodes[*si].scan.ncapture;
    for (int j = 0; j < body->n; j++)
        captures += m->frontier[j];
    if (captures > ATTN_LIMIT_SCAN_CAPTURES)
        return 0;
    int hoisted = 0;
    for (int j = 0; j < body->n; j++)
        hoisted += m->take[j] && !is_value_source(&body->nodes[j]);
    int at = ir_scan_copy_out(ar, g, *si, m->take, false, m->outer_of);
    if (at < 0)
        return 0;
    *si = at;
    for (int j = 0; j < body->n; j++)
        if (m->frontier[j])
            ir_scan_capture(ar, g, *si, j, m->outer_of[j]);
    return hoisted;
}

int pass_scan_invariant(Arena *ar, IrGraph *g) {
    int hoisted = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != OP_SCAN || !g->nodes[i].body)
            continue;
        IrGraph *body = g->nodes[i].body;
        hoisted += pass_scan_invariant(ar, body); /* innermost first */
        size_t n = (size_t)body->n + 1;
        Marks m = {malloc(n * sizeof(bool)), malloc(n * sizeof(bool)), malloc(n * sizeof(bool)), malloc(n * sizeof(bool)),
                   malloc(n * sizeof(int))};
        if (m.live && m.outside && m.take && m.frontier && m.outer_of) /* out of memory: leave the scan as it is */
            hoisted += hoist(ar, g, &i, &m);
        free(m.live);
        free(m.outside);
        free(m.take);
        free(m.frontier);
        free(m.outer_of);
    }
    return hoisted;
}

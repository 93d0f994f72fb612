/*
 * pass_scan_hoist.c — input-projection hoisting: per-step matmuls of sequence
 * slices by a weight become one matmul over the whole sequence before the scan.
 *
 * A recurrent layer written step by step, `scan(x_t in x, h = h0, axis = 1) {
 * gx = x_t @ w_ih.T + b_ih ... }`, multiplies each slice by the same weight: T
 * small matmuls where one big one, `x @ w_ih.T + b_ih` over [B, T, E], does
 * the same (std/rnn.attn writes it that way by hand). The pass finds the
 * body values that are such maps of the sequences, computes them for all
 * steps before the scan and feeds them in as new sequences.
 *
 * A body value is a map of the sequences when it is
 *   - a sequence slice (a body input stepping over a sequence);
 *   - a matmul, without trans_a, of a map by a rank-2 value from outside (a
 *     capture, param or const): matmul contracts the last dim and broadcasts
 *     the leading ones, so over the whole sequence the time axis stays where
 *     the scan has it, as long as it is not the last dim;
 *   - an elementwise op whose operands are maps of the op's own rank, or values
 *     from outside that broadcast only over dims after the time axis (a bias of
 *     rank 1): then every operand lines up the same way with the time axis
 *     put back.
 * Values computed from outside values only are pass_scan_invariant.c's; this
 * pass needs them as inputs, which that pass makes them.
 *
 * Only maps that involve a matmul move (with the maps they read and the
 * elementwise ops applied to them): an elementwise op alone over all steps
 * does no less work than per step, and would only hold all steps in memory.
 * Maps move only when some body output depends on them. The moved ops are
 * elementwise ops and matmuls, which have no run-time checks, so a scan of
 * zero steps stays as it was (the whole-sequence value is simply empty).
 */
#include "ir.h"

#include <stdlib.h>

/* Per body node flags of one scan. */
typedef struct Marks {
    bool *live;       /* some body output depends on it */
    bool *map;        /* a map of the sequences */
    bool *by_matmul;  /* a map computed through a matmul of the body */
    bool *take;       /* copied before the scan */
    bool *frontier;   /* moved and read by the part that stays: becomes a sequence */
    int *outer_of;    /* index of its copy in the enclosing graph */
} Marks;

static bool is_elementwise(OpKind op) {
    switch (op_info[op].cls) {
    case OC_UNARY:
    case OC_BINARY:
    case OC_COMPARE:
    case OC_LOGIC:
    case OC_TERNARY: return true;
    case OC_SOURCE: case OC_REDUCE: case OC_NORM: case OC_MATMUL: case OC_SHAPE: case OC_GATHER: case OC_CHECK: case OC_CONTROL:
        return false;
    }
    ATTN_UNREACHABLE("op class out of range");
}

/* A value outside the body: a capture input, a const or a param. */
static bool from_outside(const IrNode *scan, const IrNode *n) {
    return (n->op == OP_INPUT && n->index >= scan->scan.nseq + scan->scan.ncarry) || n->op == OP_CONST ||
           n->op == OP_PARAM;
}

/* Whether body node j of scan is a map of the sequences (its operands' marks set). */
static bool is_map(const IrNode *scan, const Marks *m, int j) {
    const IrGraph *body = scan->body;
    const IrNode *n = &body->nodes[j];
    int axis = scan->scan.axis;
    if (n->op == OP_INPUT)
        return n->index < scan->scan.nseq;
    if (n->op == OP_MATMUL) {
        const IrNode *a = &body->nodes[n->in[0]], *w = &body->nodes[n->in[1]];
        return !n->attrs.trans_a && m->map[n->in[0]] && axis < a->type.rank && from_outside(scan, w) &&
               w->type.rank == 2;
    }
    if (!is_elementwise(n->op) || n->type.rank < axis)
        return false;
    bool any_map = false;
    for (int k = 0; k < n->nin; k++) {
        const IrNode *in = &body->nodes[n->in[k]];
        if (m->map[n->in[k]] && in->type.rank == n->type.rank)
            any_map = true;
        else if (!from_outside(scan, in) || in->type.rank > n->type.rank - axis)
            return false;
    }
    return any_map;
}

/* Marks what moves out of the body of scan `scan`; false when nothing does. */
static bool mark(const IrNode *scan, Marks *m) {
    const IrGraph *body = scan->body;
    ir_mark_live(body, m->live);
    for (int j = 0; j < body->n; j++) {
        const IrNode *n = &body->nodes[j];
        m->map[j] = is_map(scan, m, j);
        m->by_matmul[j] = m->map[j] && n->op == OP_MATMUL;
        for (int k = 0; k < n->nin && m->map[j]; k++)
            m->by_matmul[j] |= m->by_matmul[n->in[k]];
        m->take[j] = m->live[j] && m->by_matmul[j];
        m->frontier[j] = false;
    }
    /* copied: the moved maps and, backwards, the maps, consts and params they read */
    bool any = false;
    for (int j = body->n - 1; j >= 0; j--) {
        const IrNode *n = &body->nodes[j];
        if (!m->take[j])
            continue;
        any = true;
        for (int k = 0; k < n->nin; k++)
            m->take[n->in[k]] |= body->nodes[n->in[k]].op != OP_INPUT;
    }
    if (!any)
        return false;
    /* the frontier: moved maps read by a node that stays, or by the body's outputs */
    for (int j = 0; j < body->n; j++) {
        const IrNode *n = &body->nodes[j];
        if (!m->live[j] || m->take[j])
            continue;
        for (int k = 0; k < n->nin; k++)
            m->frontier[n->in[k]] |= m->take[n->in[k]] && m->map[n->in[k]];
    }
    for (int k = 0; k < body->nout; k++)
        m->frontier[body->outputs[k]] |= m->take[body->outputs[k]] && m->map[body->outputs[k]];
    return true;
}

/* Hoists the input projections of scan *si of g; updates *si and returns the number of nodes moved. */
static int hoist(Arena *ar, IrGraph *g, int *si, Marks *m) {
    if (!mark(&g->nodes[*si], m))
        return 0;
    const IrGraph *body = g->nodes[*si].body;
    int moved = 0;
    for (int j = 0; j < body->n; j++)
        moved += m->take[j] && m->map[j];
    int at = ir_scan_copy_out(ar, g, *si, m->take, true, m->outer_of);
    if (at < 0)
        return 0;
    *si = at;
    for (int j = 0; j < body->n; j++)
        if (m->frontier[j])
            ir_scan_sequence(ar, g, *si, j, m->outer_of[j]);
    return moved;
}

int pass_scan_hoist(Arena *ar, IrGraph *g) {
    int moved = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != OP_SCAN || !g->nodes[i].body)
            continue;
        IrGraph *body = g->nodes[i].body;
        moved += pass_scan_hoist(ar, body);
        size_t n = (size_t)body->n + 1;
        Marks m = {malloc(n * sizeof(bool)), malloc(n * sizeof(bool)), malloc(n * sizeof(bool)),
                   malloc(n * sizeof(bool)), malloc(n * sizeof(bool)), malloc(n * sizeof(int))};
        if (m.live && m.map && m.by_matmul && m.take && m.frontier && m.outer_of) /* out of memory: leave it */
            moved += hoist(ar, g, &i, &m);
        free(m.live);
        free(m.map);
        free(m.by_matmul);
        free(m.take);
        free(m.frontier);
        free(m.outer_of);
    }
    return moved;
}

/*
 * pass_dce.c — dead code elimination: nodes no output depends on are removed.
 *
 * Lowering builds values a model never uses (a projection computed in a loop
 * body but only read on some iterations, the copies CSE leaves behind, the
 * operands of folded constants). Removing them keeps the backends from running
 * or compiling dead work. Liveness flows backwards from the graph's outputs;
 * since operands always precede their users, one reverse sweep finds it. The
 * survivors are then compacted in order and every index is remapped.
 *
 * INPUT nodes stay even when unused: they are positional, matched to the
 * caller's tensors (or a scan's operands) by their index. A SCAN lives only
 * while one of its RESULTs does; inside its body every output is live, since
 * the per-step outputs and carries are fixed by the scan's signature.
 */
#include "ir.h"

#include <stdlib.h>

/* live[i] for every node of g that an output depends on, and every INPUT. */
static void mark_live(const IrGraph *g, bool *live) {
    for (int k = 0; k < g->nout; k++)
        live[g->outputs[k]] = true;
    for (int i = g->n - 1; i >= 0; i--) {
        const IrNode *n = &g->nodes[i];
        live[i] |= n->op == OP_INPUT;
        for (int k = 0; live[i] && k < n->nin; k++)
            live[n->in[k]] = true;
    }
}

/* Moves the live nodes to the front, in order, and remaps operands and outputs. */
static void compact(IrGraph *g, const bool *live, int *new_index) {
    int m = 0;
    for (int i = 0; i < g->n; i++) {
        if (!live[i])
            continue;
        new_index[i] = m;
        g->nodes[m] = g->nodes[i];
        for (int k = 0; k < g->nodes[m].nin; k++)
            g->nodes[m].in[k] = new_index[g->nodes[m].in[k]];
        m++;
    }
    for (int k = 0; k < g->nout; k++)
        g->outputs[k] = new_index[g->outputs[k]];
    g->n = m;
}

int pass_dce(Arena *ar, IrGraph *g) {
    int removed = 0;
    if (g->n > 0) {
        bool *live = calloc((size_t)g->n, sizeof *live);
        int *new_index = malloc((size_t)g->n * sizeof *new_index);
        if (live && new_index) { /* out of memory: leave the graph as it is */
            int before = g->n;
            mark_live(g, live);
            compact(g, live, new_index);
            removed = before - g->n;
        }
        free(live);
        free(new_index);
    }
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN && g->nodes[i].body)
            removed += pass_dce(ar, g->nodes[i].body);
    return removed;
}

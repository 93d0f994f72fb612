/*
 * pass_scan_prune.c — scan inputs the body does not need are dropped, and
 * inputs standing for the same outer value are merged.
 *
 * After the scan passes move work out of a body, the inputs that work read
 * are often left unread: the slices of `x` once `x @ w_ih.T` is computed for
 * all steps, the capture of `w_ih`. A sequence input still costs a copy of
 * its slice at every step, and a capture keeps an outer value alive, so both
 * go, with their scan operands. Hoisting can also feed a body the same outer
 * value twice (once CSE has merged a hoisted copy with a value the body
 * already captured); the later input's users then read the earlier one.
 *
 * Carried states are never touched: each is tied to a body output. A scan
 * keeps at least one sequence, since its steps are the sequences' extent.
 * The remaining inputs are renumbered in order (sequences, carries,
 * captures), as are the body's nodes once the dropped inputs are gone.
 */
#include "ir.h"

#include <stdlib.h>

/* Which group an input position belongs to. */
static int group_of(const IrScan *sc, int index) {
    return index < sc->nseq ? 0 : index < sc->nseq + sc->ncarry ? 1 : 2;
}

/* Users of body node `from` (operands and outputs) read node `to` instead. */
static void redirect(IrGraph *body, int from, int to) {
    for (int i = 0; i < body->n; i++)
        for (int k = 0; k < body->nodes[i].nin; k++)
            if (body->nodes[i].in[k] == from)
                body->nodes[i].in[k] = to;
    for (int k = 0; k < body->nout; k++)
        if (body->outputs[k] == from)
            body->outputs[k] = to;
}

/* Scratch of one scan: per input position, then per body node. */
typedef struct Work {
    int *node_of;    /* body node of each input */
    int *new_pos;    /* its position after pruning, -1 when dropped */
    bool *gone;      /* merged into an input of the same outer value */
    bool *used;      /* body node read by a node or an output */
    bool *drop_node; /* body node removed */
    int *new_index;  /* body node's index after pruning */
} Work;

/* Merges inputs of the same group and outer value into the one whose node
 * comes first; the other's node is left unread. Returns the number merged. */
static int merge_duplicates(const IrNode *scan, Work *w) {
    const IrScan *sc = &scan->scan;
    int merged = 0;
    for (int a = 0; a < scan->nin; a++) {
        for (int b = a + 1; b < scan->nin && !w->gone[a]; b++) {
            if (w->gone[b] || group_of(sc, a) == 1 || group_of(sc, a) != group_of(sc, b) ||
                scan->in[a] != scan->in[b] || w->node_of[a] < 0 || w->node_of[b] < 0)
                continue;
            /* the node placed first survives, so its new users still come after it */
            int loser = w->node_of[a] < w->node_of[b] ? b : a;
            redirect(scan->body, w->node_of[loser], w->node_of[loser == a ? b : a]);
            w->gone[loser] = true;
            merged++;
        }
    }
    return merged;
}

/* Removes the input nodes marked in drop_node from the body, renumbering the
 * rest, and moves the remaining inputs to their new positions. */
static void compact_body(IrGraph *body, const Work *w) {
    int m = 0;
    for (int i = 0; i < body->n; i++) {
        if (w->drop_node[i])
            continue;
        w->new_index[i] = m;
        body->nodes[m] = body->nodes[i];
        IrNode *n = &body->nodes[m++];
        for (int k = 0; k < n->nin; k++)
            n->in[k] = w->new_index[n->in[k]];
        if (n->op == OP_INPUT)
            n->index = w->new_pos[n->index];
    }
    for (int k = 0; k < body->nout; k++)
        body->outputs[k] = w->new_index[body->outputs[k]];
    body->ninputs -= body->n - m;
    body->n = m;
}

/* Prunes the inputs of scan `scan`; returns the number of inputs merged or dropped. */
static int prune(IrNode *scan, Work *w) {
    IrGraph *body = scan->body;
    IrScan *sc = &scan->scan;
    for (int k = 0; k < scan->nin; k++) {
        w->node_of[k] = -1;
        w->gone[k] = false;
    }
    for (int i = 0; i < body->n; i++)
        if (body->nodes[i].op == OP_INPUT && body->nodes[i].index < scan->nin)
            w->node_of[body->nodes[i].index] = i;
    int changed = merge_duplicates(scan, w);

    for (int i = 0; i < body->n; i++)
        w->used[i] = w->drop_node[i] = false;
    for (int i = 0; i < body->n; i++)
        for (int k = 0; k < body->nodes[i].nin; k++)
            w->used[body->nodes[i].in[k]] = true;
    for (int k = 0; k < body->nout; k++)
        w->used[body->outputs[k]] = true;
    int kept = 0, kept_seq = 0, dropped_seq = 0, dropped_capture = 0;
    for (int k = 0; k < scan->nin; k++) {
        int grp = group_of(sc, k);
        bool last_chance = grp == 0 && kept_seq == 0 && k == sc->nseq - 1; /* keep one sequence */
        bool drop = grp != 1 && w->node_of[k] >= 0 && !w->used[w->node_of[k]] && !last_chance;
        w->new_pos[k] = drop ? -1 : kept;
        if (drop) {
            w->drop_node[w->node_of[k]] = true;
            dropped_seq += grp == 0;
            dropped_capture += grp == 2;
        } else {
            scan->in[kept++] = scan->in[k];
            kept_seq += grp == 0;
        }
    }
    if (kept == scan->nin)
        return changed;
    compact_body(body, w);
    scan->nin = kept;
    sc->nseq -= dropped_seq;
    sc->ncapture -= dropped_capture;
    return changed + dropped_seq + dropped_capture;
}

int pass_scan_prune(Arena *ar, IrGraph *g) {
    int changed = 0;
    for (int i = 0; i < g->n; i++) {
        IrNode *scan = &g->nodes[i];
        if (scan->op != OP_SCAN || !scan->body)
            continue;
        changed += pass_scan_prune(ar, scan->body);
        size_t nin = (size_t)scan->nin + 1, n = (size_t)scan->body->n + 1;
        Work w = {malloc(nin * sizeof(int)), malloc(nin * sizeof(int)), malloc(nin * sizeof(bool)),
                  malloc(n * sizeof(bool)), malloc(n * sizeof(bool)), malloc(n * sizeof(int))};
        if (w.node_of && w.new_pos && w.gone && w.used && w.drop_node && w.new_index) /* out of memory: leave it */
            changed += prune(scan, &w);
        free(w.node_of);
        free(w.new_pos);
        free(w.gone);
        free(w.used);
        free(w.drop_node);
        free(w.new_index);
    }
    return changed;
}

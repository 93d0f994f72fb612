/*
 * ir.c — building graphs. See ir.h.
 */
#include "ir.h"

#include <string.h>

/* Out of memory, graph building goes on in the arena's failed state (the
 * phase then reports ATTN_ERR_NOMEM and drops its graphs): a graph that cannot
 * be allocated is this stand-in, and nodes that find no room overwrite the
 * graph's last one. Nothing is ever written outside allocated memory. */
static _Thread_local IrGraph lost_graph;

IrGraph *ir_graph_new(Arena *ar, IrGraph *parent) {
    IrGraph *g = arena_alloc(ar, sizeof(IrGraph));
    if (!g)
        g = memset(&lost_graph, 0, sizeof lost_graph);
    g->parent = parent;
    return g;
}

/* Room for `need` nodes in g and one more (the arena keeps the old array);
 * false when out of memory. */
static bool reserve(Arena *ar, IrGraph *g, int need) {
    if (need + 1 <= g->cap)
        return true;
    int cap = g->cap ? 2 * g->cap : 16;
    while (cap < need + 1)
        cap *= 2;
    IrNode *nodes = arena_alloc(ar, (size_t)cap * sizeof(IrNode));
    if (!nodes)
        return need <= g->cap; /* the spare node still makes room for one */
    if (g->n)
        memcpy(nodes, g->nodes, (size_t)g->n * sizeof(IrNode));
    g->nodes = nodes;
    g->cap = cap;
    return true;
}

/* The slot of a node that found no room: the stand-in graph gets a node of
 * its own, a real graph gives up its last. */
static int lost_slot(IrGraph *g) {
    static _Thread_local IrNode lost_node;
    if (g->n == 0) {
        g->nodes = &lost_node;
        g->cap = 1;
        g->n = 1;
    }
    return g->n - 1;
}

int ir_add(Arena *ar, IrGraph *g, OpKind op, const int *in, int nin, SrcLoc loc) {
    int id = reserve(ar, g, g->n + 1) ? g->n++ : lost_slot(g);
    IrNode *n = &g->nodes[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->loc = loc;
    n->nin = nin;
    if (nin) {
        n->in = arena_alloc(ar, (size_t)nin * sizeof(int));
        if (n->in)
            memcpy(n->in, in, (size_t)nin * sizeof(int));
        else
            n->nin = 0;
    }
    return id;
}

void ir_set_outputs(Arena *ar, IrGraph *g, const int *outs, int n) {
    g->outputs = arena_alloc(ar, (size_t)(n ? n : 1) * sizeof(int));
    if (!g->outputs)
        n = 0;
    else if (n)
        memcpy(g->outputs, outs, (size_t)n * sizeof(int));
    g->nout = n;
}

bool ir_open_slots(Arena *ar, IrGraph *g, int pos, int count) {
    if (!reserve(ar, g, g->n + count))
        return false;
    memmove(&g->nodes[pos + count], &g->nodes[pos], (size_t)(g->n - pos) * sizeof(IrNode));
    memset(&g->nodes[pos], 0, (size_t)count * sizeof(IrNode));
    g->n += count;
    for (int i = pos + count; i < g->n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++)
            if (g->nodes[i].in[k] >= pos)
                g->nodes[i].in[k] += count;
    for (int k = 0; k < g->nout; k++)
        if (g->outputs[k] >= pos)
            g->outputs[k] += count;
    return true;
}

const IrNode *ir_scan_of(const IrGraph *body) {
    for (int k = 0; body->parent && k < body->parent->n; k++)
        if (body->parent->nodes[k].op == OP_SCAN && body->parent->nodes[k].body == body)
            return &body->parent->nodes[k];
    return NULL;
}

int ir_body_input(const IrGraph *body, int index) {
    for (int i = 0; i < body->n; i++)
        if (body->nodes[i].op == OP_INPUT && body->nodes[i].index == index)
            return i;
    return -1;
}

/*
 * ir.c — building graphs. See ir.h.
 */
#include "ir.h"

#include <string.h>

IrGraph *ir_graph_new(Arena *ar, IrGraph *parent) {
    IrGraph *g = arena_alloc(ar, sizeof(IrGraph));
    if (!g)
        ATTN_UNREACHABLE("out of memory building the graph");
    g->parent = parent;
    return g;
}

/* Room for `need` nodes in g (the arena keeps the old array). */
static void reserve(Arena *ar, IrGraph *g, int need) {
    if (need <= g->cap)
        return;
    int cap = g->cap ? 2 * g->cap : 16;
    while (cap < need)
        cap *= 2;
    IrNode *nodes = arena_alloc(ar, (size_t)cap * sizeof(IrNode));
    if (!nodes)
        ATTN_UNREACHABLE("out of memory building the graph");
    if (g->n)
        memcpy(nodes, g->nodes, (size_t)g->n * sizeof(IrNode));
    g->nodes = nodes;
    g->cap = cap;
}

int ir_add(Arena *ar, IrGraph *g, OpKind op, const int *in, int nin, SrcLoc loc) {
    reserve(ar, g, g->n + 1);
    IrNode *n = &g->nodes[g->n];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->loc = loc;
    n->nin = nin;
    if (nin) {
        n->in = arena_alloc(ar, (size_t)nin * sizeof(int));
        if (!n->in)
            ATTN_UNREACHABLE("out of memory building the graph");
        memcpy(n->in, in, (size_t)nin * sizeof(int));
    }
    return g->n++;
}

void ir_set_outputs(Arena *ar, IrGraph *g, const int *outs, int n) {
    g->outputs = arena_alloc(ar, (size_t)(n ? n : 1) * sizeof(int));
    if (!g->outputs)
        ATTN_UNREACHABLE("out of memory building the graph");
    if (n)
        memcpy(g->outputs, outs, (size_t)n * sizeof(int));
    g->nout = n;
}

void ir_open_slots(Arena *ar, IrGraph *g, int pos, int count) {
    reserve(ar, g, g->n + count);
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

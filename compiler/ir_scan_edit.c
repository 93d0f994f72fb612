/*
 * ir_scan_edit.c — moving computations across a scan's boundary, for the
 * passes that take work out of loop bodies (pass_scan_invariant.c,
 * pass_scan_hoist.c).
 *
 * A body value computed outside reaches the body as a new input: a capture
 * (the same tensor at every step) or a sequence (one slice per step). The
 * body node that computed it turns into that INPUT in place, so no body node
 * moves and every user keeps its operand index; the computation is copied
 * into the enclosing graph right before the scan, which keeps every operand
 * before its users there too. The nodes the body no longer needs are left for
 * DCE, and inputs that end up unread for pass_scan_prune.c.
 */
#include "ir.h"

#include <string.h>

/* t with the scan's time axis put back: the type of all steps at once. */
static IrType stacked_type(const IrType *t, const IrScan *sc) {
    IrType s = *t;
    for (int d = s.rank; d > sc->axis; d--)
        s.dims[d] = s.dims[d - 1];
    s.dims[sc->axis] = sc->steps;
    s.rank++;
    return s;
}

int ir_scan_copy_out(Arena *ar, IrGraph *g, int si, const bool *take, bool stacked, int *outer_of) {
    const IrGraph *body = g->nodes[si].body;
    int count = 0;
    for (int j = 0; j < body->n; j++) {
        const IrNode *n = &body->nodes[j];
        const IrScan *sc = &g->nodes[si].scan;
        bool outer_input = n->op == OP_INPUT && (n->index < sc->nseq || n->index >= sc->nseq + sc->ncarry);
        outer_of[j] = outer_input ? g->nodes[si].in[n->index] : -1;
        count += take[j];
    }
    if (!ir_open_slots(ar, g, si, count))
        return -1;
    int slot = si;
    for (int j = 0; j < body->n; j++) {
        if (!take[j])
            continue;
        const IrNode *src = &body->nodes[j];
        IrNode *dst = &g->nodes[slot];
        *dst = *src;
        dst->in = src->nin ? arena_alloc(ar, (size_t)src->nin * sizeof(int)) : NULL;
        if (!dst->in)
            dst->nin = 0; /* out of memory: the passes stop, the graph is dropped */
        for (int k = 0; k < src->nin; k++) {
            dst->in[k] = outer_of[src->in[k]];
            if (dst->in[k] < 0)
                ATTN_UNREACHABLE("a node copied out of a scan body reads a value of the step");
        }
        if (stacked && src->op != OP_CONST && src->op != OP_PARAM)
            dst->type = stacked_type(&src->type, &g->nodes[si + count].scan);
        outer_of[j] = slot++;
    }
    return si + count;
}

void ir_mark_live(const IrGraph *g, bool *live) {
    memset(live, 0, (size_t)g->n * sizeof *live);
    for (int k = 0; k < g->nout; k++)
        live[g->outputs[k]] = true;
    for (int i = g->n - 1; i >= 0; i--)
        for (int k = 0; live[i] && k < g->nodes[i].nin; k++)
            live[g->nodes[i].in[k]] = true;
}

/* Turns body node `node` of scan si into an INPUT at operand position pos,
 * fed by outer node `outer`; the inputs from pos on move up by one. */
static void add_input(Arena *ar, IrGraph *g, int si, int node, int outer, int pos) {
    IrNode *scan = &g->nodes[si];
    int nin = scan->nin + 1;
    int *in = arena_alloc(ar, (size_t)nin * sizeof(int));
    if (!in)
        return; /* out of memory: the scan stays as it was */
    memcpy(in, scan->in, (size_t)pos * sizeof(int));
    in[pos] = outer;
    memcpy(in + pos + 1, scan->in + pos, (size_t)(scan->nin - pos) * sizeof(int));
    scan->in = in;
    scan->nin = nin;

    IrGraph *body = scan->body;
    for (int j = 0; j < body->n; j++)
        if (body->nodes[j].op == OP_INPUT && body->nodes[j].index >= pos)
            body->nodes[j].index++;
    IrType type = body->nodes[node].type;
    SrcLoc loc = body->nodes[node].loc;
    body->nodes[node] = (IrNode){.op = OP_INPUT, .type = type, .loc = loc, .index = pos};
    body->ninputs++;
}

void ir_scan_capture(Arena *ar, IrGraph *g, int si, int node, int outer) {
    add_input(ar, g, si, node, outer, g->nodes[si].nin);
    g->nodes[si].scan.ncapture++;
}

void ir_scan_sequence(Arena *ar, IrGraph *g, int si, int node, int outer) {
    add_input(ar, g, si, node, outer, g->nodes[si].scan.nseq);
    g->nodes[si].scan.nseq++;
}

/*
 * cg_plan.c — live intervals of an entry's buffers and their slots (see
 * cg_plan.h).
 */
#include "cg_plan.h"
#include "op_cases.h"

#include <stdlib.h>

typedef struct Live {
    const CgPlanNodes *nodes;
    CgPlanBuf *bufs;
    int *mark;   /* per id: the last time its value was read (0: never) */
    int *time;   /* per SCAN id: its start ts */
    int t;       /* the latest time given out */
} Live;

static int node_id(const Live *L, const IrGraph *g, int i) { return L->nodes->id(L->nodes->ctx, g, i); }
static bool owns(const Live *L, const IrGraph *g, int i) { return L->nodes->owns(L->nodes->ctx, g, i); }

/* Keeps alive until time t every buffer that value i of g is held in. */
static void read_value(Live *L, const IrGraph *g, int i, int t) {
    if (i < 0)
        return;
    int id = node_id(L, g, i);
    if (L->mark[id] == t)
        return;
    L->mark[id] = t;
    const IrNode *n = &g->nodes[i];
    if (n->op == OP_RESULT) {
        const IrNode *scan = &g->nodes[n->in[0]];
        int out = (int)n->attrs.axis;
        if (out >= scan->scan.nyield) {
            /* a final carry stays in the body's carried buffer, or in the
               buffer of its new state when the two swap every step */
            read_value(L, scan->body, ir_body_input(scan->body, scan->scan.nseq + out - scan->scan.nyield), t);
            read_value(L, scan->body, scan->body->outputs[out], t);
            return;
        }
        for (int k = 0; k < i; k++) /* a per-step output is stacked into its first RESULT's buffer */
            if (g->nodes[k].op == OP_RESULT && g->nodes[k].in[0] == n->in[0] && g->nodes[k].attrs.axis == n->attrs.axis) {
                read_value(L, g, k, t);
                return;
            }
    }
    if (owns(L, g, i)) {
        if (L->bufs[id].start >= 0 && L->bufs[id].end < t)
            L->bufs[id].end = t;
        if (!L->nodes->member || !L->nodes->member(L->nodes->ctx, g, i))
            return;
        /* written by the kernel reading it now: its operands are read now too */
        for (int j = 0; j < n->nin; j++)
            read_value(L, g, n->in[j], t);
        return;
    }
    switch (n->op) {
    case OP_INPUT: /* a capture or an axis-0 sequence step: the outer value */
        if (g->parent)
            read_value(L, g->parent, ir_scan_of(g)->in[n->index], t);
        return;
    case OP_PARAM: case OP_CONST: case OP_SCAN:
        return;
    case OP_ARANGE: case OP_FULL:
    OP_CASES_ELEMENTWISE
    OP_CASES_REDUCE_NORM
    case OP_MATMUL: case OP_RESHAPE: case OP_PERMUTE: case OP_SLICE: case OP_CONCAT: case OP_EXPAND: case OP_GATHER: case OP_CHECK_LENGTHS:
    case OP_RESULT:
        /* held in its operand's buffer (reshape), or computed in its reader's kernel */
        for (int j = 0; j < n->nin; j++)
            read_value(L, g, n->in[j], t);
        return;
    case OP_COUNT: break;
    }
    ATTN_UNREACHABLE("op out of range");
}

/* Every buffer of body (and of the bodies in it) lives for [ts, te] at least. */
static void span(Live *L, const IrGraph *body, int ts, int te) {
    for (int i = 0; i < body->n; i++) {
        CgPlanBuf *b = &L->bufs[node_id(L, body, i)];
        if (b->start >= 0) {
            b->start = ts;
            b->end = b->end > te ? b->end : te;
        }
        if (body->nodes[i].op == OP_SCAN)
            span(L, body->nodes[i].body, ts, te);
    }
}

static void walk(Live *L, const IrGraph *g) {
    for (int i = 0; i < g->n; i++) {
        const IrNode *n = &g->nodes[i];
        int id = node_id(L, g, i), t = ++L->t;
        if (n->op == OP_SCAN) {
            const IrScan *sc = &n->scan;
            L->time[id] = t;
            for (int j = sc->nseq; j < sc->nseq + sc->ncarry; j++)
                read_value(L, g, n->in[j], t); /* copied into the body's carried buffers */
            walk(L, n->body);
            int te = ++L->t; /* the end of every step and of the loop */
            for (int o = 0; o < n->body->nout; o++)
                read_value(L, n->body, n->body->outputs[o], te);
            for (int j = 0; j < n->nin; j++)
                if (j < sc->nseq || j >= sc->nseq + sc->ncarry)
                    read_value(L, g, n->in[j], te);
            if (!g->parent)
                span(L, n->body, t, te);
            continue;
        }
        if (owns(L, g, i))
            L->bufs[id] = (CgPlanBuf){.start = t, .end = t, .key = L->bufs[id].key};
        if (n->op == OP_RESULT) {
            if (owns(L, g, i)) /* stacked into at the end of every step */
                L->bufs[id].start = L->time[node_id(L, g, n->in[0])];
            continue;
        }
        if (n->op != OP_INPUT && n->op != OP_PARAM && n->op != OP_CONST)
            for (int j = 0; j < n->nin; j++)
                read_value(L, g, n->in[j], t);
    }
}

int cg_plan_live(const IrGraph *g, const CgPlanNodes *nodes, CgPlanBuf *bufs) {
    Live L = {.nodes = nodes, .bufs = bufs};
    L.mark = calloc((size_t)nodes->count + 1, sizeof *L.mark);
    L.time = calloc((size_t)nodes->count + 1, sizeof *L.time);
    if (!L.mark || !L.time) {
        free(L.mark);
        free(L.time);
        return -1;
    }
    for (int id = 0; id < nodes->count; id++)
        bufs[id].start = bufs[id].end = -1;
    walk(&L, g);
    int end = ++L.t; /* the outputs are copied out */
    for (int o = 0; o < g->nout; o++)
        read_value(&L, g, g->outputs[o], end);
    free(L.mark);
    free(L.time);
    return 0;
}

/* ---- slots ---- */

/* Keys that have been in each slot, as lists in one array. */
typedef struct Held {
    int key, next;
} Held;

static bool slot_held(const Held *held, int first, int key) {
    for (int h = first; h >= 0; h = held[h].next)
        if (held[h].key == key)
            return true;
    return false;
}

int cg_plan_slots(const CgPlanBuf *bufs, int n, int *slot) {
    int maxstart = -1;
    for (int i = 0; i < n; i++)
        maxstart = bufs[i].start > maxstart ? bufs[i].start : maxstart;
    int *order = malloc(sizeof *order * ((size_t)n + 1));
    int *bucket = calloc((size_t)maxstart + 2, sizeof *bucket);
    int *last = malloc(sizeof *last * ((size_t)n + 1));    /* per slot: its latest buffer */
    int *first = malloc(sizeof *first * ((size_t)n + 1));  /* per slot: its list of held keys */
    Held *held = malloc(sizeof *held * ((size_t)n + 1));
    int nslots = -1;
    if (!order || !bucket || !last || !first || !held)
        goto done;
    /* buffers in order of start (then of index): a counting sort */
    for (int i = 0; i < n; i++)
        if (bufs[i].start >= 0)
            bucket[bufs[i].start + 1]++;
    for (int s = 0; s <= maxstart; s++)
        bucket[s + 1] += bucket[s];
    for (int i = 0; i < n; i++) {
        slot[i] = -1;
        if (bufs[i].start >= 0)
            order[bucket[bufs[i].start]++] = i;
    }
    int nbufs = maxstart < 0 ? 0 : bucket[maxstart], nheld = 0;
    nslots = 0;
    for (int k = 0; k < nbufs; k++) {
        const CgPlanBuf *b = &bufs[order[k]];
        int best = -1, best_score = -1;
        for (int s = 0; s < nslots; s++) {
            if (bufs[last[s]].end >= b->start)
                continue; /* still occupied */
            int score = bufs[last[s]].key == b->key ? 2 : slot_held(held, first[s], b->key) ? 1 : 0;
            if (score > best_score) {
                best = s;
                best_score = score;
            }
        }
        if (best < 0) {
            best = nslots++;
            first[best] = -1;
        }
        if (!slot_held(held, first[best], b->key)) {
            held[nheld] = (Held){.key = b->key, .next = first[best]};
            first[best] = nheld++;
        }
        last[best] = order[k];
        slot[order[k]] = best;
    }
done:
    free(order);
    free(bucket);
    free(last);
    free(first);
    free(held);
    return nslots;
}

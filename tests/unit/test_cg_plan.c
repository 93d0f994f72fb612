/*
 * test_cg_plan.c — unit tests of the workspace plan (compiler/codegen/cg_plan.h):
 * live intervals over straight-line graphs, scans (carries, captures,
 * sequences, stacked and final results, nested bodies) and aliases
 * (reshapes, values computed in their reader's kernel), and the slots made
 * from them.
 *
 * Graphs are built by hand with ir_add; node types are not needed, the tests
 * give size classes directly. Nodes are numbered like the code generator
 * does: graphs in pre-order, each graph's nodes contiguous. Which nodes own a
 * buffer follows the code generator's rule, and a test may mark nodes as
 * computed inside their reader's kernel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_plan.h"

#include <stdlib.h>
#include <string.h>

static const SrcLoc no_loc;

enum { MAX_GRAPHS = 8, MAX_NODES = 256 };

typedef struct Nodes {
    const IrGraph *graphs[MAX_GRAPHS];
    int base[MAX_GRAPHS];
    int ngraphs, total;
    bool fused[MAX_NODES];   /* computed inside its reader's kernel: no buffer */
    CgPlanBuf bufs[MAX_NODES];
    int slot[MAX_NODES];
} Nodes;

static int setup(void **state) {
    Arena *ar = calloc(1, sizeof *ar);
    *state = ar;
    return ar ? 0 : -1;
}

static int teardown(void **state) {
    arena_free(*state);
    free(*state);
    return 0;
}

static int node_id(const void *ctx, const IrGraph *g, int i) {
    const Nodes *N = ctx;
    for (int k = 0; k < N->ngraphs; k++)
        if (N->graphs[k] == g)
            return N->base[k] + i;
    fail_msg("node of an unknown graph");
    return -1;
}

static const IrNode *scan_of(const IrGraph *body) {
    for (int k = 0; k < body->parent->n; k++)
        if (body->parent->nodes[k].body == body)
            return &body->parent->nodes[k];
    return NULL;
}

/* The code generator's rule (cg_entry.c owns_buffer), plus fused nodes. */
static bool node_owns(const void *ctx, const IrGraph *g, int i) {
    const IrNode *n = &g->nodes[i];
    switch (n->op) {
    case OP_PARAM: case OP_CONST: case OP_RESHAPE: case OP_SCAN:
        return false;
    case OP_INPUT: {
        if (!g->parent)
            return false;
        const IrScan *sc = &scan_of(g)->scan;
        if (n->index < sc->nseq)
            return sc->axis != 0;
        return n->index < sc->nseq + sc->ncarry;
    }
    case OP_RESULT:
        return n->attrs.axis < g->nodes[n->in[0]].scan.nyield;
    default:
        return !((const Nodes *)ctx)->fused[node_id(ctx, g, i)];
    }
}

static void collect(Nodes *N, const IrGraph *g) {
    N->graphs[N->ngraphs] = g;
    N->base[N->ngraphs++] = N->total;
    N->total += g->n;
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == OP_SCAN)
            collect(N, g->nodes[i].body);
}

/* Plans g with one size class for all buffers; returns the number of slots
 * and checks that buffers sharing a slot have disjoint intervals. */
static int plan(Nodes *N, const IrGraph *g) {
    collect(N, g);
    CgPlanNodes nodes = {.ctx = N, .count = N->total, .id = node_id, .owns = node_owns};
    assert_int_equal(cg_plan_live(g, &nodes, N->bufs), 0);
    int nslots = cg_plan_slots(N->bufs, N->total, N->slot);
    for (int a = 0; a < N->total; a++) {
        assert_true((N->slot[a] >= 0) == (N->bufs[a].start >= 0));
        for (int b = a + 1; b < N->total; b++)
            if (N->slot[a] >= 0 && N->slot[a] == N->slot[b])
                assert_true(N->bufs[a].end < N->bufs[b].start || N->bufs[b].end < N->bufs[a].start);
    }
    return nslots;
}

static int add(Arena *ar, IrGraph *g, OpKind op, int nin, ...) {
    int in[8];
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        in[i] = va_arg(ap, int);
    va_end(ap);
    return ir_add(ar, g, op, in, nin, no_loc);
}

static int input(Arena *ar, IrGraph *g, int index) {
    int i = ir_add(ar, g, OP_INPUT, NULL, 0, no_loc);
    g->nodes[i].index = index;
    return i;
}

static int result(Arena *ar, IrGraph *g, int scan, int out) {
    int i = add(ar, g, OP_RESULT, 1, scan);
    g->nodes[i].attrs.axis = out;
    return i;
}

static void expect(const Nodes *N, int id, int start, int end) {
    assert_int_equal(N->bufs[id].start, start);
    assert_int_equal(N->bufs[id].end, end);
}

/* x -> a -> b -> c -> d: a kernel's output never shares with its input
 * (closed intervals), but with the value before it. */
static void chain(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    int x = input(ar, g, 0);
    int a = add(ar, g, OP_TANH, 1, x);
    int b = add(ar, g, OP_EXP, 1, a);
    int c = add(ar, g, OP_NEG, 1, b);
    int d = add(ar, g, OP_RELU, 1, c);
    ir_set_outputs(ar, g, &d, 1);
    Nodes N = {0};
    assert_int_equal(plan(&N, g), 2);
    expect(&N, x, -1, -1);
    expect(&N, a, 2, 3);
    expect(&N, b, 3, 4);
    expect(&N, c, 4, 5);
    expect(&N, d, 5, 6); /* read by the copy to the output at the end */
    assert_int_equal(N.slot[a], N.slot[c]);
    assert_int_equal(N.slot[b], N.slot[d]);
    assert_int_not_equal(N.slot[a], N.slot[b]);
}

/* Entry outputs live to the end: nothing after them takes their slot. */
static void outputs_live_to_the_end(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    int x = input(ar, g, 0);
    int a = add(ar, g, OP_TANH, 1, x);
    int b = add(ar, g, OP_EXP, 1, x);
    int c = add(ar, g, OP_NEG, 1, b);
    int d = add(ar, g, OP_RELU, 1, c);
    int outs[] = {a, d};
    ir_set_outputs(ar, g, outs, 2);
    Nodes N = {0};
    plan(&N, g);
    expect(&N, a, 2, 6);
    assert_int_not_equal(N.slot[a], N.slot[c]);
    assert_int_not_equal(N.slot[a], N.slot[d]);
    assert_int_equal(N.slot[b], N.slot[d]);
}

/* A reshape holds its operand's buffer: reading it keeps the operand alive. */
static void reshape_keeps_operand_alive(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    int x = input(ar, g, 0);
    int a = add(ar, g, OP_TANH, 1, x);
    int r = add(ar, g, OP_RESHAPE, 1, a);
    int r2 = add(ar, g, OP_RESHAPE, 1, r);
    int b = add(ar, g, OP_EXP, 1, x);
    int c = add(ar, g, OP_NEG, 1, b);
    int d = add(ar, g, OP_ADD, 2, c, r2);
    ir_set_outputs(ar, g, &d, 1);
    Nodes N = {0};
    plan(&N, g);
    expect(&N, r, -1, -1);
    expect(&N, a, 2, 7);
    assert_int_not_equal(N.slot[a], N.slot[b]);
    assert_int_not_equal(N.slot[a], N.slot[c]);
    assert_int_not_equal(N.slot[a], N.slot[d]);
}

/* A value computed inside its reader's kernel has no buffer; its operands
 * are read where it is read. */
static void fused_value_keeps_operands_alive(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    int x = input(ar, g, 0);
    int a = add(ar, g, OP_TANH, 1, x);
    int f = add(ar, g, OP_EXP, 1, a);
    int b = add(ar, g, OP_NEG, 1, x);
    int c = add(ar, g, OP_RELU, 1, b);
    int d = add(ar, g, OP_ADD, 2, f, c);
    ir_set_outputs(ar, g, &d, 1);
    Nodes N = {0};
    N.fused[f] = true;
    plan(&N, g);
    expect(&N, f, -1, -1);
    expect(&N, a, 2, 6);
    assert_int_not_equal(N.slot[a], N.slot[d]);
    assert_int_not_equal(N.slot[a], N.slot[c]);
}

/* Top level: x (sequence), h0, init = tanh(h0), cap = exp(x), a scan over x
 * along axis 1 with carry init and capture cap; its body adds the step to the
 * carry and multiplies by the capture, yielding the product as per-step
 * output and new carry; after it, the stacked output plus the final carry. */
static IrGraph *rnn(Arena *ar, int axis, int *ids) {
    IrGraph *g = ir_graph_new(ar, NULL);
    int x = input(ar, g, 0);
    int h0 = input(ar, g, 1);
    int init = add(ar, g, OP_TANH, 1, h0);
    int cap = add(ar, g, OP_EXP, 1, x);
    int scan = add(ar, g, OP_SCAN, 3, x, init, cap);
    IrGraph *body = ir_graph_new(ar, g);
    g->nodes[scan].body = body;
    g->nodes[scan].scan = (IrScan){.nseq = 1, .ncarry = 1, .ncapture = 1, .nyield = 1, .axis = axis};
    int step = input(ar, body, 0);
    int carry = input(ar, body, 1);
    int captured = input(ar, body, 2);
    int s = add(ar, body, OP_ADD, 2, step, carry);
    int t = add(ar, body, OP_MUL, 2, s, captured);
    int bouts[] = {t, t};
    ir_set_outputs(ar, body, bouts, 2);
    int ys = result(ar, g, scan, 0);
    int hn = result(ar, g, scan, 1);
    int out = add(ar, g, OP_ADD, 2, ys, hn);
    ir_set_outputs(ar, g, &out, 1);
    int base = g->n; /* body ids follow the top graph's */
    int all[] = {x, h0, init, cap, scan, ys, hn, out, base + step, base + carry, base + captured, base + s, base + t};
    memcpy(ids, all, sizeof all);
    return g;
}
enum { X, H0, INIT, CAP, SCAN, YS, HN, OUT, STEP, CARRY, CAPTURED, S, T };

static void scan_lifetimes(void **state) {
    Arena *ar = *state;
    int id[13];
    IrGraph *g = rnn(ar, 1, id);
    Nodes N = {0};
    plan(&N, g);
    /* times: x 1, h0 2, init 3, cap 4, scan 5..11 (body 6..10), ys 12, hn 13, out 14, end 15 */
    expect(&N, id[INIT], 3, 5);       /* copied into the carry when the scan starts */
    expect(&N, id[CAP], 4, 11);       /* captured: read until the scan ends */
    expect(&N, id[STEP], 5, 11);      /* body buffers: the whole scan */
    expect(&N, id[S], 5, 11);
    expect(&N, id[T], 5, 14);         /* the new carry: may swap with the carried buffer */
    expect(&N, id[CARRY], 5, 14);     /* also the final carry, read by out */
    expect(&N, id[YS], 5, 14);        /* stacked into from the scan's start */
    expect(&N, id[HN], -1, -1);
    expect(&N, id[CAPTURED], -1, -1);
    expect(&N, id[OUT], 14, 15);
    /* the carry is never in the slot of its initial value, or of what the
       body reads */
    assert_int_not_equal(N.slot[id[INIT]], N.slot[id[CARRY]]);
    for (int k = STEP; k <= T; k++)
        for (int j = k + 1; j <= T; j++)
            if (N.slot[id[k]] >= 0)
                assert_int_not_equal(N.slot[id[k]], N.slot[id[j]]);
    /* the output may reuse what died with the scan */
    assert_int_equal(N.slot[id[OUT]], N.slot[id[INIT]]);
}

/* Steps of axis 0 are ranges of the sequence: it stays alive to the end. */
static void axis0_sequence_alias(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    int x = input(ar, g, 0);
    int seq = add(ar, g, OP_TANH, 1, x);
    int scan = add(ar, g, OP_SCAN, 1, seq);
    IrGraph *body = ir_graph_new(ar, g);
    g->nodes[scan].body = body;
    g->nodes[scan].scan = (IrScan){.nseq = 1, .nyield = 1, .axis = 0};
    int step = input(ar, body, 0);
    int y = add(ar, body, OP_EXP, 1, step);
    ir_set_outputs(ar, body, &y, 1);
    int ys = result(ar, g, scan, 0);
    ir_set_outputs(ar, g, &ys, 1);
    Nodes N = {0};
    plan(&N, g);
    /* times: x 1, seq 2, scan 3..6 (body 4, 5), ys 7, end 8 */
    expect(&N, seq, 2, 6);
    expect(&N, g->n + step, -1, -1);
    expect(&N, g->n + y, 3, 6);
    expect(&N, ys, 3, 8);
    assert_int_not_equal(N.slot[seq], N.slot[ys]);
    assert_int_not_equal(N.slot[seq], N.slot[g->n + y]);
}

/* An inner scan's body buffers live for the whole outer scan; a value after
 * the outer scan may take their slot. */
static void nested_scan_lifetimes(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    int x = input(ar, g, 0);
    int h0 = add(ar, g, OP_TANH, 1, x);
    int outer = add(ar, g, OP_SCAN, 1, h0);
    IrGraph *ob = ir_graph_new(ar, g);
    g->nodes[outer].body = ob;
    g->nodes[outer].scan = (IrScan){.ncarry = 1};
    int oc = input(ar, ob, 0);
    int before = add(ar, ob, OP_EXP, 1, oc);
    int inner = add(ar, ob, OP_SCAN, 1, before);
    IrGraph *ib = ir_graph_new(ar, ob);
    ob->nodes[inner].body = ib;
    ob->nodes[inner].scan = (IrScan){.ncarry = 1};
    int ic = input(ar, ib, 0);
    int in_body = add(ar, ib, OP_NEG, 1, ic);
    ir_set_outputs(ar, ib, &in_body, 1);
    int ires = result(ar, ob, inner, 0);
    int after = add(ar, ob, OP_RELU, 1, ires);
    ir_set_outputs(ar, ob, &after, 1);
    int ores = result(ar, g, outer, 0);
    int y = add(ar, g, OP_SIGMOID, 1, ores);
    int z = add(ar, g, OP_ABS, 1, y);
    ir_set_outputs(ar, g, &z, 1);
    Nodes N = {0};
    plan(&N, g);
    int ob0 = g->n, ib0 = g->n + ob->n;
    /* times: x 1, h0 2, outer 3..12 (oc 4, before 5, inner 6..9 (ic 7,
       in_body 8), ires 10, after 11), ores 13, y 14, z 15, end 16 */
    expect(&N, ib0 + ic, 3, 12);
    expect(&N, ib0 + in_body, 3, 12);
    expect(&N, ob0 + before, 3, 12);
    expect(&N, ob0 + after, 3, 14); /* the new carry, which may swap with the carried buffer */
    expect(&N, ob0 + oc, 3, 14);    /* the final carry, read by y */
    expect(&N, y, 14, 15);
    /* inside the outer scan nothing shares */
    int inside[] = {ob0 + oc, ob0 + before, ob0 + after, ib0 + ic, ib0 + in_body};
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            assert_int_not_equal(N.slot[inside[i]], N.slot[inside[j]]);
    expect(&N, ob0 + ires, -1, -1);
    /* after it, z reuses a body buffer's slot */
    bool reused = false;
    for (int i = 0; i < 5; i++)
        reused |= N.slot[z] == N.slot[inside[i]];
    assert_true(reused);
    assert_int_not_equal(N.slot[h0], N.slot[ob0 + oc]);
}

/* Slots: a buffer prefers a free slot whose last occupant had its size
 * class, then one that held it before, then any free one. */
static void slot_preferences(void **state) {
    (void)state;
    CgPlanBuf bufs[] = {
        {.start = 1, .end = 2, .key = 7},   /* slot 0 */
        {.start = 1, .end = 3, .key = 8},   /* slot 1 */
        {.start = 4, .end = 5, .key = 8},   /* slot 1: same class as its last */
        {.start = 4, .end = 5, .key = 9},   /* slot 0: the only free one */
        {.start = 6, .end = 7, .key = 7},   /* slot 0: held class 7 before */
        {.start = -1, .end = -1, .key = 7}, /* no buffer */
        {.start = 6, .end = 9, .key = 5},   /* slot 1 */
        {.start = 7, .end = 8, .key = 5},   /* still occupied: a new slot */
    };
    int slot[8];
    assert_int_equal(cg_plan_slots(bufs, 8, slot), 3);
    int want[] = {0, 1, 1, 0, 0, -1, 1, 2};
    for (int i = 0; i < 8; i++)
        assert_int_equal(slot[i], want[i]);
    assert_int_equal(cg_plan_slots(bufs + 5, 1, slot), 0);
    assert_int_equal(slot[0], -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(chain, setup, teardown),
        cmocka_unit_test_setup_teardown(outputs_live_to_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(reshape_keeps_operand_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(fused_value_keeps_operands_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(scan_lifetimes, setup, teardown),
        cmocka_unit_test_setup_teardown(axis0_sequence_alias, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_scan_lifetimes, setup, teardown),
        cmocka_unit_test(slot_preferences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_scan_passes.c — unit tests of the scan passes: loop-invariant hoisting
 * (pass_scan_invariant.c), input-projection hoisting (pass_scan_hoist.c), the
 * pruning of scan inputs (pass_scan_prune.c), and the merging of products
 * that share their left operand (pass_merge_matmuls.c), which works with them.
 *
 * Two kinds of tests. Hand-built graphs run one pass at a time: the test
 * checks which nodes moved and how the scan's operands and body inputs were
 * renumbered, and runs the interpreter on the same random inputs before and
 * after. Models from .attn source go through the whole pipeline: each has an
 * entry the passes transform and a reference entry computing the same values
 * per step (the outer value a pass would hoist is passed along as a carried
 * state, which nothing may hoist), and the two must agree to 1e-6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "interp.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const SrcLoc no_loc;

#define IN(...) ((const int[]){__VA_ARGS__})
#define DIMS(...) ((const Dim *[]){__VA_ARGS__})
#define MAX_IO 8

/* ---- values ---- */

static uint32_t rng_state = 12345u;

static float next_uniform(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* A tensor of type t under the symbol values syms[], random contents; arena memory. */
static attn_tensor random_tensor(Arena *ar, const IrType *t, const int64_t *syms, int nsyms) {
    attn_tensor v = {.dtype = t->dtype, .rank = t->rank};
    for (int d = 0; d < t->rank; d++)
        assert_true(dim_eval(t->dims[d], syms, nsyms, &v.shape[d]));
    int64_t n = attn_tensor_numel(&v);
    v.data = arena_alloc(ar, (size_t)(n ? n : 1) * attn_dtype_size(t->dtype));
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == ATTN_F32)
            ((float *)v.data)[i] = next_uniform();
        else if (t->dtype == ATTN_BOOL)
            ((bool *)v.data)[i] = next_uniform() > 0.3f;
        else
            fail_msg("no random values of this dtype");
    }
    return v;
}

/* Random values for every top-level input of e, named as the entry names them. */
static int random_inputs(Arena *ar, const IrEntry *e, const int64_t *syms, attn_tensor *in) {
    int n = 0;
    for (int i = 0; i < e->graph->n; i++) {
        const IrNode *node = &e->graph->nodes[i];
        if (node->op != OP_INPUT)
            continue;
        in[n] = random_tensor(ar, &node->type, syms, e->nsyms);
        in[n++].name = node->name;
    }
    return n;
}

/* Runs e on the interpreter; its outputs must be freed with attn_tensors_free. */
static attn_tensor *run(const IrEntry *e, const attn_tensor *in, int nin, int *nout) {
    attn_tensor *out = NULL;
    char *error = NULL;
    int rc = interp_run(e, in, nin, &out, nout, &error);
    if (rc != 0)
        fail_msg("%s", error ? error : "interp_run failed");
    return out;
}

static void assert_close(const attn_tensor *a, const attn_tensor *b, int n) {
    for (int k = 0; k < n; k++) {
        assert_int_equal(a[k].rank, b[k].rank);
        for (int d = 0; d < a[k].rank; d++)
            assert_int_equal(a[k].shape[d], b[k].shape[d]);
        const float *x = a[k].data, *y = b[k].data;
        for (int64_t i = 0; i < attn_tensor_numel(&a[k]); i++)
            if (!(fabsf(x[i] - y[i]) <= 1e-6f * (1.0f + fabsf(y[i]))))
                fail_msg("output %d element %lld: %.9g != %.9g", k, (long long)i, (double)x[i], (double)y[i]);
    }
}

/* ---- graph queries ---- */

static int count_op(const IrGraph *g, OpKind op) {
    int n = 0;
    for (int i = 0; i < g->n; i++)
        n += g->nodes[i].op == op;
    return n;
}

static int find_op(const IrGraph *g, OpKind op) {
    for (int i = 0; i < g->n; i++)
        if (g->nodes[i].op == op)
            return i;
    return -1;
}

static const IrNode *the_scan(const IrGraph *g) {
    int i = find_op(g, OP_SCAN);
    assert_true(i >= 0);
    return &g->nodes[i];
}

/* Matmuls of body `body` of scan `scan` whose left operand is a sequence slice. */
static int matmuls_of_slices(const IrNode *scan) {
    const IrGraph *body = scan->body;
    int n = 0;
    for (int i = 0; i < body->n; i++) {
        const IrNode *a = body->nodes[i].op == OP_MATMUL ? &body->nodes[body->nodes[i].in[0]] : NULL;
        n += a && a->op == OP_INPUT && a->index < scan->scan.nseq;
    }
    return n;
}

/* The invariants the passes must keep (docs/IR.md), as ir_verify checks them. */
static void assert_verified(const IrEntry *e) {
    Diag d = {0};
    if (!ir_verify(e, "the pass under test", &d))
        fail_msg("%s", diag_text(&d));
    diag_free(&d);
}

/* The whole pipeline over e, checked by ir_verify after every pass. */
static void run_verified_pipeline(Arena *ar, IrEntry *e) {
    Diag d = {0};
    if (!pass_run_all(ar, e, &(PassOptions){.verify = true}, &d))
        fail_msg("%s", diag_text(&d));
    diag_free(&d);
}

/* ---- hand-built graphs ---- */

typedef struct Built {
    IrEntry e;
    const Dim *B, *T;
} Built;

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

static IrType f32_type(int rank, const Dim *const *dims) {
    IrType t = {.dtype = ATTN_F32, .rank = rank};
    for (int d = 0; d < rank; d++)
        t.dims[d] = dims[d];
    return t;
}

static int node(Arena *ar, IrGraph *g, OpKind op, const int *in, int nin, IrType t) {
    int i = ir_add(ar, g, op, in, nin, no_loc);
    g->nodes[i].type = t;
    return i;
}

static int input(Arena *ar, IrGraph *g, const char *name, IrType t) {
    int i = node(ar, g, OP_INPUT, NULL, 0, t);
    g->nodes[i].name = name;
    g->nodes[i].index = g->ninputs++;
    return i;
}

static int const_f32(Arena *ar, IrGraph *g, float v) {
    int i = node(ar, g, OP_CONST, NULL, 0, f32_type(0, NULL));
    attn_tensor *t = arena_alloc(ar, sizeof *t);
    *t = (attn_tensor){.dtype = ATTN_F32, .data = arena_alloc(ar, sizeof(float))};
    *(float *)t->data = v;
    g->nodes[i].value = t;
    return i;
}

static Built begin(Arena *ar) {
    static const char *syms[] = {"B", "T"};
    Built b = {.e = {.name = "f", .graph = ir_graph_new(ar, NULL), .nsyms = 2, .sym_names = syms}};
    b.B = dim_sym(ar, 0, "B");
    b.T = dim_sym(ar, 1, "T");
    return b;
}

/* Adds a scan over body with operands in[] and its RESULTs; sets them as g's outputs. */
static void finish_scan(Arena *ar, Built *b, IrGraph *body, const int *in, IrScan sc, const IrType *result_types) {
    IrGraph *g = b->e.graph;
    int s = ir_add(ar, g, OP_SCAN, in, sc.nseq + sc.ncarry + sc.ncapture, no_loc);
    g->nodes[s].body = body;
    g->nodes[s].scan = sc;
    int outs[MAX_IO];
    static const char *names[MAX_IO] = {"o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7"};
    for (int k = 0; k < body->nout; k++) {
        outs[k] = node(ar, g, OP_RESULT, &s, 1, result_types[k]);
        g->nodes[outs[k]].attrs.axis = k;
    }
    ir_set_outputs(ar, g, outs, body->nout);
    g->output_names = names;
}

/* Interpreter outputs of b on fixed random inputs (B = 2, T = 5). */
static attn_tensor *run_built(Arena *ar, const Built *b, int *nout) {
    static const int64_t syms[] = {2, 5};
    attn_tensor in[MAX_IO];
    rng_state = 777u;
    int nin = random_inputs(ar, &b->e, syms, in);
    return run(&b->e, in, nin, nout);
}

/* An Elman cell written step by step: h = tanh(x_t @ w_ih.T + b_ih + h @ w_hh.T). */
static Built elman(Arena *ar) {
    Built b = begin(ar);
    IrGraph *g = b.e.graph;
    const Dim *four = dim_const(ar, 4), *three = dim_const(ar, 3);
    int x = input(ar, g, "x", f32_type(3, DIMS(b.B, b.T, four)));
    int h0 = input(ar, g, "h0", f32_type(2, DIMS(b.B, three)));
    int w_ih = input(ar, g, "w_ih", f32_type(2, DIMS(three, four)));
    int b_ih = input(ar, g, "b_ih", f32_type(1, DIMS(three)));
    int w_hh = input(ar, g, "w_hh", f32_type(2, DIMS(three, three)));
    IrGraph *body = ir_graph_new(ar, g);
    IrType step = f32_type(2, DIMS(b.B, three));
    int x_t = input(ar, body, NULL, f32_type(2, DIMS(b.B, four)));
    int h = input(ar, body, NULL, step);
    int wi = input(ar, body, NULL, g->nodes[w_ih].type);
    int bi = input(ar, body, NULL, g->nodes[b_ih].type);
    int wh = input(ar, body, NULL, g->nodes[w_hh].type);
    int m = node(ar, body, OP_MATMUL, IN(x_t, wi), 2, step);
    body->nodes[m].attrs.trans_b = true;
    int gx = node(ar, body, OP_ADD, IN(m, bi), 2, step);
    int r = node(ar, body, OP_MATMUL, IN(h, wh), 2, step);
    body->nodes[r].attrs.trans_b = true;
    int y = node(ar, body, OP_TANH, IN(node(ar, body, OP_ADD, IN(gx, r), 2, step)), 1, step);
    ir_set_outputs(ar, body, IN(y, y), 2);
    IrType types[] = {f32_type(3, DIMS(b.B, b.T, three)), step};
    finish_scan(ar, &b, body, IN(x, h0, w_ih, b_ih, w_hh), (IrScan){1, 1, 3, 1, 1, false, b.T}, types);
    return b;
}

static void hoist_moves_the_input_projection(void **state) {
    Arena *ar = *state;
    Built b = elman(ar);
    IrGraph *g = b.e.graph;
    int nbefore;
    attn_tensor *before = run_built(ar, &b, &nbefore);

    assert_int_equal(pass_scan_hoist(ar, g), 2); /* the matmul and the bias add */
    assert_verified(&b.e);
    /* outside: matmul(x, w_ih) trans_b : [B, T, 3], then + b_ih, then the scan */
    assert_int_equal(g->nodes[5].op, OP_MATMUL);
    assert_int_equal(g->nodes[5].in[0], 0);
    assert_int_equal(g->nodes[5].in[1], 2);
    assert_true(g->nodes[5].attrs.trans_b);
    assert_int_equal(g->nodes[5].type.rank, 3);
    assert_true(dim_equal(g->nodes[5].type.dims[1], b.T));
    assert_int_equal(g->nodes[6].op, OP_ADD);
    assert_int_equal(g->nodes[6].in[1], 3);
    const IrNode *scan = &g->nodes[7];
    assert_int_equal(scan->op, OP_SCAN);
    assert_int_equal(scan->scan.nseq, 2);
    assert_int_equal(scan->in[1], 6);
    assert_int_equal(g->nodes[8].in[0], 7); /* RESULTs follow their scan */
    /* inside: the add became the new sequence input; the carry moved to position 2 */
    const IrGraph *body = scan->body;
    assert_int_equal(body->nodes[6].op, OP_INPUT);
    assert_int_equal(body->nodes[6].index, 1);
    assert_int_equal(body->nodes[1].index, 2);
    assert_int_equal(body->nodes[4].index, 5);
    int nafter;
    attn_tensor *after = run_built(ar, &b, &nafter);
    assert_int_equal(nafter, nbefore);
    assert_close(after, before, nbefore);
    attn_tensors_free(after, nafter);
    assert_int_equal(pass_scan_hoist(ar, g), 0); /* a fixed point */

    /* the whole pipeline leaves only what the step needs: gx, h, w_hh */
    run_verified_pipeline(ar, &b.e);
    assert_verified(&b.e);
    scan = the_scan(g);
    assert_int_equal(scan->scan.nseq, 1);
    assert_int_equal(scan->scan.ncapture, 1);
    assert_int_equal(g->nodes[scan->in[0]].op, OP_ADD);
    assert_int_equal(count_op(scan->body, OP_MATMUL), 1);
    assert_int_equal(matmuls_of_slices(scan), 0);
    after = run_built(ar, &b, &nafter);
    assert_close(after, before, nbefore);
    attn_tensors_free(after, nafter);
    attn_tensors_free(before, nbefore);
}

/* Body: u = tanh(k * 2) + x_t + h + slice(k): k is a capture. */
static Built invariant_body(Arena *ar) {
    Built b = begin(ar);
    IrGraph *g = b.e.graph;
    const Dim *three = dim_const(ar, 3);
    IrType step = f32_type(2, DIMS(b.B, three));
    int x = input(ar, g, "x", f32_type(3, DIMS(b.B, b.T, three)));
    int h0 = input(ar, g, "h0", step);
    int k = input(ar, g, "k", step);
    IrGraph *body = ir_graph_new(ar, g);
    int x_t = input(ar, body, NULL, step), h = input(ar, body, NULL, step), kin = input(ar, body, NULL, step);
    int two = const_f32(ar, body, 2.0f);
    int t = node(ar, body, OP_TANH, IN(node(ar, body, OP_MUL, IN(kin, two), 2, step)), 1, step);
    int sl = node(ar, body, OP_SLICE, IN(kin), 1, step); /* may fail at run time: stays */
    body->nodes[sl].attrs = (OpAttrs){.axis = 1, .step = 1};
    body->nodes[sl].start = dim_const(ar, 0);
    int s = node(ar, body, OP_ADD, IN(t, x_t), 2, step);
    int u = node(ar, body, OP_ADD, IN(node(ar, body, OP_ADD, IN(s, h), 2, step), sl), 2, step);
    ir_set_outputs(ar, body, IN(u, u), 2);
    IrType types[] = {f32_type(3, DIMS(b.B, b.T, three)), step};
    finish_scan(ar, &b, body, IN(x, h0, k), (IrScan){1, 1, 1, 1, 1, false, b.T}, types);
    return b;
}

static void invariant_work_moves_before_the_scan(void **state) {
    Arena *ar = *state;
    Built b = invariant_body(ar);
    IrGraph *g = b.e.graph;
    int nbefore;
    attn_tensor *before = run_built(ar, &b, &nbefore);

    assert_int_equal(pass_scan_invariant(ar, g), 2); /* the mul and the tanh */
    assert_verified(&b.e);
    /* outside: a copy of the const, mul, tanh; the tanh is the new capture */
    assert_int_equal(g->nodes[3].op, OP_CONST);
    assert_int_equal(g->nodes[4].op, OP_MUL);
    assert_int_equal(g->nodes[4].in[0], 2);
    assert_int_equal(g->nodes[5].op, OP_TANH);
    const IrNode *scan = &g->nodes[6];
    assert_int_equal(scan->scan.ncapture, 2);
    assert_int_equal(scan->in[3], 5);
    const IrGraph *body = scan->body;
    assert_int_equal(body->nodes[5].op, OP_INPUT);
    assert_int_equal(body->nodes[5].index, 3);
    assert_int_equal(count_op(body, OP_SLICE), 1);
    int nafter;
    attn_tensor *after = run_built(ar, &b, &nafter);
    assert_close(after, before, nbefore);
    attn_tensors_free(after, nafter);
    assert_int_equal(pass_scan_invariant(ar, g), 0);

    run_verified_pipeline(ar, &b.e);
    assert_verified(&b.e);
    scan = the_scan(g);
    assert_int_equal(count_op(scan->body, OP_TANH), 0);
    assert_int_equal(count_op(scan->body, OP_MUL), 0);
    assert_int_equal(scan->scan.ncapture, 2); /* k, still read by the slice, and tanh(k * 2) */
    after = run_built(ar, &b, &nafter);
    assert_close(after, before, nbefore);
    attn_tensors_free(after, nafter);
    attn_tensors_free(before, nbefore);
}

static void prune_merges_captures_of_one_value(void **state) {
    Arena *ar = *state;
    Built b = begin(ar);
    IrGraph *g = b.e.graph;
    IrType step = f32_type(1, DIMS(b.B));
    int x = input(ar, g, "x", f32_type(2, DIMS(b.B, b.T)));
    int k = input(ar, g, "k", step);
    IrGraph *body = ir_graph_new(ar, g);
    int x_t = input(ar, body, NULL, step), k1 = input(ar, body, NULL, step), k2 = input(ar, body, NULL, step);
    input(ar, body, NULL, step); /* never read */
    int y = node(ar, body, OP_ADD, IN(node(ar, body, OP_MUL, IN(x_t, k2), 2, step), k1), 2, step);
    ir_set_outputs(ar, body, IN(y), 1);
    IrType types[] = {f32_type(2, DIMS(b.B, b.T))};
    finish_scan(ar, &b, body, IN(x, k, k, x), (IrScan){1, 0, 3, 1, 1, false, b.T}, types);
    int nbefore;
    attn_tensor *before = run_built(ar, &b, &nbefore);

    assert_int_equal(pass_scan_prune(ar, g), 3); /* k2 merged into k1, then dropped; the unread capture of x dropped */
    assert_verified(&b.e);
    const IrNode *scan = the_scan(g);
    assert_int_equal(scan->scan.ncapture, 1);
    assert_int_equal(scan->in[1], k);
    assert_int_equal(scan->body->n, 4);
    assert_int_equal(scan->body->nodes[2].in[1], 1);
    int nafter;
    attn_tensor *after = run_built(ar, &b, &nafter);
    assert_close(after, before, nbefore);
    attn_tensors_free(after, nafter);
    attn_tensors_free(before, nbefore);
    assert_int_equal(pass_scan_prune(ar, g), 0);
}

/* ---- models from source, through the whole pipeline ---- */

typedef struct Loaded {
    Model m;
    Arena values; /* inputs and bound weights */
    int64_t syms[8];
} Loaded;

/* Loads src, failing the test on errors; sym_values are the per-call dims of
 * its entries in the order the entries' inputs first name them. */
static Loaded *load(const char *src, const int64_t *sym_values, int nsyms) {
    Loaded *l = calloc(1, sizeof *l);
    assert_non_null(l);
    if (model_load(&l->m, "t.attn", src) != 0) {
        fail_msg("%s", diag_text(&l->m.diag));
    }
    for (int i = 0; i < 8; i++)
        l->syms[i] = i < nsyms ? sym_values[i] : -1;
    return l;
}

static void unload(Loaded *l) {
    model_free(&l->m);
    arena_free(&l->values);
    free(l);
}

/* Binds every unbound param of g (and its bodies) to random weights, the same
 * for the same key in every entry. */
static void bind_params(Loaded *l, IrGraph *g) {
    for (int i = 0; i < g->n; i++) {
        IrNode *n = &g->nodes[i];
        if (n->op == OP_SCAN)
            bind_params(l, n->body);
        if (n->op != OP_PARAM || n->value)
            continue;
        rng_state = 99u;
        for (const char *c = n->name; *c; c++)
            rng_state = rng_state * 31u + (uint32_t)*c;
        attn_tensor *t = arena_alloc(&l->values, sizeof *t);
        *t = random_tensor(&l->values, &n->type, NULL, 0);
        n->value = t;
    }
}

/* The entry's graph, verified, with its params bound. */
static const IrEntry *entry(Loaded *l, const char *name) {
    const IrEntry *e = model_entry(&l->m, name);
    assert_non_null(e);
    assert_verified(e);
    bind_params(l, e->graph);
    return e;
}

/* Runs two entries with the same inputs (matched by position) and checks they agree. */
static void assert_same_values(Loaded *l, const IrEntry *a, const IrEntry *b) {
    attn_tensor in[MAX_IO];
    rng_state = 4242u;
    int nin = random_inputs(&l->values, a, l->syms, in);
    attn_tensor in_b[MAX_IO];
    memcpy(in_b, in, sizeof in);
    int k = 0;
    for (int i = 0; i < b->graph->n; i++)
        if (b->graph->nodes[i].op == OP_INPUT)
            in_b[k++].name = b->graph->nodes[i].name;
    assert_int_equal(k, nin);
    int na, nb;
    attn_tensor *oa = run(a, in, nin, &na), *ob = run(b, in_b, nin, &nb);
    assert_int_equal(na, nb);
    assert_close(oa, ob, na);
    attn_tensors_free(oa, na);
    attn_tensors_free(ob, nb);
}

static void naive_gru_gets_the_hand_written_shape(void **state) {
    (void)state;
    Loaded *l = load("import \"std/rnn.attn\"\n"
                     "hyper n_in: int = 4\nhyper n_hid: int = 6\n"
                     "entry naive(x: f32[B, T, n_in], h0: f32[B, n_hid]) -> (ys, h_n) {\n"
                     "  w_ih, w_hh, b_ih, b_hh = rnn_weights(3, n_in, n_hid, \"\")\n"
                     "  ys, h_n = scan(x_t in x, h = h0, axis = 1) {\n"
                     "    gx = x_t @ w_ih.T + b_ih\n"
                     "    ri, zi, ni = split(gx, 3)\n"
                     "    rh, zh, nh = split(h @ w_hh.T + b_hh, 3)\n"
                     "    r = sigmoid(ri + rh)\n    z = sigmoid(zi + zh)\n    n = tanh(ni + r * nh)\n"
                     "    h = (1 - z) * n + z * h\n    yield h\n  }\n  return ys, h_n\n}\n"
                     "entry by_hand(x: f32[B, T, n_in], h0: f32[B, n_hid]) -> (ys, h_n) {\n"
                     "  return gru_layer(x, h0, \"\", false)\n}\n",
                     (const int64_t[]){3, 7}, 2);
    const IrEntry *naive = entry(l, "naive"), *by_hand = entry(l, "by_hand");
    const IrGraph *g = naive->graph, *h = by_hand->graph;
    const IrNode *scan = the_scan(g);
    /* one big matmul and its bias before the scan, as std/rnn.attn writes it */
    assert_int_equal(count_op(g, OP_MATMUL), 1);
    assert_int_equal(g->nodes[find_op(g, OP_MATMUL)].type.rank, 3);
    assert_int_equal(matmuls_of_slices(scan), 0);
    assert_int_equal(count_op(scan->body, OP_MATMUL), 1);
    assert_int_equal(scan->scan.nseq, 1);
    assert_int_equal(scan->scan.ncapture, 2); /* w_hh, b_hh */
    assert_int_equal(g->nodes[scan->in[0]].op, OP_ADD);
    /* the same graph shape as the hand-written form */
    assert_int_equal(g->n, h->n);
    for (int i = 0; i < g->n; i++)
        assert_int_equal(g->nodes[i].op, h->nodes[i].op);
    const IrNode *hscan = the_scan(h);
    assert_int_equal(scan->body->n, hscan->body->n);
    assert_int_equal(scan->nin, hscan->nin);
    for (OpKind op = 0; op < OP_COUNT; op++)
        assert_int_equal(count_op(scan->body, op), count_op(hscan->body, op));
    assert_same_values(l, naive, by_hand);
    unload(l);
}

/* A GRU step written with one weight and bias per gate and side. */
#define PER_GATE_PARAMS                                                                                      \
    "  param w_xr: f32[H, I] = \"x_r.weight\"\n  param w_xz: f32[H, I] = \"x_z.weight\"\n"                   \
    "  param w_xn: f32[H, I] = \"x_n.weight\"\n  param w_hr: f32[H, H] = \"h_r.weight\"\n"                   \
    "  param w_hz: f32[H, H] = \"h_z.weight\"\n  param w_hn: f32[H, H] = \"h_n.weight\"\n"                   \
    "  param b_r: f32[H] = \"b_r\"\n  param b_z: f32[H] = \"b_z\"\n  param b_n: f32[H] = \"b_n\"\n"
#define PER_GATE_STEP(WR, WZ, WN)                                                                            \
    "    r = sigmoid(x_t @ w_xr.T + (h @ " WR ".T + b_r))\n"                                                  \
    "    z = sigmoid(x_t @ w_xz.T + (h @ " WZ ".T + b_z))\n"                                                  \
    "    n = tanh(x_t @ w_xn.T + r * (h @ " WN ".T + b_n))\n"                                                 \
    "    h = (1.0 - z) * n + z * h\n    yield h\n"

static void per_gate_gru_runs_one_product_per_step(void **state) {
    (void)state;
    Loaded *l = load("hyper H: int = 5\nhyper I: int = 3\n"
                     "entry fast(x: f32[B, T, I], h0: f32[B, H]) -> (ys, h_n) {\n" PER_GATE_PARAMS
                     "  ys, h_n = scan(x_t in x, h = h0, axis = 1) {\n" PER_GATE_STEP("w_hr", "w_hz", "w_hn")
                     "  }\n  return ys, h_n\n}\n"
                     "entry slow(x: f32[B, T, I], h0: f32[B, H]) -> (ys, h_n) {\n" PER_GATE_PARAMS
                     "  ys, h_n, a, b, c = scan(x_t in x, h = h0, vr = w_hr, vz = w_hz, vn = w_hn, axis = 1) {\n"
                     PER_GATE_STEP("vr", "vz", "vn") "    vr = vr\n    vz = vz\n    vn = vn\n  }\n  return ys, h_n\n}\n",
                     (const int64_t[]){2, 4}, 2); /* B, T */
    const IrEntry *fast = entry(l, "fast"), *slow = entry(l, "slow");
    const IrGraph *g = fast->graph;
    const IrNode *scan = the_scan(g);
    /* the three input products: one product over all steps, of the concatenated weights */
    assert_int_equal(count_op(g, OP_MATMUL), 1);
    const IrNode *mm = &g->nodes[find_op(g, OP_MATMUL)];
    assert_int_equal(mm->type.rank, 3);
    assert_int_equal(g->nodes[mm->in[1]].op, OP_CONCAT);
    assert_int_equal(g->nodes[mm->in[1]].nin, 3);
    /* the three state products: one per step, its biases added to it once */
    assert_int_equal(count_op(scan->body, OP_MATMUL), 1);
    int bm = find_op(scan->body, OP_MATMUL);
    int64_t cols;
    assert_true(dim_is_const(scan->body->nodes[bm].type.dims[1], &cols));
    assert_int_equal(cols, 15);
    assert_int_equal(count_op(g, OP_CONCAT), 3); /* input weights, state weights, biases */
    /* carried weights are not weights of the loop: the state products stay three */
    assert_int_equal(count_op(the_scan(slow->graph)->body, OP_MATMUL), 3);
    assert_same_values(l, fast, slow);
    unload(l);
}

static void adjacent_weight_slices_merge_into_one_slice(void **state) {
    (void)state;
    Loaded *l = load("hyper E: int = 8\n"
                     "entry f(x: f32[B, L, E]) -> (q, k, v) {\n"
                     "  param w: f32[E + E + E, E] = \"in_proj_weight\"\n  param b: f32[E + E + E] = \"in_proj_bias\"\n"
                     "  return x @ w[0:E].T + b[0:E], x @ w[E:E + E].T + b[E:E + E], x @ w[E + E:].T + b[E + E:]\n}\n",
                     (const int64_t[]){2, 3}, 2);
    const IrEntry *e = entry(l, "f");
    const IrGraph *g = e->graph;
    assert_int_equal(count_op(g, OP_MATMUL), 1);
    assert_int_equal(count_op(g, OP_CONCAT), 0);
    const IrNode *mm = &g->nodes[find_op(g, OP_MATMUL)];
    const IrNode *w = &g->nodes[mm->in[1]];
    int64_t rows;
    assert_true(w->op == OP_PARAM || (w->op == OP_SLICE && dim_is_const(w->type.dims[0], &rows) && rows == 24));
    for (int k = 0; k < g->nout; k++)
        assert_int_equal(g->nodes[g->outputs[k]].op, OP_SLICE);
    unload(l);
}

/* A decoder loop reading encoder outputs `keys` with additive attention; the
 * reference carries the keys through the loop unchanged. */
#define DECODE_BODY(KEYS)                                                                                    \
    "    pq = state @ w_q.T\n"                                                                               \
    "    pk = " KEYS " @ w_k.T\n"                                                                            \
    "    e = squeeze(tanh(unsqueeze(pq, 1) + pk) @ v.T, -1)\n"                                               \
    "    w = softmax(where(mask, -1e9, e), axis = -1)\n"                                                     \
    "    ctx = squeeze(unsqueeze(w, 1) @ " KEYS ", 1)\n"                                                     \
    "    state = tanh(concat(y_t, ctx, axis = -1) @ w_s.T)\n"                                                \
    "    yield state, w\n"

#define DECODE_PARAMS                                                                                        \
    "  param w_q: f32[A, H] = \"W_q\"\n  param w_k: f32[A, H] = \"W_k\"\n  param v: f32[1, A] = \"v\"\n"  \
    "  param w_s: f32[H, H + H] = \"W_s\"\n"

static void decode_loop_projects_the_keys_once(void **state) {
    (void)state;
    Loaded *l = load("hyper H: int = 5\nhyper A: int = 4\n"
                     "entry fast(y: f32[T, B, H], keys: f32[B, S, H], mask: bool[B, S], s0: f32[B, H]) -> (out, att) {\n"
                     DECODE_PARAMS
                     "  out, att, last = scan(y_t in y, state = s0, axis = 0) {\n" DECODE_BODY("keys") "  }\n"
                     "  return out, att\n}\n"
                     "entry slow(y: f32[T, B, H], keys: f32[B, S, H], mask: bool[B, S], s0: f32[B, H]) -> (out, att) {\n"
                     DECODE_PARAMS
                     "  out, att, last, kept = scan(y_t in y, state = s0, k = keys, axis = 0) {\n"
                     DECODE_BODY("k") "    k = k\n  }\n  return out, att\n}\n",
                     (const int64_t[]){4, 2, 6}, 3); /* T, B, S */
    const IrEntry *fast = entry(l, "fast"), *slow = entry(l, "slow");
    const IrNode *scan = the_scan(fast->graph), *ref = the_scan(slow->graph);
    /* W_k · keys is computed once, before the loop, from the entry's input */
    int mm = find_op(fast->graph, OP_MATMUL);
    assert_true(mm >= 0);
    assert_int_equal(fast->graph->nodes[fast->graph->nodes[mm].in[0]].op, OP_INPUT);
    assert_string_equal(fast->graph->nodes[fast->graph->nodes[mm].in[0]].name, "keys");
    assert_true(mm < find_op(fast->graph, OP_SCAN));
    assert_int_equal(count_op(scan->body, OP_MATMUL), count_op(ref->body, OP_MATMUL) - 1);
    assert_int_equal(count_op(slow->graph, OP_MATMUL), 0);
    assert_same_values(l, fast, slow);
    unload(l);
}

static void nested_scans_hoist_through_both_bodies(void **state) {
    (void)state;
    Loaded *l = load("entry fast(x: f32[B, T, 4], k: f32[B, 4], h0: f32[B, 4]) -> (h) {\n"
                     "  hs, h = scan(x_t in x, h = h0, axis = 1) {\n"
                     "    gs, g = scan(y_t in x, g = h, axis = 1) {\n"
                     "      g = tanh(g * y_t + exp(k))\n      yield g\n    }\n"
                     "    h = g + x_t\n    yield h\n  }\n  return h\n}\n"
                     "entry slow(x: f32[B, T, 4], k: f32[B, 4], h0: f32[B, 4]) -> (h) {\n"
                     "  hs, h, kk = scan(x_t in x, h = h0, kk = k, axis = 1) {\n"
                     "    gs, g, kj = scan(y_t in x, g = h, kj = kk, axis = 1) {\n"
                     "      g = tanh(g * y_t + exp(kj))\n      kj = kj\n      yield g\n    }\n"
                     "    h = g + x_t\n    kk = kk\n    yield h\n  }\n  return h\n}\n",
                     (const int64_t[]){2, 3}, 2);
    const IrEntry *fast = entry(l, "fast"), *slow = entry(l, "slow");
    const IrNode *outer = the_scan(fast->graph), *inner = the_scan(outer->body);
    assert_int_equal(count_op(fast->graph, OP_EXP), 1);
    assert_int_equal(count_op(outer->body, OP_EXP), 0);
    assert_int_equal(count_op(inner->body, OP_EXP), 0);
    assert_true(find_op(fast->graph, OP_EXP) < find_op(fast->graph, OP_SCAN));
    assert_int_equal(count_op(the_scan(the_scan(slow->graph)->body)->body, OP_EXP), 1);
    assert_same_values(l, fast, slow);
    unload(l);
}

static void hoist_declines_a_time_axis_last_or_a_bias_over_time(void **state) {
    (void)state;
    Loaded *l = load("entry last(x: f32[B, 4, T], w: f32[3, 4], h0: f32[B, 3]) -> (h) {\n"
                     "  hs, h = scan(x_t in x, h = h0, axis = 2) {\n    h = tanh(x_t @ w.T + h)\n    yield h\n  }\n"
                     "  return h\n}\n"
                     "entry over_time(x: f32[B, T, 4], w: f32[3, 4], b: f32[B, 3], h0: f32[B, 3]) -> (h) {\n"
                     "  hs, h = scan(x_t in x, h = h0, axis = 1) {\n    h = tanh(x_t @ w.T + b + h)\n    yield h\n  }\n"
                     "  return h\n}\n",
                     (const int64_t[]){2, 3}, 2);
    const IrEntry *last = entry(l, "last"), *over = entry(l, "over_time");
    /* over the last dim, a matmul of the slices would contract the time axis */
    assert_int_equal(count_op(last->graph, OP_MATMUL), 0);
    assert_int_equal(matmuls_of_slices(the_scan(last->graph)), 1);
    /* a [B, 3] bias lines up with [B, T, 3] differently: only the matmul moves */
    const IrNode *scan = the_scan(over->graph);
    assert_int_equal(count_op(over->graph, OP_MATMUL), 1);
    assert_int_equal(count_op(over->graph, OP_ADD), 0);
    assert_int_equal(count_op(scan->body, OP_MATMUL), 0);
    assert_int_equal(count_op(scan->body, OP_ADD), 2);
    unload(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hoist_moves_the_input_projection, setup, teardown),
        cmocka_unit_test_setup_teardown(invariant_work_moves_before_the_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(prune_merges_captures_of_one_value, setup, teardown),
        cmocka_unit_test(naive_gru_gets_the_hand_written_shape),
        cmocka_unit_test(per_gate_gru_runs_one_product_per_step),
        cmocka_unit_test(adjacent_weight_slices_merge_into_one_slice),
        cmocka_unit_test(decode_loop_projects_the_keys_once),
        cmocka_unit_test(nested_scans_hoist_through_both_bodies),
        cmocka_unit_test(hoist_declines_a_time_axis_last_or_a_bias_over_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

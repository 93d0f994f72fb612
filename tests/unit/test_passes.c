/*
 * test_passes.c — unit tests of the graph passes (constant folding, CSE, DCE,
 * the pipeline) and of the IR dumps.
 *
 * Each test builds a small graph by hand with ir_add, setting node types
 * itself as shape inference would, runs one pass and checks the resulting
 * nodes, operand indices and outputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ir.h"

#include <stdlib.h>
#include <string.h>

static const SrcLoc no_loc;

/* Per-test arena, freed by teardown. */
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

/* f32 of the given constant dims. */
static IrType f32(Arena *ar, int rank, const int64_t *dims) {
    IrType t = {.dtype = ATTN_F32, .rank = rank};
    for (int i = 0; i < rank; i++)
        t.dims[i] = dim_const(ar, dims[i]);
    return t;
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})

/* f32[B, n] with B a symbol. */
static IrType f32_batch(Arena *ar, int64_t n) {
    IrType t = {.dtype = ATTN_F32, .rank = 2};
    t.dims[0] = dim_sym(ar, 0, "B");
    t.dims[1] = dim_const(ar, n);
    return t;
}

static int node(Arena *ar, IrGraph *g, OpKind op, const int *in, int nin, IrType t) {
    int i = ir_add(ar, g, op, in, nin, no_loc);
    g->nodes[i].type = t;
    return i;
}

#define IN(...) ((const int[]){__VA_ARGS__})
#define OP1(ar, g, op, t, a) node(ar, g, op, IN(a), 1, t)
#define OP2(ar, g, op, t, a, b) node(ar, g, op, IN(a, b), 2, t)

static int input(Arena *ar, IrGraph *g, const char *name, IrType t) {
    int i = node(ar, g, OP_INPUT, NULL, 0, t);
    g->nodes[i].name = name;
    g->nodes[i].index = g->ninputs++;
    return i;
}

/* A scalar f32 CONST. */
static int const_f32(Arena *ar, IrGraph *g, float v) {
    int i = node(ar, g, OP_CONST, NULL, 0, f32(ar, 0, NULL));
    attn_tensor *t = arena_alloc(ar, sizeof *t);
    t->dtype = ATTN_F32;
    t->data = arena_alloc(ar, sizeof(float));
    *(float *)t->data = v;
    g->nodes[i].value = t;
    return i;
}

static void outputs(Arena *ar, IrGraph *g, const int *outs, int n) { ir_set_outputs(ar, g, outs, n); }

static float const_value(const IrGraph *g, int i) {
    assert_int_equal(g->nodes[i].op, OP_CONST);
    assert_non_null(g->nodes[i].value);
    return *(const float *)g->nodes[i].value->data;
}

/* ---- DCE ---- */

static void test_dce_removes_unused_chain(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32(ar, 1, DIMS(4));
    int x = input(ar, g, "x", t);
    int dead1 = OP1(ar, g, OP_TANH, t, x);
    OP1(ar, g, OP_EXP, t, dead1);
    int s = OP1(ar, g, OP_SIGMOID, t, x);
    int a = OP2(ar, g, OP_ADD, t, s, x);
    outputs(ar, g, IN(a), 1);

    assert_int_equal(pass_dce(ar, g), 2);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->nodes[1].op, OP_SIGMOID);
    assert_int_equal(g->nodes[1].in[0], 0);
    assert_int_equal(g->nodes[2].op, OP_ADD);
    assert_int_equal(g->nodes[2].in[0], 1);
    assert_int_equal(g->nodes[2].in[1], 0);
    assert_int_equal(g->outputs[0], 2);
    assert_int_equal(pass_dce(ar, g), 0);
}

static void test_dce_keeps_unused_inputs(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32(ar, 1, DIMS(4));
    int x = input(ar, g, "x", t);
    OP1(ar, g, OP_NEG, t, x);
    input(ar, g, "y", t);
    int r = OP1(ar, g, OP_TANH, t, x);
    outputs(ar, g, IN(r), 1);

    assert_int_equal(pass_dce(ar, g), 1);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->nodes[1].op, OP_INPUT);
    assert_string_equal(g->nodes[1].name, "y");
    assert_int_equal(g->nodes[1].index, 1);
    assert_int_equal(g->ninputs, 2);
    assert_int_equal(g->outputs[0], 2);
}

/* ---- CSE ---- */

static void test_cse_merges_identical_nodes(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32(ar, 1, DIMS(4));
    int x = input(ar, g, "x", t);
    int t1 = OP1(ar, g, OP_TANH, t, x);
    int t2 = OP1(ar, g, OP_TANH, t, x);
    int sum = OP2(ar, g, OP_ADD, t, t1, t2);
    outputs(ar, g, IN(t2, sum), 2);

    assert_true(pass_cse(ar, g) > 0);
    assert_int_equal(g->nodes[sum].in[0], t1);
    assert_int_equal(g->nodes[sum].in[1], t1);
    assert_int_equal(g->outputs[0], t1);
    assert_int_equal(g->outputs[1], sum);
    assert_int_equal(pass_dce(ar, g), 1);
    assert_int_equal(g->n, 3);
}

static void test_cse_merges_equal_consts(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType s = f32(ar, 0, NULL);
    int c1 = const_f32(ar, g, 2.0f);
    int c2 = const_f32(ar, g, 2.0f);
    int c3 = const_f32(ar, g, 3.0f);
    int m = OP2(ar, g, OP_MUL, s, c2, c3);
    outputs(ar, g, IN(c2, m), 2);

    assert_true(pass_cse(ar, g) > 0);
    assert_int_equal(g->nodes[m].in[0], c1);
    assert_int_equal(g->nodes[m].in[1], c3); /* a different value stays apart */
    assert_int_equal(g->outputs[0], c1);
}

static void test_cse_merges_params_by_name(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32(ar, 1, DIMS(4));
    int p1 = node(ar, g, OP_PARAM, NULL, 0, t);
    int p2 = node(ar, g, OP_PARAM, NULL, 0, t);
    int p3 = node(ar, g, OP_PARAM, NULL, 0, t);
    g->nodes[p1].name = "w";
    g->nodes[p2].name = "w";
    g->nodes[p3].name = "v";
    outputs(ar, g, IN(p1, p2, p3), 3);

    assert_true(pass_cse(ar, g) > 0);
    assert_int_equal(g->outputs[0], p1);
    assert_int_equal(g->outputs[1], p1);
    assert_int_equal(g->outputs[2], p3);
}

static void test_cse_keeps_different_ops_and_attrs(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32(ar, 2, DIMS(4, 4));
    int x = input(ar, g, "x", t);
    int y = input(ar, g, "y", t);
    int th = OP1(ar, g, OP_TANH, t, x);
    int sg = OP1(ar, g, OP_SIGMOID, t, x);
    int m1 = OP2(ar, g, OP_MATMUL, t, x, y);
    int m2 = OP2(ar, g, OP_MATMUL, t, x, y);
    g->nodes[m2].attrs.trans_b = true;
    outputs(ar, g, IN(th, sg, m1, m2), 4);

    assert_int_equal(pass_cse(ar, g), 0);
    assert_int_equal(g->outputs[0], th);
    assert_int_equal(g->outputs[1], sg);
    assert_int_equal(g->outputs[3], m2);
}

static void test_cse_never_merges_inputs(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32(ar, 1, DIMS(4));
    int x = input(ar, g, NULL, t);
    int y = input(ar, g, NULL, t);
    outputs(ar, g, IN(x, y), 2);

    assert_int_equal(pass_cse(ar, g), 0);
    assert_int_equal(g->outputs[1], y);
}

/* ---- constant folding ---- */

static void test_fold_add_of_consts(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType s = f32(ar, 0, NULL);
    int a = const_f32(ar, g, 2.0f);
    int b = const_f32(ar, g, 3.0f);
    int sum = OP2(ar, g, OP_ADD, s, a, b);
    outputs(ar, g, IN(sum), 1);

    assert_int_equal(pass_fold_constants(ar, g), 1);
    assert_int_equal(g->nodes[sum].nin, 0);
    assert_true(const_value(g, sum) == 5.0f);
    assert_int_equal(g->nodes[sum].value->rank, 0);
}

static void test_fold_leaves_inputs_and_params(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType s = f32(ar, 0, NULL);
    int x = input(ar, g, "x", s);
    int c = const_f32(ar, g, 3.0f);
    int sum = OP2(ar, g, OP_ADD, s, x, c);
    int p = node(ar, g, OP_PARAM, NULL, 0, s);
    g->nodes[p].name = "w";
    int th = OP1(ar, g, OP_TANH, s, p);
    outputs(ar, g, IN(sum, th), 2);

    assert_int_equal(pass_fold_constants(ar, g), 0);
    assert_int_equal(g->nodes[sum].op, OP_ADD);
    assert_int_equal(g->nodes[p].op, OP_PARAM);
    assert_int_equal(g->nodes[th].op, OP_TANH);
}

static void test_fold_sources_and_chains(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32(ar, 1, DIMS(4));
    int r = node(ar, g, OP_ARANGE, NULL, 0, t);
    g->nodes[r].attrs.start = 1;
    g->nodes[r].attrs.step = 2;
    int f = node(ar, g, OP_FULL, NULL, 0, t);
    g->nodes[f].attrs.fill = 0.5;
    int m = OP2(ar, g, OP_MUL, t, r, f);
    int sl = OP1(ar, g, OP_SLICE, f32(ar, 1, DIMS(2)), m);
    g->nodes[sl].start = dim_const(ar, 1);
    g->nodes[sl].attrs.step = 2;
    outputs(ar, g, IN(sl), 1);

    assert_int_equal(pass_fold_constants(ar, g), 4);
    const float *v = g->nodes[sl].value->data;
    assert_true(v[0] == 1.5f && v[1] == 3.5f); /* (1, 3, 5, 7) * 0.5, elements 1 and 3 */
    assert_int_equal(g->nodes[sl].value->shape[0], 2);
    assert_null(g->nodes[sl].start);
}

static void test_fold_leaves_symbolic_shapes(void **state) {
    Arena *ar = *state;
    IrGraph *g = ir_graph_new(ar, NULL);
    int f = node(ar, g, OP_FULL, NULL, 0, f32_batch(ar, 3));
    int c = const_f32(ar, g, 1.0f);
    int sum = OP2(ar, g, OP_ADD, f32_batch(ar, 3), f, c);
    IrType big = f32(ar, 2, DIMS(1024, 1024));
    int huge = node(ar, g, OP_FULL, NULL, 0, big);
    outputs(ar, g, IN(sum, huge), 2);

    assert_int_equal(pass_fold_constants(ar, g), 0);
    assert_int_equal(g->nodes[f].op, OP_FULL);
    assert_int_equal(g->nodes[huge].op, OP_FULL); /* too big to be worth a constant */
}

/* ---- pipeline with a scan ---- */

/* h' = tanh(x_t + h) over T steps; the body also computes an unused exp. */
static IrGraph *scan_graph(Arena *ar, int *scan_out) {
    IrGraph *g = ir_graph_new(ar, NULL);
    const Dim *T = dim_sym(ar, 1, "T");
    IrType step = f32_batch(ar, 4), seq = step;
    seq.rank = 3;
    seq.dims[2] = seq.dims[1];
    seq.dims[1] = T;
    int x = input(ar, g, "x", seq);
    int h0 = input(ar, g, "h0", step);
    OP1(ar, g, OP_RELU, step, h0); /* dead */
    int sc = node(ar, g, OP_SCAN, IN(x, h0), 2, (IrType){0});
    IrNode *s = &g->nodes[sc];
    s->scan = (IrScan){.nseq = 1, .ncarry = 1, .nyield = 1, .axis = 1, .steps = T};
    IrGraph *body = s->body = ir_graph_new(ar, g);
    int xt = input(ar, body, NULL, step);
    int h = input(ar, body, NULL, step);
    OP1(ar, body, OP_EXP, step, xt);
    int sum = OP2(ar, body, OP_ADD, step, xt, h);
    int th = OP1(ar, body, OP_TANH, step, sum);
    outputs(ar, body, IN(th, th), 2);
    int ys = OP1(ar, g, OP_RESULT, seq, sc);
    int hn = OP1(ar, g, OP_RESULT, step, sc);
    g->nodes[hn].attrs.axis = 1;
    outputs(ar, g, IN(ys, hn), 2);
    static const char *names[] = {"ys", "hn"};
    g->output_names = names;
    *scan_out = sc - 1; /* its index once the dead relu is gone */
    return g;
}

/* The whole pipeline over g (an entry "t"), checked by ir_verify after every pass. */
static void run_verified_pipeline(Arena *ar, IrGraph *g) {
    IrEntry e = {.name = "t", .graph = g};
    Diag d = {0};
    if (!pass_run_all(ar, &e, &(PassOptions){.verify = true}, &d))
        fail_msg("%s", diag_text(&d));
    diag_free(&d);
}

static void test_pipeline_cleans_scan_body(void **state) {
    Arena *ar = *state;
    int sc;
    IrGraph *g = scan_graph(ar, &sc);
    run_verified_pipeline(ar, g);

    assert_int_equal(g->n, 5);
    assert_int_equal(g->nodes[sc].op, OP_SCAN);
    assert_int_equal(g->nodes[sc].in[0], 0);
    assert_int_equal(g->nodes[sc].in[1], 1);
    assert_int_equal(g->nodes[sc + 1].in[0], sc);
    IrGraph *body = g->nodes[sc].body;
    assert_int_equal(body->n, 4);
    assert_int_equal(body->nodes[0].op, OP_INPUT);
    assert_int_equal(body->nodes[1].op, OP_INPUT);
    assert_int_equal(body->nodes[1].index, 1);
    assert_int_equal(body->nodes[2].op, OP_ADD);
    assert_int_equal(body->nodes[3].in[0], 2);
    assert_int_equal(body->outputs[0], 3);
    assert_int_equal(body->outputs[1], 3);
}

static void test_dce_removes_unused_scan(void **state) {
    Arena *ar = *state;
    int sc;
    IrGraph *g = scan_graph(ar, &sc);
    g->outputs[0] = g->outputs[1] = 1; /* just h0 */
    assert_int_equal(pass_dce(ar, g), 4);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->outputs[0], 1);
}

/* ---- dumps ---- */

static void test_print_text_and_dot(void **state) {
    Arena *ar = *state;
    SrcFile file = {.path = "models/test.attn"};
    IrGraph *g = ir_graph_new(ar, NULL);
    IrType t = f32_batch(ar, 4);
    int x = input(ar, g, "x", t);
    int w = node(ar, g, OP_PARAM, NULL, 0, f32(ar, 2, DIMS(4, 4)));
    g->nodes[w].name = "proj.\"weight\"";
    int m = OP2(ar, g, OP_MATMUL, t, x, w);
    g->nodes[m].attrs.trans_b = true;
    g->nodes[m].loc = (SrcLoc){&file, 12, 9};
    int c = const_f32(ar, g, 0.5f);
    int y = OP2(ar, g, OP_MUL, t, m, c);
    outputs(ar, g, IN(y), 1);
    const char *out_names[] = {"y"}, *syms[] = {"B"};
    g->output_names = out_names;
    IrEntry e = {.name = "forward", .graph = g, .nsyms = 1, .sym_names = syms};

    StrBuf text = {0}, dot = {0};
    ir_print(&e, &text);
    const char *s = sb_str(&text);
    assert_non_null(strstr(s, "entry forward(x: f32[B, 4]) -> (y)   # symbols: B"));
    assert_non_null(strstr(s, "%0 = input \"x\" : f32[B, 4]"));
    assert_non_null(strstr(s, "%2 = matmul(%0, %1) trans_b : f32[B, 4]"));
    assert_non_null(strstr(s, "# models/test.attn:12:9"));
    assert_non_null(strstr(s, "%3 = const 0.5 : f32[]"));
    assert_non_null(strstr(s, "return y=%4"));
    ir_print_dot(&e, &dot);
    assert_true(strncmp(sb_str(&dot), "digraph \"forward\" {", 19) == 0);
    assert_non_null(strstr(sb_str(&dot), "proj.\\\"weight\\\""));
    assert_non_null(strstr(sb_str(&dot), "g0_2 -> g0_4;"));
    sb_free(&text);
    sb_free(&dot);
}

static void test_print_scan_body(void **state) {
    Arena *ar = *state;
    int sc;
    IrGraph *g = scan_graph(ar, &sc);
    IrEntry e = {.name = "forward", .graph = g};
    StrBuf text = {0}, dot = {0};
    ir_print(&e, &text);
    const char *s = sb_str(&text);
    assert_non_null(strstr(s, "%3 = scan(%0 | carry %1) axis=1 steps=T yields=1\n    body:\n"));
    assert_non_null(strstr(s, "      %0 = input 0 : f32[B, 4]\n"));
    assert_non_null(strstr(s, "      return %4, %4\n"));
    assert_non_null(strstr(s, "%5 = result(%3) 1 : f32[B, 4]"));
    ir_print_dot(&e, &dot);
    assert_non_null(strstr(sb_str(&dot), "subgraph cluster_1 {"));
    sb_free(&text);
    sb_free(&dot);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dce_removes_unused_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dce_keeps_unused_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cse_merges_identical_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cse_merges_equal_consts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cse_merges_params_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cse_keeps_different_ops_and_attrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cse_never_merges_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_add_of_consts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_leaves_inputs_and_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_sources_and_chains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_leaves_symbolic_shapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_cleans_scan_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dce_removes_unused_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_text_and_dot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_scan_body, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_ir_verify.c — ir_verify finds each broken invariant of docs/IR.md.
 *
 * A small valid graph with a scan (built by hand, as shape inference would
 * type it) passes; then, for each invariant, a fresh copy is corrupted the way
 * a faulty pass could, and ir_verify must report an internal error (the kind
 * the API returns as ATTN_ERR_INTERNAL) naming the pass, the entry, the node
 * and what is wrong.
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

/* The graph and the nodes the corruptions touch. */
typedef struct Built {
    Arena ar;
    IrEntry e;
    IrGraph *g, *body;
    int x, h0, one, scan, ys, hn, cut;  /* top-level nodes */
    int bx, bh, bsum, bmul, btanh;      /* body nodes */
} Built;

static IrType f32(int rank, const Dim *const *dims) {
    IrType t = {.dtype = ATTN_F32, .rank = rank};
    for (int d = 0; d < rank; d++)
        t.dims[d] = dims[d];
    return t;
}

static int node(Built *b, IrGraph *g, OpKind op, const int *in, int nin, IrType t) {
    int i = ir_add(&b->ar, g, op, in, nin, no_loc);
    g->nodes[i].type = t;
    return i;
}

#define IN(...) ((const int[]){__VA_ARGS__})

static int input(Built *b, IrGraph *g, const char *name, IrType t) {
    int i = node(b, g, OP_INPUT, NULL, 0, t);
    g->nodes[i].name = name;
    g->nodes[i].index = g->ninputs++;
    return i;
}

/* y, h = scan(x_t in x, h = h0, capture 1.0) { tanh((x_t + h) * 1.0), and an unused exp(x_t) } and h[:, 0:2]:
 *   %0 x: f32[B, T, 4]   %1 h0: f32[B, 4]   %2 const 1   %3 scan   %4, %5 results   %6 slice */
static Built *build(void) {
    Built *b = calloc(1, sizeof *b);
    assert_non_null(b);
    const Dim *B = dim_sym(&b->ar, 0, "B"), *T = dim_sym(&b->ar, 1, "T"), *four = dim_const(&b->ar, 4);
    IrType step = f32(2, (const Dim *[]){B, four}), seq = f32(3, (const Dim *[]){B, T, four}), scalar = f32(0, NULL);
    IrGraph *g = b->g = ir_graph_new(&b->ar, NULL);
    b->x = input(b, g, "x", seq);
    b->h0 = input(b, g, "h0", step);
    b->one = node(b, g, OP_CONST, NULL, 0, scalar);
    attn_tensor *v = arena_alloc(&b->ar, sizeof *v);
    *v = (attn_tensor){.dtype = ATTN_F32, .data = arena_alloc(&b->ar, sizeof(float))};
    *(float *)v->data = 1.0f;
    g->nodes[b->one].value = v;
    b->scan = ir_add(&b->ar, g, OP_SCAN, IN(b->x, b->h0, b->one), 3, no_loc);
    g->nodes[b->scan].scan = (IrScan){.nseq = 1, .ncarry = 1, .ncapture = 1, .nyield = 1, .axis = 1, .steps = T};
    IrGraph *body = b->body = g->nodes[b->scan].body = ir_graph_new(&b->ar, g);
    b->bx = input(b, body, NULL, step);
    b->bh = input(b, body, NULL, step);
    int bone = input(b, body, NULL, scalar);
    b->bsum = node(b, body, OP_ADD, IN(b->bx, b->bh), 2, step);
    b->bmul = node(b, body, OP_MUL, IN(b->bsum, bone), 2, step);
    b->btanh = node(b, body, OP_TANH, IN(b->bmul), 1, step);
    node(b, body, OP_EXP, IN(b->bx), 1, step); /* dead: for DCE */
    ir_set_outputs(&b->ar, body, IN(b->btanh, b->btanh), 2);
    b->ys = node(b, g, OP_RESULT, IN(b->scan), 1, seq);
    b->hn = node(b, g, OP_RESULT, IN(b->scan), 1, step);
    g->nodes[b->hn].attrs.axis = 1;
    b->cut = node(b, g, OP_SLICE, IN(b->hn), 1, f32(2, (const Dim *[]){B, dim_const(&b->ar, 2)}));
    g->nodes[b->cut].attrs = (OpAttrs){.axis = 1, .step = 1};
    g->nodes[b->cut].start = dim_const(&b->ar, 0);
    ir_set_outputs(&b->ar, g, IN(b->ys, b->cut), 2);
    static const char *names[] = {"y", "h"};
    g->output_names = names;
    b->e = (IrEntry){.name = "forward", .graph = g};
    return b;
}

static void destroy(Built *b) {
    arena_free(&b->ar);
    free(b);
}

/* ---- the corruptions, one per invariant ---- */

static void use_before_definition(Built *b) { b->g->nodes[b->cut].in[0] = b->cut; }
static void dangling_operand(Built *b) { b->body->nodes[b->bmul].in[1] = 99; }
static void negative_operand(Built *b) { b->g->nodes[b->ys].in[0] = -1; }
static void too_few_operands(Built *b) { b->body->nodes[b->bsum].nin = 1; }
static void op_out_of_table(Built *b) { b->body->nodes[b->btanh].op = OP_COUNT; }
static void type_against_rule(Built *b) { b->body->nodes[b->bsum].type.dims[1] = dim_const(&b->ar, 5); }
static void dtype_against_rule(Built *b) { b->body->nodes[b->btanh].type.dtype = ATTN_I64; }
static void rank_too_large(Built *b) { b->g->nodes[b->x].type.rank = ATTN_MAX_RANK + 1; }
static void dim_unset(Built *b) { b->g->nodes[b->h0].type.dims[1] = NULL; }
static void slice_changes_other_dim(Built *b) { b->g->nodes[b->cut].type.dims[0] = dim_const(&b->ar, 3); }
static void slice_without_start(Built *b) { b->g->nodes[b->cut].start = NULL; }
static void const_without_value(Built *b) { b->g->nodes[b->one].value = NULL; }
static void const_value_of_other_shape(Built *b) { b->g->nodes[b->one].type.rank = 1, b->g->nodes[b->one].type.dims[0] = dim_const(&b->ar, 3); }
static void scan_read_by_other_op(Built *b) { b->g->nodes[b->cut].in[0] = b->scan; }
static void result_of_no_scan(Built *b) { b->g->nodes[b->hn].in[0] = b->h0; }
static void result_index_out_of_range(Built *b) { b->g->nodes[b->hn].attrs.axis = 2; }
static void result_type_wrong(Built *b) { b->g->nodes[b->ys].type.dims[1] = dim_const(&b->ar, 7); }
static void scan_counts_disagree(Built *b) { b->g->nodes[b->scan].scan.ncapture = 0; }
static void scan_without_sequence(Built *b) { b->g->nodes[b->scan].scan = (IrScan){.ncarry = 2, .ncapture = 1, .nyield = 1, .axis = 1, .steps = b->g->nodes[b->scan].scan.steps}; }
static void capture_missing(Built *b) { b->g->nodes[b->scan].nin = 2, b->g->nodes[b->scan].scan.ncapture = 0; }
static void body_outputs_missing(Built *b) { b->body->nout = 1; }
static void body_input_of_other_type(Built *b) { b->body->nodes[2].type = f32(1, (const Dim *[]){dim_const(&b->ar, 4)}); }
static void carry_changes_type(Built *b) { b->body->outputs[1] = 2; /* the capture */ }
static void steps_not_the_sequence(Built *b) { b->g->nodes[b->scan].scan.steps = dim_const(&b->ar, 3); }
static void body_of_other_parent(Built *b) { b->body->parent = NULL; }
static void duplicate_input_position(Built *b) { b->g->nodes[b->h0].index = 0; }
static void input_count_wrong(Built *b) { b->g->ninputs = 3; }
static void dangling_output(Built *b) { b->g->outputs[1] = 42; }
static void scan_as_output(Built *b) { b->g->outputs[0] = b->scan; }
static void output_without_name(Built *b) { b->g->output_names = NULL; }
static void top_input_without_name(Built *b) { b->g->nodes[b->x].name = NULL; }

static const struct {
    void (*corrupt)(Built *);
    const char *expect;
} corruptions[] = {
    {use_before_definition, "node %6 (slice): operand 0 is %6, not a node defined before it"},
    {dangling_operand, "in the body of scan %3, node %4 (mul): operand 1 is %99, not a node defined before it"},
    {negative_operand, "node %4 (result): operand 0 is %-1, not a node defined before it"},
    {too_few_operands, "in the body of scan %3, node %3 (add): 1 operands, outside the op's 2..2"},
    {op_out_of_table, "node %5 has op"},
    {type_against_rule, "node %3 (add): its type is f32[B, 5], expected f32[B, 4] by the op's shape rule"},
    {dtype_against_rule, "node %5 (tanh): its type is i64[B, 4], expected f32[B, 4] by the op's shape rule"},
    {rank_too_large, "node %0 (input): its type has rank 9, outside 0..8"},
    {dim_unset, "node %1 (input): dim 1 of its type is not set"},
    {slice_changes_other_dim, "node %6 (slice): a slice along axis 1 changes dim 0"},
    {slice_without_start, "node %6 (slice): a slice without a start"},
    {const_without_value, "node %2 (const): a constant without a value"},
    {const_value_of_other_shape, "node %2 (const): its value is f32[], its type f32[3]"},
    {scan_read_by_other_op, "node %6 (slice): operand 0 is scan %3, which only a result may read"},
    {result_of_no_scan, "node %5 (result): its operand %1 is not a scan"},
    {result_index_out_of_range, "node %5 (result): output 2 of a scan with 2"},
    {result_type_wrong, "node %4 (result): its type is f32[B, 7, 4], expected f32[B, T, 4]"},
    {scan_counts_disagree, "node %3 (scan): 3 operands for 1 sequences, 1 carries and 0 captures"},
    {scan_without_sequence, "node %3 (scan): 3 operands for 0 sequences, 2 carries and 1 captures (at least one sequence)"},
    {capture_missing, "node %3 (scan): its body has 3 inputs and 2 outputs, the scan 2 operands, 1 yields and 1 carries"},
    {body_outputs_missing, "node %3 (scan): its body has 3 inputs and 1 outputs"},
    {body_input_of_other_type, "node %3 (scan): body input 2 (a capture) is f32[4], expected f32[]"},
    {carry_changes_type, "node %3 (scan): the new value of carry 0 is f32[], expected f32[B, 4]"},
    {steps_not_the_sequence, "node %3 (scan): sequence 0 (%0) does not have the scan's steps along axis 1"},
    {body_of_other_parent, "node %3 (scan): its body's parent is another graph"},
    {duplicate_input_position, "node %1 (input): input position 0 is taken by an earlier input"},
    {input_count_wrong, "entry 'forward': 2 input nodes for 3 inputs"},
    {dangling_output, "entry 'forward': output 1 is %42, not a node with a value"},
    {scan_as_output, "entry 'forward': output 0 is %3, not a node with a value"},
    {output_without_name, "entry 'forward': output 0 has no name"},
    {top_input_without_name, "node %0 (input): no name"},
};

static void test_valid_graph_passes(void **state) {
    (void)state;
    Built *b = build();
    Diag d = {0};
    if (!ir_verify(&b->e, "test", &d))
        fail_msg("%s", diag_text(&d));
    assert_int_equal(d.errors, 0);
    diag_free(&d);
    destroy(b);
}

static void test_each_corruption_is_caught(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof corruptions / sizeof *corruptions; k++) {
        Built *b = build();
        corruptions[k].corrupt(b);
        Diag d = {0};
        bool ok = ir_verify(&b->e, "cse", &d);
        const char *text = diag_text(&d);
        if (ok || !strstr(text, corruptions[k].expect))
            fail_msg("corruption %zu: expected \"%s\", got %s\"%s\"", k, corruptions[k].expect, ok ? "success " : "",
                     text);
        assert_int_equal(d.kind, DIAG_INTERNAL);
        assert_int_equal(d.errors, 1);
        assert_non_null(strstr(text, "internal error: invalid graph IR after pass cse: entry 'forward'"));
        assert_non_null(strstr(text, "this is a bug in attn; please report it"));
        diag_free(&d);
        destroy(b);
    }
}

/* The pipeline stops at the first pass after which the graph is invalid and
 * names it; "lowering" when it is invalid before any pass. */
static void test_pipeline_names_the_pass(void **state) {
    (void)state;
    Built *b = build();
    dangling_operand(b);
    Diag d = {0};
    assert_false(pass_run_all(&b->ar, &b->e, &(PassOptions){.verify = true}, &d));
    assert_non_null(strstr(diag_text(&d), "invalid graph IR after pass lowering: entry 'forward' in the body"));
    assert_int_equal(d.kind, DIAG_INTERNAL);
    diag_free(&d);
    destroy(b);
}

/* --dump-after: a header per run of the pass, the graph when it changed it. */
static void test_dump_after(void **state) {
    (void)state;
    Built *b = build();
    Diag d = {0};
    PassOptions po = {.dump_after = PASS_BIT(PASS_FOLD) | PASS_BIT(PASS_DCE), .verify = true};
    assert_true(pass_run_all(&b->ar, &b->e, &po, &d));
    const char *s = b->e.dumps;
    assert_non_null(s);
    assert_non_null(strstr(s, "# after fold, round 1: no change\n# after dce, round 1: 1 change\n"
                              "entry forward(x: f32[B, T, 4], h0: f32[B, 4]) -> (y, h)"));
    assert_non_null(strstr(s, "# after fold, round 2: no change\n# after dce, round 2: no change\n"));
    assert_null(strstr(s, "exp("));
    assert_null(strstr(s, "after cse"));
    diag_free(&d);
    destroy(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_graph_passes),
        cmocka_unit_test(test_each_corruption_is_caught),
        cmocka_unit_test(test_pipeline_names_the_pass),
        cmocka_unit_test(test_dump_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

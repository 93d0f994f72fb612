/*
 * test_lower.c — lowering and shape inference through the public API: small
 * sources in, graph text or diagnostics out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Loads src; returns the graph text of entry `entry` (NULL on error, with *errors set). */
static char *graph_of(const char *src, const char *entry, const char **sets, char *errors, size_t n) {
    attn_model *m = attn_model_new();
    for (int i = 0; sets && sets[i]; i += 2)
        attn_model_set(m, sets[i], sets[i + 1]);
    char *out[1] = {NULL}; /* an array, not a local's address: gcc 12 -Wdangling-pointer misreads &text */
    if (attn_model_load_source(m, "t.attn", src) == ATTN_OK)
        attn_model_graph_text(m, entry, 0, out);
    snprintf(errors, n, "%s", attn_model_errors(m));
    attn_model_free(m);
    return out[0];
}

static void symbolic_dims_flow_through_ops(void **state) {
    (void)state;
    char err[4096];
    char *g = graph_of("entry f(x: f32[B, T, 8]) -> y { return softmax(x * 2.0, axis=-1) }", "f", NULL, err, sizeof err);
    assert_non_null(g);
    assert_non_null(strstr(g, "softmax(%"));
    assert_non_null(strstr(g, "f32[B, T, 8]"));
    assert_non_null(strstr(g, "symbols: B, T"));
    attn_string_free(g);
}

static void transpose_folds_into_matmul(void **state) {
    (void)state;
    char err[4096];
    char *g = graph_of("entry f(x: f32[B, 4], w: f32[6, 4]) -> y { return x @ w.T }", "f", NULL, err, sizeof err);
    assert_non_null(g);
    assert_non_null(strstr(g, "trans_b : f32[B, 6]"));
    assert_null(strstr(g, "permute")); /* the transpose itself is dead */
    attn_string_free(g);
}

static void hyperparameters_set_dims_and_loops(void **state) {
    (void)state;
    char err[4096];
    const char *sets[] = {"H", "3", "N", "2", NULL};
    char *g = graph_of("hyper H: int\nhyper N: int\n"
                       "entry f(x: f32[B, H]) -> y {\n  for i in 0..N { x = tanh(x) }\n  return concat(x, x) }",
                       "f", sets, err, sizeof err);
    assert_non_null(g);
    assert_non_null(strstr(g, "concat(%"));
    assert_non_null(strstr(g, "f32[B, 6]"));
    const char *first = strstr(g, "tanh"), *second = first ? strstr(first + 1, "tanh") : NULL;
    assert_non_null(second); /* unrolled twice */
    attn_string_free(g);
}

static void constant_math_is_folded(void **state) {
    (void)state;
    char err[4096];
    char *g = graph_of("entry f(x: f32[B, 4]) -> y { return x / sqrt(16) }", "f", NULL, err, sizeof err);
    assert_non_null(g);
    assert_non_null(strstr(g, "const 4"));
    attn_string_free(g);
}

static void broadcast_mismatch_names_both_shapes(void **state) {
    (void)state;
    char err[4096];
    char *g = graph_of("entry f(x: f32[B, 5], y: f32[B, 6]) -> z {\n  return x + y\n}", "f", NULL, err, sizeof err);
    assert_null(g);
    assert_non_null(strstr(err, "t.attn:2:12: error: add: shapes f32[B, 5] and f32[B, 6] do not broadcast"));
    assert_non_null(strstr(err, "dim -1 is 5 on the left and 6 on the right"));
}

static void unset_hyperparameter_as_loop_bound(void **state) {
    (void)state;
    char err[4096];
    char *g = graph_of("hyper N: int\nentry f(x: f32[B]) -> y {\n  for i in 0..N { x = x }\n  return x }", "f", NULL,
                       err, sizeof err);
    assert_null(g);
    assert_non_null(strstr(err, "t.attn:3:15: error: hyperparameter 'N' is not set"));
}

static void scan_stacks_outputs_along_axis(void **state) {
    (void)state;
    char err[4096];
    char *g = graph_of("entry f(x: f32[B, T, 4], h0: f32[B, 4]) -> (ys, h) {\n"
                       "  ys, h = scan(x_t in x, h = h0) {\n    h = tanh(x_t + h)\n    yield h\n  }\n"
                       "  return ys, h\n}",
                       "f", NULL, err, sizeof err);
    assert_non_null(g);
    assert_non_null(strstr(g, "scan("));
    assert_non_null(strstr(g, "steps=T"));
    assert_non_null(strstr(g, "result(%"));
    assert_non_null(strstr(g, "f32[B, T, 4]"));
    attn_string_free(g);
}

static void several_syntax_errors_in_one_run(void **state) {
    (void)state;
    char err[4096];
    char *g = graph_of("entry f(x: f32[B]) -> y {\n  a = x +\n  b = * x\n  c = x )\n  return x\n}", "f", NULL, err,
                       sizeof err);
    assert_null(g);
    const char *first = strstr(err, "error:"), *second = first ? strstr(first + 1, "error:") : NULL;
    assert_non_null(second);
}

static void intermediates_become_extra_outputs(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load_source(m, "t.attn",
                                            "entry f(x: f32[2]) -> y {\n  h = x * 2.0\n"
                                            "  scope \"a\" { h = h + 1.0 }\n  return h * 3.0\n}"),
                     ATTN_OK);
    const char *names[] = {"a/h", "h"};
    attn_compile_options opt = {.extra_outputs = names, .nextra_outputs = 2};
    attn_program *p;
    assert_int_equal(attn_model_compile(m, "f", &opt, &p), ATTN_OK);
    assert_int_equal(attn_program_output_count(p), 3);
    assert_string_equal(attn_program_output_name(p, 1), "a/h");
    float x[2] = {1, 2};
    attn_tensor in = {.name = "x", .dtype = ATTN_F32, .rank = 1, .shape = {2}, .data = x};
    attn_tensor *out;
    int n;
    assert_int_equal(attn_program_run(p, &in, 1, &out, &n, NULL), ATTN_OK);
    assert_true(((float *)out[0].data)[1] == 15.0f); /* (2*2+1)*3 */
    assert_true(((float *)out[1].data)[1] == 5.0f);  /* h under scope a */
    assert_true(((float *)out[2].data)[1] == 5.0f);  /* the last h assigned */
    attn_tensors_free(out, n);
    attn_program_free(p);
    const char *bad[] = {"nope"};
    opt = (attn_compile_options){.extra_outputs = bad, .nextra_outputs = 1};
    assert_int_equal(attn_model_compile(m, "f", &opt, &p), ATTN_ERR_INPUT);
    assert_non_null(strstr(attn_model_errors(m), "assigns no tensor named 'nope'"));
    attn_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(symbolic_dims_flow_through_ops),
        cmocka_unit_test(transpose_folds_into_matmul),
        cmocka_unit_test(hyperparameters_set_dims_and_loops),
        cmocka_unit_test(constant_math_is_folded),
        cmocka_unit_test(broadcast_mismatch_names_both_shapes),
        cmocka_unit_test(unset_hyperparameter_as_loop_bound),
        cmocka_unit_test(scan_stacks_outputs_along_axis),
        cmocka_unit_test(several_syntax_errors_in_one_run),
        cmocka_unit_test(intermediates_become_extra_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

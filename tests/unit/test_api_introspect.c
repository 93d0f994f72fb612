/*
 * test_api_introspect.c — what the public API tells about a model and a
 * program: entry names, inputs and outputs with dtype, rank and dims (per-call
 * dims by name, -1 in the numbers), hyperparameters of every kind, set or not,
 * solved from weights or not, and the declared weights before and after
 * hyperparameters are known; and the misuses (NULL, out of range, before load).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"

#include <string.h>

static const char *const source =
    "hyper n: int\n"
    "hyper k: int = 3\n"
    "hyper eps: float = 1e-5\n"
    "hyper scaled: bool = true\n"
    "hyper act: enum(relu, gelu) = gelu\n"
    "entry forward(x: f32[B, T, n], mask: bool[B, T]) -> (y, s) {\n"
    "  param w: f32[k * n, n] = \"proj.weight\"\n"
    "  param b: f32[k * n] = \"proj.bias\"\n"
    "  y = x @ w.T + b\n"
    "  s = y + 1.0\n"
    "  return y, s\n"
    "}\n"
    "entry other(z: i64[3]) -> z2 {\n"
    "  param t: f32[n] = \"table\"\n"
    "  return z * 2\n"
    "}\n";

static attn_model *load(const char *n) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    if (n)
        assert_int_equal(attn_model_set(m, "n", n), ATTN_OK);
    if (attn_model_load_source(m, "intro.attn", source) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    return m;
}

static void expect_info(const attn_tensor_info *t, const char *name, attn_dtype dtype, const char *type_text) {
    assert_string_equal(t->name, name);
    assert_int_equal(t->dtype, dtype);
    assert_string_equal(t->type_text, type_text);
}

static void hyperparameters(void **state) {
    (void)state;
    attn_model *m = load(NULL);
    assert_int_equal(attn_model_hyper_count(m), 5);
    attn_hyper_info h;
    assert_int_equal(attn_model_hyper_info(m, 0, &h), ATTN_OK);
    assert_string_equal(h.name, "n");
    assert_int_equal(h.type, ATTN_HYPER_INT);
    assert_false(h.set);
    assert_null(h.value);
    assert_int_equal(attn_model_hyper_info(m, 1, &h), ATTN_OK);
    assert_true(h.set);
    assert_int_equal(h.int_value, 3);
    assert_string_equal(h.value, "3");
    assert_int_equal(attn_model_hyper_info(m, 2, &h), ATTN_OK);
    assert_int_equal(h.type, ATTN_HYPER_FLOAT);
    assert_true(h.float_value == 1e-5);
    assert_string_equal(h.value, "1e-05");
    assert_int_equal(attn_model_hyper_info(m, 3, &h), ATTN_OK);
    assert_int_equal(h.type, ATTN_HYPER_BOOL);
    assert_string_equal(h.value, "true");
    assert_int_equal(attn_model_hyper_info(m, 4, &h), ATTN_OK);
    assert_int_equal(h.type, ATTN_HYPER_ENUM);
    assert_int_equal(h.int_value, 1);
    assert_string_equal(h.value, "gelu");
    assert_false(h.from_weights);
    /* misuse */
    assert_int_equal(attn_model_hyper_info(m, 5, &h), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_hyper_info(m, -1, &h), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_hyper_info(m, 0, NULL), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_hyper_info(NULL, 0, &h), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_hyper_count(NULL), 0);
    attn_model_free(m);
    attn_model *empty = attn_model_new();
    assert_int_equal(attn_model_hyper_count(empty), 0); /* before load */
    assert_int_equal(attn_model_weight_count(empty), 0);
    assert_int_equal(attn_model_hyper_info(empty, 0, &h), ATTN_ERR_USAGE);
    attn_model_free(empty);
}

static void declared_weights(void **state) {
    (void)state;
    attn_model *m = load(NULL); /* n unknown: its dims are expressions */
    assert_int_equal(attn_model_weight_count(m), 3);
    attn_tensor_info w;
    assert_int_equal(attn_model_weight_info(m, 0, &w), ATTN_OK);
    expect_info(&w, "proj.weight", ATTN_F32, "f32[n*3, n]");
    assert_int_equal(w.rank, 2);
    assert_int_equal(w.shape[0], -1);
    assert_string_equal(w.dims[0], "n*3");
    assert_string_equal(w.dims[1], "n");
    assert_int_equal(attn_model_weight_info(m, 2, &w), ATTN_OK);
    expect_info(&w, "table", ATTN_F32, "f32[n]");
    assert_int_equal(attn_model_weight_info(m, 3, &w), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_weight_info(m, 0, NULL), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_weight_info(NULL, 0, &w), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_weight_count(NULL), 0);
    attn_model_free(m);

    m = load("4"); /* with n set, numbers */
    assert_int_equal(attn_model_weight_info(m, 0, &w), ATTN_OK);
    expect_info(&w, "proj.weight", ATTN_F32, "f32[12, 4]");
    assert_int_equal(w.shape[0], 12);
    assert_int_equal(w.shape[1], 4);
    assert_string_equal(w.dims[0], "12");
    assert_int_equal(attn_model_weight_info(m, 1, &w), ATTN_OK);
    expect_info(&w, "proj.bias", ATTN_F32, "f32[12]");
    attn_model_free(m);
}

static void program_signature(void **state) {
    (void)state;
    attn_model *m = load("4");
    assert_int_equal(attn_model_entry_count(m), 2);
    assert_string_equal(attn_model_entry_name(m, 1), "other");
    assert_null(attn_model_entry_name(m, 2));
    attn_program *p = NULL;
    assert_int_equal(attn_model_compile(m, "other", &(attn_compile_options){.backend = ATTN_BACKEND_INTERP}, &p),
                     ATTN_ERR_INPUT); /* its weight is not bound */
    for (int backend = 0; backend < 2; backend++) {
        /* an entry without weights */
        static const char *const noweights = "entry f(x: f32[B, T, 4], n: i64[B]) -> (y, last) {\n"
                                             "  y = x * 2.0\n  last = n + 1\n  return y, last\n}\n";
        attn_model *f = attn_model_new();
        assert_int_equal(attn_model_load_source(f, "sig.attn", noweights), ATTN_OK);
        assert_int_equal(attn_model_compile(f, "f", &(attn_compile_options){.backend = (attn_backend)backend}, &p),
                         ATTN_OK);
        attn_model_free(f); /* the program's strings outlive the model */
        assert_int_equal(attn_program_input_count(p), 2);
        assert_int_equal(attn_program_output_count(p), 2);
        attn_tensor_info t;
        assert_int_equal(attn_program_input_info(p, 0, &t), ATTN_OK);
        expect_info(&t, "x", ATTN_F32, "f32[B, T, 4]");
        assert_int_equal(t.rank, 3);
        assert_int_equal(t.shape[0], -1);
        assert_int_equal(t.shape[1], -1);
        assert_int_equal(t.shape[2], 4);
        assert_string_equal(t.dims[0], "B");
        assert_string_equal(t.dims[1], "T");
        assert_string_equal(t.dims[2], "4");
        assert_int_equal(attn_program_input_info(p, 1, &t), ATTN_OK);
        expect_info(&t, "n", ATTN_I64, "i64[B]");
        assert_int_equal(attn_program_output_info(p, 0, &t), ATTN_OK);
        expect_info(&t, "y", ATTN_F32, "f32[B, T, 4]");
        assert_int_equal(attn_program_output_info(p, 1, &t), ATTN_OK);
        expect_info(&t, "last", ATTN_I64, "i64[B]");
        /* misuse */
        assert_int_equal(attn_program_input_info(p, 2, &t), ATTN_ERR_USAGE);
        assert_int_equal(attn_program_output_info(p, -1, &t), ATTN_ERR_USAGE);
        assert_int_equal(attn_program_output_info(p, 0, NULL), ATTN_ERR_USAGE);
        assert_int_equal(attn_program_input_info(NULL, 0, &t), ATTN_ERR_USAGE);
        attn_program_free(p);
    }
    attn_model_free(m);
}

/* Hyperparameters solved from bound weights show as such, and the declared
 * weights then have numbers. */
static void solved_from_weights(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_load(m, "models/grucell.attn"), ATTN_OK);
    attn_tensor_info w;
    assert_int_equal(attn_model_weight_info(m, 0, &w), ATTN_OK);
    assert_int_equal(w.shape[0], -1);
    if (attn_model_bind_weights(m, "tests/golden/fixtures/grucell/weights.safetensors") != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    attn_hyper_info h;
    for (int i = 0; i < attn_model_hyper_count(m); i++) {
        assert_int_equal(attn_model_hyper_info(m, i, &h), ATTN_OK);
        assert_true(h.set);
        assert_true(h.from_weights);
    }
    assert_int_equal(attn_model_weight_info(m, 0, &w), ATTN_OK);
    expect_info(&w, "weight_ih", ATTN_F32, "f32[21, 5]");
    assert_int_equal(w.shape[0], 21);
    attn_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hyperparameters),
        cmocka_unit_test(declared_weights),
        cmocka_unit_test(program_signature),
        cmocka_unit_test(solved_from_weights),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

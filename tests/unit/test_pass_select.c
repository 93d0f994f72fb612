/*
 * test_pass_select.c — choosing the optimisation passes changes no result.
 *
 * On zoo models with their golden fixtures (a GRU written with one weight per
 * gate for merge-matmuls, a two-layer bidirectional LSTM for the scan passes,
 * a transformer encoder layer for folding and CSE), every pass is run alone
 * and every pass is left out (attn_model_set_passes, as attnc --passes and
 * --disable-pass), each pipeline verified after every pass, and the JIT's
 * outputs must match the interpreter's with the whole pipeline.
 */
#include "attn.h"
#include "attn_passes.h"
#include "safetensors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct Case {
    const char *fixture, *model;
    const char *sets[6][2];
} Case;

static const Case cases[] = {
    {"gru_per_gate", "tests/golden/models/gru_per_gate.attn", {{"input_size", "5"}, {"hidden_size", "7"}}},
    {"lstm_l2_bidir", "models/lstm.attn",
     {{"input_size", "5"}, {"hidden_size", "7"}, {"num_layers", "2"}, {"bidirectional", "1"}}},
    {"enc_relu_post", "models/transformer_encoder_layer.attn",
     {{"d_model", "8"}, {"nhead", "2"}, {"dim_feedforward", "16"}, {"activation", "relu"}, {"norm_first", "0"},
      {"layer_norm_eps", "1e-5"}}},
};

/* The tensors of a safetensors file, floats as f32, BOOL as bool, integers as i64. */
static attn_tensor *read_tensors(const char *path, int *n) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    *n = st_count(f);
    attn_tensor *ts = calloc((size_t)*n + 1, sizeof *ts);
    assert_non_null(ts);
    for (int i = 0; i < *n; i++) {
        const StTensor *t = st_tensor(f, i);
        attn_dtype dt = t->dtype == ST_BOOL ? ATTN_BOOL
                        : t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F32 || t->dtype == ST_F64
                            ? ATTN_F32
                            : ATTN_I64;
        ts[i] = (attn_tensor){.name = strdup(t->name), .dtype = dt, .rank = t->rank};
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
        if (st_convert(t, dt, &ts[i].data, err, sizeof err))
            fail_msg("%s: %s", path, err);
    }
    st_close(f);
    return ts;
}

static void free_read(attn_tensor *ts, int n) {
    for (int i = 0; i < n; i++) {
        free((char *)ts[i].name);
        free(ts[i].data);
    }
    free(ts);
}

/* The outputs of case c's entry on its fixture's inputs, with passes po, on backend b. */
static attn_tensor *run_case(const Case *c, const PassOptions *po, attn_backend b, int *nout) {
    char path[256];
    attn_model *m = attn_model_new();
    assert_non_null(m);
    for (int i = 0; i < 6 && c->sets[i][0]; i++)
        assert_int_equal(attn_model_set(m, c->sets[i][0], c->sets[i][1]), ATTN_OK);
    assert_int_equal(attn_model_set_passes(m, po), ATTN_OK);
    if (attn_model_load(m, c->model) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    snprintf(path, sizeof path, "tests/golden/fixtures/%s/weights.safetensors", c->fixture);
    attn_program *p = NULL;
    attn_compile_options opt = {.backend = b, .threads = 1};
    if (attn_model_bind_weights(m, path) != ATTN_OK || attn_model_compile(m, "forward", &opt, &p) != ATTN_OK)
        fail_msg("%s: %s", c->fixture, attn_model_errors(m));
    int nin;
    snprintf(path, sizeof path, "tests/golden/fixtures/%s/inputs.safetensors", c->fixture);
    attn_tensor *in = read_tensors(path, &nin), *out = NULL;
    char *error = NULL;
    if (attn_program_run(p, in, nin, &out, nout, &error) != ATTN_OK)
        fail_msg("%s: %s", c->fixture, error);
    free_read(in, nin);
    attn_program_free(p);
    attn_model_free(m);
    return out;
}

static void assert_same(const char *what, const attn_tensor *got, const attn_tensor *want, int n) {
    for (int i = 0; i < n; i++) {
        int64_t count = attn_tensor_numel(&want[i]);
        assert_int_equal(got[i].dtype, ATTN_F32);
        assert_int_equal(attn_tensor_numel(&got[i]), count);
        for (int64_t j = 0; j < count; j++) {
            float g = ((const float *)got[i].data)[j], w = ((const float *)want[i].data)[j];
            float tol = 1e-5f + 1e-5f * (w < 0 ? -w : w);
            if (!(g - w <= tol && w - g <= tol))
                fail_msg("%s: output %s[%lld] is %g, the interpreter's %g", what, want[i].name, (long long)j,
                         (double)g, (double)w);
        }
    }
}

static void test_each_pass_alone_and_left_out(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int nref, nout;
        attn_tensor *ref = run_case(&cases[c], &(PassOptions){0}, ATTN_BACKEND_INTERP, &nref);
        for (int p = 0; p < PASS_COUNT; p++)
            for (int alone = 0; alone < 2; alone++) {
                PassOptions po = {.skip = alone ? PASS_ALL & ~PASS_BIT(p) : PASS_BIT(p), .verify = true};
                char what[128];
                snprintf(what, sizeof what, "%s with %s %s", cases[c].fixture, pass_name((PassId)p),
                         alone ? "alone" : "left out");
                attn_tensor *out = run_case(&cases[c], &po, ATTN_BACKEND_JIT, &nout);
                assert_int_equal(nout, nref);
                assert_same(what, out, ref, nref);
                attn_tensors_free(out, nout);
            }
        attn_tensors_free(ref, nref);
    }
}

/* Pass lists as attnc reads them: names, "all" where allowed, errors that list the passes. */
static void test_parse_pass_lists(void **state) {
    (void)state;
    unsigned set;
    char err[256];
    assert_true(pass_parse_list("fold,dce", false, &set, err, sizeof err));
    assert_int_equal(set, PASS_BIT(PASS_FOLD) | PASS_BIT(PASS_DCE));
    assert_true(pass_parse_list("", false, &set, err, sizeof err));
    assert_int_equal(set, 0);
    assert_true(pass_parse_list("all", true, &set, err, sizeof err));
    assert_int_equal(set, PASS_ALL);
    assert_false(pass_parse_list("all", false, &set, err, sizeof err));
    assert_false(pass_parse_list("cse,fold2", false, &set, err, sizeof err));
    assert_string_equal(err, "unknown pass 'fold2' (passes: fold canonicalize cse merge-matmuls dce scan-prune scan-invariant "
                             "scan-hoist)");
    for (int p = 0; p < PASS_COUNT; p++) {
        assert_true(pass_parse_list(pass_name((PassId)p), false, &set, err, sizeof err));
        assert_int_equal(set, PASS_BIT(p));
    }
}

/* Passes are chosen before the model is loaded, as hyperparameters are. */
static void test_set_passes_before_load(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    assert_non_null(m);
    assert_int_equal(attn_model_set_passes(NULL, &(PassOptions){0}), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_set_passes(m, NULL), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_load_source(m, "t.attn", "entry f(x: f32[2]) -> y { return x * 2.0 + 1.0 }\n"),
                     ATTN_OK);
    assert_int_equal(attn_model_set_passes(m, &(PassOptions){0}), ATTN_ERR_USAGE);
    assert_non_null(strstr(attn_model_errors(m), "before attn_model_load"));
    assert_string_equal(attn_model_pass_dumps(m, "f"), "");
    attn_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_pass_lists),
        cmocka_unit_test(test_set_passes_before_load),
        cmocka_unit_test(test_each_pass_alone_and_left_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

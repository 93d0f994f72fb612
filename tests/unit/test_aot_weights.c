/*
 * test_aot_weights.c — loading the weights of an ahead-of-time compiled
 * object (runtime/rt/aot_weights.h) against a hand-written weight table: the
 * slots an entry's code receives (plain weights, packed copies), and the
 * errors for missing keys, wrong shapes and dtypes, unexpected keys, bad
 * files and misuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aot_weights.h"
#include "pack.h"
#include "safetensors.h"
#include "st_testfiles.h"

/* The table of a model reading w: f32[3, 2] only through a transposed matmul
 * (packed, B = wᵀ of 2×3), b: f32[3] and ids: i64[2]. */
static const attn_aot_weight weights[3] = {
    {"w", ATTN_F32, 2, {3, 2}, "f32[3, 2]", 0},
    {"b", ATTN_F32, 1, {3}, "f32[3]", 1},
    {"ids", ATTN_I64, 1, {2}, "i64[2]", 1},
};
static const attn_aot_packed packed[1] = {{0, 2, 3, 1, 2, 0, 0, NULL, 0, ATTN_WEIGHTS_F32}};
static const int slots[3] = {1, 3, 2};
static const attn_aot_entry entries[1] = {{"f", 3, slots}};
enum { LANES = 8 };
static const attn_aot_table table = {"m", "m.attn", 1, LANES, 3, weights, 1, packed, 1, entries};
static const attn_aot_table table_some = {"m", "m.attn", 0, LANES, 3, weights, 1, packed, 1, entries};

static float w_data[6] = {1, 2, 3, 4, 5, 6}, b_data[3] = {0.5f, -1, 2};
static int64_t ids_data[2] = {7, -3};

/* Writes the weights file with `w` of shape [r, c] (and `extra` when asked) to name. */
static const char *write_weights(const char *name, int64_t r, int64_t c, attn_dtype ids_dtype, bool with_b,
                                 bool extra) {
    float ids_f[2] = {7, -3};
    attn_tensor ts[4] = {
        {"w", ATTN_F32, 2, {r, c}, w_data},
        {"ids", ids_dtype, 1, {2}, ids_dtype == ATTN_F32 ? (void *)ids_f : (void *)ids_data},
    };
    int n = 2;
    if (with_b)
        ts[n++] = (attn_tensor){"b", ATTN_F32, 1, {3}, b_data};
    if (extra)
        ts[n++] = (attn_tensor){"extra", ATTN_F32, 1, {3}, b_data};
    char err[512];
    const char *path = stf_at(name);
    assert_int_equal(st_write(path, ts, n, err, sizeof err), 0);
    return path;
}

/* The fake entry's code: checks the slots it receives. */
static int64_t ws(const int64_t *syms, int64_t *count) {
    (void)syms;
    (void)count;
    return 0;
}
static int32_t dims(const void *self, const int64_t *syms, int64_t *d) {
    (void)self;
    (void)syms;
    (void)d;
    return 0;
}
static int run_calls;
static int32_t run(attn_run_ctx *ctx) {
    run_calls++;
    const float *b = ctx->params[0], *p = ctx->params[1];
    const int64_t *ids = ctx->params[2];
    float want[64] = {0};
    assert_true(attn_pack_b_size(2, 3, LANES) <= 64);
    attn_pack_b(w_data, 2, 3, 1, 2, LANES, want);
    for (size_t i = 0; i < attn_pack_b_size(2, 3, LANES); i++)
        assert_true(p[i] == want[i]);
    assert_true((uintptr_t)p % 64 == 0);
    assert_true(b[0] == 0.5f && b[1] == -1 && b[2] == 2);
    assert_true(ids[0] == 7 && ids[1] == -3);
    return 0;
}
static const attn_compiled compiled = {"f", 0, NULL, 0, NULL, 0, 0, NULL, ws, dims, dims, run};

/* The same packed operand (w transposed) as two parts side by side: rows
 * [0, 1) and [1, 3) of w, as merged products concatenate their weights. */
static const attn_aot_part halves[2] = {{0, 0, 1}, {0, 2, 2}};
static const attn_aot_packed packed_parts[1] = {{0, 2, 3, 1, 2, 0, 2, halves, 0, ATTN_WEIGHTS_F32}};
static const attn_aot_table table_parts = {"m", "m.attn", 1, LANES, 3, weights, 1, packed_parts, 1, entries};

static void packs_concatenated_parts(void **state) {
    (void)state;
    /* column blocks packed one by one match the whole matrix packed at once */
    float whole[64], cols[64];
    memset(cols, 0x7f, sizeof cols); /* padding must be zeroed, not left */
    attn_pack_b(w_data, 2, 3, 1, 2, LANES, whole);
    attn_pack_b_cols(w_data, 2, 3, 0, 1, 1, 2, LANES, cols);
    attn_pack_b_cols(w_data + 2, 2, 3, 1, 2, 1, 2, LANES, cols);
    for (size_t i = 0; i < attn_pack_b_size(2, 3, LANES); i++)
        assert_true(cols[i] == whole[i]);
    /* and the loader packs a table's parts the same way (run() checks the slot) */
    attn_aot_weights *w = NULL;
    char *err = NULL;
    assert_int_equal(attn_aot_weights_load(&table_parts, write_weights("parts.st", 3, 2, ATTN_I64, true, false), &w, &err),
                     ATTN_OK);
    attn_tensor *out = NULL;
    int nout = -1;
    run_calls = 0;
    assert_int_equal(attn_aot_run(&compiled, &table_parts, 0, w, NULL, NULL, 0, &out, &nout, &err), ATTN_OK);
    assert_int_equal(run_calls, 1);
    attn_tensors_free(out, nout);
    attn_aot_weights_free(w);
}

/* Columns of `gates` blocks packed interleaved (a recurrent step's gate
 * epilogue): column g*H + u at packed column (u / lanes)*gates*lanes +
 * g*lanes + u % lanes; the same when packed in two parts; padding zeroed. */
static void check_gates(int lanes, int gates, int64_t H, int64_t K) {
    int64_t N = gates * H, nr = attn_pack_nr(lanes);
    size_t size = attn_pack_b_size(K, N, lanes);
    float *B = malloc(sizeof(float) * (size_t)(K * N)), *whole = malloc(sizeof(float) * size),
          *parts = malloc(sizeof(float) * size);
    for (int64_t i = 0; i < K * N; i++)
        B[i] = (float)i + 1;
    memset(whole, 0x7f, sizeof(float) * size);
    memset(parts, 0x7f, sizeof(float) * size);
    attn_pack_b_gates(B, K, N, 0, N, N, 1, lanes, gates, whole);
    int64_t cut = H + lanes / 2; /* a part boundary inside a group of lanes */
    attn_pack_b_gates(B, K, N, 0, cut, N, 1, lanes, gates, parts);
    attn_pack_b_gates(B + cut, K, N, cut, N - cut, N, 1, lanes, gates, parts);
    for (int64_t p = 0; p < K; p++)
        for (int64_t c = 0; c < N; c++) {
            int64_t g = c / H, u = c % H, pc = u / lanes * gates * lanes + g * lanes + u % lanes;
            assert_true(whole[(pc / nr * K + p) * nr + pc % nr] == B[p * N + c]);
        }
    for (size_t i = 0; i < size; i++) {
        assert_true(parts[i] == whole[i]);
        if ((int64_t)(i % (size_t)nr) >= N % nr && N % nr && (int64_t)i >= (N - N % nr) * K)
            assert_true(whole[i] == 0.0f);
    }
    free(B);
    free(whole);
    free(parts);
}

static void packs_gates_interleaved(void **state) {
    (void)state;
    check_gates(16, 3, 32, 5);
    check_gates(16, 4, 16, 3); /* N = 64: one and a third panels of 48 */
    check_gates(8, 4, 24, 7);
    check_gates(8, 3, 8, 2);
    assert_int_equal(attn_pack_gate_panels(16, 3), 1);
    assert_int_equal(attn_pack_gate_panels(16, 4), 4);
    assert_int_equal(attn_pack_gate_panels(8, 3), 3);
    assert_int_equal(attn_pack_gate_panels(8, 4), 2);
    assert_int_equal(attn_pack_gate_panels(16, 1), 1);
}

static void loads_and_runs(void **state) {
    (void)state;
    attn_aot_weights *w = NULL;
    char *err = NULL;
    assert_int_equal(attn_aot_weights_load(&table, write_weights("ok.st", 3, 2, ATTN_I64, true, false), &w, &err),
                     ATTN_OK);
    assert_null(err);
    attn_tensor *out = NULL;
    int nout = -1;
    run_calls = 0;
    assert_int_equal(attn_aot_run(&compiled, &table, 0, w, NULL, NULL, 0, &out, &nout, &err), ATTN_OK);
    assert_int_equal(run_calls, 1);
    assert_int_equal(nout, 0);
    attn_tensors_free(out, nout);
    attn_aot_weights_free(w);
}

/* Loading fails with ATTN_ERR_INPUT and a message containing each of want[]. */
static void expect_errors(const attn_aot_table *t, const char *path, const char *const *want, int nwant) {
    attn_aot_weights *w = (attn_aot_weights *)&w; /* must be reset to NULL */
    char *err = NULL;
    assert_int_equal(attn_aot_weights_load(t, path, &w, &err), ATTN_ERR_INPUT);
    assert_null(w);
    assert_non_null(err);
    for (int i = 0; i < nwant; i++)
        if (!strstr(err, want[i]))
            fail_msg("message lacks \"%s\":\n%s", want[i], err);
    attn_string_free(err);
}

static void missing_key(void **state) {
    (void)state;
    const char *path = write_weights("missing.st", 3, 2, ATTN_I64, false, false);
    char want[4400]; /* path is up to 4200 bytes */
    snprintf(want, sizeof want, "error: weight 'b' is missing from %s", path);
    const char *const w[] = {want};
    expect_errors(&table, path, w, 1);
}

static void wrong_shape(void **state) {
    (void)state;
    const char *path = write_weights("shape.st", 2, 3, ATTN_I64, true, false);
    char want[4400];
    snprintf(want, sizeof want, "error: weight 'w' in %s has shape [2, 3], but the model declares f32[3, 2]", path);
    const char *const w[] = {want};
    expect_errors(&table, path, w, 1);
}

static void wrong_dtype(void **state) {
    (void)state;
    const char *path = write_weights("dtype.st", 3, 2, ATTN_F32, true, false);
    const char *const w[] = {"error: weight 'ids' in ", " has dtype f32, but the model declares i64[2]"};
    expect_errors(&table, path, w, 2);
}

static void unexpected_key(void **state) {
    (void)state;
    const char *path = write_weights("extra.st", 3, 2, ATTN_I64, true, true);
    const char *const w[] = {": unexpected weight 'extra': no entry of m.attn declares it"};
    expect_errors(&table, path, w, 1);
    /* an object of some of the entries accepts the other entries' weights */
    attn_aot_weights *aw = NULL;
    assert_int_equal(attn_aot_weights_load(&table_some, path, &aw, NULL), ATTN_OK);
    attn_aot_weights_free(aw);
}

static void every_problem_reported(void **state) {
    (void)state;
    const char *path = write_weights("many.st", 2, 3, ATTN_F32, false, true);
    const char *const w[] = {"weight 'w' in", "weight 'b' is missing", "weight 'ids' in", "unexpected weight 'extra'"};
    expect_errors(&table, path, w, 4);
}

static void bad_file(void **state) {
    (void)state;
    const char *const w[] = {"error: /nonexistent/w.safetensors"};
    expect_errors(&table, "/nonexistent/w.safetensors", w, 1);
    const char *path = stf_at("garbage.st");
    assert_int_equal(stf_write_json(path, "{not json", NULL, 0), 0);
    const char *const g[] = {"error: ", "garbage.st"};
    expect_errors(&table, path, g, 2);
}

static void misuse(void **state) {
    (void)state;
    char *err = NULL;
    attn_aot_weights *w = NULL;
    assert_int_equal(attn_aot_weights_load(NULL, "x", &w, &err), ATTN_ERR_USAGE);
    assert_non_null(err);
    attn_string_free(err);
    attn_tensor *out = NULL;
    int nout = 0;
    assert_int_equal(attn_aot_run(&compiled, &table, 0, NULL, NULL, NULL, 0, &out, &nout, &err), ATTN_ERR_USAGE);
    assert_non_null(strstr(err, "weights are not loaded"));
    attn_string_free(err);
    /* weights of another object */
    static const attn_aot_table other = {"other", "o.attn", 1, LANES, 3, weights, 1, packed, 1, entries};
    assert_int_equal(attn_aot_weights_load(&table, write_weights("ok2.st", 3, 2, ATTN_I64, true, false), &w, NULL),
                     ATTN_OK);
    assert_int_equal(attn_aot_run(&compiled, &other, 0, w, NULL, NULL, 0, &out, &nout, &err), ATTN_ERR_USAGE);
    assert_non_null(strstr(err, "another object"));
    attn_string_free(err);
    assert_int_equal(attn_aot_run(&compiled, &table, 0, w, NULL, NULL, 0, NULL, &nout, &err), ATTN_ERR_USAGE);
    attn_string_free(err);
    attn_aot_weights_free(w);
    attn_aot_weights_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_and_runs),
        cmocka_unit_test(packs_concatenated_parts), cmocka_unit_test(packs_gates_interleaved), cmocka_unit_test(missing_key),  cmocka_unit_test(wrong_shape),
        cmocka_unit_test(wrong_dtype),    cmocka_unit_test(unexpected_key), cmocka_unit_test(every_problem_reported),
        cmocka_unit_test(bad_file),       cmocka_unit_test(misuse),
    };
    return cmocka_run_group_tests(tests, stf_group_setup, stf_group_teardown);
}

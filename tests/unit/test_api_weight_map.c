/*
 * test_api_weight_map.c — weight maps through the C API
 * (attn_model_map_weights, attn_model_map_weights_source): HAN's weights
 * under other names bound from a file and from an image give PyTorch's
 * results; tensors bound one by one under other names are renamed too; and
 * the misuses and the errors located in rules given as text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HAN "models/han.attn"
#define HAN_DIR "tests/golden/fixtures/han_mapped/"
#define CELL "models/grucell.attn"
#define CELL_WEIGHTS "tests/golden/fixtures/grucell/weights.safetensors"

static void errors_contain(const attn_model *m, const char *want) {
    if (!strstr(attn_model_errors(m), want))
        fail_msg("errors \"%s\" lack \"%s\"", attn_model_errors(m), want);
}

static attn_model *loaded(const char *path) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    assert_int_equal(attn_model_load(m, path), ATTN_OK);
    return m;
}

/* The tensors of a safetensors file, f32 and i64 and bool as they are stored
 * by the golden fixtures; names and data malloc'd. */
static int read_tensors(const char *path, attn_tensor *t, int cap) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    int n = st_count(f);
    assert_true(n <= cap);
    for (int i = 0; i < n; i++) {
        const StTensor *s = st_tensor(f, i);
        attn_dtype dt = s->dtype == ST_F32 ? ATTN_F32 : s->dtype == ST_BOOL ? ATTN_BOOL : ATTN_I64;
        t[i] = (attn_tensor){.name = strdup(s->name), .dtype = dt, .rank = s->rank};
        memcpy(t[i].shape, s->shape, sizeof s->shape);
        if (st_convert(s, dt, &t[i].data, err, sizeof err))
            fail_msg("%s", err);
    }
    st_close(f);
    return n;
}

static void free_tensors(attn_tensor *t, int n) {
    for (int i = 0; i < n; i++) {
        free((char *)t[i].name);
        free(t[i].data);
    }
}

/* Runs HAN's forward on the fixture's inputs and compares every output with
 * PyTorch's at 1e-5. */
static void run_han_as_pytorch(attn_model *m, attn_backend backend) {
    attn_program *p = NULL;
    if (attn_model_compile(m, "forward", &(attn_compile_options){.backend = backend}, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    attn_tensor in[4], want[4], *out = NULL;
    int nin = read_tensors(HAN_DIR "inputs.safetensors", in, 4);
    int nwant = read_tensors(HAN_DIR "expected.safetensors", want, 4);
    int nout = 0;
    char *err = NULL;
    if (attn_program_run(p, in, nin, &out, &nout, &err) != ATTN_OK)
        fail_msg("%s", err);
    assert_int_equal(nout, nwant);
    for (int i = 0; i < nwant; i++) {
        assert_string_equal(out[i].name, want[i].name);
        int64_t n = attn_tensor_numel(&want[i]);
        assert_int_equal(attn_tensor_numel(&out[i]), n);
        const float *g = out[i].data, *w = want[i].data;
        for (int64_t j = 0; j < n; j++)
            if (!(fabsf(g[j] - w[j]) <= 1e-5f + 1e-5f * fabsf(w[j])))
                fail_msg("%s[%lld]: got %.9g, want %.9g", want[i].name, (long long)j, g[j], w[j]);
    }
    attn_tensors_free(out, nout);
    free_tensors(in, nin);
    free_tensors(want, nwant);
    attn_program_free(p);
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void han_from_other_names(void **state) {
    (void)state;
    size_t len;
    void *image = read_file(HAN_DIR "weights.safetensors", &len);
    for (int backend = 0; backend < 2; backend++) {
        attn_model *m = loaded(HAN);
        assert_int_equal(attn_model_map_weights(m, HAN_DIR "map.txt"), ATTN_OK);
        if (attn_model_bind_weights(m, HAN_DIR "weights.safetensors") != ATTN_OK)
            fail_msg("%s", attn_model_errors(m));
        run_han_as_pytorch(m, (attn_backend)backend);
        attn_model_free(m);

        m = loaded(HAN);
        assert_int_equal(attn_model_map_weights(m, HAN_DIR "map.txt"), ATTN_OK);
        if (attn_model_bind_weights_memory(m, image, len) != ATTN_OK)
            fail_msg("%s", attn_model_errors(m));
        run_han_as_pytorch(m, (attn_backend)backend);
        attn_model_free(m);
    }
    attn_model *m = loaded(HAN); /* without the map the keys are refused */
    assert_int_equal(attn_model_bind_weights(m, HAN_DIR "weights.safetensors"), ATTN_ERR_INPUT);
    errors_contain(m, "unexpected weight 'model.u_w'");
    attn_model_free(m);
    free(image);
}

/* GRU cell weights bound as tensors named cell.w_ih, ...: a regex with
 * groups renames them to weight_ih, ... */
static void tensors_renamed(void **state) {
    (void)state;
    attn_tensor w[4];
    assert_int_equal(read_tensors(CELL_WEIGHTS, w, 4), 4);
    static const char *const theirs[] = {"cell.w_ih", "cell.w_hh", "cell.b_ih", "cell.b_hh"};
    const char *ours[4];
    attn_model *m = loaded(CELL);
    assert_int_equal(attn_model_map_weights_source(m, "<rules>", "# short names\n"
                                                                 "^cell\\.w_(ih|hh)$=weight_\\1\n"
                                                                 "^cell\\.b_=bias_\n"),
                     ATTN_OK);
    for (int i = 0; i < 4; i++) {
        ours[i] = w[i].name;
        w[i].name = theirs[i];
        assert_int_equal(attn_model_bind_tensor(m, &w[i]), ATTN_OK);
    }
    attn_program *p = NULL;
    if (attn_model_compile(m, "forward", NULL, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    attn_program_free(p);
    attn_model_free(m);

    m = loaded(CELL); /* a tensor of the wrong shape is named by its own key and the rule */
    assert_int_equal(attn_model_map_weights_source(m, "<rules>", "^cell\\.w_(ih|hh)$=weight_\\1\n^cell\\.b_=bias_\n"),
                     ATTN_OK);
    attn_tensor bad = w[2];
    bad.shape[0] = 20;
    for (int i = 0; i < 4; i++)
        assert_int_equal(attn_model_bind_tensor(m, i == 2 ? &bad : &w[i]), ATTN_OK);
    assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_ERR_INPUT);
    errors_contain(m, "weight 'bias_ih' (from 'cell.b_ih' by rule <rules>:2) in <tensors> has shape [20]");
    attn_model_free(m);
    for (int i = 0; i < 4; i++)
        w[i].name = ours[i];
    free_tensors(w, 4);
}

static void misuse(void **state) {
    (void)state;
    assert_int_equal(attn_model_map_weights(NULL, "m.txt"), ATTN_ERR_USAGE);
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_map_weights(m, HAN_DIR "map.txt"), ATTN_ERR_USAGE);
    errors_contain(m, "attn_model_map_weights: load the model first");
    attn_model_free(m);

    m = loaded(HAN);
    assert_int_equal(attn_model_map_weights(m, NULL), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_map_weights_source(m, "<rules>", NULL), ATTN_ERR_USAGE);
    errors_contain(m, "rules is NULL");
    assert_int_equal(attn_model_map_weights_source(m, NULL, "a=b"), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_map_weights(m, "tests/no_such_map.txt"), ATTN_ERR_IO);
    errors_contain(m, "cannot read tests/no_such_map.txt");
    attn_model_free(m);

    m = loaded(HAN); /* a second map */
    assert_int_equal(attn_model_map_weights(m, HAN_DIR "map.txt"), ATTN_OK);
    assert_int_equal(attn_model_map_weights(m, HAN_DIR "map.txt"), ATTN_ERR_USAGE);
    errors_contain(m, "a model takes one weight map");
    attn_model_free(m);

    m = loaded(HAN); /* a map after the weights */
    assert_int_equal(attn_model_bind_weights(m, "tests/golden/fixtures/han/weights.safetensors"), ATTN_OK);
    assert_int_equal(attn_model_map_weights_source(m, "<rules>", "a=b"), ATTN_ERR_USAGE);
    errors_contain(m, "give the weight map before binding weights");
    attn_model_free(m);

    m = loaded(HAN); /* errors in rules given as text are located in them */
    assert_int_equal(attn_model_map_weights_source(m, "<rules>", "# comment\n\nfc.=classifier\n^(=x\n"), ATTN_ERR_INPUT);
    errors_contain(m, "<rules>:3:5: error: a prefix rule ('fc.' ends in '.')");
    errors_contain(m, "<rules>:4:1: error: bad regular expression '^('");
    attn_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(han_from_other_names),
        cmocka_unit_test(tensors_renamed),
        cmocka_unit_test(misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

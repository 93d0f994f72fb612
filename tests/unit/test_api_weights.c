/*
 * test_api_weights.c — weights without a file: a safetensors image in memory
 * (attn_model_bind_weights_memory) and tensors bound one by one
 * (attn_model_bind_tensor), each giving the results of the same weights bound
 * from the file, on both engines; and their misuses: NULL, binding before
 * load or after a compile, a key twice, mixing sources, wrong dtypes and
 * shapes, missing and unexpected keys, a damaged image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"
#include "safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL "models/grucell.attn"
#define WEIGHTS "tests/golden/fixtures/grucell/weights.safetensors"

/* The fixture's tensors as f32 attn_tensors (input_size 5, hidden_size 7). */
typedef struct {
    attn_tensor t[8];
    int n;
} Tensors;

static Tensors read_weights(void) {
    char err[512];
    StFile *f = st_open(WEIGHTS, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    Tensors r = {.n = st_count(f)};
    assert_true(r.n == 4);
    for (int i = 0; i < r.n; i++) {
        const StTensor *s = st_tensor(f, i);
        r.t[i] = (attn_tensor){.name = strdup(s->name), .dtype = ATTN_F32, .rank = s->rank};
        memcpy(r.t[i].shape, s->shape, sizeof s->shape);
        if (st_convert(s, ATTN_F32, &r.t[i].data, err, sizeof err))
            fail_msg("%s", err);
    }
    st_close(f);
    return r;
}

static void free_weights(Tensors *w) {
    for (int i = 0; i < w->n; i++) {
        free((char *)w->t[i].name);
        free(w->t[i].data);
    }
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

static attn_model *loaded(void) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    assert_int_equal(attn_model_load(m, MODEL), ATTN_OK);
    return m;
}

/* h_1 of the GRU cell on fixed inputs (batch 2) with m's weights. */
static void run_cell(attn_model *m, attn_backend backend, float out[2 * 7]) {
    attn_program *p = NULL;
    if (attn_model_compile(m, "forward", &(attn_compile_options){.backend = backend}, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    float x[2 * 5], h[2 * 7];
    for (int i = 0; i < 10; i++)
        x[i] = (float)(i % 7) * 0.25f - 0.5f;
    for (int i = 0; i < 14; i++)
        h[i] = (float)(i % 5) * 0.2f - 0.4f;
    attn_tensor in[2] = {{.name = "input", .dtype = ATTN_F32, .rank = 2, .shape = {2, 5}, .data = x},
                         {.name = "hx", .dtype = ATTN_F32, .rank = 2, .shape = {2, 7}, .data = h}};
    attn_tensor *o = NULL;
    int n = 0;
    char *err = NULL;
    if (attn_program_run(p, in, 2, &o, &n, &err) != ATTN_OK)
        fail_msg("%s", err);
    memcpy(out, o[0].data, sizeof(float) * 14);
    attn_tensors_free(o, n);
    attn_program_free(p);
}

static void errors_contain(const attn_model *m, const char *want) {
    if (!strstr(attn_model_errors(m), want))
        fail_msg("errors \"%s\" lack \"%s\"", attn_model_errors(m), want);
}

static void same_results_as_the_file(void **state) {
    (void)state;
    Tensors w = read_weights();
    size_t len;
    void *image = read_file(WEIGHTS, &len);
    for (int backend = 0; backend < 2; backend++) {
        float want[14], got[14];
        attn_model *m = loaded();
        assert_int_equal(attn_model_bind_weights(m, WEIGHTS), ATTN_OK);
        run_cell(m, (attn_backend)backend, want);
        attn_model_free(m);

        m = loaded();
        if (attn_model_bind_weights_memory(m, image, len) != ATTN_OK)
            fail_msg("%s", attn_model_errors(m));
        run_cell(m, (attn_backend)backend, got);
        assert_memory_equal(got, want, sizeof want);
        attn_model_free(m);

        m = loaded();
        for (int i = 0; i < w.n; i++)
            assert_int_equal(attn_model_bind_tensor(m, &w.t[i]), ATTN_OK);
        run_cell(m, (attn_backend)backend, got);
        assert_memory_equal(got, want, sizeof want);
        attn_model_free(m);
    }
    free(image);
    free_weights(&w);
}

static void misuse(void **state) {
    (void)state;
    Tensors w = read_weights();
    attn_model *m = attn_model_new();
    assert_int_equal(attn_model_bind_tensor(m, &w.t[0]), ATTN_ERR_USAGE); /* before load */
    errors_contain(m, "load the model first");
    assert_int_equal(attn_model_bind_weights_memory(m, "x", 1), ATTN_ERR_USAGE);
    attn_model_free(m);
    assert_int_equal(attn_model_bind_tensor(NULL, &w.t[0]), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_bind_weights_memory(NULL, "x", 1), ATTN_ERR_USAGE);

    m = loaded();
    assert_int_equal(attn_model_bind_tensor(m, NULL), ATTN_ERR_USAGE);
    assert_int_equal(attn_model_bind_weights_memory(m, NULL, 8), ATTN_ERR_USAGE);
    attn_tensor bad = w.t[0];
    bad.name = NULL;
    assert_int_equal(attn_model_bind_tensor(m, &bad), ATTN_ERR_USAGE);
    bad = w.t[0];
    bad.rank = 9;
    assert_int_equal(attn_model_bind_tensor(m, &bad), ATTN_ERR_USAGE);
    bad = w.t[0];
    bad.data = NULL;
    assert_int_equal(attn_model_bind_tensor(m, &bad), ATTN_ERR_USAGE);
    bad = w.t[0];
    bad.shape[0] = -3;
    assert_int_equal(attn_model_bind_tensor(m, &bad), ATTN_ERR_INPUT);
    assert_int_equal(attn_model_bind_tensor(m, &w.t[0]), ATTN_OK);
    assert_int_equal(attn_model_bind_tensor(m, &w.t[0]), ATTN_ERR_USAGE); /* twice */
    errors_contain(m, "bound already");
    assert_int_equal(attn_model_bind_weights(m, WEIGHTS), ATTN_ERR_USAGE); /* a second source */
    errors_contain(m, "one file, one image or tensors");
    /* a missing weight fails the compile; binding it lets it succeed */
    attn_program *p = NULL;
    for (int i = 1; i < w.n - 1; i++)
        assert_int_equal(attn_model_bind_tensor(m, &w.t[i]), ATTN_OK);
    assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_ERR_INPUT);
    errors_contain(m, "is missing from <tensors>");
    assert_int_equal(attn_model_bind_tensor(m, &w.t[w.n - 1]), ATTN_OK);
    assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_OK);
    attn_program_free(p);
    assert_int_equal(attn_model_bind_tensor(m, &(attn_tensor){.name = "late", .dtype = ATTN_F32}),
                     ATTN_ERR_USAGE); /* after a compile */
    errors_contain(m, "before the first attn_model_compile");
    attn_model_free(m);

    /* a file, then a tensor */
    m = loaded();
    assert_int_equal(attn_model_bind_weights(m, WEIGHTS), ATTN_OK);
    assert_int_equal(attn_model_bind_tensor(m, &w.t[0]), ATTN_ERR_USAGE);
    errors_contain(m, "one file, one image or tensors");
    attn_model_free(m);

    /* wrong dtype, wrong shape, an unexpected key: refused at compile, as for files */
    for (int k = 0; k < 3; k++) {
        m = loaded();
        for (int i = 0; i < w.n; i++) {
            attn_tensor t = w.t[i];
            if (k == 0 && strcmp(t.name, "bias_ih") == 0)
                t.dtype = ATTN_I32;
            if (k == 1 && strcmp(t.name, "bias_hh") == 0)
                t.shape[0] = 20;
            assert_int_equal(attn_model_bind_tensor(m, &t), ATTN_OK);
        }
        float one = 1;
        if (k == 2)
            assert_int_equal(attn_model_bind_tensor(m, &(attn_tensor){.name = "extra", .dtype = ATTN_F32,
                                                                       .rank = 1, .shape = {1}, .data = &one}),
                             ATTN_OK);
        assert_int_equal(attn_model_compile(m, "forward", NULL, &p), ATTN_ERR_INPUT);
        assert_null(p);
        errors_contain(m, k == 0 ? "has dtype i32" : k == 1 ? "has shape [20]" : "unexpected weight 'extra'");
        errors_contain(m, "<tensors>");
        attn_model_free(m);
    }

    /* a damaged image */
    size_t len;
    unsigned char *image = read_file(WEIGHTS, &len);
    m = loaded();
    assert_int_equal(attn_model_bind_weights_memory(m, image, 7), ATTN_ERR_INPUT);
    errors_contain(m, "<memory>");
    attn_model_free(m);
    m = loaded();
    image[7] = 0x7f; /* the header length: beyond the image */
    assert_int_equal(attn_model_bind_weights_memory(m, image, len), ATTN_ERR_INPUT);
    errors_contain(m, "<memory>: header length");
    attn_model_free(m);
    free(image);
    free_weights(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_results_as_the_file),
        cmocka_unit_test(misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

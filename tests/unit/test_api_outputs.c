/*
 * test_api_outputs.c — attn_program_run_into: outputs written into the
 * caller's buffers equal attn_program_run's, on both engines; a buffer of
 * the wrong dtype, rank, shape, name or count, or without data, is refused
 * naming the output and its expected type, and nothing is written; NULL
 * arguments are misuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"

#include <string.h>

/* Two outputs, one with a dim computed from the inputs' (2*T). */
static const char *const source = "entry f(x: f32[B, T, 3], n: i64[B]) -> (y, m) {\n"
                                  "  y = concat(x, x * 2.0, axis=1)\n"
                                  "  m = n + 1\n"
                                  "  return y, m\n"
                                  "}\n";

enum { B = 2, T = 4 };

static attn_program *compile(attn_backend backend) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    if (attn_model_load_source(m, "out.attn", source) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    attn_program *p = NULL;
    if (attn_model_compile(m, "f", &(attn_compile_options){.backend = backend}, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    attn_model_free(m);
    return p;
}

typedef struct {
    float x[B * T * 3];
    int64_t n[B];
    attn_tensor in[2];
    float y[B * 2 * T * 3];
    int64_t m[B];
    attn_tensor out[2];
} Call;

static void call_init(Call *c) {
    for (int i = 0; i < B * T * 3; i++)
        c->x[i] = (float)i * 0.5f - 3.0f;
    c->n[0] = 7;
    c->n[1] = -2;
    c->in[0] = (attn_tensor){.name = "x", .dtype = ATTN_F32, .rank = 3, .shape = {B, T, 3}, .data = c->x};
    c->in[1] = (attn_tensor){.name = "n", .dtype = ATTN_I64, .rank = 1, .shape = {B}, .data = c->n};
    memset(c->y, 0xAB, sizeof c->y);
    memset(c->m, 0xAB, sizeof c->m);
    c->out[0] = (attn_tensor){.name = "y", .dtype = ATTN_F32, .rank = 3, .shape = {B, 2 * T, 3}, .data = c->y};
    c->out[1] = (attn_tensor){.dtype = ATTN_I64, .rank = 1, .shape = {B}, .data = c->m}; /* no name: by position */
}

static void same_as_run(void **state) {
    (void)state;
    for (int backend = 0; backend < 2; backend++) {
        attn_program *p = compile((attn_backend)backend);
        Call c;
        call_init(&c);
        attn_tensor *want = NULL;
        int nwant = 0;
        char *err = NULL;
        assert_int_equal(attn_program_run(p, c.in, 2, &want, &nwant, &err), ATTN_OK);
        if (attn_program_run_into(p, c.in, 2, c.out, 2, &err) != ATTN_OK)
            fail_msg("%s", err);
        assert_null(err);
        assert_memory_equal(c.y, want[0].data, sizeof c.y);
        assert_memory_equal(c.m, want[1].data, sizeof c.m);
        assert_ptr_equal(c.out[0].data, c.y); /* the caller's buffers, untouched as tensors */
        attn_tensors_free(want, nwant);
        attn_program_free(p);
    }
}

/* A refused call: the status, the message, and nothing written. */
static void refused(const attn_program *p, Call *c, int nout, attn_status status, const char *text) {
    char *err = NULL;
    assert_int_equal(attn_program_run_into(p, c->in, 2, c->out, nout, &err), status);
    assert_non_null(err);
    if (!strstr(err, text))
        fail_msg("message \"%s\" lacks \"%s\"", err, text);
    attn_string_free(err);
    unsigned char sentinel[sizeof c->y];
    memset(sentinel, 0xAB, sizeof sentinel);
    assert_memory_equal(c->y, sentinel, sizeof c->y);
    assert_memory_equal(c->m, sentinel, sizeof c->m);
}

static void mismatches(void **state) {
    (void)state;
    for (int backend = 0; backend < 2; backend++) {
        attn_program *p = compile((attn_backend)backend);
        Call c;
        call_init(&c);
        c.out[0].shape[1] = T; /* the 2*T dim wrong */
        refused(p, &c, 2, ATTN_ERR_INPUT, "output tensor 0 must be 'y' f32[2, 8, 3] for these inputs, got 'y' f32[2, 4, 3]");
        call_init(&c);
        c.out[1].dtype = ATTN_I32;
        refused(p, &c, 2, ATTN_ERR_INPUT, "output tensor 1 must be 'm' i64[2]");
        call_init(&c);
        c.out[0].rank = 2;
        refused(p, &c, 2, ATTN_ERR_INPUT, "must be 'y' f32[2, 8, 3]");
        call_init(&c);
        c.out[0].name = "m"; /* the outputs swapped */
        refused(p, &c, 2, ATTN_ERR_INPUT, "must be 'y'");
        call_init(&c);
        refused(p, &c, 1, ATTN_ERR_INPUT, "has 2 outputs, 1 output tensors given");
        call_init(&c);
        c.out[0].data = NULL;
        refused(p, &c, 2, ATTN_ERR_INPUT, "has no data");
        call_init(&c);
        c.in[0].shape[2] = 4; /* the inputs are checked as for attn_program_run */
        refused(p, &c, 2, ATTN_ERR_INPUT, "x");
        /* misuse */
        call_init(&c);
        char *err = NULL;
        assert_int_equal(attn_program_run_into(NULL, c.in, 2, c.out, 2, &err), ATTN_ERR_USAGE);
        attn_string_free(err);
        assert_int_equal(attn_program_run_into(p, c.in, 2, NULL, 2, &err), ATTN_ERR_USAGE);
        attn_string_free(err);
        assert_int_equal(attn_program_run_into(p, NULL, 2, c.out, 2, NULL), ATTN_ERR_USAGE);
        assert_int_equal(attn_program_run_into(p, c.in, 2, c.out, -1, NULL), ATTN_ERR_USAGE);
        attn_program_free(p);
    }
}

/* The shapes of a run, known before it (JIT), allocate its outputs. */
static void shapes_before_the_run(void **state) {
    (void)state;
    attn_program *p = compile(ATTN_BACKEND_JIT);
    Call c;
    call_init(&c);
    attn_tensor shapes[2];
    char *err = NULL;
    if (attn_program_output_shapes(p, c.in, 2, shapes, 2, &err) != ATTN_OK)
        fail_msg("%s", err);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(shapes[i].name, i ? "m" : "y");
        assert_int_equal(shapes[i].dtype, c.out[i].dtype);
        assert_int_equal(shapes[i].rank, c.out[i].rank);
        assert_memory_equal(shapes[i].shape, c.out[i].shape, sizeof(int64_t) * (size_t)c.out[i].rank);
        assert_null(shapes[i].data);
    }
    assert_int_equal(attn_program_output_shapes(p, c.in, 2, shapes, 1, &err), ATTN_ERR_INPUT);
    attn_string_free(err);
    c.in[1].shape[0] = 3; /* B bound twice differently */
    assert_int_equal(attn_program_output_shapes(p, c.in, 2, shapes, 2, &err), ATTN_ERR_INPUT);
    attn_string_free(err);
    assert_int_equal(attn_program_output_shapes(p, c.in, 2, NULL, 2, NULL), ATTN_ERR_USAGE);
    assert_int_equal(attn_program_output_shapes(NULL, c.in, 2, shapes, 2, NULL), ATTN_ERR_USAGE);
    attn_program_free(p);
    p = compile(ATTN_BACKEND_INTERP);
    call_init(&c);
    assert_int_equal(attn_program_output_shapes(p, c.in, 2, shapes, 2, &err), ATTN_ERR_USAGE);
    assert_non_null(strstr(err, "JIT"));
    attn_string_free(err);
    attn_program_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_run),
        cmocka_unit_test(mismatches),
        cmocka_unit_test(shapes_before_the_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

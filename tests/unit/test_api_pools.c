/*
 * test_api_pools.c — thread pools of the public API: the process's default
 * pool shared by every program that asks for no other, attn_set_threads
 * before and after it starts, a caller's pool given at compile time, a
 * program's own pool, and the misuses (a pool and a thread count, negative
 * counts, freeing the default pool). Programs sharing one pool run from
 * several threads at once and give the results of a run on one thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Two entries, so one model gives two programs; n = 64 makes the elementwise
 * kernels large enough to be split over the pool. */
static const char *const source = "hyper n: int\n"
                                  "entry twice(x: f32[B, n]) -> y {\n  return x * 2.0\n}\n"
                                  "entry square(x: f32[B, n]) -> y {\n  return x * x + 1.0\n}\n";

enum { N = 64, BATCH = 512, RUNS = 50, THREADS = 4 };

static attn_model *two_entry_model(void) {
    attn_model *m = attn_model_new();
    assert_non_null(m);
    assert_int_equal(attn_model_set(m, "n", "64"), ATTN_OK);
    if (attn_model_load_source(m, "pools.attn", source) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    return m;
}

static attn_program *compile(attn_model *m, const char *entry, const attn_compile_options *opt) {
    attn_program *p = NULL;
    if (attn_model_compile(m, entry, opt, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));
    return p;
}

/* The default pool: set before it starts, fixed afterwards, shared. */
static void default_pool_is_shared(void **state) {
    (void)state;
    assert_int_equal(attn_set_threads(-1), ATTN_ERR_USAGE);
    assert_int_equal(attn_set_threads(3), ATTN_OK);
    attn_pool *d = attn_pool_default();
    assert_non_null(d);
    assert_ptr_equal(attn_pool_default(), d);
    assert_int_equal(attn_pool_threads(d), 3);
    assert_int_equal(attn_set_threads(2), ATTN_ERR_USAGE); /* started: programs hold it */
    assert_int_equal(attn_set_threads(3), ATTN_OK);        /* what it has */
    attn_pool_free(d);                                     /* ignored */
    assert_ptr_equal(attn_pool_default(), d);

    attn_model *m = two_entry_model();
    attn_program *a = compile(m, "twice", NULL), *b = compile(m, "square", NULL);
    assert_ptr_equal(attn_program_pool(a), d);
    assert_ptr_equal(attn_program_pool(b), d);
    attn_program *one = compile(m, "twice", &(attn_compile_options){.threads = 1});
    assert_null(attn_program_pool(one));
    attn_program *own = compile(m, "twice", &(attn_compile_options){.threads = 2});
    assert_non_null(attn_program_pool(own));
    assert_ptr_not_equal(attn_program_pool(own), d);
    assert_int_equal(attn_pool_threads(attn_program_pool(own)), 2);
    attn_program *interp = compile(m, "twice", &(attn_compile_options){.backend = ATTN_BACKEND_INTERP});
    assert_null(attn_program_pool(interp));
    assert_null(attn_program_pool(NULL));
    attn_program_free(a);
    attn_program_free(b);
    attn_program_free(one);
    attn_program_free(own);
    attn_program_free(interp);
    attn_model_free(m);
}

static void misuse(void **state) {
    (void)state;
    attn_model *m = two_entry_model();
    attn_pool *pool = attn_pool_new(2);
    assert_non_null(pool);
    attn_program *p = (attn_program *)1;
    assert_int_equal(attn_model_compile(m, "twice", &(attn_compile_options){.pool = pool, .threads = 2}, &p),
                     ATTN_ERR_USAGE);
    assert_null(p);
    assert_non_null(strstr(attn_model_errors(m), "not both"));
    assert_int_equal(attn_pool_threads(NULL), 1);
    attn_pool_free(NULL);
    attn_pool_free(pool);
    attn_model_free(m);
    attn_pool *capped = attn_pool_new(100000);
    assert_non_null(capped);
    assert_true(attn_pool_threads(capped) <= 256);
    attn_pool_free(capped);
}

typedef struct {
    const attn_program *p;
    const attn_tensor *in;
    const float *want;
    int bad;
} Runner;

static void *run_many(void *arg) {
    Runner *r = arg;
    for (int i = 0; i < RUNS; i++) {
        attn_tensor *out = NULL;
        int nout = 0;
        if (attn_program_run(r->p, r->in, 1, &out, &nout, NULL) != ATTN_OK ||
            memcmp(out[0].data, r->want, sizeof(float) * BATCH * N) != 0)
            r->bad++;
        attn_tensors_free(out, nout);
    }
    return NULL;
}

/* Two programs on a pool of the caller's, each run from two threads at once. */
static void callers_pool_shared_by_threads(void **state) {
    (void)state;
    attn_model *m = two_entry_model();
    attn_pool *pool = attn_pool_new(THREADS);
    assert_non_null(pool);
    attn_compile_options opt = {.pool = pool};
    attn_program *p[2] = {compile(m, "twice", &opt), compile(m, "square", &opt)};
    attn_model_free(m);
    assert_ptr_equal(attn_program_pool(p[0]), pool);
    static float x[BATCH * N], want[2][BATCH * N];
    for (int i = 0; i < BATCH * N; i++) {
        x[i] = (float)(i % 97) * 0.125f - 6.0f;
        want[0][i] = x[i] * 2.0f;
        want[1][i] = x[i] * x[i] + 1.0f;
    }
    attn_tensor in = {.name = "x", .dtype = ATTN_F32, .rank = 2, .shape = {BATCH, N}, .data = x};
    Runner r[THREADS];
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) {
        r[t] = (Runner){.p = p[t % 2], .in = &in, .want = want[t % 2]};
        assert_int_equal(pthread_create(&tid[t], NULL, run_many, &r[t]), 0);
    }
    int bad = 0;
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        bad += r[t].bad;
    }
    assert_int_equal(bad, 0);
    attn_program_free(p[0]);
    attn_program_free(p[1]);
    attn_pool_free(pool); /* after its programs */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_pool_is_shared),
        cmocka_unit_test(misuse),
        cmocka_unit_test(callers_pool_shared_by_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

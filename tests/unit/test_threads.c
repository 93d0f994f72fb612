/*
 * test_threads.c — one compiled program run from 8 threads at once.
 *
 * models/gru.attn with the gru_l1 golden weights is compiled once. Each thread
 * gets its own inputs (two variants with different batch sizes and lengths);
 * their results are first computed on the main thread, then the 8 threads
 * call attn_program_run on the shared program in a loop for a bounded time
 * and compare every result bit for bit with the single-threaded one.
 * Meanwhile the main thread keeps using the model the program came from —
 * compiling the entry again, running and freeing those programs, printing
 * the graph — for the first half of the time, and then frees the model while
 * the runs go on: a program must depend on nothing the model does later.
 * Run time: 2 s, or ATTN_THREAD_SECONDS (the TSan build in .ci/test uses 10).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 8
#define NVARIANTS 2
#define INPUT_SIZE 5
#define HIDDEN_SIZE 7

/* One set of inputs and the outputs the program gave for it on one thread. */
typedef struct {
    int64_t batch, steps;
    float *x, *h0;
    attn_tensor in[2];
    attn_tensor *want;
    int nwant;
} Variant;

typedef struct {
    const attn_program *p;
    Variant v[NVARIANTS];
    double deadline;
    long runs, mismatches, failures;
    char first_problem[512];
} Worker;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Deterministic values in [-1, 1) from a seed (xorshift). */
static float *fill(int64_t n, uint32_t *seed) {
    float *a = malloc(sizeof(float) * (size_t)(n ? n : 1));
    assert_non_null(a);
    for (int64_t i = 0; i < n; i++) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        a[i] = (float)(*seed >> 8) / (float)(1 << 23) - 1.0f;
    }
    return a;
}

static void variant_init(Variant *v, int thread, int k) {
    uint32_t seed = 0x9e3779b9u * (uint32_t)(thread * NVARIANTS + k + 1);
    v->batch = 1 + (thread + k) % 3;
    v->steps = 2 + (thread * 3 + k) % 5;
    v->x = fill(v->batch * v->steps * INPUT_SIZE, &seed);
    v->h0 = fill(v->batch * HIDDEN_SIZE, &seed);
    v->in[0] = (attn_tensor){.name = "input", .dtype = ATTN_F32, .rank = 3,
                             .shape = {v->batch, v->steps, INPUT_SIZE}, .data = v->x};
    v->in[1] = (attn_tensor){.name = "h_0", .dtype = ATTN_F32, .rank = 3,
                             .shape = {1, v->batch, HIDDEN_SIZE}, .data = v->h0};
}

/* Empty string when out equals v's single-threaded result bit for bit. */
static void compare(const Variant *v, const attn_tensor *out, int nout, char *why, size_t len) {
    why[0] = '\0';
    if (nout != v->nwant) {
        snprintf(why, len, "%d outputs, expected %d", nout, v->nwant);
        return;
    }
    for (int i = 0; i < nout; i++) {
        const attn_tensor *a = &out[i], *b = &v->want[i];
        if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->rank != b->rank ||
            memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->rank)) {
            snprintf(why, len, "output %d (%s) differs in name, dtype or shape", i, b->name);
            return;
        }
        size_t bytes = (size_t)attn_tensor_numel(a) * attn_dtype_size(a->dtype);
        if (bytes && memcmp(a->data, b->data, bytes)) {
            snprintf(why, len, "output %s differs from the single-threaded result", b->name);
            return;
        }
    }
}

static void *work(void *arg) {
    Worker *w = arg;
    for (long i = 0; i == 0 || now_s() < w->deadline; i++) {
        const Variant *v = &w->v[i % NVARIANTS];
        attn_tensor *out = NULL;
        int nout = 0;
        char *err = NULL, why[256];
        if (attn_program_run(w->p, v->in, 2, &out, &nout, &err) != ATTN_OK) {
            if (!w->failures++)
                snprintf(w->first_problem, sizeof w->first_problem, "run failed: %s", err ? err : "(no message)");
        } else {
            compare(v, out, nout, why, sizeof why);
            if (why[0] && !w->mismatches++)
                snprintf(w->first_problem, sizeof w->first_problem, "%s", why);
        }
        attn_string_free(err);
        attn_tensors_free(out, nout);
        w->runs++;
    }
    return NULL;
}

static double test_seconds(void) {
    const char *s = getenv("ATTN_THREAD_SECONDS");
    double v = s ? atof(s) : 0;
    return v > 0 && v <= 600 ? v : 2.0;
}

static void one_program_many_threads(void **state) {
    (void)state;
    attn_model *m = attn_model_new();
    const char *sets[][2] = {{"input_size", "5"}, {"hidden_size", "7"}, {"num_layers", "1"}, {"bidirectional", "0"}};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        assert_int_equal(attn_model_set(m, sets[i][0], sets[i][1]), ATTN_OK);
    attn_program *p = NULL;
    if (attn_model_load(m, "models/gru.attn") != ATTN_OK ||
        attn_model_bind_weights(m, "tests/golden/fixtures/gru_l1/weights.safetensors") != ATTN_OK ||
        attn_model_compile(m, "forward", NULL, &p) != ATTN_OK)
        fail_msg("%s", attn_model_errors(m));

    static Worker w[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        w[t] = (Worker){.p = p};
        for (int k = 0; k < NVARIANTS; k++) {
            Variant *v = &w[t].v[k];
            variant_init(v, t, k);
            char *err = NULL;
            if (attn_program_run(p, v->in, 2, &v->want, &v->nwant, &err) != ATTN_OK)
                fail_msg("single-threaded run: %s", err);
        }
    }
    double seconds = test_seconds();
    pthread_t tid[NTHREADS];
    double start = now_s();
    for (int t = 0; t < NTHREADS; t++) {
        w[t].deadline = start + seconds;
        assert_int_equal(pthread_create(&tid[t], NULL, work, &w[t]), 0);
    }
    /* the model's own calls, concurrent with the runs, then its end */
    long recompiles = 0;
    while (now_s() < start + seconds / 2 || recompiles == 0) {
        attn_program *q = NULL;
        char *text = NULL, *err = NULL, why[256];
        if (attn_model_compile(m, "forward", NULL, &q) != ATTN_OK)
            fail_msg("compile while running: %s", attn_model_errors(m));
        if (attn_model_graph_text(m, "forward", 0, &text) != ATTN_OK)
            fail_msg("graph while running: %s", attn_model_errors(m));
        attn_string_free(text);
        const Variant *v = &w[recompiles % NTHREADS].v[0];
        attn_tensor *out = NULL;
        int nout = 0;
        if (attn_program_run(q, v->in, 2, &out, &nout, &err) != ATTN_OK)
            fail_msg("run of a recompiled program: %s", err);
        compare(v, out, nout, why, sizeof why);
        if (why[0])
            fail_msg("recompiled program: %s", why);
        attn_tensors_free(out, nout);
        attn_program_free(q);
        recompiles++;
    }
    attn_model_free(m);
    long runs = 0, bad = 0;
    for (int t = 0; t < NTHREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
        runs += w[t].runs;
        bad += w[t].mismatches + w[t].failures;
        if (w[t].first_problem[0])
            print_error("thread %d: %s\n", t, w[t].first_problem);
    }
    print_message("%d threads, %.1f s: %ld runs, %ld bad; %ld compiles meanwhile\n", NTHREADS, now_s() - start, runs,
                  bad, recompiles);
    for (int t = 0; t < NTHREADS; t++) {
        assert_true(w[t].runs > 0);
        for (int k = 0; k < NVARIANTS; k++) {
            attn_tensors_free(w[t].v[k].want, w[t].v[k].nwant);
            free(w[t].v[k].x);
            free(w[t].v[k].h0);
        }
    }
    attn_program_free(p);
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_program_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

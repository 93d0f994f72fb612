/*
 * test_alloc_failure.c — every allocation attn makes may fail.
 *
 * The program is linked with -Wl,--wrap=malloc,... (tests/CMakeLists.txt), so
 * the references of libattn's own objects (not LLVM's, cJSON's or libc's
 * internal ones) go through the __wrap_* functions below. For N = 1, 2, ...
 * the Nth of those allocations fails while a zoo model (models/gru.attn with
 * the golden fixture gru_l1) is loaded, its weights bound (through a weight
 * map), its entry compiled and run, on the JIT and on the interpreter, until
 * a pass makes fewer than N allocations; then on both again with a BF16 copy
 * of the weights (each tensor widened when wanted, against the outputs of a
 * pass without failures). Every N must give ATTN_ERR_NOMEM from the call that met the
 * failure (or a correct result, where the failure only cost an optimisation),
 * never a crash or another status; the same steps on a fresh model must then
 * succeed; and under AddressSanitizer nothing may leak.
 *
 * ATTN_ALLOC_STRIDE=K tests every Kth N only (default 1: every N);
 * ATTN_ALLOC_FIRST=N starts at N (to reproduce one failure under a debugger),
 * ATTN_ALLOC_VERBOSE=1 prints each N.
 */
#include "attn.h"
#include "safetensors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- the failing allocator ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);

static atomic_long countdown;   /* allocations left before the failing one; 0 = none fails */
static atomic_long made;        /* allocations counted since the last arm() */
static atomic_bool failed_once; /* the injected failure happened */

/* True for the one allocation that is to fail. */
static bool inject(void) {
    atomic_fetch_add(&made, 1);
    long left = atomic_load(&countdown);
    while (left > 0 && !atomic_compare_exchange_weak(&countdown, &left, left - 1))
        ;
    if (left == 1) {
        atomic_store(&failed_once, true);
        return true;
    }
    return false;
}

/* Allocation n from now on fails (0: none). */
static void arm(long n) {
    atomic_store(&made, 0);
    atomic_store(&failed_once, false);
    atomic_store(&countdown, n);
}

/* No allocation fails; failed_once still tells whether one did. */
static void disarm(void) { atomic_store(&countdown, 0); }

void *__wrap_malloc(size_t n) { return inject() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return inject() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return inject() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return inject() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return inject() ? NULL : __real_strndup(s, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { return inject() ? NULL : __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { return inject() ? 12 /* ENOMEM */ : __real_posix_memalign(p, a, n); }

/* ---- one pass over the model ---- */

#define CASE_DIR "tests/golden/fixtures/gru_l1/"

typedef struct Tensors {
    attn_tensor *t;
    int n;
} Tensors;

static Tensors inputs, expected;
static const char *weights_path = CASE_DIR "weights.safetensors"; /* what pass() binds */
static const Tensors *want = &expected;                            /* and the outputs it expects */
static char bf16_path[] = "/tmp/attn_alloc_bf16_XXXXXX";

static Tensors read_tensors(const char *path) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    Tensors r = {calloc((size_t)st_count(f), sizeof(attn_tensor)), st_count(f)};
    assert_non_null(r.t);
    for (int i = 0; i < r.n; i++) {
        const StTensor *t = st_tensor(f, i);
        r.t[i] = (attn_tensor){.name = strdup(t->name), .dtype = ATTN_F32, .rank = t->rank};
        memcpy(r.t[i].shape, t->shape, sizeof t->shape);
        if (st_convert(t, ATTN_F32, &r.t[i].data, err, sizeof err))
            fail_msg("%s", err);
    }
    st_close(f);
    return r;
}

static void free_tensors(Tensors *ts) {
    for (int i = 0; i < ts->n; i++) {
        free((char *)ts->t[i].name);
        free(ts->t[i].data);
    }
    free(ts->t);
}

/* The outputs of a successful run match the fixture. */
static void check_outputs(const attn_tensor *out, int nout) {
    assert_int_equal(nout, want->n);
    for (int i = 0; i < nout; i++) {
        const attn_tensor *w_t = NULL;
        for (int k = 0; k < want->n; k++)
            if (strcmp(want->t[k].name, out[i].name) == 0)
                w_t = &want->t[k];
        assert_non_null(w_t);
        int64_t n = attn_tensor_numel(w_t);
        assert_int_equal(attn_tensor_numel(&out[i]), n);
        for (int64_t j = 0; j < n; j++) {
            float g = ((const float *)out[i].data)[j], w = ((const float *)w_t->data)[j];
            if (!(g - w <= 1e-5f + 1e-5f * (w < 0 ? -w : w) && w - g <= 1e-5f + 1e-5f * (w < 0 ? -w : w)))
                fail_msg("output %s[%lld]: got %g, want %g", out[i].name, (long long)j, (double)g, (double)w);
        }
    }
}

/* A call's status: OK, or (when the injected failure was met) ATTN_ERR_NOMEM. */
static bool step_ok(attn_status st, const char *step, long n, const char *why) {
    if (st == ATTN_OK)
        return true;
    if (st != ATTN_ERR_NOMEM || !atomic_load(&failed_once))
        fail_msg("allocation %ld failing: %s gave status %d%s: %s", n, step, (int)st,
                 atomic_load(&failed_once) ? "" : " without an injected failure", why ? why : "");
    return false;
}

/* Loads, binds, compiles and runs the model with allocation n failing (0: none);
 * true when it ran to the end and the outputs are right. */
static bool pass(attn_backend backend, long n) {
    arm(n);
    bool done = false;
    attn_model *m = attn_model_new();
    if (!m) {
        if (!atomic_load(&failed_once))
            fail_msg("attn_model_new failed without an injected failure");
        disarm();
        return false;
    }
    static const char *const sets[][2] = {{"input_size", "5"}, {"hidden_size", "7"}, {"num_layers", "1"},
                                          {"bidirectional", "0"}};
    attn_program *p = NULL;
    attn_tensor *out = NULL;
    int nout = 0;
    char *error = NULL;
    attn_status st = ATTN_OK;
    for (size_t i = 0; i < sizeof sets / sizeof *sets && st == ATTN_OK; i++)
        st = attn_model_set(m, sets[i][0], sets[i][1]);
    if (!step_ok(st, "attn_model_set", n, attn_model_errors(m)))
        goto out;
    st = attn_model_load(m, "models/gru.attn");
    if (!step_ok(st, "attn_model_load", n, attn_model_errors(m)))
        goto out;
    /* a weight map whose rules rename each key to itself: a regex with groups, a key */
    st = attn_model_map_weights_source(m, "<rules>", "^(weight|bias)_(ih|hh)_l0$=\\1_\\2_l0\nweight_ih_l0=weight_ih_l0\n");
    if (!step_ok(st, "attn_model_map_weights_source", n, attn_model_errors(m)))
        goto out;
    st = attn_model_bind_weights(m, weights_path);
    if (!step_ok(st, "attn_model_bind_weights", n, attn_model_errors(m)))
        goto out;
    attn_compile_options opt = {.backend = backend, .threads = 1};
    st = attn_model_compile(m, "forward", &opt, &p);
    if (!step_ok(st, "attn_model_compile", n, attn_model_errors(m)))
        goto out;
    st = attn_program_run(p, inputs.t, inputs.n, &out, &nout, &error);
    if (!step_ok(st, "attn_program_run", n, error))
        goto out;
    disarm();
    check_outputs(out, nout);
    done = true;
out:
    disarm();
    attn_string_free(error);
    attn_tensors_free(out, nout);
    attn_program_free(p);
    attn_model_free(m);
    return done;
}

static void fail_each_allocation(attn_backend backend) {
    const char *s = getenv("ATTN_ALLOC_STRIDE");
    long stride = s && atol(s) > 0 ? atol(s) : 1;
    const char *first = getenv("ATTN_ALLOC_FIRST");
    long n = first && atol(first) > 0 ? atol(first) : 1, failures = 0;
    bool verbose = getenv("ATTN_ALLOC_VERBOSE") != NULL;
    for (;; n += stride) {
        if (verbose)
            fprintf(stderr, "allocation %ld fails\n", n);
        bool done = pass(backend, n);
        bool met = atomic_load(&failed_once);
        if (done && !met)
            break; /* the whole pass made fewer than n allocations */
        failures += met;
        assert_true(pass(backend, 0)); /* the next model works */
    }
    print_message("%s: allocations 1..%ld failed one at a time (stride %ld)\n",
                  backend == ATTN_BACKEND_JIT ? "jit" : "interpreter", n - 1, stride);
    assert_true(failures > 0);
}

static void test_jit(void **state) { fail_each_allocation(ATTN_BACKEND_JIT); }
static void test_interpreter(void **state) { fail_each_allocation(ATTN_BACKEND_INTERP); }

/* Writes the fixture's weights as a BF16 file at bf16_path (each value's upper half). */
static void write_bf16_weights(void) {
    Tensors w = read_tensors(CASE_DIR "weights.safetensors");
    char json[4096];
    size_t len = (size_t)snprintf(json, sizeof json, "{");
    int64_t offset = 0;
    for (int i = 0; i < w.n; i++) {
        int64_t bytes = attn_tensor_numel(&w.t[i]) * 2;
        len += (size_t)snprintf(json + len, sizeof json - len, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[", i ? "," : "",
                                w.t[i].name);
        for (int d = 0; d < w.t[i].rank; d++)
            len += (size_t)snprintf(json + len, sizeof json - len, "%s%lld", d ? "," : "", (long long)w.t[i].shape[d]);
        len += (size_t)snprintf(json + len, sizeof json - len, "],\"data_offsets\":[%lld,%lld]}", (long long)offset,
                                (long long)(offset + bytes));
        offset += bytes;
    }
    len += (size_t)snprintf(json + len, sizeof json - len, "}");
    assert_true(len + 8 < sizeof json);
    while (len % 8)
        json[len++] = ' ';
    int fd = mkstemp(bf16_path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    assert_non_null(f);
    uint64_t hlen = len;
    assert_int_equal(fwrite(&hlen, 8, 1, f), 1);
    assert_int_equal(fwrite(json, 1, len, f), len);
    for (int i = 0; i < w.n; i++)
        for (int64_t j = 0; j < attn_tensor_numel(&w.t[i]); j++) {
            uint32_t bits;
            memcpy(&bits, (const float *)w.t[i].data + j, sizeof bits);
            uint16_t half = (uint16_t)(bits >> 16);
            assert_int_equal(fwrite(&half, 2, 1, f), 1);
        }
    assert_int_equal(fclose(f), 0);
    free_tensors(&w);
}

/* fail_each_allocation with a BF16 file: the interpreter widens every weight
 * when the program is made, the JIT each weight while it packs it. */
static void with_bf16_file(attn_backend backend) {
    write_bf16_weights();
    weights_path = bf16_path;
    attn_model *m = attn_model_new();
    assert_non_null(m);
    assert_int_equal(attn_model_set(m, "input_size", "5"), ATTN_OK);
    assert_int_equal(attn_model_set(m, "hidden_size", "7"), ATTN_OK);
    assert_int_equal(attn_model_set(m, "num_layers", "1"), ATTN_OK);
    assert_int_equal(attn_model_set(m, "bidirectional", "0"), ATTN_OK);
    assert_int_equal(attn_model_load(m, "models/gru.attn"), ATTN_OK);
    assert_int_equal(attn_model_bind_weights(m, bf16_path), ATTN_OK);
    attn_program *p = NULL;
    attn_compile_options opt = {.backend = backend, .threads = 1};
    assert_int_equal(attn_model_compile(m, "forward", &opt, &p), ATTN_OK);
    static Tensors bf16_expected;
    assert_int_equal(attn_program_run(p, inputs.t, inputs.n, &bf16_expected.t, &bf16_expected.n, NULL), ATTN_OK);
    want = &bf16_expected;
    fail_each_allocation(backend);
    want = &expected;
    weights_path = CASE_DIR "weights.safetensors";
    attn_tensors_free(bf16_expected.t, bf16_expected.n); /* before p: their names are p's */
    attn_program_free(p);
    attn_model_free(m);
    unlink(bf16_path);
    strcpy(bf16_path + strlen(bf16_path) - 6, "XXXXXX");
}

static void test_interpreter_bf16_file(void **state) { with_bf16_file(ATTN_BACKEND_INTERP); }
static void test_jit_bf16_file(void **state) { with_bf16_file(ATTN_BACKEND_JIT); }

static int setup(void **state) {
    setenv("ATTN_CACHE_DIR", "", 1); /* no disk cache: every pass compiles */
    inputs = read_tensors(CASE_DIR "inputs.safetensors");
    expected = read_tensors(CASE_DIR "expected.safetensors");
    return 0;
}

static int teardown(void **state) {
    free_tensors(&inputs);
    free_tensors(&expected);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interpreter),
        cmocka_unit_test(test_jit),
        /* last: a failure leaves the BF16 file bound for the tests after it */
        cmocka_unit_test(test_interpreter_bf16_file),
        cmocka_unit_test(test_jit_bf16_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

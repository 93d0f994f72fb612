/*
 * test_matmul.c — the generated GEMM (compiler/cg_matmul.c) and the B packing
 * (runtime/pack.c) against a double-accumulating reference: odd and prime
 * sizes around the vector width, transposed and padded strides, ldc > N,
 * K == 0, M or N == 0, packed and unpacked B, no pool and pools of 1 and 2
 * threads, on the host target and on 8- and 4-lane targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cg_matmul.h"
#include "pack.h"
#include "threadpool.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*GemmFn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, int64_t, int64_t,
                       float *, int64_t, AttnPool *);
typedef void (*GemmPackedFn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, float *,
                             int64_t, AttnPool *);

typedef struct Env {
    CgTarget t;
    Jit *jit;
    GemmFn gemm;
    GemmPackedFn packed;
    int lanes;
    AttnPool *pools[3]; /* NULL, 1 thread, 2 threads */
} Env;

static void env_init(Env *e, const char *cpu, const char *attr) {
    char *err = NULL;
    assert_int_equal(cg_target_init(&e->t, cpu, attr, &err), 0);
    e->lanes = cg_target_lanes(&e->t);
    e->jit = jit_new(&e->t, &err);
    assert_non_null(e->jit);
    CgModule cm;
    cg_module_init(&cm, jit_context(e->jit), "gemm", &e->t);
    LLVMValueRef g = cg_gemm(&cm);
    assert_true(cg_gemm(&cm) == g); /* emitted once */
    LLVMValueRef p = cg_gemm_packed(&cm);
    assert_true(cg_gemm_packed(&cm) == p);
    if (cg_optimize(cm.mod, &e->t, &err) != 0)
        fail_msg("%s", err);
    assert_int_equal(jit_add_module(e->jit, cm.mod, &err), 0);
    e->gemm = (GemmFn)jit_lookup(e->jit, "attn_gemm", &err);
    e->packed = (GemmPackedFn)jit_lookup(e->jit, "attn_gemm_packed", &err);
    assert_non_null(e->gemm);
    assert_non_null(e->packed);
    e->pools[0] = NULL;
    e->pools[1] = attn_pool_new(1);
    e->pools[2] = attn_pool_new(2);
}

static void env_free(Env *e) {
    attn_pool_free(e->pools[1]);
    attn_pool_free(e->pools[2]);
    jit_free(e->jit);
    cg_target_free(&e->t);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float rnd(void) { return (float)((double)(next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }
static int64_t pick(const int64_t *v, int n) { return v[next_u64() % (uint64_t)n]; }

/* One product of M x K by K x N. ta/tb: operand stored transposed; pad: extra
 * elements per stored row; packed: through attn_pack_b + attn_gemm_packed. */
static void check(Env *e, int64_t M, int64_t N, int64_t K, int ta, int tb, int pad, int packed, AttnPool *pool) {
    int64_t a_rs, a_cs, b_rs, b_cs, a_len, b_len;
    if (ta) { /* stored K x M */
        a_rs = 1, a_cs = M + pad, a_len = K * (M + pad);
    } else {
        a_rs = K + pad, a_cs = 1, a_len = M * (K + pad);
    }
    if (tb) { /* stored N x K */
        b_rs = 1, b_cs = K + pad, b_len = N * (K + pad);
    } else {
        b_rs = N + pad, b_cs = 1, b_len = K * (N + pad);
    }
    int64_t ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)(a_len ? a_len : 1));
    float *B = malloc(sizeof(float) * (size_t)(b_len ? b_len : 1));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    for (int64_t i = 0; i < a_len; i++)
        A[i] = rnd();
    for (int64_t i = 0; i < b_len; i++)
        B[i] = rnd();
    for (int64_t i = 0; i < M * ldc + 1; i++)
        C[i] = 1234.5f;
    float *Bp = NULL;
    if (packed) {
        size_t n = attn_pack_b_size(K, N, e->lanes);
        Bp = malloc(sizeof(float) * (n ? n : 1));
        attn_pack_b(B, K, N, b_rs, b_cs, e->lanes, Bp);
        e->packed(M, N, K, A, a_rs, a_cs, Bp, C, ldc, pool);
    } else {
        e->gemm(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, pool);
    }
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double ref = 0, mag = 0;
            for (int64_t p = 0; p < K; p++) {
                double x = (double)A[i * a_rs + p * a_cs] * (double)B[p * b_rs + j * b_cs];
                ref += x;
                mag += fabs(x);
            }
            double got = C[i * ldc + j], tol = 1.2e-7 * (double)(K + 2) * mag + 1e-30;
            if (!(fabs(got - ref) <= tol))
                fail_msg("lanes %d M %ld N %ld K %ld ta %d tb %d pad %d packed %d threads %d: C[%ld][%ld] = %.9g, "
                         "expected %.9g",
                         e->lanes, (long)M, (long)N, (long)K, ta, tb, pad, packed, attn_pool_threads(pool), (long)i,
                         (long)j, got, ref);
        }
        for (int64_t j = N; j < ldc; j++)
            if (C[i * ldc + j] != 1234.5f)
                fail_msg("M %ld N %ld K %ld: wrote C[%ld][%ld] past N", (long)M, (long)N, (long)K, (long)i, (long)j);
    }
    if (M * ldc >= 0 && C[M * ldc] != 1234.5f)
        fail_msg("wrote past the last row of C");
    free(A);
    free(B);
    free(C);
    free(Bp);
}

static void run_target(const char *cpu, const char *attr, int nrandom) {
    Env e;
    env_init(&e, cpu, attr);
    const int64_t L = e.lanes;
    const int64_t sizes[] = {1, L - 1, L, L + 1, 2 * L + 3, 7, 13, 31, 97};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    /* every transposition and padding, both paths, each pool, on a few shapes */
    const int64_t shapes[][3] = {{13, 31, 7}, {5, 2 * L + 1, 19}, {97, 13, 257}, {2, 3 * L + 5, 31}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int combo = 0; combo < 8; combo++)
            for (int packed = 0; packed < 2; packed++)
                for (int pl = 0; pl < 3; pl++)
                    check(&e, shapes[s][0], shapes[s][1], shapes[s][2], combo & 1, (combo >> 1) & 1, (combo >> 2) & 1,
                          packed, e.pools[pl]);
    /* random shapes from the interesting sizes */
    for (int r = 0; r < nrandom; r++) {
        int64_t M = pick(sizes, nsizes), N = pick(sizes, nsizes), K = pick(sizes, nsizes);
        if (r % 3 == 0)
            M = 1 + (int64_t)(next_u64() % 4); /* the small-M path */
        int combo = (int)(next_u64() % 8);
        check(&e, M, N, K, combo & 1, (combo >> 1) & 1, (combo >> 2) & 1, r & 1, e.pools[r % 3]);
    }
    /* empty and degenerate products */
    for (int packed = 0; packed < 2; packed++)
        for (int pl = 0; pl < 3; pl++) {
            check(&e, 5, 7, 0, 0, 0, 0, packed, e.pools[pl]);
            check(&e, 3, 40, 0, 1, 1, 0, packed, e.pools[pl]);
            check(&e, 0, 7, 5, 0, 0, 0, packed, e.pools[pl]);
            check(&e, 4, 0, 5, 0, 0, 0, packed, e.pools[pl]);
        }
    env_free(&e);
}

static void test_host(void **state) {
    (void)state;
    run_target(NULL, NULL, 150);
}
static void test_avx2(void **state) {
    (void)state;
    run_target("haswell", "+avx,+avx2,+fma", 100);
}
static void test_sse2(void **state) {
    (void)state;
    run_target("x86-64", "+sse2", 100);
}

/* Larger products: several KC blocks, many tiles, the thread grid. */
static void test_large(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    check(&e, 300, 515, 301, 0, 0, 0, 0, e.pools[2]);
    check(&e, 300, 515, 301, 1, 1, 0, 1, e.pools[2]);
    check(&e, 129, 200, 600, 0, 1, 1, 0, e.pools[1]);
    check(&e, 64, 1000, 520, 1, 0, 0, 1, NULL);
    check(&e, 1, 1536, 512, 0, 0, 0, 1, e.pools[2]);
    check(&e, 3, 1536, 512, 0, 0, 0, 0, e.pools[2]);
    check(&e, 4, 777, 300, 1, 1, 1, 0, e.pools[2]);
    env_free(&e);
}

/* Several threads calling one module's functions at once. */
typedef struct Worker {
    Env *e;
    int id;
    int failures;
} Worker;

static void *worker(void *arg) {
    Worker *w = arg;
    const int64_t M = 70 + w->id, N = 90, K = 300;
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
    float *C = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M * K; i++)
        A[i] = (float)((i * 7 + w->id) % 13) - 6.0f;
    for (int64_t i = 0; i < K * N; i++)
        B[i] = (float)((i * 5) % 11) - 5.0f;
    for (int rep = 0; rep < 20; rep++) {
        w->e->gemm(M, N, K, A, K, 1, B, N, 1, C, N, w->e->pools[2]);
        for (int64_t i = 0; i < M; i += 7)
            for (int64_t j = 0; j < N; j += 5) {
                double ref = 0;
                for (int64_t p = 0; p < K; p++)
                    ref += (double)A[i * K + p] * B[p * N + j];
                if (C[i * N + j] != (float)ref) /* small integers: exact */
                    w->failures++;
            }
    }
    free(A);
    free(B);
    free(C);
    return NULL;
}

static void test_concurrent_calls(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    pthread_t th[4];
    Worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (Worker){&e, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    env_free(&e);
}

static void test_pack_layout(void **state) {
    (void)state;
    const int lane_counts[] = {4, 8, 16};
    for (int li = 0; li < 3; li++) {
        int lanes = lane_counts[li], nr = attn_pack_nr(lanes);
        assert_true(nr % lanes == 0);
        assert_int_equal(attn_pack_b_size(0, 10, lanes), 0);
        assert_int_equal(attn_pack_b_size(10, 0, lanes), 0);
        const int64_t K = 11, Ns[] = {1, nr - 1, nr, nr + 1, 3 * nr + 2};
        for (int ni = 0; ni < 5; ni++) {
            int64_t N = Ns[ni];
            size_t size = attn_pack_b_size(K, N, lanes);
            assert_int_equal(size, (size_t)((N + nr - 1) / nr * nr * K));
            for (int tb = 0; tb < 2; tb++) {
                float *B = malloc(sizeof(float) * (size_t)(K * N)), *out = malloc(sizeof(float) * size);
                int64_t b_rs = tb ? 1 : N, b_cs = tb ? K : 1;
                for (int64_t p = 0; p < K; p++)
                    for (int64_t j = 0; j < N; j++)
                        B[p * b_rs + j * b_cs] = (float)(p * 1000 + j + 1);
                memset(out, 0xff, sizeof(float) * size);
                attn_pack_b(B, K, N, b_rs, b_cs, lanes, out);
                for (int64_t jp = 0; jp < (N + nr - 1) / nr; jp++)
                    for (int64_t p = 0; p < K; p++)
                        for (int64_t j = 0; j < nr; j++) {
                            int64_t col = jp * nr + j;
                            float want = col < N ? (float)(p * 1000 + col + 1) : 0.0f;
                            assert_true(out[(jp * K + p) * nr + j] == want);
                        }
                free(B);
                free(out);
            }
        }
    }
    void *m = attn_rt_aligned_alloc(100);
    assert_non_null(m);
    assert_int_equal((uintptr_t)m % 64, 0);
    attn_rt_aligned_free(m);
    assert_null(attn_rt_aligned_alloc(0));
    attn_rt_aligned_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_layout), cmocka_unit_test(test_host),  cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_sse2),        cmocka_unit_test(test_large), cmocka_unit_test(test_concurrent_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

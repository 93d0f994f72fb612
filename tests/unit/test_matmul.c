/*
 * test_matmul.c — the generated GEMM (compiler/codegen/cg_matmul.c) and the B packing
 * (runtime/rt/pack.c) against a double-accumulating reference: odd and prime
 * sizes around the vector width, transposed and padded strides, ldc > N,
 * K == 0, M or N == 0, packed and unpacked B, no pool and pools of 1 and 2
 * threads, on the host target and on 8- and 4-lane targets; and the epilogue
 * hook: each element of C handed over exactly once, with its final value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core_env.h"
#include "gemm_epi.h"

#include "cg_matmul.h"
#include "pack.h"
#include "threadpool.h"
#include "jit.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*EpiFn)(void *, int64_t, int64_t, int64_t, int64_t);
typedef void (*GemmFn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, int64_t, int64_t,
                       float *, int64_t, attn_pool *, EpiFn, void *, int64_t);
typedef void (*GemmPackedFn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, float *,
                             int64_t, attn_pool *, EpiFn, void *, int64_t);

typedef struct Env {
    CoreEnv core;
    GemmFn gemm;
    GemmPackedFn packed;
} Env;

static void env_init(Env *e, const char *cpu, const char *attr) {
    CgModule cm;
    core_env_begin(&e->core, &cm, cpu, attr, "gemm");
    LLVMValueRef g = cg_gemm(&cm);
    assert_true(cg_gemm(&cm) == g); /* emitted once */
    LLVMValueRef p = cg_gemm_packed(&cm);
    assert_true(cg_gemm_packed(&cm) == p);
    core_env_finish(&e->core, &cm);
    e->gemm = (GemmFn)core_env_lookup(&e->core, "attn_gemm");
    e->packed = (GemmPackedFn)core_env_lookup(&e->core, "attn_gemm_packed");
}

static void env_free(Env *e) { core_env_free(&e->core); }

/* One product of M x K by K x N. ta/tb: operand stored transposed; pad: extra
 * elements per stored row; packed: through attn_pack_b + attn_gemm_packed;
 * epi: with the epilogue above (C must then be 2 * A*B + 1). */
static void check_grouped(Env *e, int64_t M, int64_t N, int64_t K, int ta, int tb, int pad, int packed,
                          attn_pool *pool, bool epi, int64_t epi_panels) {
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
    /* calloc: with K == 0 nothing is written, and the core still gets the pointers */
    float *A = calloc((size_t)(a_len ? a_len : 1), sizeof(float));
    float *B = calloc((size_t)(b_len ? b_len : 1), sizeof(float));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    size_t mn = M * N > 0 ? (size_t)(M * N) : 1;
    double *ref = malloc(sizeof(double) * mn), *tol = malloc(sizeof(double) * mn);
    atomic_int *calls = malloc(sizeof(atomic_int) * mn);
    for (int64_t i = 0; i < a_len; i++)
        A[i] = rnd();
    for (int64_t i = 0; i < b_len; i++)
        B[i] = rnd();
    for (int64_t i = 0; i < M * ldc + 1; i++)
        C[i] = 1234.5f;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double r = 0, mag = 0;
            for (int64_t p = 0; p < K; p++) {
                double x = (double)A[i * a_rs + p * a_cs] * (double)B[p * b_rs + j * b_cs];
                r += x;
                mag += fabs(x);
            }
            ref[i * N + j] = r;
            tol[i * N + j] = 1.2e-7 * (double)(K + 2) * mag + 1e-30;
            atomic_init(&calls[i * N + j], 0);
        }
    /* groups of panels; unpacked B is only asked for whole rows (epi_panels >= N) */
    int64_t group = packed ? epi_panels * attn_pack_nr(e->core.lanes) : epi_panels >= N && N > 0 ? N : 1;
    Epi ep = {.C = C, .M = M, .N = N, .ldc = ldc, .group = group, .ref = ref, .tol = tol, .calls = calls};
    atomic_init(&ep.bad_rect, 0);
    atomic_init(&ep.not_final, 0);
    EpiFn fn = epi ? epilogue : NULL;
    void *arg = epi ? &ep : NULL;
    float *Bp = NULL;
    if (packed) {
        size_t n = attn_pack_b_size(K, N, e->core.lanes);
        Bp = malloc(sizeof(float) * (n ? n : 1));
        attn_pack_b(B, K, N, b_rs, b_cs, e->core.lanes, Bp);
        e->packed(M, N, K, A, a_rs, a_cs, Bp, C, ldc, pool, fn, arg, epi_panels);
    } else {
        e->gemm(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, pool, fn, arg, epi_panels);
    }
#define WHERE "lanes %d M %ld N %ld K %ld ta %d tb %d pad %d packed %d threads %d epi %d panels %ld"
#define WHAT e->core.lanes, (long)M, (long)N, (long)K, ta, tb, pad, packed, attn_pool_threads(pool), (int)epi, (long)epi_panels
    if (atomic_load(&ep.bad_rect) || atomic_load(&ep.not_final))
        fail_msg(WHERE ": %d epilogue calls out of C or empty, %d elements not final when handed over", WHAT,
                 atomic_load(&ep.bad_rect), atomic_load(&ep.not_final));
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double r = ref[i * N + j], t = tol[i * N + j];
            if (epi) { /* c = 2c + 1 in float: the error doubles, plus one rounding */
                int n = atomic_load(&calls[i * N + j]);
                if (n != 1)
                    fail_msg(WHERE ": C[%ld][%ld] handed to the epilogue %d times", WHAT, (long)i, (long)j, n);
                t = 2 * t + 1.2e-7 * (2 * fabs(r) + 2 * t + 1);
                r = 2 * r + 1;
            }
            double got = C[i * ldc + j];
            if (!(fabs(got - r) <= t))
                fail_msg(WHERE ": C[%ld][%ld] = %.9g, expected %.9g", WHAT, (long)i, (long)j, got, r);
        }
        for (int64_t j = N; j < ldc; j++)
            if (C[i * ldc + j] != 1234.5f)
                fail_msg("M %ld N %ld K %ld: wrote C[%ld][%ld] past N", (long)M, (long)N, (long)K, (long)i, (long)j);
    }
#undef WHERE
#undef WHAT
    if (M * ldc >= 0 && C[M * ldc] != 1234.5f)
        fail_msg("wrote past the last row of C");
    free(A);
    free(B);
    free(C);
    free(Bp);
    free(ref);
    free(tol);
    free(calls);
}

static void check(Env *e, int64_t M, int64_t N, int64_t K, int ta, int tb, int pad, int packed, attn_pool *pool,
                  bool epi) {
    check_grouped(e, M, N, K, ta, tb, pad, packed, pool, epi, 1);
}

static void run_target(const char *cpu, const char *attr, int nrandom) {
    Env e;
    env_init(&e, cpu, attr);
    const int64_t L = e.core.lanes;
    const int64_t sizes[] = {1, L - 1, L, L + 1, 2 * L + 3, 7, 13, 31, 97};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    /* every transposition and padding, both paths, each pool, on a few shapes */
    const int64_t shapes[][3] = {{13, 31, 7}, {5, 2 * L + 1, 19}, {97, 13, 257}, {2, 3 * L + 5, 31}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int combo = 0; combo < 8; combo++)
            for (int packed = 0; packed < 2; packed++)
                for (int pl = 0; pl < 3; pl++)
                    check(&e, shapes[s][0], shapes[s][1], shapes[s][2], combo & 1, (combo >> 1) & 1, (combo >> 2) & 1,
                          packed, e.core.pools[pl], false);
    /* random shapes from the interesting sizes, half of them with the epilogue */
    for (int r = 0; r < nrandom; r++) {
        int64_t M = pick(sizes, nsizes), N = pick(sizes, nsizes), K = pick(sizes, nsizes);
        if (r % 3 == 0)
            M = 1 + (int64_t)(next_u64() % 4); /* the small-M path */
        int combo = (int)(next_u64() % 8);
        check(&e, M, N, K, combo & 1, (combo >> 1) & 1, (combo >> 2) & 1, r & 1, e.core.pools[r % 3], r % 4 >= 2);
    }
    /* empty and degenerate products */
    for (int packed = 0; packed < 2; packed++)
        for (int pl = 0; pl < 3; pl++)
            for (int epi = 0; epi < 2; epi++) {
                check(&e, 5, 7, 0, 0, 0, 0, packed, e.core.pools[pl], epi);
                check(&e, 3, 40, 0, 1, 1, 0, packed, e.core.pools[pl], epi);
                check(&e, 0, 7, 5, 0, 0, 0, packed, e.core.pools[pl], epi);
                check(&e, 4, 0, 5, 0, 0, 0, packed, e.core.pools[pl], epi);
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
    for (int epi = 0; epi < 2; epi++) {
        check(&e, 300, 515, 301, 0, 0, 0, 0, e.core.pools[2], epi);
        check(&e, 300, 515, 301, 1, 1, 0, 1, e.core.pools[2], epi);
        check(&e, 129, 200, 600, 0, 1, 1, 0, e.core.pools[1], epi);
        check(&e, 64, 1000, 520, 1, 0, 0, 1, NULL, epi);
        check(&e, 1, 1536, 512, 0, 0, 0, 1, e.core.pools[2], epi);
        check(&e, 3, 1536, 512, 0, 0, 0, 0, e.core.pools[2], epi);
        check(&e, 4, 777, 300, 1, 1, 1, 0, e.core.pools[2], epi);
    }
    env_free(&e);
}

/* The epilogue on every path: small M (packed, direct, direct with a masked
 * last panel), the main path's edge tiles and strips, K == 0 (zeros), each
 * transposition and padding in turn, packed and unpacked B, each pool; on
 * the host and on an 8-lane target (other tile and strip sizes). test_large
 * adds several KC blocks and several blocks of column panels per task. */
static void epilogue_grid(const char *cpu, const char *attr) {
    Env e;
    env_init(&e, cpu, attr);
    const int64_t Ms[] = {1, 3, 8, 17, 100}, Ns[] = {1, 15, 16, 47, 48, 97, 300}, Ks[] = {0, 1, 64, 300};
    int n = 0;
    for (int mi = 0; mi < 5; mi++)
        for (int ni = 0; ni < 7; ni++)
            for (int ki = 0; ki < 4; ki++)
                for (int packed = 0; packed < 2; packed++)
                    for (int pl = 0; pl < 3; pl++, n++)
                        check(&e, Ms[mi], Ns[ni], Ks[ki], n & 1, (n >> 1) & 1, (n >> 2) & 1, packed, e.core.pools[pl], true);
    env_free(&e);
}

static void test_epilogue(void **state) {
    (void)state;
    epilogue_grid(NULL, NULL);
    epilogue_grid("haswell", "+avx,+avx2,+fma");
}

/* Epilogue rectangles in whole groups of panels (a recurrent step's gates,
 * attn_pack_b_gates): small M and the main path, one and several KC blocks
 * and blocks of panels, N a multiple of the group or not, each pool. */
static void groups_grid(const char *cpu, const char *attr) {
    Env e;
    env_init(&e, cpu, attr);
    int64_t nr = attn_pack_nr(e.core.lanes);
    const int64_t Ms[] = {1, 4, 9, 64}, Ks[] = {1, 300};
    const int64_t Ns[] = {nr, 4 * nr, 4 * nr + 5, 43 * nr, 16 * 3 * nr / 4};
    int n = 0;
    for (int64_t gp = 1; gp <= 4; gp++)
        for (int mi = 0; mi < 4; mi++)
            for (int ni = 0; ni < 5; ni++)
                for (int ki = 0; ki < 2; ki++)
                    for (int pl = 0; pl < 3; pl++, n++)
                        check_grouped(&e, Ms[mi], Ns[ni], Ks[ki], n & 1, 0, 0, 1, e.core.pools[pl], true, gp);
    /* whole rows (a softmax epilogue), B packed or not */
    for (int mi = 0; mi < 4; mi++)
        for (int ni = 0; ni < 5; ni++)
            for (int packed = 0; packed < 2; packed++)
                for (int pl = 0; pl < 3; pl++, n++)
                    check_grouped(&e, Ms[mi], Ns[ni], 64, n & 1, (n >> 1) & 1, 0, packed, e.core.pools[pl], true, Ns[ni]);
    env_free(&e);
}

static void test_epilogue_groups(void **state) {
    (void)state;
    groups_grid(NULL, NULL);
    groups_grid("haswell", "+avx,+avx2,+fma");
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
        w->e->gemm(M, N, K, A, K, 1, B, N, 1, C, N, w->e->core.pools[2], NULL, NULL, 1);
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
    rng_seed(0x9E3779B97F4A7C15ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_layout), cmocka_unit_test(test_host),  cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_sse2),        cmocka_unit_test(test_large), cmocka_unit_test(test_concurrent_calls),
        cmocka_unit_test(test_epilogue),
        cmocka_unit_test(test_epilogue_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

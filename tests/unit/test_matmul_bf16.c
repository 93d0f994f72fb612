/*
 * test_matmul_bf16.c — the bf16-weights matmul core (compiler/codegen/
 * cg_matmul_bf16.c) and its storage (runtime/rt/pack.c): rounding to
 * nearest-even, the panel layout, and products against a double-accumulating
 * reference of the bf16-rounded operands, with vdpbf16ps (the host, when it
 * has AVX512_BF16) and with the bf16 values widened in registers (the host
 * with -avx512bf16, an 8-lane and a 4-lane target): odd K (a padded last
 * pair), several KC blocks, transposed A, edge tiles, pools of 1 and 2
 * threads, the epilogue's rectangles (each element once, final, in whole
 * groups of panels).
 *
 * The bound is the f32 accumulation error of the rounded operands,
 * 1.2e-7 * (K + 2) * sum |a*b|. Each check also shows that the bound would
 * catch a broken kernel: the reference with truncated operands instead of
 * rounded ones (a wrong rounding, off by up to 2^-8 relative per operand)
 * must fail it for K >= 16, and so must the reference with the rows of a
 * pair swapped (a wrong panel layout).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core_env.h"
#include "gemm_epi.h"

#include "cg_matmul.h"
#include "jit.h"
#include "pack.h"
#include "threadpool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef void (*EpiFn)(void *, int64_t, int64_t, int64_t, int64_t);
typedef void (*GemmBf16Fn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const uint16_t *, float *,
                           int64_t, attn_pool *, EpiFn, void *, int64_t);

typedef struct Env {
    CoreEnv core;
    GemmBf16Fn gemm;
} Env;

static void env_init(Env *e, const char *cpu, const char *attr) {
    CgModule cm;
    core_env_begin(&e->core, &cm, cpu, attr, "gemm_bf16");
    LLVMValueRef g = cg_gemm_packed_bf16(&cm);
    assert_true(cg_gemm_packed_bf16(&cm) == g); /* emitted once */
    core_env_finish(&e->core, &cm);
    e->gemm = (GemmBf16Fn)core_env_lookup(&e->core, "attn_gemm_packed_bf16");
}

static void env_free(Env *e) { core_env_free(&e->core); }

/* The program links with -Wl,--wrap=aligned_alloc (tests/CMakeLists.txt):
 * while fail_aligned_alloc is set, the runtime's aligned allocations (the
 * core's buffer of packed A) fail, and the core packs A per strip on the
 * stack instead. */
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
static bool fail_aligned_alloc;
void *__wrap_aligned_alloc(size_t align, size_t n) { return fail_aligned_alloc ? NULL : __real_aligned_alloc(align, n); }

static float bits_f(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
static uint32_t f_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static double bf16_value(uint16_t h) { return bits_f((uint32_t)h << 16); }
static double rounded(float x) { return bf16_value(attn_bf16_round(x)); }
static double truncated(float x) { return bf16_value((uint16_t)(f_bits(x) >> 16)); }

static void test_round(void **state) {
    (void)state;
    assert_int_equal(attn_bf16_round(1.0f), 0x3f80);
    assert_int_equal(attn_bf16_round(-2.5f), 0xc020);
    assert_int_equal(attn_bf16_round(bits_f(0x3f808000u)), 0x3f80); /* tie, even below: down */
    assert_int_equal(attn_bf16_round(bits_f(0x3f818000u)), 0x3f82); /* tie, odd below: up */
    assert_int_equal(attn_bf16_round(bits_f(0x3f808001u)), 0x3f81); /* above the tie: up */
    assert_int_equal(attn_bf16_round(bits_f(0x3f807fffu)), 0x3f80); /* below the tie: down */
    assert_int_equal(attn_bf16_round(bits_f(0x7f7fffffu)), 0x7f80); /* the largest float rounds to inf */
    assert_int_equal(attn_bf16_round(INFINITY), 0x7f80);
    assert_int_equal(attn_bf16_round(-INFINITY), 0xff80);
    uint16_t nan = attn_bf16_round(bits_f(0x7f800001u)); /* a NaN whose payload is all below bit 16 */
    assert_true((nan & 0x7f80) == 0x7f80 && (nan & 0x7f) != 0);
}

/* Element (p, j) of a K×N matrix in the bf16 panels, as pack.h documents. */
static uint16_t at(const uint16_t *out, int64_t K, int nr, int64_t p, int64_t j) {
    int64_t kp = (K + 1) / 2 * 2;
    return out[((j / nr) * kp + p - p % 2) * nr + 2 * (j % nr) + p % 2];
}

static void test_layout(void **state) {
    (void)state;
    const int lane_counts[] = {4, 8, 16};
    for (int li = 0; li < 3; li++) {
        int lanes = lane_counts[li], nr = attn_pack_nr(lanes);
        const int64_t Ks[] = {1, 2, 7, 12}, Ns[] = {1, nr - 1, nr, 2 * nr + 3};
        for (int ki = 0; ki < 4; ki++)
            for (int ni = 0; ni < 4; ni++) {
                int64_t K = Ks[ki], N = Ns[ni], kp = (K + 1) / 2 * 2;
                size_t size = attn_pack_b_bf16_size(K, N, lanes);
                assert_int_equal(size, (size_t)((N + nr - 1) / nr * nr * kp));
                float *B = malloc(sizeof(float) * (size_t)(K * N));
                float *panels = malloc(sizeof(float) * attn_pack_b_size(K, N, lanes));
                uint16_t *out = malloc(sizeof(uint16_t) * size);
                for (int64_t i = 0; i < K * N; i++)
                    B[i] = rnd();
                attn_pack_b(B, K, N, N, 1, lanes, panels);
                memset(out, 0xAB, sizeof(uint16_t) * size);
                attn_pack_b_bf16(panels, K, N, lanes, out);
                int64_t np = (N + nr - 1) / nr;
                for (int64_t p = 0; p < kp; p++)
                    for (int64_t j = 0; j < np * nr; j++) {
                        uint16_t want = p < K && j < N ? attn_bf16_round(B[p * N + j]) : 0; /* padding is zero */
                        assert_int_equal(at(out, K, nr, p, j), want);
                    }
                size_t bytes;
                void *conv = attn_pack_to_dtype(panels, K, N, lanes, ATTN_WEIGHTS_BF16, &bytes);
                assert_non_null(conv);
                assert_int_equal(bytes, size * sizeof(uint16_t));
                assert_memory_equal(conv, out, bytes);
                free(conv);
                free(out);
                free(B);
            }
    }
}

/* Whether got[i] is within tol[i] of ref[i] for every i < n. */
static bool within(const float *got, int64_t ldc, const double *ref, const double *tol, int64_t M, int64_t N) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            if (!(fabs(got[i * ldc + j] - ref[i * N + j]) <= tol[i * N + j]))
                return false;
    return true;
}

/* C = A B for M×K A (transposed when ta) and K×N B stored as bf16 panels; with
 * the epilogue in groups of `gp` panels when epi. */
static void check(Env *e, int64_t M, int64_t N, int64_t K, int ta, attn_pool *pool, bool epi, int64_t gp) {
    int64_t a_rs = ta ? 1 : K, a_cs = ta ? M : 1, ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)(M * K + 1)), *B = malloc(sizeof(float) * (size_t)(K * N + 1));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    size_t mn = (size_t)(M * N + 1);
    double *ref = malloc(sizeof(double) * mn), *tol = malloc(sizeof(double) * mn);
    double *trunc_ref = malloc(sizeof(double) * mn), *swap_ref = malloc(sizeof(double) * mn);
    atomic_int *calls = malloc(sizeof(atomic_int) * mn);
    for (int64_t i = 0; i < M * K; i++)
        A[i] = rnd();
    for (int64_t i = 0; i < K * N; i++)
        B[i] = rnd();
    for (int64_t i = 0; i < M * ldc + 1; i++)
        C[i] = 1234.5f;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double r = 0, mag = 0, t = 0, s = 0;
            for (int64_t p = 0; p < K; p++) {
                float a = A[i * a_rs + p * a_cs];
                double x = rounded(a) * rounded(B[p * N + j]);
                r += x;
                mag += fabs(x);
                t += truncated(a) * truncated(B[p * N + j]);
                int64_t q = p ^ 1; /* the other row of p's pair */
                s += q < K ? rounded(a) * rounded(B[q * N + j]) : 0;
            }
            ref[i * N + j] = r;
            tol[i * N + j] = 1.2e-7 * (double)(K + 2) * mag + 1e-30;
            trunc_ref[i * N + j] = t;
            swap_ref[i * N + j] = s;
            atomic_init(&calls[i * N + j], 0);
        }
    size_t n = attn_pack_b_size(K, N, e->core.lanes);
    float *panels = malloc(sizeof(float) * (n ? n : 1));
    attn_pack_b(B, K, N, N, 1, e->core.lanes, panels);
    size_t bytes;
    uint16_t *Bp = attn_pack_to_dtype(panels, K, N, e->core.lanes, ATTN_WEIGHTS_BF16, &bytes);
    assert_true(Bp || K == 0 || N == 0);
    Epi ep = {.C = C, .M = M, .N = N, .ldc = ldc, .group = gp * attn_pack_nr(e->core.lanes), .ref = ref, .tol = tol,
              .calls = calls};
    atomic_init(&ep.bad_rect, 0);
    atomic_init(&ep.not_final, 0);
    e->gemm(M, N, K, A, a_rs, a_cs, Bp, C, ldc, pool, epi ? epilogue : NULL, epi ? &ep : NULL, gp);
#define WHERE "lanes %d M %ld N %ld K %ld ta %d threads %d epi %d group %ld"
#define WHAT e->core.lanes, (long)M, (long)N, (long)K, ta, attn_pool_threads(pool), (int)epi, (long)gp
    if (atomic_load(&ep.bad_rect) || atomic_load(&ep.not_final))
        fail_msg(WHERE ": %d bad epilogue rectangles, %d elements not final when handed over", WHAT,
                 atomic_load(&ep.bad_rect), atomic_load(&ep.not_final));
    if (epi)
        for (int64_t i = 0; i < M * N; i++) {
            if (atomic_load(&calls[i]) != 1)
                fail_msg(WHERE ": C[%ld] handed to the epilogue %d times", WHAT, (long)i, atomic_load(&calls[i]));
            /* c = 2c + 1 in float: the error doubles, plus one rounding */
            tol[i] = 2 * tol[i] + 1.2e-7 * (2 * fabs(ref[i]) + 2 * tol[i] + 1);
            ref[i] = 2 * ref[i] + 1;
            trunc_ref[i] = 2 * trunc_ref[i] + 1;
            swap_ref[i] = 2 * swap_ref[i] + 1;
        }
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            if (!(fabs(C[i * ldc + j] - ref[i * N + j]) <= tol[i * N + j]))
                fail_msg(WHERE ": C[%ld][%ld] = %.9g, expected %.9g", WHAT, (long)i, (long)j, C[i * ldc + j],
                         ref[i * N + j]);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = N; j < ldc; j++)
            if (C[i * ldc + j] != 1234.5f)
                fail_msg(WHERE ": wrote C[%ld][%ld] past N", WHAT, (long)i, (long)j);
    if (C[M * ldc] != 1234.5f)
        fail_msg(WHERE ": wrote past the last row of C", WHAT);
    /* the bound tells a broken kernel from this one: a truncating or a pair-swapping
       product (as the references above compute them) would have failed it */
    if (K >= 16 && M * N >= 16) {
        float *as = malloc(sizeof(float) * (size_t)(M * N)), *bs = malloc(sizeof(float) * (size_t)(M * N));
        for (int64_t i = 0; i < M * N; i++) {
            as[i] = (float)trunc_ref[i];
            bs[i] = (float)swap_ref[i];
        }
        if (within(as, N, ref, tol, M, N) || within(bs, N, ref, tol, M, N))
            fail_msg(WHERE ": the bound is too loose to catch a wrong rounding or layout", WHAT);
        free(as);
        free(bs);
    }
#undef WHERE
#undef WHAT
    free(A);
    free(B);
    free(C);
    free(Bp);
    free(ref);
    free(tol);
    free(trunc_ref);
    free(swap_ref);
    free(calls);
}

static void run_target(const char *cpu, const char *attr) {
    Env e;
    env_init(&e, cpu, attr);
    const int64_t L = e.core.lanes, nr = attn_pack_nr(e.core.lanes);
    const int64_t Ms[] = {1, 3, 8, 17}, Ns[] = {1, L - 1, nr, nr + 5, 3 * nr + 2}, Ks[] = {0, 1, 7, 64, 301};
    int n = 0;
    for (int mi = 0; mi < 4; mi++)
        for (int ni = 0; ni < 5; ni++)
            for (int ki = 0; ki < 5; ki++, n++)
                check(&e, Ms[mi], Ns[ni] > 0 ? Ns[ni] : 1, Ks[ki], n & 1, e.core.pools[n % 3], n % 4 >= 2, 1);
    /* several KC blocks, the thread grid, blocks of panels per task, groups of panels */
    for (int epi = 0; epi < 2; epi++) {
        check(&e, 129, 515, 1100, 0, e.core.pools[2], epi, 1);
        check(&e, 64, 40 * nr + 3, 33, 1, e.core.pools[2], epi, 1);
        check(&e, 1, 43 * nr, 512, 0, e.core.pools[2], epi, 4);
        check(&e, 32, 12 * nr, 300, 0, e.core.pools[2], epi, 3);
        check(&e, 9, 4 * nr + 5, 300, 1, e.core.pools[1], epi, 2);
    }
    /* whole rows at once (epi_panels >= panels) */
    check(&e, 20, 5 * nr + 1, 70, 0, e.core.pools[2], true, 1000);
    env_free(&e);
}

/* A packed once into the shared buffer and A packed per strip and KC block
 * (the path of one-strip products, and of any product whose buffer cannot
 * be allocated) give the same words and the same sums: C equal bit for bit,
 * over several KC blocks, odd K, transposed A, 1 and 2 threads. */
static void test_packing_paths_agree(void **state) {
    (void)state;
    Env e;
    env_init(&e, NULL, NULL);
    const int64_t nr = attn_pack_nr(e.core.lanes);
    const int64_t shapes[][4] = {{129, 515, 1100, 0}, {64, 40 * nr + 3, 33, 1}, {17, 3 * nr + 2, 301, 0}, {9, nr, 7, 1}};
    for (int si = 0; si < 4; si++)
        for (int th = 1; th <= 2; th++) {
            int64_t M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], ta = shapes[si][3];
            int64_t a_rs = ta ? 1 : K, a_cs = ta ? M : 1;
            float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(K * N));
            float *C[2] = {malloc(sizeof(float) * (size_t)(M * N)), malloc(sizeof(float) * (size_t)(M * N))};
            float *panels = malloc(sizeof(float) * attn_pack_b_size(K, N, e.core.lanes));
            assert_true(A && B && C[0] && C[1] && panels);
            for (int64_t i = 0; i < M * K; i++)
                A[i] = rnd();
            for (int64_t i = 0; i < K * N; i++)
                B[i] = rnd();
            attn_pack_b(B, K, N, N, 1, e.core.lanes, panels);
            size_t bytes;
            uint16_t *Bp = attn_pack_to_dtype(panels, K, N, e.core.lanes, ATTN_WEIGHTS_BF16, &bytes);
            assert_non_null(Bp);
            for (int f = 0; f < 2; f++) {
                fail_aligned_alloc = f;
                e.gemm(M, N, K, A, a_rs, a_cs, Bp, C[f], N, e.core.pools[th], NULL, NULL, 1);
                fail_aligned_alloc = false;
            }
            if (memcmp(C[0], C[1], sizeof(float) * (size_t)(M * N)) != 0)
                fail_msg("M %ld N %ld K %ld ta %ld threads %d: A packed once and per strip differ", (long)M, (long)N,
                         (long)K, (long)ta, th);
            free(Bp); /* attn_pack_to_dtype has freed panels */
            free(C[0]);
            free(C[1]);
            free(A);
            free(B);
        }
    env_free(&e);
}

static void test_host(void **state) {
    (void)state;
    run_target(NULL, NULL);
}
static void test_widened(void **state) {
    (void)state;
    run_target(NULL, "-avx512bf16");
}
static void test_avx2(void **state) {
    (void)state;
    run_target("haswell", "+avx,+avx2,+fma");
}
static void test_sse2(void **state) {
    (void)state;
    run_target("x86-64", "+sse2");
}

int main(void) {
    rng_seed(0x2545F4914F6CDD1Dull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round), cmocka_unit_test(test_layout), cmocka_unit_test(test_host),
        cmocka_unit_test(test_widened), cmocka_unit_test(test_avx2), cmocka_unit_test(test_sse2),
        cmocka_unit_test(test_packing_paths_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

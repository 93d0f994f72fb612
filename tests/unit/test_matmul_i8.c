/*
 * test_matmul_i8.c — the int8 matmul core (compiler/codegen/cg_matmul_i8.c)
 * and the weight quantizer (runtime/rt/pack_i8.c).
 *
 * The quantizer: per-column scales, round to nearest even, clamping, zero
 * columns, the packed positions, the corrections, padding, and gate
 * interleaving packed whole, in parts or from the f32 panels. The core:
 * against a reference that quantizes the rows of A the same way and sums
 * the integer products exactly (int64), so the tolerance is float rounding
 * of the dequantization (a few ulps) — a kernel that forgot the zero-point correction, used another scale
 * or rounded differently is off by whole quantization steps — and against
 * the fp32 product within the error int8 allows. Odd sizes around the tile,
 * K not a multiple of 4, transposed A, ldc > N, each pool, the epilogue hook
 * (each element once, final) with groups of panels; on vpdpbusd (when this
 * CPU has AVX512_VNNI) and on the widened path at 16, 8 and 4 lanes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core_env.h"
#include "gemm_epi.h"

#include "cg_matmul_i8.h"
#include "jit.h"
#include "pack.h"
#include "pack_i8.h"
#include "threadpool.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*EpiFn)(void *, int64_t, int64_t, int64_t, int64_t);
typedef void (*GemmI8Fn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const void *, float *, int64_t,
                         attn_pool *, EpiFn, void *, int64_t);

typedef struct Env {
    CoreEnv core;
    GemmI8Fn gemm;
    bool vnni; /* the module calls vpdpbusd */
} Env;

static void env_init(Env *e, const char *cpu, const char *attr) {
    CgModule cm;
    core_env_begin(&e->core, &cm, cpu, attr, "gemm_i8");
    LLVMValueRef g = cg_gemm_i8(&cm);
    assert_true(cg_gemm_i8(&cm) == g); /* emitted once */
    char *ir = LLVMPrintModuleToString(cm.mod);
    e->vnni = strstr(ir, "llvm.x86.avx512.vpdpbusd.512") != NULL;
    LLVMDisposeMessage(ir);
    core_env_finish(&e->core, &cm);
    e->gemm = (GemmI8Fn)core_env_lookup(&e->core, "attn_gemm_i8");
}

static void env_free(Env *e) { core_env_free(&e->core); }

/* ---- the quantizer ---------------------------------------------------- */

static void test_quantize_rules(void **state) {
    (void)state;
    const int lanes = 16;
    /* column 0: ties round to even; column 1: all zero; column 2: one large value */
    enum { K = 6, N = 3 };
    const float B[K][N] = {{127.0f, 0, 1.0f}, {0.5f, 0, 0}, {1.5f, 0, 0}, {2.5f, 0, 0}, {-2.5f, 0, 0}, {-127.0f, 0, 0}};
    void *out = malloc(attn_pack_b_i8_size(K, N, lanes));
    assert_non_null(out);
    attn_pack_b_i8(&B[0][0], K, N, N, 1, lanes, out);
    const int want0[K] = {127, 0, 2, 2, -2, -127};
    for (int p = 0; p < K; p++)
        assert_int_equal(attn_pack_i8_value(out, K, lanes, p, 0), want0[p]);
    assert_true(attn_pack_i8_scale(out, K, N, lanes, 0) == 1.0f);
    assert_true(attn_pack_i8_scale(out, K, N, lanes, 1) == 0.0f);
    assert_true(attn_pack_i8_scale(out, K, N, lanes, 2) == 1.0f / 127.0f);
    assert_int_equal(attn_pack_i8_value(out, K, lanes, 0, 2), 127);
    for (int p = 0; p < K; p++)
        assert_int_equal(attn_pack_i8_value(out, K, lanes, p, 1), 0);
    /* rows K..Kq and the padding columns are zero */
    int nr = attn_pack_nr(lanes);
    for (int p = K; p < attn_pack_i8_kq(K); p++)
        for (int j = 0; j < nr; j++)
            assert_int_equal(attn_pack_i8_value(out, K, lanes, p, j), 0);
    for (int j = N; j < nr; j++)
        assert_true(attn_pack_i8_scale(out, K, N, lanes, j) == 0.0f);
    /* column sums, after the scales */
    const int32_t *comp = (const int32_t *)((const char *)out + nr * attn_pack_i8_kq(K) + nr * 4);
    assert_int_equal(comp[0], 127 + 0 + 2 + 2 - 2 - 127);
    assert_int_equal(comp[1], 0);
    assert_int_equal(comp[2], 127);
    free(out);
}

/* Each value within half a step of the original, the largest of each column
 * exactly ±127, and gate interleaving packed in parts equal to the whole. */
static void test_quantize_columns(void **state) {
    (void)state;
    const int lanes = 16, gates = 4;
    const int64_t K = 37, N = gates * 2 * lanes;
    float *B = malloc((size_t)(K * N) * sizeof *B);
    size_t size = attn_pack_b_i8_size(K, N, lanes);
    unsigned char *whole = malloc(size), *parts = malloc(size), *plain = malloc(size);
    assert_true(B && whole && parts && plain);
    for (int64_t i = 0; i < K * N; i++)
        B[i] = rnd() * (float)(1 + i % 5);
    attn_pack_b_i8(B, K, N, N, 1, lanes, plain);
    for (int64_t j = 0; j < N; j++) {
        float s = attn_pack_i8_scale(plain, K, N, lanes, j);
        int top = 0;
        for (int64_t p = 0; p < K; p++) {
            int q = attn_pack_i8_value(plain, K, lanes, p, j);
            assert_true(fabsf(B[p * N + j] - (float)q * s) <= 0.5001f * s);
            top = abs(q) > top ? abs(q) : top;
        }
        assert_int_equal(top, 127);
    }
    memset(parts, 0xAB, size);
    attn_pack_b_i8_gates(B, K, N, 0, N, N, 1, lanes, gates, whole);
    attn_pack_b_i8_gates(B, K, N, 0, 21, N, 1, lanes, gates, parts);
    attn_pack_b_i8_gates(B + 21, K, N, 21, N - 21, N, 1, lanes, gates, parts);
    assert_memory_equal(whole, parts, size);
    /* the same from the f32 panels the other dtypes start from */
    float *panels = malloc(attn_pack_b_size(K, N, lanes) * sizeof *panels);
    assert_non_null(panels);
    attn_pack_b_gates(B, K, N, 0, N, N, 1, lanes, gates, panels);
    memset(parts, 0xAB, size);
    attn_pack_b_i8_from_panels(panels, K, N, lanes, parts);
    assert_memory_equal(whole, parts, size);
    free(panels);
    /* column g*H + u lands at (u / lanes) * gates * lanes + g * lanes + u % lanes */
    const int64_t H = N / gates, g = 2, u = lanes + 3, to = (u / lanes) * gates * lanes + g * lanes + u % lanes;
    for (int64_t p = 0; p < K; p++)
        assert_int_equal(attn_pack_i8_value(whole, K, lanes, p, to), attn_pack_i8_value(plain, K, lanes, p, g * H + u));
    free(B);
    free(whole);
    free(parts);
    free(plain);
}

/* ---- the core ----------------------------------------------------------- */

/* Row i of A quantized as the core does it: its scale, and the values the
 * products see (the stored byte minus the row's zero point). */
static float quantize_row(const float *A, int64_t a_cs, int64_t K, int *q) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t p = 0; p < K; p++) {
        lo = fminf(lo, A[p * a_cs]);
        hi = fmaxf(hi, A[p * a_cs]);
    }
    float range = hi - lo, inv = range > 0.0f ? 255.0f / range : 0.0f;
    int zp = (int)nearbyintf(-lo * inv);
    for (int64_t p = 0; p < K; p++) {
        int u = (int)nearbyintf(A[p * a_cs] * inv) + zp;
        q[p] = (u < 0 ? 0 : u > 255 ? 255 : u) - zp;
    }
    return range / 255.0f;
}

/* One product of M x K by a packed K x N; ta: A stored transposed; pad: ldc
 * and the rows of A longer than needed; group: epi_panels. */
static void check(Env *e, int64_t M, int64_t N, int64_t K, int ta, int pad, attn_pool *pool, bool with_epi,
                  int64_t group) {
    int64_t lda = (ta ? M : K) + pad * 3, ldc = N + pad * 5;
    int64_t a_rs = ta ? 1 : lda, a_cs = ta ? lda : 1;
    size_t na = (size_t)((ta ? K : M) * lda + 1), nc = (size_t)(M * ldc + 1);
    float *A = malloc(na * sizeof *A), *B = malloc((size_t)(K * N + 1) * sizeof *B), *C = malloc(nc * sizeof *C);
    size_t bsize = attn_pack_b_i8_size(K, N, e->core.lanes);
    void *Bq = malloc(bsize + 1);
    double *ref = calloc((size_t)(M * N + 1), sizeof *ref), *tol = calloc((size_t)(M * N + 1), sizeof *tol);
    int *q = malloc((size_t)(K + 1) * sizeof *q);
    atomic_int *calls = calloc((size_t)(M * N + 1), sizeof *calls);
    assert_true(A && B && C && Bq && ref && tol && q && calls);
    for (size_t i = 0; i < na; i++)
        A[i] = rnd();
    for (int64_t i = 0; i < K * N; i++)
        B[i] = rnd();
    for (size_t i = 0; i < nc; i++)
        C[i] = 1e30f; /* overwritten */
    attn_pack_b_i8(B, K, N, N, 1, e->core.lanes, Bq);
    for (int64_t i = 0; i < M; i++) {
        float as = quantize_row(A + i * a_rs, a_cs, K, q);
        for (int64_t j = 0; j < N; j++) {
            int64_t sum = 0;
            double fp = 0, mag = 0;
            for (int64_t p = 0; p < K; p++) {
                sum += (int64_t)q[p] * attn_pack_i8_value(Bq, K, e->core.lanes, p, j);
                fp += (double)A[i * a_rs + p * a_cs] * B[p * N + j];
                mag += fabs((double)A[i * a_rs + p * a_cs] * B[p * N + j]);
            }
            double ws = K > 0 ? attn_pack_i8_scale(Bq, K, N, e->core.lanes, j) : 0.0; /* K = 0 packs nothing */
            ref[i * N + j] = (double)sum * as * ws;
            tol[i * N + j] = 1e-6 * fabs(ref[i * N + j]) + 1e-30;
            /* each of the K products is off by at most half a step of each operand */
            if (K > 0)
                assert_true(fabs(ref[i * N + j] - fp) <= 0.5 * as * ws * (double)K * 256.0 + 1e-6 * mag);
        }
    }
    Epi ep = {C, M, N, ldc, group * attn_pack_nr(e->core.lanes), ref, tol, calls, 0, 0};
    e->gemm(M, N, K, A, a_rs, a_cs, Bq, C, ldc, pool, with_epi ? epilogue : NULL, &ep, group);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double want = with_epi ? 2.0 * (float)ref[i * N + j] + 1.0 : ref[i * N + j];
            double got = C[i * ldc + j];
            if (!(fabs(got - want) <= 2 * tol[i * N + j] + (with_epi ? 1e-6 : 0)))
                fail_msg("M=%lld N=%lld K=%lld ta=%d pad=%d: C[%lld][%lld] = %.9g, want %.9g", (long long)M,
                         (long long)N, (long long)K, ta, pad, (long long)i, (long long)j, got, want);
            if (with_epi && calls[i * N + j] != 1)
                fail_msg("element (%lld, %lld) handed to the epilogue %d times", (long long)i, (long long)j,
                         calls[i * N + j]);
            if (pad && j == N - 1) /* the padding of each row untouched */
                for (int64_t x = N; x < ldc && i < M - 1; x++)
                    assert_true(C[i * ldc + x] == 1e30f);
        }
    assert_int_equal(atomic_load(&ep.bad_rect), 0);
    assert_int_equal(atomic_load(&ep.not_final), 0);
    free(A);
    free(B);
    free(C);
    free(Bq);
    free(ref);
    free(tol);
    free(q);
    free(calls);
}

static void run_target(const char *cpu, const char *attr, bool want_vnni, int nrandom) {
    Env e;
    env_init(&e, cpu, attr);
    assert_int_equal(e.vnni, want_vnni);
    const int64_t L = e.core.lanes, NR = attn_pack_nr(e.core.lanes);
    const int64_t Ms[] = {1, 2, 4, 5, 8, 9, 17, 33}, Ns[] = {1, L - 1, NR, NR + 1, 2 * NR + 7, 200},
                  Ks[] = {1, 3, 4, 5, 64, 129};
    for (int r = 0; r < nrandom; r++) {
        int64_t M = Ms[next_u64() % 8], N = Ns[next_u64() % 6], K = Ks[next_u64() % 6];
        check(&e, M, N, K, r & 1, (r >> 1) & 1, e.core.pools[r % 3], r % 4 >= 2, 1 + (int64_t)(r % 5 == 4));
    }
    /* larger: several blocks of panels, the thread grid, a K large enough to
       need the int32 sums */
    check(&e, 100, 1000, 260, 0, 0, e.core.pools[2], true, 1);
    check(&e, 1, 2048, 512, 0, 0, e.core.pools[2], true, attn_pack_gate_panels(e.core.lanes, 4));
    check(&e, 33, 300, 2000, 1, 1, e.core.pools[2], false, 1);
    check(&e, 12, 700, 90, 0, 0, e.core.pools[1], true, 1000); /* whole rows */
    /* the grids of 2 threads over 12 and 36 column panels: 6 column tasks */
    check(&e, 40, 12 * NR - 5, 100, 0, 0, e.core.pools[2], true, 1);
    check(&e, 24, 36 * NR, 64, 1, 0, e.core.pools[2], true, 1);
    /* empty products and K == 0 */
    for (int pl = 0; pl < 3; pl++)
        for (int epi = 0; epi < 2; epi++) {
            check(&e, 5, 7, 0, 0, 0, e.core.pools[pl], epi, 1);
            check(&e, 0, 7, 5, 0, 0, e.core.pools[pl], epi, 1);
            check(&e, 4, 0, 5, 0, 0, e.core.pools[pl], epi, 1);
        }
    env_free(&e);
}

/* The host's AVX-512 with and without VNNI (skipped where it has none). */
static void test_vnni(void **state) {
    (void)state;
    CgTarget host;
    char *err = NULL;
    assert_int_equal(cg_target_init(&host, NULL, NULL, &err), 0);
    bool vnni = cg_target_lanes(&host) == 16 && cg_target_has(&host, "avx512vnni");
    cg_target_free(&host);
    if (!vnni) {
        skip();
        return;
    }
    run_target(NULL, NULL, true, 200);
    run_target(NULL, "+avx512f,+avx512bw,+avx512dq,+avx512vl,-avx512vnni", false, 120);
}
static void test_avx2(void **state) {
    (void)state;
    run_target("haswell", "+avx,+avx2,+fma", false, 120);
}
static void test_sse2(void **state) {
    (void)state;
    run_target("x86-64", "+sse2", false, 60);
}

int main(void) {
    rng_seed(0x243F6A8885A308D3ull);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_rules),
        cmocka_unit_test(test_quantize_columns),
        cmocka_unit_test(test_vnni),
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_sse2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

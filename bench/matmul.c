/*
 * matmul.c — GFLOP/s of the generated GEMM (B pre-packed, and B packed per
 * call) against OpenBLAS cblas_sgemm, at 1 and 2 threads, with the machine's
 * peak FMA rate measured by a JIT'd loop of independent vector FMA chains;
 * and of the bf16-weights core (B pre-packed as bf16 panels, A rounded to
 * bf16 as it is packed; docs/PRECISION.md) against twice that peak, the rate
 * of vdpbf16ps.
 *
 *     ./build/bench/bench_matmul [runs [MxKxN]]
 *
 * ATTN_BENCH_COPIES=n: the bf16 core cycles over n copies of its packed B
 * (n x the size of B past L3: weights read from DRAM, as a model's are).
 *
 * OPENBLAS_CORETYPE (set in some environments to force a kernel family) is
 * read when OpenBLAS loads: the program re-executes itself without it so
 * that OpenBLAS picks its kernels for this CPU. Times are medians over
 * `runs` rounds (default 15); a round times at least ~20 ms of repeated
 * calls of each implementation in turn.
 */
#include "cg_matmul.h"
#include "core_bench.h"
#include "pack.h"
#include "threadpool.h"
#include "jit.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The core's epilogue hook (cg_matmul.h); the bench passes none. */
typedef void (*EpiFn)(void *, int64_t, int64_t, int64_t, int64_t);
typedef void (*GemmFn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, int64_t, int64_t,
                       float *, int64_t, attn_pool *, EpiFn, void *, int64_t);
typedef void (*GemmPackedFn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const float *, float *,
                             int64_t, attn_pool *, EpiFn, void *, int64_t);
typedef void (*GemmBf16Fn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const uint16_t *, float *,
                           int64_t, attn_pool *, EpiFn, void *, int64_t);

/* fma(acc, x, 1e-6): the instruction whose rate is the peak. */
static LLVMValueRef fma_step(CgModule *cm, LLVMBuilderRef b, LLVMValueRef acc, LLVMValueRef x) {
    LLVMValueRef args[] = {acc, x, cg_f32(cm, 1e-6, (int)LLVMGetVectorSize(LLVMTypeOf(acc)))};
    return cg_intrinsic(cm, b, "llvm.fma", LLVMTypeOf(acc), args, 3);
}

typedef struct Case {
    int64_t M, K, N;
} Case;

typedef enum { OURS_PACKED, OURS, OPENBLAS, OURS_BF16, NIMPL } Impl;

static GemmFn gemm;
static GemmPackedFn gemm_packed;
static GemmBf16Fn gemm_bf16;
static const uint16_t *Bp16; /* the case's B as bf16 panels */
static int runs = 15;
static int ncopies = 1;
static size_t copy_words;

static void call(Impl impl, const Case *c, const float *A, const float *B, const float *Bp, float *C,
                 attn_pool *pool) {
    switch (impl) {
    case OURS_PACKED:
        gemm_packed(c->M, c->N, c->K, A, c->K, 1, Bp, C, c->N, pool, NULL, NULL, 1);
        break;
    case OURS:
        gemm(c->M, c->N, c->K, A, c->K, 1, B, c->N, 1, C, c->N, pool, NULL, NULL, 1);
        break;
    case OPENBLAS:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->M, (int)c->N, (int)c->K, 1.0f, A, (int)c->K, B,
                    (int)c->N, 0.0f, C, (int)c->N);
        break;
    case OURS_BF16: {
        static int turn;
        const uint16_t *b = Bp16 + (size_t)(turn++ % ncopies) * copy_words;
        gemm_bf16(c->M, c->N, c->K, A, c->K, 1, b, C, c->N, pool, NULL, NULL, 1);
    }
        break;
    case NIMPL:
        break;
    }
}

typedef struct CallArgs {
    const Case *c;
    const float *A, *B, *Bp;
    float *C;
    attn_pool *pool;
} CallArgs;

static void call_impl(int impl, void *ctx) {
    const CallArgs *k = ctx;
    call((Impl)impl, k->c, k->A, k->B, k->Bp, k->C, k->pool);
}

/* Median GFLOP/s of the implementations, timed in turn (core_bench_time). */
static void measure(const Case *c, const float *A, const float *B, const float *Bp, float *C, attn_pool *pool,
                    double gflops[NIMPL]) {
    CallArgs k = {c, A, B, Bp, C, pool};
    double sec[NIMPL];
    core_bench_time(NIMPL, call_impl, &k, runs, sec);
    for (int impl = 0; impl < NIMPL; impl++)
        gflops[impl] = 2.0 * (double)c->M * (double)c->N * (double)c->K / sec[impl] * 1e-9;
}

int main(int argc, char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || !getenv("OPENBLAS_THREAD_TIMEOUT")) {
        /* OpenBLAS has read its environment already: start again without the
         * forced core type, and with its worker threads going to sleep right
         * after each call: by default they spin for about 2^28 cycles, on the
         * core that the next (timed) call of our GEMM's second thread needs,
         * which halved its two-thread rate on some shapes. */
        unsetenv("OPENBLAS_CORETYPE");
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
    core_bench_init();
    if (argc > 1)
        runs = atoi(argv[1]) > 0 ? atoi(argv[1]) : runs;
    const char *only = argc > 2 ? argv[2] : NULL; /* one shape, "MxKxN" */
    CgTarget t;
    char *err = NULL;
    if (cg_target_init(&t, NULL, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    Jit *jit = jit_new(&t, &err);
    if (!jit) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    CgModule cm;
    cg_module_init(&cm, jit_context(jit), "bench", &t);
    cg_gemm(&cm);
    cg_gemm_packed(&cm);
    cg_gemm_packed_bf16(&cm);
    core_bench_build_peak(&cm, LLVMVectorType(cm.f32, (unsigned)cg_target_lanes(&t)), fma_step);
    const char *asm_path = getenv("ATTN_BENCH_ASM"); /* write the generated assembly there and stop */
    if (asm_path) {
        if (cg_optimize(cm.mod, &t, &err) != 0 || cg_emit_file(cm.mod, &t, 1, asm_path, &err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        return 0;
    }
    if (cg_optimize(cm.mod, &t, &err) != 0 || jit_add_module(jit, cm.mod, &err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    gemm = (GemmFn)jit_lookup(jit, "attn_gemm", &err);
    gemm_packed = (GemmPackedFn)jit_lookup(jit, "attn_gemm_packed", &err);
    gemm_bf16 = (GemmBf16Fn)jit_lookup(jit, "attn_gemm_packed_bf16", &err);
    CorePeakFn peak_fn = (CorePeakFn)jit_lookup(jit, "peak", &err);
    if (!gemm || !gemm_packed || !gemm_bf16 || !peak_fn) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int lanes = cg_target_lanes(&t);
    attn_pool *pool2 = attn_pool_new(2);
    /* an FMA of L lanes is 2L operations */
    const float peak_x = 0.999999f;
    double peak1 = core_bench_peak(peak_fn, NULL, 1, 2.0 * lanes, &peak_x) * 1e-9;
    double peak2 = core_bench_peak(peak_fn, pool2, 2, 2.0 * lanes, &peak_x) * 1e-9;
    printf("target %s, %d lanes; OpenBLAS core %s, %s\n", t.cpu, lanes, openblas_get_corename(),
           openblas_get_config());
    printf("peak FMA rate (JIT loop, %d chains): 1 thread %.1f GFLOP/s, 2 threads %.1f GFLOP/s\n\n", PEAK_CHAINS,
           peak1, peak2);

    const Case cases[] = {{256, 256, 256},   {512, 512, 512},    {1024, 1024, 1024}, {2048, 2048, 2048},
                          {128, 768, 768},   {128, 768, 2304},   {128, 768, 3072},   {128, 3072, 768},   {1, 512, 1536},
                          {32, 512, 1536},   {512, 64, 512},     {512, 512, 64},     {32, 512, 2048},
                          {2048, 256, 2048}};
    const int ncases = (int)(sizeof cases / sizeof cases[0]);
    double gf[16][2][NIMPL];
    printf("bf16 core: %s\n\n", cg_target_has(&t, "avx512bf16") && lanes == 16 ? "vdpbf16ps"
                                                                             : "bf16 widened in registers (FMA)");
    printf("| M×K×N | threads | JIT packed B | JIT unpacked B | OpenBLAS | packed / OpenBLAS | unpacked / OpenBLAS "
           "| packed, %% of peak | JIT bf16 B | bf16 / f32 packed | bf16, %% of 2× peak |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int ci = 0; ci < ncases; ci++) {
        const Case *c = &cases[ci];
        char name[64];
        snprintf(name, sizeof name, "%ldx%ldx%ld", (long)c->M, (long)c->K, (long)c->N);
        memset(gf[ci], 0, sizeof gf[ci]);
        if (only && strcmp(only, name) != 0)
            continue;
        float *A = aligned_alloc(64, sizeof(float) * (size_t)(c->M * c->K + 16));
        float *B = aligned_alloc(64, sizeof(float) * (size_t)(c->K * c->N + 16));
        float *C = aligned_alloc(64, sizeof(float) * (size_t)(c->M * c->N + 16));
        float *C2 = aligned_alloc(64, sizeof(float) * (size_t)(c->M * c->N + 16));
        float *Bp = aligned_alloc(64, sizeof(float) * attn_pack_b_size(c->K, c->N, lanes) + 64);
        for (int64_t i = 0; i < c->M * c->K; i++)
            A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (int64_t i = 0; i < c->K * c->N; i++)
            B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        attn_pack_b(B, c->K, c->N, c->N, 1, lanes, Bp);
        ncopies = getenv("ATTN_BENCH_COPIES") ? atoi(getenv("ATTN_BENCH_COPIES")) : 1;
        copy_words = (attn_pack_b_bf16_size(c->K, c->N, lanes) + 63) / 64 * 64;
        uint16_t *B16 = aligned_alloc(64, sizeof(uint16_t) * copy_words * (size_t)ncopies + 64);
        for (int cp = 0; cp < ncopies; cp++)
            attn_pack_b_bf16(Bp, c->K, c->N, lanes, B16 + (size_t)cp * copy_words);
        Bp16 = B16;
        /* agreement with OpenBLAS */
        openblas_set_num_threads(1);
        call(OPENBLAS, c, A, B, Bp, C2, NULL);
        call(OURS, c, A, B, Bp, C, pool2);
        double maxdiff = 0;
        for (int64_t i = 0; i < c->M * c->N; i++)
            maxdiff = fmax(maxdiff, fabs((double)C[i] - C2[i]));
        call(OURS_PACKED, c, A, B, Bp, C, NULL);
        for (int64_t i = 0; i < c->M * c->N; i++)
            maxdiff = fmax(maxdiff, fabs((double)C[i] - C2[i]));
        if (maxdiff > 1e-3 * sqrt((double)c->K))
            fprintf(stderr, "warning: %ldx%ldx%ld differs from OpenBLAS by %g\n", (long)c->M, (long)c->K, (long)c->N,
                    maxdiff);
        /* bf16: operands rounded to 8 significant bits, |a|, |b| <= 0.5 */
        call(OURS_BF16, c, A, B, Bp, C, pool2);
        double bfdiff = 0;
        for (int64_t i = 0; i < c->M * c->N; i++)
            bfdiff = fmax(bfdiff, fabs((double)C[i] - C2[i]));
        if (bfdiff > 2e-3 * sqrt((double)c->K))
            fprintf(stderr, "warning: %ldx%ldx%ld bf16 differs from OpenBLAS by %g\n", (long)c->M, (long)c->K,
                    (long)c->N, bfdiff);
        for (int th = 1; th <= 2; th++) {
            attn_pool *pool = th == 1 ? NULL : pool2;
            openblas_set_num_threads(th);
            measure(c, A, B, Bp, C, pool, gf[ci][th - 1]);
            double *g = gf[ci][th - 1];
            double peak = th == 1 ? peak1 : peak2;
            printf("| %ld×%ld×%ld | %d | %.1f | %.1f | %.1f | %.2f | %.2f | %.0f%% | %.1f | %.2f | %.0f%% |\n",
                   (long)c->M, (long)c->K, (long)c->N, th, g[OURS_PACKED], g[OURS], g[OPENBLAS],
                   g[OURS_PACKED] / g[OPENBLAS], g[OURS] / g[OPENBLAS], 100.0 * g[OURS_PACKED] / peak, g[OURS_BF16],
                   g[OURS_BF16] / g[OURS_PACKED], 100.0 * g[OURS_BF16] / (2 * peak));
            fflush(stdout);
        }
        free(A);
        free(B);
        free(C);
        free(C2);
        free(Bp);
        free(B16);
    }
    /* the peak again: on a shared machine the larger of the two is the better estimate */
    double p1 = core_bench_peak(peak_fn, NULL, 1, 2.0 * lanes, &peak_x) * 1e-9;
    double p2 = core_bench_peak(peak_fn, pool2, 2, 2.0 * lanes, &peak_x) * 1e-9;
    printf("\npeak FMA rate measured again after the table: 1 thread %.1f GFLOP/s, 2 threads %.1f GFLOP/s\n", p1, p2);
    printf("\n2 threads / 1 thread:");
    for (int ci = 0; ci < ncases; ci++)
        if (gf[ci][0][0] > 0)
            printf(" %ldx%ldx%ld %.2f/%.2f/%.2f%s", (long)cases[ci].M, (long)cases[ci].K, (long)cases[ci].N,
               gf[ci][1][OURS_PACKED] / gf[ci][0][OURS_PACKED], gf[ci][1][OURS] / gf[ci][0][OURS],
               gf[ci][1][OPENBLAS] / gf[ci][0][OPENBLAS], ci + 1 < ncases ? ";" : "");
    printf("  (JIT packed / JIT unpacked / OpenBLAS)\n");
    attn_pool_free(pool2);
    jit_free(jit);
    cg_target_free(&t);
    return 0;
}

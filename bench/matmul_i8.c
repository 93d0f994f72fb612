/*
 * matmul_i8.c — GOP/s of the generated int8 GEMM (attn_gemm_i8: int8 weights
 * packed per column, activations quantized per row in each call) beside the
 * fp32 core on the same packed shapes, at 1 and 2 threads, with the
 * machine's vpdpbusd peak measured by a JIT'd loop of independent chains.
 * One multiply-add counts as 2 operations in both.
 *
 *     ./build/bench/bench_matmul_i8 [runs [MxKxN]]
 *
 * Times are medians over `runs` rounds (default 15); a round times at least
 * ~20 ms of repeated calls of each core in turn. ATTN_BENCH_ASM=FILE writes
 * the generated assembly to FILE instead; ATTN_BENCH_CPUTIME=1 times on
 * the thread's CPU clock (1-thread rates on a busy machine).
 */
#include "cg_matmul.h"
#include "cg_matmul_i8.h"
#include "core_bench.h"
#include "jit.h"
#include "pack.h"
#include "pack_i8.h"
#include "threadpool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*EpiFn)(void *, int64_t, int64_t, int64_t, int64_t);
typedef void (*GemmPackedFn)(int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const void *, float *,
                             int64_t, attn_pool *, EpiFn, void *, int64_t);

/* vpdpbusd(acc, x, x): the instruction whose rate is the peak. */
static LLVMValueRef vpdpbusd_step(CgModule *cm, LLVMBuilderRef b, LLVMValueRef acc, LLVMValueRef x) {
    const char *name = "llvm.x86.avx512.vpdpbusd.512";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef ft = LLVMIntrinsicGetType(cm->ctx, id, NULL, 0);
    LLVMTypeRef pt[3];
    LLVMGetParamTypes(ft, pt);
    LLVMValueRef args[] = {acc, LLVMBuildBitCast(b, x, pt[1], ""), LLVMBuildBitCast(b, x, pt[2], "")};
    return LLVMBuildCall2(b, ft, LLVMGetIntrinsicDeclaration(cm->mod, id, NULL, 0), args, 3, "");
}

typedef struct Case {
    int64_t M, K, N;
} Case;

static int runs = 15;

typedef struct Call {
    const Case *c;
    GemmPackedFn *fn;
    const float *A;
    const void **Bp;
    float *C;
    attn_pool *pool;
} Call;

static void call(int impl, void *ctx) {
    const Call *k = ctx;
    const Case *c = k->c;
    k->fn[impl](c->M, c->N, c->K, k->A, c->K, 1, k->Bp[impl], k->C, c->N, k->pool, NULL, NULL, 1);
}

/* Median GOP/s of the fp32 (impl 0) and int8 (impl 1) cores, timed in turn. */
static void measure(const Case *c, GemmPackedFn fn[2], const float *A, const void *Bp[2], float *C, attn_pool *pool,
                    double gops[2]) {
    Call k = {c, fn, A, Bp, C, pool};
    double sec[2];
    core_bench_time(2, call, &k, runs, sec);
    for (int impl = 0; impl < 2; impl++)
        gops[impl] = 2.0 * (double)c->M * (double)c->N * (double)c->K / sec[impl] * 1e-9;
}

int main(int argc, char **argv) {
    core_bench_init();
    if (argc > 1)
        runs = atoi(argv[1]) > 0 ? atoi(argv[1]) : runs;
    const char *only = argc > 2 ? argv[2] : NULL;
    CgTarget t;
    char *err = NULL;
    Jit *jit = NULL;
    if (cg_target_init(&t, NULL, NULL, &err) != 0 || !(jit = jit_new(&t, &err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    bool vnni = cg_target_lanes(&t) == 16 && cg_target_has(&t, "avx512vnni");
    CgModule cm;
    cg_module_init(&cm, jit_context(jit), "bench", &t);
    cg_gemm_packed(&cm);
    cg_gemm_i8(&cm);
    if (vnni)
        core_bench_build_peak(&cm, LLVMVectorType(cm.i32, 16), vpdpbusd_step);
    const char *asm_path = getenv("ATTN_BENCH_ASM"); /* write the generated assembly there and stop */
    if (asm_path) {
        if (cg_optimize(cm.mod, &t, &err) != 0 || cg_emit_file(cm.mod, &t, 1, asm_path, &err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        return 0;
    }
    GemmPackedFn fn[2];
    CorePeakFn peak_fn = NULL;
    if (cg_optimize(cm.mod, &t, &err) != 0 || jit_add_module(jit, cm.mod, &err) != 0 ||
        !(fn[0] = (GemmPackedFn)jit_lookup(jit, "attn_gemm_packed", &err)) ||
        !(fn[1] = (GemmPackedFn)jit_lookup(jit, "attn_gemm_i8", &err)) ||
        (vnni && !(peak_fn = (CorePeakFn)jit_lookup(jit, "peak", &err)))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int lanes = cg_target_lanes(&t);
    attn_pool *pool2 = attn_pool_new(2);
    /* a vpdpbusd is 64 multiply-adds, 2 operations each */
    const uint32_t peak_x = 0x01010101;
    double peak1 = vnni ? core_bench_peak(peak_fn, NULL, 1, 128, &peak_x) * 1e-9 : 0;
    double peak2 = vnni ? core_bench_peak(peak_fn, pool2, 2, 128, &peak_x) * 1e-9 : 0;
    printf("target %s, %d lanes, %s\n", t.cpu, lanes, vnni ? "vpdpbusd" : "no AVX512_VNNI: widened int8 path");
    printf("peak vpdpbusd rate (JIT loop, %d chains): 1 thread %.0f GOP/s, 2 threads %.0f GOP/s\n\n", PEAK_CHAINS,
           peak1, peak2);
    const Case cases[] = {{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {128, 768, 768},
                          {128, 768, 3072}, {128, 3072, 768}, {1024, 768, 768},  {1024, 768, 3072},
                          {1, 512, 2048},   {32, 512, 2048}, {1, 768, 768},      {8, 768, 3072}};
    const int ncases = (int)(sizeof cases / sizeof cases[0]);
    printf("| M×K×N | threads | fp32 GFLOP/s | int8 GOP/s | int8 / fp32 | int8, %% of vpdpbusd peak | max rel err |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (int ci = 0; ci < ncases; ci++) {
        const Case *c = &cases[ci];
        char name[64];
        snprintf(name, sizeof name, "%ldx%ldx%ld", (long)c->M, (long)c->K, (long)c->N);
        if (only && strcmp(only, name) != 0)
            continue;
        float *A = aligned_alloc(64, sizeof(float) * (size_t)(c->M * c->K + 16));
        float *B = aligned_alloc(64, sizeof(float) * (size_t)(c->K * c->N + 16));
        float *C = aligned_alloc(64, sizeof(float) * (size_t)(c->M * c->N + 16));
        float *C32 = aligned_alloc(64, sizeof(float) * (size_t)(c->M * c->N + 16));
        float *Bp = aligned_alloc(64, sizeof(float) * attn_pack_b_size(c->K, c->N, lanes) + 64);
        void *Bq = aligned_alloc(64, (attn_pack_b_i8_size(c->K, c->N, lanes) + 63) / 64 * 64);
        if (!A || !B || !C || !C32 || !Bp || !Bq) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (int64_t i = 0; i < c->M * c->K; i++)
            A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (int64_t i = 0; i < c->K * c->N; i++)
            B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        attn_pack_b(B, c->K, c->N, c->N, 1, lanes, Bp);
        attn_pack_b_i8(B, c->K, c->N, c->N, 1, lanes, Bq);
        fn[0](c->M, c->N, c->K, A, c->K, 1, Bp, C32, c->N, NULL, NULL, NULL, 1);
        fn[1](c->M, c->N, c->K, A, c->K, 1, Bq, C, c->N, NULL, NULL, NULL, 1);
        double err_max = 0, ref_max = 0;
        for (int64_t i = 0; i < c->M * c->N; i++) {
            err_max = fmax(err_max, fabs((double)C[i] - C32[i]));
            ref_max = fmax(ref_max, fabs((double)C32[i]));
        }
        const void *Bps[2] = {Bp, Bq};
        for (int th = 1; th <= 2; th++) {
            double g[2];
            measure(c, fn, A, Bps, C, th == 1 ? NULL : pool2, g);
            double peak = th == 1 ? peak1 : peak2;
            printf("| %ld×%ld×%ld | %d | %.1f | %.1f | %.2f | %.0f%% | %.1e |\n", (long)c->M, (long)c->K, (long)c->N,
                   th, g[0], g[1], g[1] / g[0], peak > 0 ? 100.0 * g[1] / peak : 0.0, err_max / ref_max);
            fflush(stdout);
        }
        free(A);
        free(B);
        free(C);
        free(C32);
        free(Bp);
        free(Bq);
    }
    attn_pool_free(pool2);
    jit_free(jit);
    cg_target_free(&t);
    return 0;
}

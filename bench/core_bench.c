/*
 * core_bench.c — the shared pieces of the core benchmarks (core_bench.h).
 */
#include "core_bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static clockid_t bench_clock = CLOCK_MONOTONIC;

bool core_bench_init(void) {
    if (getenv("ATTN_BENCH_CPUTIME") && atoi(getenv("ATTN_BENCH_CPUTIME")))
        bench_clock = CLOCK_THREAD_CPUTIME_ID;
    return bench_clock == CLOCK_THREAD_CPUTIME_ID;
}

double core_bench_now(void) {
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { MAX_IMPL = 8, MAX_RUNS = 64 };

void core_bench_time(int nimpl, CoreBenchCall call, void *ctx, int runs, double *seconds) {
    int batch[MAX_IMPL];
    nimpl = nimpl < MAX_IMPL ? nimpl : MAX_IMPL;
    for (int impl = 0; impl < nimpl; impl++) {
        call(impl, ctx); /* warm up */
        double t0 = core_bench_now();
        call(impl, ctx);
        double one = core_bench_now() - t0;
        batch[impl] = one > 0.02 ? 1 : (int)(0.02 / (one > 1e-7 ? one : 1e-7)) + 1;
    }
    double t[MAX_IMPL][MAX_RUNS];
    int n = runs < 1 ? 1 : runs < MAX_RUNS ? runs : MAX_RUNS;
    for (int r = 0; r < n; r++)
        for (int impl = 0; impl < nimpl; impl++) {
            double t0 = core_bench_now();
            for (int k = 0; k < batch[impl]; k++)
                call(impl, ctx);
            t[impl][r] = (core_bench_now() - t0) / batch[impl];
        }
    for (int impl = 0; impl < nimpl; impl++) {
        qsort(t[impl], (size_t)n, sizeof t[impl][0], cmp_double);
        seconds[impl] = t[impl][n / 2];
    }
}

void core_bench_build_peak(CgModule *cm, LLVMTypeRef vt, CorePeakStep step) {
    LLVMTypeRef et = LLVMGetElementType(vt);
    bool fp = LLVMGetTypeKind(et) == LLVMFloatTypeKind;
    unsigned lanes = LLVMGetVectorSize(vt);
    LLVMTypeRef params[] = {cm->i64, cm->ptr};
    LLVMValueRef fn = cg_function(cm, "peak", LLVMFunctionType(cm->void_t, params, 2, 0));
    LLVMBuilderRef b = LLVMCreateBuilderInContext(cm->ctx);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cm->ctx, fn, "entry");
    LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(cm->ctx, fn, "loop");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cm->ctx, fn, "done");
    LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef slot = LLVMGetParam(fn, 1), idx0 = LLVMConstInt(cm->i32, 0, 0);
    LLVMValueRef x = LLVMBuildInsertElement(b, LLVMGetPoison(vt), LLVMBuildLoad2(b, et, slot, ""), idx0, "");
    x = LLVMBuildShuffleVector(b, x, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(cm->i32, lanes)), "");
    LLVMValueRef init[PEAK_CHAINS];
    for (int k = 0; k < PEAK_CHAINS; k++) /* float chains that differ from the start */
        init[k] = fp ? cg_f32(cm, 1.0 + k * 1e-3, (int)lanes) : LLVMConstNull(vt);
    LLVMBuildBr(b, loop);
    LLVMPositionBuilderAtEnd(b, loop);
    LLVMValueRef i = LLVMBuildPhi(b, cm->i64, "i");
    LLVMValueRef acc[PEAK_CHAINS], next[PEAK_CHAINS];
    for (int k = 0; k < PEAK_CHAINS; k++)
        acc[k] = LLVMBuildPhi(b, vt, "");
    for (int k = 0; k < PEAK_CHAINS; k++)
        next[k] = step(cm, b, acc[k], x);
    LLVMValueRef i1 = LLVMBuildAdd(b, i, cg_i64(cm, 1), "");
    LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, i1, LLVMGetParam(fn, 0), ""), loop, done);
    LLVMValueRef zero = cg_i64(cm, 0);
    LLVMAddIncoming(i, &zero, &entry, 1);
    LLVMAddIncoming(i, &i1, &loop, 1);
    for (int k = 0; k < PEAK_CHAINS; k++) {
        LLVMAddIncoming(acc[k], &init[k], &entry, 1);
        LLVMAddIncoming(acc[k], &next[k], &loop, 1);
    }
    LLVMPositionBuilderAtEnd(b, done);
    LLVMValueRef sum = next[0];
    for (int k = 1; k < PEAK_CHAINS; k++)
        sum = fp ? LLVMBuildFAdd(b, sum, next[k], "") : LLVMBuildAdd(b, sum, next[k], "");
    LLVMBuildStore(b, LLVMBuildExtractElement(b, sum, idx0, ""), slot);
    LLVMBuildRetVoid(b);
    LLVMDisposeBuilder(b);
}

typedef struct PeakRun {
    CorePeakFn fn;
    const void *x;
} PeakRun;

static const int64_t PEAK_ITERS = 10 * 1000 * 1000;

static void peak_task(void *ctx, int64_t i) {
    (void)i;
    const PeakRun *run = ctx;
    uint32_t slot[16];
    memcpy(slot, run->x, 4);
    run->fn(PEAK_ITERS, slot);
}

double core_bench_peak(CorePeakFn fn, attn_pool *pool, int threads, double ops_per_step, const void *x) {
    PeakRun run = {fn, x};
    double t[5];
    for (int r = 0; r < 5; r++) {
        double t0 = core_bench_now();
        attn_rt_parallel_for(pool, threads, peak_task, &run);
        t[r] = core_bench_now() - t0;
    }
    qsort(t, 5, sizeof t[0], cmp_double);
    return (double)threads * (double)PEAK_ITERS * PEAK_CHAINS * ops_per_step / t[2];
}

/*
 * core_bench.h — what the benchmarks of the generated cores (matmul.c,
 * matmul_i8.c, attention.c) share: the clock, medians of rounds of calls timed in turn,
 * and the machine's peak rate of one vector instruction, measured by a JIT'd
 * loop of independent chains of it.
 */
#ifndef ATTN_BENCH_CORE_BENCH_H
#define ATTN_BENCH_CORE_BENCH_H

#include "cg.h"
#include "threadpool.h"

#include <stdbool.h>
#include <stdint.h>

/* Seconds on the wall clock, or on the thread's CPU clock once
 * core_bench_init has seen ATTN_BENCH_CPUTIME=1 (1-thread rates on a busy
 * machine; meaningless for 2 threads); core_bench_init returns which. */
double core_bench_now(void);
bool core_bench_init(void);

/* One call of implementation `impl` of a case. */
typedef void (*CoreBenchCall)(int impl, void *ctx);

/* Median seconds per call of each of nimpl implementations over `runs`
 * rounds (at most 64); a round times a batch of >= ~20 ms of calls of each
 * in turn, so that the load of a shared machine falls on all of them alike. */
void core_bench_time(int nimpl, CoreBenchCall call, void *ctx, int runs, double *seconds);

enum { PEAK_CHAINS = 24 };

/* acc combined with x by the instruction whose rate is measured. */
typedef LLVMValueRef (*CorePeakStep)(CgModule *cm, LLVMBuilderRef b, LLVMValueRef acc, LLVMValueRef x);

/* Defines void peak(i64 iters, ptr slot): x = the element at slot splat to
 * vt; PEAK_CHAINS chains acc_k = step(acc_k, x) `iters` times (integer
 * chains from 0, float ones from 1 + k/1000); lane 0 of their sum stored back
 * at slot. */
void core_bench_build_peak(CgModule *cm, LLVMTypeRef vt, CorePeakStep step);

/* Operations per second of the JIT'd `peak` (looked up in jit) on `threads`
 * threads at once, median of 5; ops_per_step counts one step of one chain;
 * x points to the 4-byte element each thread's slot starts with. */
typedef void (*CorePeakFn)(int64_t, void *);
double core_bench_peak(CorePeakFn fn, attn_pool *pool, int threads, double ops_per_step, const void *x);

#endif

/*
 * threadpool.h — a persistent pool of worker threads for the compiled code.
 *
 * Kernels split their work into independent tasks and call
 * attn_rt_parallel_for, which runs fn(ctx, i) for every i in [0, n) over the
 * pool's threads (the caller works too) and returns when all are done. One
 * pool can be shared by runs on several threads: a call that finds the pool
 * busy (another run's loop, or a nested call from inside a task) runs its
 * tasks on the calling thread instead of waiting, so nothing deadlocks.
 */
#ifndef ATTN_THREADPOOL_H
#define ATTN_THREADPOOL_H

#include "attn.h"

#include <stdint.h>

#include "attn.h" /* attn_pool and its public calls: attn_pool_new, attn_pool_default, ... */

#ifdef __cplusplus
extern "C" {
#endif

/* Runs fn(ctx, i) for i in [0, n); a NULL pool runs them in order on the caller. */
ATTN_RT_API void attn_rt_parallel_for(attn_pool *p, int64_t n, void (*fn)(void *ctx, int64_t i), void *ctx);

#ifdef __cplusplus
}
#endif

#endif

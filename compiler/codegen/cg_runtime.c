/*
 * cg_runtime.c — the table of runtime functions visible to JIT code.
 */
#include "cg_runtime.h"
#include "pack.h"
#include "profile.h"
#include "threadpool.h"

#include <math.h>
#include <string.h>

static const CgRuntimeSymbol symbols[] = {
    {"attn_rt_parallel_for", (void *)attn_rt_parallel_for},
    {"attn_pool_threads", (void *)attn_pool_threads},
    {"attn_rt_aligned_alloc", (void *)attn_rt_aligned_alloc},
    {"attn_rt_aligned_free", (void *)attn_rt_aligned_free},
    {"attn_rt_clock_ns", (void *)attn_rt_clock_ns},
    {"attn_rt_profile_add", (void *)attn_rt_profile_add},
    {"memcpy", (void *)memcpy},
    {"memmove", (void *)memmove},
    {"memset", (void *)memset},
    {"powf", (void *)powf},
    {"fmodf", (void *)fmodf},
};

const CgRuntimeSymbol *cg_runtime_symbols(int *n) {
    *n = (int)(sizeof symbols / sizeof symbols[0]);
    return symbols;
}

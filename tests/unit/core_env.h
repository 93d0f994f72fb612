/*
 * core_env.h — what the unit tests of the generated cores (test_matmul.c,
 * test_matmul_bf16.c, test_matmul_i8.c, test_attention.c) share: a JIT for a
 * target with one module of a core compiled into it, pools of 1 and 2
 * threads, and a seeded xorshift generator of test data. Header-only (static
 * inline), like st_testfiles.h; include it after cmocka.h.
 */
#ifndef CORE_ENV_H
#define CORE_ENV_H

#include "cg.h"
#include "jit.h"
#include "threadpool.h"

#include <stdint.h>

typedef struct CoreEnv {
    CgTarget t;
    Jit *jit;
    int lanes;
    attn_pool *pools[3]; /* NULL, 1 thread, 2 threads */
} CoreEnv;

/* The target (cpu and attr NULL: the host's) and a JIT for it; *cm a new
 * module named `name` in the JIT's context, for the test to emit its core into. */
static inline void core_env_begin(CoreEnv *e, CgModule *cm, const char *cpu, const char *attr, const char *name) {
    char *err = NULL;
    if (cg_target_init(&e->t, cpu, attr, &err) != 0)
        fail_msg("%s", err);
    e->lanes = cg_target_lanes(&e->t);
    e->jit = jit_new(&e->t, &err);
    assert_non_null(e->jit);
    cg_module_init(cm, jit_context(e->jit), name, &e->t);
}

/* Optimises the module and hands it to the JIT; makes the pools. */
static inline void core_env_finish(CoreEnv *e, CgModule *cm) {
    char *err = NULL;
    if (cg_optimize(cm->mod, &e->t, &err) != 0)
        fail_msg("%s", err);
    assert_int_equal(jit_add_module(e->jit, cm->mod, &err), 0);
    e->pools[0] = NULL;
    e->pools[1] = attn_pool_new(1);
    e->pools[2] = attn_pool_new(2);
}

/* The address of the JIT's function `name`; fails the test when it is missing. */
static inline void *core_env_lookup(CoreEnv *e, const char *name) {
    char *err = NULL;
    void *fn = jit_lookup(e->jit, name, &err);
    assert_non_null(fn);
    return fn;
}

static inline void core_env_free(CoreEnv *e) {
    attn_pool_free(e->pools[1]);
    attn_pool_free(e->pools[2]);
    jit_free(e->jit);
    cg_target_free(&e->t);
}

/* Test data: xorshift64, seeded by each test program's main(). */
static uint64_t rng;
static inline void rng_seed(uint64_t seed) { rng = seed; }
static inline uint64_t next_u64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
/* Uniform in [-1, 1). */
static inline float rnd(void) { return (float)((double)(next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }
/* One of the n values of v. */
static inline int64_t pick(const int64_t *v, int n) { return v[next_u64() % (uint64_t)n]; }

#endif

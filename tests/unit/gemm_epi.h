/*
 * gemm_epi.h — the epilogue under test in the unit tests of the matmul cores
 * (test_matmul.c, test_matmul_bf16.c, test_matmul_i8.c); the contract it
 * checks is in compiler/codegen/cg_matmul.h. Header-only, like core_env.h.
 */
#ifndef GEMM_EPI_H
#define GEMM_EPI_H

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>

/* Called by the core on pool threads: counts the calls of each element,
 * checks that the values are final (within tol of the reference) when it
 * gets them, then rewrites them as 2c + 1. Failures are counted and reported
 * by the test on its own thread. */
typedef struct Epi {
    float *C;
    int64_t M, N, ldc;
    int64_t group;           /* columns every rectangle starts at a multiple of (epi_panels panels) */
    const double *ref, *tol; /* M x N */
    atomic_int *calls;       /* M x N; atomic so that overlapping rectangles are counted, not raced */
    atomic_int bad_rect, not_final;
} Epi;

static inline void epilogue(void *arg, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    Epi *e = arg;
    if (!(0 <= r0 && r0 < r1 && r1 <= e->M && 0 <= c0 && c0 < c1 && c1 <= e->N) || c0 % e->group ||
        (c1 % e->group && c1 != e->N)) {
        atomic_fetch_add(&e->bad_rect, 1);
        return;
    }
    for (int64_t i = r0; i < r1; i++)
        for (int64_t j = c0; j < c1; j++) {
            float *c = &e->C[i * e->ldc + j];
            atomic_fetch_add(&e->calls[i * e->N + j], 1);
            if (!(fabs(*c - e->ref[i * e->N + j]) <= e->tol[i * e->N + j]))
                atomic_fetch_add(&e->not_final, 1);
            *c = 2.0f * *c + 1.0f;
        }
}

#endif

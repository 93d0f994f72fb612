/*
 * compare.c — checks that two safetensors files hold the same tensors (names,
 * shapes) with values within |a - b| <= tol * (1 + |b|), tol = 1e-5 unless given
 * (integers and bools exactly).
 *
 *     aot_compare GOT.safetensors WANT.safetensors [TOL]
 */
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int compare(const StFile *got, const StFile *want, double tol) {
    double worst = 0;
    for (int i = 0; i < st_count(want); i++) {
        const StTensor *w = st_tensor(want, i), *g = st_find(got, w->name);
        char err[512];
        float *a = NULL, *b = NULL;
        bool same = g && g->rank == w->rank;
        for (int d = 0; same && d < w->rank; d++)
            same = g->shape[d] == w->shape[d];
        if (!same) {
            fprintf(stderr, "tensor '%s': missing or of another shape\n", w->name);
            return 1;
        }
        bool real = w->dtype == ST_F32 || w->dtype == ST_F16 || w->dtype == ST_BF16 || w->dtype == ST_F64;
        attn_dtype as = real ? ATTN_F32 : ATTN_I64; /* integers and bools compare exactly */
        void *va = NULL, *vb = NULL;
        if (st_convert(g, as, &va, err, sizeof err) || st_convert(w, as, &vb, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            free(va);
            return 1;
        }
        a = va;
        b = vb;
        size_t n = w->nbytes / st_dtype_size(w->dtype);
        for (size_t k = 0; k < n; k++) {
            double x = real ? a[k] : (double)((int64_t *)va)[k], y = real ? b[k] : (double)((int64_t *)vb)[k];
            double diff = fabs(x - y);
            if (!(diff <= (real ? tol : 0) * (1 + fabs(y)))) {
                fprintf(stderr, "tensor '%s' element %zu: %.9g, expected %.9g\n", w->name, k, x, y);
                free(a);
                free(b);
                return 1;
            }
            worst = diff > worst ? diff : worst;
        }
        free(a);
        free(b);
    }
    if (st_count(got) != st_count(want)) {
        fprintf(stderr, "%d tensors, expected %d\n", st_count(got), st_count(want));
        return 1;
    }
    printf("%d tensors match (max abs diff %.3g, tolerance %g)\n", st_count(want), worst, tol);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: aot_compare GOT.safetensors WANT.safetensors [TOL]\n");
        return 2;
    }
    char err[512];
    StFile *got = st_open(argv[1], err, sizeof err), *want = got ? st_open(argv[2], err, sizeof err) : NULL;
    int rc = 1;
    if (!want)
        fprintf(stderr, "%s\n", err);
    else
        rc = compare(got, want, argc == 4 ? atof(argv[3]) : 1e-5);
    st_close(got);
    st_close(want);
    return rc;
}

/*
 * precision_check.c — one golden case with low-precision weights against the
 * same case in f32, through the public API: the largest absolute error over
 * the float outputs must be at most MAXERR, the mean cosine similarity of
 * their rows (last dim) at least MINCOS, and integer outputs (greedy tokens)
 * equal. The bounds come from tests/golden/precision_DTYPE.txt, written by
 * tests/golden/precision.py from measurements with a margin and never looser
 * than PyTorch's own bf16 autocast on the same module (docs/PRECISION.md).
 *
 * They are tight enough to catch a broken kernel (measured): with weights
 * and activations truncated to bf16 instead of rounded to nearest-even (the
 * rounding add taken out of attn_bf16_round and of the core's packing of A),
 * 39 of the 46 cases with weights fail them (bert_tiny: error 1.5e-2 against
 * a bound of 5.5e-3, cosine 0.9999913 against 0.9999982); with the two rows
 * of each pair of a bf16 panel swapped (a wrong layout) all 46 fail (bert_tiny:
 * cosine 0.85). The two cases without weights (sdpa_*) must come out equal:
 * attention's own products stay f32.
 *
 *     precision_check DTYPE ROOT CASE MODEL ENTRY SETS MAXERR MINCOS
 *
 * The target is the JIT's default, or ATTN_MCPU / ATTN_MATTR: ctest runs each
 * case with vdpbf16ps and again with ATTN_MATTR=-avx512bf16 (bf16 widened in
 * registers).
 */
#include "attn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_io.h"

/* Runs entry of the model at root/model with the case's weights and inputs, weights stored as dt. */
static attn_tensor *run(const char *root, const char *cs, const char *model, const char *entry, const char *sets,
                        attn_weights_dtype dt, int *nout) {
    char path[4096];
    attn_model *m = attn_model_new();
    set_hyperparameters(m, sets);
    attn_program *p = NULL;
    attn_tensor *out = NULL;
    snprintf(path, sizeof path, "%s/%s", root, model);
    attn_compile_options opt = {.backend = ATTN_BACKEND_JIT, .threads = 1, .weights_dtype = dt};
    if (attn_model_load(m, path) == ATTN_OK &&
        (snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/weights.safetensors", root, cs),
         attn_model_bind_weights(m, path) == ATTN_OK) &&
        attn_model_compile(m, entry, &opt, &p) == ATTN_OK) {
        int nin = 0;
        snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/inputs.safetensors", root, cs);
        attn_tensor *in = read_tensors(path, &nin);
        char *err = NULL;
        if (!in || attn_program_run(p, in, nin, &out, nout, &err) != ATTN_OK) {
            fprintf(stderr, "%s\n", err ? err : "cannot read the inputs");
            out = NULL;
        }
        attn_string_free(err);
        free_read(in, nin);
    } else
        fprintf(stderr, "%s", attn_model_errors(m));
    attn_program_free(p);
    attn_model_free(m);
    return out;
}

typedef struct Diff {
    double max_err, cos_sum;
    int64_t rows, ints;
} Diff;

/* Adds output got (low precision) against want (f32) to d. */
static void diff_add(Diff *d, const attn_tensor *got, const attn_tensor *want) {
    int64_t n = attn_tensor_numel(want);
    if (want->dtype != ATTN_F32) {
        size_t sz = attn_dtype_size(want->dtype);
        for (int64_t i = 0; i < n; i++)
            d->ints += memcmp((const char *)got->data + i * (int64_t)sz, (const char *)want->data + i * (int64_t)sz, sz) != 0;
        return;
    }
    const float *g = got->data, *w = want->data;
    int64_t cols = want->rank ? want->shape[want->rank - 1] : 1;
    for (int64_t r = 0; cols > 0 && r < n / cols; r++) {
        double dot = 0, ng = 0, nw = 0;
        for (int64_t j = r * cols; j < (r + 1) * cols; j++) {
            d->max_err = fmax(d->max_err, fabs((double)g[j] - w[j]));
            dot += (double)g[j] * w[j];
            ng += (double)g[j] * g[j];
            nw += (double)w[j] * w[j];
        }
        d->cos_sum += ng == 0 && nw == 0 ? 1.0 : dot / sqrt(ng * nw);
        d->rows++;
    }
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: precision_check DTYPE ROOT CASE MODEL ENTRY SETS MAXERR MINCOS\n");
        return 2;
    }
    attn_weights_dtype dt = ATTN_WEIGHTS_F32;
    while (dt <= ATTN_WEIGHTS_INT8 && strcmp(attn_weights_dtype_name(dt), argv[1]) != 0)
        dt++;
    const char *root = argv[2], *cs = argv[3], *model = argv[4], *entry = argv[5], *sets = argv[6];
    double max_err = atof(argv[7]), min_cos = atof(argv[8]);
    int nref = 0, nlow = 0;
    attn_tensor *ref = run(root, cs, model, entry, sets, ATTN_WEIGHTS_F32, &nref);
    attn_tensor *low = ref ? run(root, cs, model, entry, sets, dt, &nlow) : NULL;
    if (!low || nlow != nref) {
        attn_tensors_free(ref, nref);
        attn_tensors_free(low, nlow);
        return 1;
    }
    Diff d = {0};
    for (int i = 0; i < nref; i++)
        diff_add(&d, &low[i], &ref[i]);
    double cos = d.rows ? d.cos_sum / (double)d.rows : 1.0;
    printf("%s %s: max abs error %.3g (bound %.3g), mean row cosine %.9f (bound %.9f), %lld integers differ\n", cs,
           argv[1], d.max_err, max_err, cos, min_cos, (long long)d.ints);
    int rc = !(d.max_err <= max_err) || !(cos >= min_cos) || d.ints != 0;
    if (rc)
        printf("FAILED: outside the bounds\n");
    attn_tensors_free(ref, nref);
    attn_tensors_free(low, nlow);
    return rc;
}

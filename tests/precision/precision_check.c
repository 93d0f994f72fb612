/*
 * precision_check.c — every golden case compiled with low-precision weights
 * (attn_compile_options.weights_dtype) against PyTorch's fp32 outputs
 * (tests/golden/fixtures/CASE/expected.safetensors): the max abs error and the
 * mean cosine similarity of each f32 output's rows (last axis) must stay
 * within the bounds of the manifest; integer outputs (tokens) must be equal.
 *
 *     precision_check ROOT DTYPE MANIFEST        check every case of MANIFEST
 *     precision_check ROOT DTYPE --measure       print the errors of every golden case
 *
 * MANIFEST (tests/precision/<dtype>.txt) has one line per case:
 *     <case> <max abs error> <min mean cosine>
 * each bound a measurement with a margin (the header of the manifest says
 * which). The case's model, entry and hyperparameters come from
 * tests/golden/cases*.txt.
 */
#include "attn.h"
#include "../golden/fixture_io.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LINE = 1024 };

/* Errors of one case against PyTorch's fp32 outputs. */
typedef struct Errors {
    double max_abs;    /* over the f32 outputs */
    double min_cosine; /* the lowest mean row cosine over the f32 outputs */
    long mismatched;   /* integer elements that differ */
} Errors;

/* The mean over rows (last axis) of the cosine similarity of got's row with
 * want's; a row that is zero in both counts as 1. */
static double mean_cosine(const float *got, const float *want, int64_t n, int64_t len) {
    int64_t rows = len > 0 ? n / len : 0;
    double sum = 0;
    for (int64_t r = 0; r < rows; r++) {
        double dot = 0, gg = 0, ww = 0;
        for (int64_t k = r * len; k < (r + 1) * len; k++) {
            dot += (double)got[k] * want[k];
            gg += (double)got[k] * got[k];
            ww += (double)want[k] * want[k];
        }
        sum += gg == 0 && ww == 0 ? 1.0 : dot / sqrt(gg * ww);
    }
    return rows ? sum / (double)rows : 1.0;
}

static void add_errors(Errors *e, const attn_tensor *got, const attn_tensor *want) {
    int64_t n = attn_tensor_numel(want);
    if (got->dtype != want->dtype || attn_tensor_numel(got) != n) {
        e->max_abs = INFINITY;
        e->min_cosine = -1;
        return;
    }
    if (want->dtype == ATTN_F32) {
        const float *g = got->data, *w = want->data;
        for (int64_t i = 0; i < n; i++) {
            double d = fabs((double)g[i] - w[i]);
            if (!(d <= e->max_abs))
                e->max_abs = d;
        }
        double c = mean_cosine(g, w, n, want->rank ? want->shape[want->rank - 1] : 1);
        if (!(c >= e->min_cosine))
            e->min_cosine = c;
    } else if (want->dtype == ATTN_I64) {
        for (int64_t i = 0; i < n; i++)
            e->mismatched += ((const int64_t *)got->data)[i] != ((const int64_t *)want->data)[i];
    }
}

/* Runs case `cs` (model, entry, sets from the golden manifest line) with
 * weights stored as dt; 0 and *e filled, or -1 with the reason printed. */
static int run_case(const char *root, const char *cs, const char *model, const char *entry, const char *sets,
                    attn_weights_dtype dt, Errors *e) {
    char path[4096];
    attn_compile_options opt = {.backend = ATTN_BACKEND_JIT, .weights_dtype = dt};
    attn_model *m = attn_model_new();
    if (!m)
        return -1;
    set_hyperparameters(m, sets);
    int rc = -1, nin = 0, nwant = 0, nout = 0;
    attn_program *p = NULL;
    attn_tensor *in = NULL, *want = NULL, *out = NULL;
    char *err = NULL;
    snprintf(path, sizeof path, "%s/%s", root, model);
    if (attn_model_load(m, path) == ATTN_OK &&
        (snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/weights.safetensors", root, cs),
         attn_model_bind_weights(m, path) == ATTN_OK) &&
        attn_model_compile(m, entry, &opt, &p) == ATTN_OK) {
        snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/inputs.safetensors", root, cs);
        in = read_tensors(path, &nin);
        snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/expected.safetensors", root, cs);
        want = read_tensors(path, &nwant);
        if (in && want && attn_program_run(p, in, nin, &out, &nout, &err) == ATTN_OK) {
            *e = (Errors){0, 1, 0};
            rc = 0;
            for (int i = 0; i < nwant; i++) {
                int j = 0;
                while (j < nout && strcmp(out[j].name, want[i].name))
                    j++;
                if (j == nout) {
                    fprintf(stderr, "%s: no output named %s\n", cs, want[i].name);
                    rc = -1;
                } else
                    add_errors(e, &out[j], &want[i]);
            }
            attn_tensors_free(out, nout);
        } else if (err)
            fprintf(stderr, "%s: %s\n", cs, err);
    } else
        fprintf(stderr, "%s: %s", cs, attn_model_errors(m));
    attn_string_free(err);
    free_read(in, nin);
    free_read(want, nwant);
    attn_program_free(p);
    attn_model_free(m);
    return rc;
}

/* The golden manifest line of case `cs` split into its fields; 0 when found. */
static int golden_line(const char *root, const char *cs, char *line, char **model, char **entry, char **sets) {
    static const char *const manifests[] = {"cases.txt", "cases_zoo2.txt"};
    for (size_t k = 0; k < sizeof manifests / sizeof *manifests; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/golden/%s", root, manifests[k]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, LINE, f)) {
            if (line[0] == '#')
                continue;
            line[strcspn(line, "\n")] = '\0';
            char *name = strtok(line, " ");
            *model = strtok(NULL, " ");
            *entry = strtok(NULL, " ");
            *sets = strtok(NULL, " ");
            if (name && *sets && !strcmp(name, cs)) {
                fclose(f);
                return 0;
            }
        }
        if (f)
            fclose(f);
    }
    return -1;
}

/* Every case of both golden manifests, with its errors (for setting bounds). */
static int measure(const char *root, attn_weights_dtype dt) {
    static const char *const manifests[] = {"cases.txt", "cases_zoo2.txt"};
    printf("| case | max abs error | mean cosine | integers differing |\n|---|---|---|---|\n");
    for (size_t k = 0; k < sizeof manifests / sizeof *manifests; k++) {
        char path[4096], line[LINE], copy[LINE];
        snprintf(path, sizeof path, "%s/tests/golden/%s", root, manifests[k]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, LINE, f)) {
            if (line[0] == '#')
                continue;
            char *cs = strtok(line, " \n"), *model, *entry, *sets;
            Errors e = {0, 1, 0};
            if (cs && golden_line(root, cs, copy, &model, &entry, &sets) == 0 &&
                run_case(root, cs, model, entry, sets, dt, &e) == 0)
                printf("| %s | %.3g | %.7f | %ld |\n", cs, e.max_abs, e.min_cosine, e.mismatched);
        }
        if (f)
            fclose(f);
    }
    return 0;
}

static int check(const char *root, attn_weights_dtype dt, const char *manifest) {
    FILE *f = fopen(manifest, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", manifest);
        return 1;
    }
    char line[LINE], golden[LINE], cs[256];
    double max_abs, min_cos;
    int failed = 0, cases = 0;
    while (fgets(line, LINE, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *model, *entry, *sets;
        Errors e = {0, 1, 0};
        if (sscanf(line, "%255s %lf %lf", cs, &max_abs, &min_cos) != 3 ||
            golden_line(root, cs, golden, &model, &entry, &sets) != 0) {
            fprintf(stderr, "%s: bad line or unknown case: %s", manifest, line);
            failed++;
            continue;
        }
        cases++;
        bool ok = run_case(root, cs, model, entry, sets, dt, &e) == 0;
        ok = ok && e.max_abs <= max_abs && e.min_cosine >= min_cos && e.mismatched == 0;
        printf("%-24s max abs error %.3g (bound %.3g), mean cosine %.7f (bound %.7f), integers differing %ld%s\n", cs,
               e.max_abs, max_abs, e.min_cosine, min_cos, e.mismatched, ok ? "" : "  FAILED");
        failed += !ok;
    }
    fclose(f);
    printf("%d of %d cases within their bounds\n", cases - failed, cases);
    return failed != 0 || cases == 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: precision_check ROOT DTYPE (MANIFEST | --measure)\n");
        return 2;
    }
    attn_weights_dtype dt = ATTN_WEIGHTS_F32;
    while (dt <= ATTN_WEIGHTS_INT8 && strcmp(attn_weights_dtype_name(dt), argv[2]))
        dt++;
    if (dt > ATTN_WEIGHTS_INT8) {
        fprintf(stderr, "unknown weights dtype %s\n", argv[2]);
        return 2;
    }
    return strcmp(argv[3], "--measure") ? check(argv[1], dt, argv[3]) : measure(argv[1], dt);
}

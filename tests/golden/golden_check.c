/*
 * golden_check.c — runs one golden case through the public API and compares
 * every output with PyTorch's (tests/golden/fixtures/CASE/expected.safetensors)
 * at |got - want| <= atol + rtol * |want| (1e-5 both, unless the case line in
 * cases.txt gives its own tolerance). A case whose fixtures hold map.txt binds
 * its weights through that weight map (attn_model_map_weights).
 *
 *     golden_check [--backend=B] [--fixtures=DIR] [--weights=FILE] ROOT CASE MODEL ENTRY SETS [TOL]
 *
 * --fixtures and --weights read the inputs and expected outputs from DIR and
 * the weights from FILE instead (tests/onnx/check_export.cmake: a model
 * imported from ONNX, with the weights the import wrote); MODEL may be an
 * absolute path.
 */
#include "attn.h"
#include "fixture_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double value_at(const attn_tensor *t, int64_t i) {
    switch (t->dtype) {
    case ATTN_F32: return ((const float *)t->data)[i];
    case ATTN_I64: return (double)((const int64_t *)t->data)[i];
    case ATTN_I32: return ((const int32_t *)t->data)[i];
    default: return ((const uint8_t *)t->data)[i];
    }
}

static int compare(const attn_tensor *got, const attn_tensor *want, double tol) {
    if (got->rank != want->rank || memcmp(got->shape, want->shape, sizeof(int64_t) * (size_t)got->rank)) {
        fprintf(stderr, "output %s: shape differs from the fixture\n", want->name);
        return 1;
    }
    int64_t n = attn_tensor_numel(want), bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = value_at(got, i), w = value_at(want, i);
        double err = fabs(g - w);
        if (!(err <= tol + tol * fabs(w))) {
            if (bad++ < 5)
                fprintf(stderr, "output %s[%lld]: got %.9g, want %.9g\n", want->name, (long long)i, g, w);
        }
        if (err > worst)
            worst = err;
    }
    printf("  %-24s %lld values, max abs error %.3g%s\n", want->name, (long long)n, worst, bad ? "  FAILED" : "");
    return bad != 0;
}

/* Applies the case's weight map, fixtures/CASE/map.txt, when it has one. */
static attn_status map_weights(attn_model *m, const char *root, const char *cs) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/golden/fixtures/%s/map.txt", root, cs);
    return access(path, F_OK) == 0 ? attn_model_map_weights(m, path) : ATTN_OK;
}

int main(int argc, char **argv) {
    attn_compile_options opt = {.backend = ATTN_BACKEND_JIT};
    const char *fixtures = NULL, *weights = NULL;
    for (; argc > 1 && strncmp(argv[1], "--", 2) == 0; argc--, argv++) {
        if (strncmp(argv[1], "--backend=", 10) == 0) {
            opt.backend = strcmp(argv[1] + 10, "interp") == 0 ? ATTN_BACKEND_INTERP : ATTN_BACKEND_JIT;
            opt.no_fuse = strcmp(argv[1] + 10, "jit-nofuse") == 0; /* the JIT, every node its own kernel */
        } else if (strncmp(argv[1], "--fixtures=", 11) == 0)
            fixtures = argv[1] + 11;
        else if (strncmp(argv[1], "--weights=", 10) == 0)
            weights = argv[1] + 10;
        else
            argc = 0; /* the usage message */
    }
    if (argc < 6) {
        fprintf(stderr, "usage: golden_check [--backend=jit|jit-nofuse|interp] [--fixtures=DIR] [--weights=FILE] "
                        "ROOT CASE MODEL ENTRY SETS [TOL]\n");
        return 2;
    }
    const char *root = argv[1], *cs = argv[2], *model = argv[3], *entry = argv[4], *sets = argv[5];
    double tol = argc > 6 ? atof(argv[6]) : 1e-5;
    char path[4096], dir[2048], wpath[4096];
    if (fixtures)
        snprintf(dir, sizeof dir, "%s", fixtures);
    else
        snprintf(dir, sizeof dir, "%s/tests/golden/fixtures/%s", root, cs);
    snprintf(wpath, sizeof wpath, "%s%s", weights ? weights : dir, weights ? "" : "/weights.safetensors");
    attn_model *m = attn_model_new();
    set_hyperparameters(m, sets);
    if (model[0] == '/')
        snprintf(path, sizeof path, "%s", model);
    else
        snprintf(path, sizeof path, "%s/%s", root, model);
    int rc = 1;
    attn_program *p = NULL;
    if (attn_model_load(m, path) == ATTN_OK && map_weights(m, root, cs) == ATTN_OK &&
        attn_model_bind_weights(m, wpath) == ATTN_OK &&
        attn_model_compile(m, entry, &opt, &p) == ATTN_OK) {
        int nin, nwant, nout;
        snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
        attn_tensor *in = read_tensors(path, &nin);
        snprintf(path, sizeof path, "%s/expected.safetensors", dir);
        attn_tensor *want = read_tensors(path, &nwant);
        attn_tensor *out = NULL;
        char *err = NULL;
        if (in && want && attn_program_run(p, in, nin, &out, &nout, &err) == ATTN_OK) {
            rc = 0;
            printf("%s (%s %s)\n", cs, model, entry);
            for (int i = 0; i < nwant; i++) {
                int found = 0;
                for (int j = 0; j < nout; j++)
                    if (strcmp(out[j].name, want[i].name) == 0) {
                        rc |= compare(&out[j], &want[i], tol);
                        found = 1;
                    }
                if (!found) {
                    fprintf(stderr, "no output named %s\n", want[i].name);
                    rc = 1;
                }
            }
            attn_tensors_free(out, nout);
        } else if (err)
            fprintf(stderr, "%s\n", err);
        attn_string_free(err);
        if (in)
            free_read(in, nin);
        if (want)
            free_read(want, nwant);
    } else
        fprintf(stderr, "%s", attn_model_errors(m));
    attn_program_free(p);
    attn_model_free(m);
    return rc;
}

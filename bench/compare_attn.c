/*
 * compare_attn.c — the attn side of bench/compare: one model entry, run on the
 * JIT through the public API, timed, and checked against PyTorch's outputs.
 *
 *     bench_compare_attn MODEL ENTRY WEIGHTS INPUTS EXPECTED THREADS REPEATS
 *                        [NAME=VALUE | -I DIR | --weights-dtype f32|bf16|int8]...
 *
 * WEIGHTS ("-" for none), INPUTS and EXPECTED are safetensors files; every tensor
 * of INPUTS is passed to the entry by name, and every output of the entry that
 * EXPECTED holds under the same name is compared with it (f32: max abs diff;
 * integers: number of differing elements). NAME=VALUE sets a hyperparameter,
 * -I DIR adds an import directory, --weights-dtype stores the products' weights
 * as bf16 or int8 (attn_compile_options.weights_dtype). The entry is compiled once for THREADS
 * threads; after 3 warm-up runs, REPEATS runs are timed (wall clock). The
 * peak RSS (VmHWM) is reset to the RSS just before the first run (warm-up
 * included); its growth by the end of the last run is the memory the runs
 * needed beyond the loaded weights and inputs. ATTN_BENCH_CPUTIME=1 times on
 * the process's CPU clock (1 thread on a busy machine). Prints one line for scripts:
 *     RESULT median_ms rss_growth_mb max_abs_diff mismatched_ints compile_ms mean_cosine
 * mean_cosine: of each f32 output's rows (last axis) with PyTorch's, averaged
 * over the rows, the lowest over the outputs (as compare_torch.py).
 */
#include "attn.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WARMUP = 3, MAX_INPUTS = 16 };

/* ATTN_BENCH_CPUTIME=1: the process's CPU time instead of the wall clock (with
 * THREADS 1, a run's time on a machine busy with other work). */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Field `key` ("VmHWM", "VmRSS") of /proc/self/status in MB, or -1. */
static double status_mb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t n = strlen(key);
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':' && sscanf(line + n + 1, "%ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (double)kb / 1024;
}

/* Resets the peak RSS to the current RSS (Linux >= 4.0) and returns the RSS in
 * MB; where that fails, the peak stays and is returned instead. */
static double reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok = f && fputs("5", f) >= 0;
    if (f && fclose(f))
        ok = 0;
    return status_mb(ok ? "VmRSS" : "VmHWM");
}

static void fail(const char *what, const char *msg) {
    fprintf(stderr, "attn: %s: %s\n", what, msg);
    exit(1);
}

static attn_weights_dtype parse_weights_dtype(const char *name) {
    for (int d = ATTN_WEIGHTS_F32; d <= ATTN_WEIGHTS_INT8; d++)
        if (!strcmp(name, attn_weights_dtype_name((attn_weights_dtype)d)))
            return (attn_weights_dtype)d;
    fail("--weights-dtype", "expected f32, bf16 or int8");
    return ATTN_WEIGHTS_F32;
}

static attn_dtype dtype_of(StDtype dt) {
    switch (dt) {
    case ST_BOOL:
        return ATTN_BOOL;
    case ST_I32:
        return ATTN_I32;
    case ST_I64:
        return ATTN_I64;
    default:
        return ATTN_F32;
    }
}

/* Every tensor of `path`, converted into attn_tensors named as in the file. */
static int read_tensors(const char *path, attn_tensor *ts, int max) {
    char err[512];
    StFile *f = st_open(path, err, sizeof err);
    if (!f)
        fail("read", err);
    int n = st_count(f);
    if (n > max)
        fail(path, "too many tensors");
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_tensor(f, i);
        ts[i] = (attn_tensor){.name = strdup(t->name), .dtype = dtype_of(t->dtype), .rank = t->rank};
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
        if (st_convert(t, ts[i].dtype, &ts[i].data, err, sizeof err))
            fail("read", err);
    }
    st_close(f);
    return n;
}

/* The cosine similarity of each row (last axis) of got with want's, averaged;
 * a row that is zero in both counts as 1. */
static double mean_cosine(const attn_tensor *got, const attn_tensor *want) {
    int64_t n = attn_tensor_numel(got), len = got->rank ? got->shape[got->rank - 1] : 1;
    const float *g = got->data, *w = want->data;
    double sum = 0;
    int64_t rows = len > 0 ? n / len : 0;
    for (int64_t r = 0; r < rows; r++) {
        double dot = 0, gg = 0, ww = 0;
        for (int64_t k = r * len; k < (r + 1) * len; k++) {
            dot += (double)g[k] * w[k];
            gg += (double)g[k] * g[k];
            ww += (double)w[k] * w[k];
        }
        sum += gg == 0 && ww == 0 ? 1.0 : dot / sqrt(gg * ww);
    }
    return rows ? sum / (double)rows : 1.0;
}

/* Compares the outputs with the expected tensors of the same name. */
static void compare(const attn_program *p, const attn_tensor *out, int nout, const attn_tensor *want, int nwant,
                    double *maxdiff, long *mismatched, double *cosine) {
    *maxdiff = 0;
    *mismatched = 0;
    *cosine = 1;
    for (int i = 0; i < nout; i++) {
        const char *name = attn_program_output_name(p, i);
        for (int j = 0; j < nwant; j++) {
            if (strcmp(want[j].name, name))
                continue;
            int64_t n = attn_tensor_numel(&out[i]);
            if (n != attn_tensor_numel(&want[j]) || out[i].dtype != want[j].dtype) {
                fprintf(stderr, "attn: output %s: shape or dtype differs from PyTorch's\n", name);
                *maxdiff = INFINITY;
                continue;
            }
            if (out[i].dtype == ATTN_F32)
                *cosine = fmin(*cosine, mean_cosine(&out[i], &want[j]));
            for (int64_t k = 0; k < n; k++) {
                if (out[i].dtype == ATTN_F32) {
                    double e = fabs((double)((const float *)out[i].data)[k] - ((const float *)want[j].data)[k]);
                    if (!(e <= *maxdiff))
                        *maxdiff = e;
                } else if (out[i].dtype == ATTN_I64) {
                    *mismatched += ((const int64_t *)out[i].data)[k] != ((const int64_t *)want[j].data)[k];
                }
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: bench_compare_attn MODEL ENTRY WEIGHTS INPUTS EXPECTED THREADS REPEATS "
                        "[NAME=VALUE | -I DIR | --weights-dtype f32|bf16|int8]...\n");
        return 2;
    }
    if (getenv("ATTN_BENCH_CPUTIME") && atoi(getenv("ATTN_BENCH_CPUTIME")))
        bench_clock = CLOCK_PROCESS_CPUTIME_ID;
    const char *model = argv[1], *entry = argv[2], *weights = argv[3];
    int threads = atoi(argv[6]), repeats = atoi(argv[7]);
    if (repeats < 1)
        repeats = 1;
    attn_model *m = attn_model_new();
    if (!m)
        fail("model", "out of memory");
    attn_weights_dtype weights_dtype = ATTN_WEIGHTS_F32;
    for (int i = 8; i < argc; i++) {
        if (!strcmp(argv[i], "-I") && i + 1 < argc) {
            attn_model_add_import_path(m, argv[++i]);
            continue;
        }
        if (!strcmp(argv[i], "--weights-dtype") && i + 1 < argc) {
            weights_dtype = parse_weights_dtype(argv[++i]);
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq)
            fail(argv[i], "expected NAME=VALUE");
        *eq = 0;
        if (attn_model_set(m, argv[i], eq + 1))
            fail(argv[i], attn_model_errors(m));
    }
    if (attn_model_load(m, model))
        fail("load", attn_model_errors(m));
    if (strcmp(weights, "-") && attn_model_bind_weights(m, weights))
        fail("weights", attn_model_errors(m));

    attn_tensor in[MAX_INPUTS], want[MAX_INPUTS];
    int nin = read_tensors(argv[4], in, MAX_INPUTS), nwant = read_tensors(argv[5], want, MAX_INPUTS);

    attn_compile_options opt = {.backend = ATTN_BACKEND_JIT, .threads = threads, .weights_dtype = weights_dtype};
    attn_program *p = NULL;
    double t0 = now_ms();
    if (attn_model_compile(m, entry, &opt, &p))
        fail("compile", attn_model_errors(m));
    double compile_ms = now_ms() - t0;

    double rss0 = reset_peak_rss();
    double *t = malloc(sizeof(double) * (size_t)repeats);
    attn_tensor *out = NULL;
    int nout = 0;
    for (int r = -WARMUP; r < repeats; r++) {
        if (out)
            attn_tensors_free(out, nout);
        char *err = NULL;
        double s = now_ms();
        if (attn_program_run(p, in, nin, &out, &nout, &err))
            fail("run", err ? err : "failed");
        if (r >= 0)
            t[r] = now_ms() - s;
    }
    double rss1 = status_mb("VmHWM");
    qsort(t, (size_t)repeats, sizeof *t, cmp);
    double med = repeats % 2 ? t[repeats / 2] : (t[repeats / 2 - 1] + t[repeats / 2]) / 2;

    double maxdiff, cosine;
    long mismatched;
    compare(p, out, nout, want, nwant, &maxdiff, &mismatched, &cosine);
    printf("RESULT %.4f %.2f %.3e %ld %.1f %.7f\n", med, rss1 - rss0, maxdiff, mismatched, compile_ms, cosine);

    attn_tensors_free(out, nout);
    for (int i = 0; i < nin; i++) {
        free((char *)in[i].name);
        free(in[i].data);
    }
    for (int i = 0; i < nwant; i++) {
        free((char *)want[i].name);
        free(want[i].data);
    }
    free(t);
    attn_program_free(p);
    attn_model_free(m);
    return 0;
}

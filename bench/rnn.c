/*
 * rnn.c — the zoo's nn.GRU / nn.LSTM models (input 256, hidden 512, 64 steps,
 * batch 1 and 32) on the JIT and on the interpreter, with 1 and 2 threads.
 *
 * Both backends run the same random weights and inputs; the JIT's outputs are
 * checked against the interpreter's (max abs diff printed). The weights, the
 * inputs and the JIT's outputs are written to DIR as safetensors files
 * (DIR/gru.safetensors, DIR/gru_b1_io.safetensors, ...) so that
 * bench/pytorch_rnn.py can run torch.nn.GRU / LSTM on the very same numbers.
 * Times are medians over repeated runs (load and compile excluded), of the
 * wall-clock time and of the process's CPU time (all threads), which on a
 * loaded machine leaves out the time the process waited for a core; the
 * interpreter does not use threads, so it is timed once per shape. The
 * compile time of each model is measured after the shared matmul core exists.
 *
 *     bench_rnn MODELS_DIR DIR [JIT_REPEATS] [INTERP_REPEATS]
 *
 * Besides the readable lines, prints one line per measurement for scripts:
 *     RESULT model batch threads backend wall_ms cpu_ms maxdiff
 *     COMPILE model ms
 */
#include "attn.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { E = 256, H = 512, T = 64 };

/* A small deterministic generator, so that the numbers do not depend on libc's rand. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static float uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)(rng_state >> 40) / (float)(1u << 24) * 2 - 1;
}

static float *random_floats(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    if (!v) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        v[i] = scale * uniform();
    return v;
}

static void write_file(const char *path, const attn_tensor *ts, int n) {
    char err[256];
    if (st_write(path, ts, n, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", path, err);
        exit(1);
    }
}

/* PyTorch's initialisation range 1/sqrt(hidden) = 0.044. */
static void write_weights(const char *path, int gates) {
    const char *names[4] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
    attn_tensor w[4];
    for (int i = 0; i < 4; i++) {
        int64_t rows = gates * H, cols = i == 0 ? E : H;
        w[i] = (attn_tensor){.name = names[i], .dtype = ATTN_F32, .rank = i < 2 ? 2 : 1, .shape = {rows, cols}};
        w[i].data = random_floats((size_t)(i < 2 ? rows * cols : rows), 0.044f);
    }
    write_file(path, w, 4);
    for (int i = 0; i < 4; i++)
        free(w[i].data);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static attn_model *load(const char *models, const char *name, const char *weights) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.attn", models, name);
    attn_model *m = attn_model_new();
    if (!m || attn_model_load(m, path) || attn_model_bind_weights(m, weights)) {
        fprintf(stderr, "%s", m ? attn_model_errors(m) : "out of memory\n");
        exit(1);
    }
    return m;
}

static attn_program *compile(attn_model *m, attn_backend backend, int threads) {
    attn_compile_options opt = {.backend = backend, .threads = threads};
    attn_program *p = NULL;
    if (attn_model_compile(m, "forward", &opt, &p)) {
        fprintf(stderr, "%s", attn_model_errors(m));
        exit(1);
    }
    return p;
}

static void run(const attn_program *p, const attn_tensor *in, int nin, attn_tensor **out, int *nout) {
    char *err = NULL;
    if (attn_program_run(p, in, nin, out, nout, &err)) {
        fprintf(stderr, "run: %s\n", err ? err : "failed");
        exit(1);
    }
}

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Median wall-clock time of `repeats` runs after `warmup` untimed ones, and in
 * *cpu the median CPU time of the process (all threads) per run; the outputs
 * of the last run are kept in *keep (NULL: freed). */
static double time_runs(const attn_program *p, const attn_tensor *in, int nin, int warmup, int repeats, double *cpu,
                        attn_tensor **keep, int *nkeep) {
    double *t = malloc(sizeof(double) * (size_t)repeats * 2), *c = t + repeats;
    attn_tensor *out = NULL;
    int nout = 0;
    for (int r = -warmup; r < repeats; r++) {
        if (out)
            attn_tensors_free(out, nout);
        double c0 = cpu_ms(), t0 = now_ms();
        run(p, in, nin, &out, &nout);
        double t1 = now_ms(), c1 = cpu_ms();
        if (r >= 0) {
            t[r] = t1 - t0;
            c[r] = c1 - c0;
        }
    }
    if (keep) {
        *keep = out;
        *nkeep = nout;
    } else {
        attn_tensors_free(out, nout);
    }
    double ms = median(t, repeats);
    *cpu = median(c, repeats);
    free(t);
    return ms;
}

static double max_abs_diff(const attn_tensor *a, const attn_tensor *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++) {
        int64_t k = attn_tensor_numel(&a[i]);
        if (k != attn_tensor_numel(&b[i]))
            return INFINITY;
        const float *x = a[i].data, *y = b[i].data;
        for (int64_t j = 0; j < k; j++) {
            double e = fabs((double)x[j] - (double)y[j]);
            if (!(e <= d))
                d = e;
        }
    }
    return d;
}

/* Median JIT compile time of the model's entry (the matmul core already exists). */
static double compile_time(attn_model *m, int repeats) {
    double t[16];
    if (repeats > 16)
        repeats = 16;
    for (int r = 0; r < repeats; r++) {
        double t0 = now_ms();
        attn_program *p = compile(m, ATTN_BACKEND_JIT, 1);
        t[r] = now_ms() - t0;
        attn_program_free(p);
    }
    return median(t, repeats);
}

static void bench_model(const char *models, const char *dir, const char *name, int gates, int jit_repeats,
                        int interp_repeats) {
    char weights[4096], io[4096];
    snprintf(weights, sizeof weights, "%s/%s.safetensors", dir, name);
    write_weights(weights, gates);
    attn_model *m = load(models, name, weights);
    double cms = compile_time(m, 5);
    printf("%s: JIT compile %.1f ms (median of 5, matmul core already compiled)\n", name, cms);
    printf("COMPILE %s %.3f\n", name, cms);
    int nin = gates == 4 ? 3 : 2;
    for (int batch = 1; batch <= 32; batch += 31) {
        float *x = random_floats((size_t)batch * T * E, 1);
        float *h0 = random_floats((size_t)batch * H, 0.5f), *c0 = random_floats((size_t)batch * H, 0.5f);
        attn_tensor in[3] = {
            {.name = "input", .dtype = ATTN_F32, .rank = 3, .shape = {batch, T, E}, .data = x},
            {.name = "h_0", .dtype = ATTN_F32, .rank = 3, .shape = {1, batch, H}, .data = h0},
            {.name = "c_0", .dtype = ATTN_F32, .rank = 3, .shape = {1, batch, H}, .data = c0},
        };
        /* the interpreter: single-threaded, the reference outputs */
        attn_program *pi = compile(m, ATTN_BACKEND_INTERP, 1);
        attn_tensor *ref;
        int nref;
        int irep = batch == 1 ? 4 * interp_repeats : interp_repeats;
        double icpu, ims = time_runs(pi, in, nin, 1, irep, &icpu, &ref, &nref);
        attn_program_free(pi);
        for (int threads = 1; threads <= 2; threads++) {
            attn_program *pj = compile(m, ATTN_BACKEND_JIT, threads);
            attn_tensor *out;
            int nout;
            double jcpu, jms = time_runs(pj, in, nin, 3, jit_repeats, &jcpu, &out, &nout);
            attn_program_free(pj);
            double diff = nout == nref ? max_abs_diff(out, ref, nout) : INFINITY;
            printf("%-4s batch %2d threads %d: JIT %9.3f ms (cpu %9.3f)  interpreter %9.3f ms (cpu %9.3f)  "
                   "max |JIT - interp| %.2e\n",
                   name, batch, threads, jms, jcpu, ims, icpu, diff);
            printf("RESULT %s %d %d jit %.4f %.4f %.3e\n", name, batch, threads, jms, jcpu, diff);
            printf("RESULT %s %d %d interp %.4f %.4f 0\n", name, batch, threads, ims, icpu);
            if (threads == 1) {
                /* inputs and the JIT's outputs, for the PyTorch side to check against */
                attn_tensor f[6];
                int n = 0;
                for (int i = 0; i < nin; i++)
                    f[n++] = in[i];
                const char *outnames[3] = {"output", "h_n", "c_n"};
                for (int i = 0; i < nout && i < 3; i++) {
                    f[n] = out[i];
                    f[n++].name = outnames[i];
                }
                snprintf(io, sizeof io, "%s/%s_b%d_io.safetensors", dir, name, batch);
                write_file(io, f, n);
            }
            attn_tensors_free(out, nout);
            fflush(stdout);
        }
        attn_tensors_free(ref, nref);
        free(x);
        free(h0);
        free(c0);
    }
    attn_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_rnn MODELS_DIR DIR [JIT_REPEATS] [INTERP_REPEATS]\n");
        return 2;
    }
    const char *models = argv[1], *dir = argv[2];
    int jit_repeats = argc > 3 ? atoi(argv[3]) : 51;
    int interp_repeats = argc > 4 ? atoi(argv[4]) : 3;
    if (jit_repeats < 1)
        jit_repeats = 1;
    if (interp_repeats < 1)
        interp_repeats = 1;
    /* the shared matmul core: compiled once per process by the first program */
    attn_model *core = attn_model_new();
    attn_program *p = NULL;
    double t0 = now_ms();
    if (attn_model_load_source(core, "core", "entry f(a: f32[M, K], b: f32[K, N]) -> (c) {\n  return a @ b\n}\n") ||
        attn_model_compile(core, "f", NULL, &p)) {
        fprintf(stderr, "%s", attn_model_errors(core));
        return 1;
    }
    double core_ms = now_ms() - t0;
    attn_program_free(p);
    attn_model_free(core);
    printf("matmul core + first program (once per process): %.1f ms\n", core_ms);
    printf("COMPILE core %.3f\n", core_ms);
    printf("input %d, hidden %d, %d steps; JIT median of %d runs, interpreter median of %d (batch 1: %d)\n", E, H, T,
           jit_repeats, interp_repeats, 4 * interp_repeats);
    bench_model(models, dir, "gru", 3, jit_repeats, interp_repeats);
    bench_model(models, dir, "lstm", 4, jit_repeats, interp_repeats);
    return 0;
}
